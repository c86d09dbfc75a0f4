"""``tradestore-trio mcp`` driven by the official MCP client over stdio, and
``tradestore-trio serve`` as a real process: the tools answer the command line's JSON,
bad arguments are tool errors and the server goes on; the token rule at the door."""

from __future__ import annotations

import json
import signal
import sys
from contextlib import asynccontextmanager
from decimal import Decimal

import httpx
import pytest
import trio
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from tests.helpers.api import (
    HOLE,
    btc_trades,
    cli_json,
    exact_bars,
    sample_store,
    undated,
    without,
)
from tests.helpers.daemon import daemon_env, wait_for_log
from tradestore.api import TOOLS


@asynccontextmanager
async def mcp_session(db):
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "tradestore", "mcp", "--db", str(db)], env=daemon_env()
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


async def call(session, name: str, **arguments) -> dict:
    result = await session.call_tool(name, arguments)
    assert not result.is_error, result.content[0].text
    document = json.loads(result.content[0].text)
    assert result.structured_content == document
    return document


@pytest.mark.slow
async def test_mcp_tools_answer_the_command_lines_json(tmp_path, capsys):
    sample = sample_store(tmp_path / "db")
    db = sample.db
    flags = ["--db", db, "--start", sample.start_ms, "--end", sample.end_ms]
    window = {"start": sample.start_ms, "end": sample.end_ms}
    with trio.fail_after(60):
        async with mcp_session(db) as session:
            listed = (await session.list_tools()).tools
            profile = await call(session, "get_volume_profile", symbol="BTCUSDT", bins=30, **window)
            vacuums = await call(session, "get_liquidity_vacuums", symbol="BTCUSDT", **window)
            trades = await call(session, "query_trades", symbol="BTCUSDT", limit=10_000, **window)
            page = await call(session, "query_trades", symbol="BTCUSDT", limit=3, **window)
            stats = await call(session, "get_stats")
            gaps = await call(session, "get_gaps", symbol="BTCUSDT", open=True)
            coverage = await call(session, "get_coverage", symbol="ETHUSDT", **window)
            bad = await session.call_tool("get_volume_profile", {"symbol": "BTCUSDT", "hours": 0})
            candles = await call(session, "get_candles", symbol="BTCUSDT", **window)
            footprint = await call(
                session, "get_footprint", symbol="BTCUSDT", interval="2m", tick_size=0.5, **window
            )
            cvd = await call(session, "get_cvd", symbol="BTCUSDT", interval="30s", **window)
            too_many = await session.call_tool(
                "get_candles", {"symbol": "BTCUSDT", "interval": "1s", "hours": 12}
            )
            unknown = await session.call_tool("get_orderbook", {"symbol": "BTCUSDT"})
            missing = await session.call_tool("get_gaps", {"symbol": "XRPUSDT"})
            # The server goes on serving after each refusal.
            again = await call(session, "get_stats", symbol="ETHUSDT")
    assert [t.name for t in listed] == [t.name for t in TOOLS]
    for served, tool in zip(listed, TOOLS, strict=True):
        assert served.input_schema == tool.input_schema()
        assert served.annotations is not None and served.annotations.read_only_hint
    assert profile == cli_json(capsys, "profile", "--symbol", "BTCUSDT", "--bins", 30, *flags)
    assert undated(vacuums) == undated(cli_json(capsys, "vacuums", "--symbol", "BTCUSDT", *flags))
    query = cli_json(capsys, "query", "--symbol", "BTCUSDT", *flags)
    assert without(trades, "limit", "next_cursor") == query
    assert page["trades"] == query["trades"][:3] and page["next_cursor"]
    assert stats == cli_json(capsys, "stats", "--db", db)
    assert gaps == cli_json(capsys, "gaps", "--db", db, "--symbol", "BTCUSDT", "--open")
    assert gaps["gaps"][0]["first_id"] == HOLE[0]
    assert coverage["coverage"]["trades"] == 1_500 and coverage["coverage"]["complete"] is False
    assert bad.is_error and "hours must be a positive number of hours" in bad.content[0].text
    assert candles == cli_json(capsys, "candles", "--symbol", "BTCUSDT", *flags)
    exact = exact_bars(btc_trades(), sample.start_ms, sample.end_ms, 60_000)
    assert [Decimal(c["high"]) for c in candles["candles"]] == [b[1] for b in exact.values()]
    assert footprint == cli_json(
        capsys, "footprint", "--symbol", "BTCUSDT", "--interval", "2m", "--tick-size", 0.5, *flags
    )
    assert cvd == cli_json(capsys, "cvd", "--symbol", "BTCUSDT", "--interval", "30s", *flags)
    assert too_many.is_error and "more than 10,000 per answer" in too_many.content[0].text
    assert unknown.is_error and "unknown tool 'get_orderbook'" in unknown.content[0].text
    assert missing.is_error and "no trades were ever stored for XRPUSDT" in missing.content[0].text
    assert set(again["symbols"]) == {"ETHUSDT"}


async def test_mcp_without_a_store_says_so_in_each_tool_error(tmp_path):
    with trio.fail_after(60):
        async with mcp_session(tmp_path / "nowhere") as session:
            result = await session.call_tool("get_stats", {})
    assert result.is_error and "no trade store at" in result.content[0].text


async def test_serve_with_a_token_answers_only_with_it_and_stops_on_sigterm(tmp_path):
    sample_store(tmp_path / "db")
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-" + "z" * 40 + "\n")
    token_file.chmod(0o600)
    log_path = tmp_path / "serve.log"
    with open(log_path, "ab") as log:  # noqa: ASYNC230 - a local file, opened once
        proc = await trio.lowlevel.open_process(
            [sys.executable, "-m", "tradestore", "serve", "--db", str(tmp_path / "db")]
            + ["--addr", "0.0.0.0:0", "--token-file", str(token_file)],
            stdout=log,
            stderr=log,
            env=daemon_env(),
        )
    try:
        with trio.fail_after(30):
            found = await wait_for_log(log_path, r"HTTP API on http://0\.0\.0\.0:(\d+)/api/v1/")
        url = f"http://127.0.0.1:{found.group(1)}/api/v1"
        async with httpx.AsyncClient() as client:
            anonymous = await client.get(f"{url}/stats")
            allowed = await client.get(
                f"{url}/stats", headers={"Authorization": "Bearer s3cret-" + "z" * 40}
            )
        proc.send_signal(signal.SIGTERM)
        with trio.fail_after(30):
            status = await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert anonymous.status_code == 401
    assert allowed.status_code == 200 and "BTCUSDT" in allowed.json()["symbols"]
    assert status == 0, log_path.read_text()
