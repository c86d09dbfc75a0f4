"""A symbol never stored has one outcome on every read surface: the command line exits 2,
the HTTP API answers 404 and MCP a tool error, all with ``require_symbol``'s words, and
nothing is written. A symbol stored once (pruned since), or an empty window, is not
unknown."""

from __future__ import annotations

import json
import os

import httpx
import pytest
from mcp import Client

from tests.helpers.api import sample_store, serving_api
from tests.helpers.cli import run_cli
from tests.helpers.trades import T0
from tradestore import AggTrade, TradeStore
from tradestore.api import TOOLS
from tradestore.api._mcp import build_server
from tradestore.api._reader import StoreReader
from tradestore.store import UnknownSymbol, require_symbol

UNKNOWN = "ETHUSDX"
MESSAGE = "no trades were ever stored for ETHUSDX (stored: BTCUSDT, ETHUSDT; did you mean ETHUSDT?)"


@pytest.fixture
def db(tmp_path):
    return sample_store(tmp_path / "db").db


def snapshot(*folders) -> dict:
    """Every file under ``folders`` with its size and modification time."""
    found = {}
    for folder in folders:
        for root, _dirs, files in os.walk(folder):
            for name in files:
                st = os.stat(os.path.join(root, name))
                found[os.path.join(root, name)] = (st.st_size, st.st_mtime_ns)
    return found


def read_commands(db, out) -> dict[str, list]:
    """Every read command, with the flags it needs besides --symbol."""
    return {
        "query": ["query", "--db", db],
        "profile": ["profile", "--db", db],
        "profile --plot": ["profile", "--db", db, "--plot", out / "p.png"],
        "vacuums": ["vacuums", "--db", db],
        "candles": ["candles", "--db", db],
        "candles --plot": ["candles", "--db", db, "--plot", out / "c.svg"],
        "footprint": ["footprint", "--db", db],
        "cvd": ["cvd", "--db", db],
        "composite": ["composite", "--db", db],
        "stats": ["stats", "--db", db],
        "gaps": ["gaps", "--db", db],
        "verify": ["verify", "--db", db],
        "verify --archive": ["verify", "--db", db, "--archive", out],
        "export": ["export", "--db", db, "-o", out / "trades.csv"],
        "report": ["report", "--db", db, "--output", out / "report.html"],
        "rollups status": ["rollups", "status", "--db", db],
        "rollups rebuild": ["rollups", "rebuild", "--db", db, "--no-progress"],
        "archive": ["archive", "--db", db, "--to", out],
    }


def test_every_read_command_refuses_an_unknown_symbol_alike(db, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    before = snapshot(db, out)
    for name, argv in read_commands(db, out).items():
        code, stdout, stderr = run_cli(capsys, *argv, "--symbol", UNKNOWN.lower())
        assert (code, stdout, stderr) == (2, "", f"tradestore-trio {argv[0]}: {MESSAGE}\n"), name
    assert snapshot(db, out) == before  # no file written, the store not touched


def test_the_message_lists_ten_symbols_and_names_a_close_one(tmp_path):
    trade = AggTrade(1, 1, 1, T0, False)
    with TradeStore(tmp_path / "db") as store:
        for i in range(12):
            store.store_batch(f"COIN{i:02d}USDT", [trade])
        with pytest.raises(UnknownSymbol) as raised:
            require_symbol(store, "coin05usdc")
        assert str(raised.value) == (
            "no trades were ever stored for COIN05USDC (stored: "
            + ", ".join(f"COIN{i:02d}USDT" for i in range(10))
            + ", …; did you mean COIN05USDT?)"
        )
        with pytest.raises(UnknownSymbol, match=r"\(stored: COIN00USDT.*…\)$"):
            require_symbol(store, "XRPEUR")
    with TradeStore(tmp_path / "empty") as store:
        with pytest.raises(UnknownSymbol, match="the store holds no symbol yet"):
            require_symbol(store, "BTCUSDT")


def test_a_symbol_pruned_away_or_an_empty_window_is_not_unknown(db, capsys):
    with TradeStore(db) as store:
        store.store_batch("SOLUSDT", [AggTrade(7, 150, 2, T0, True)])
        # Every SOLUSDT trade, and the first BTCUSDT/ETHUSDT ones, rollups and all.
        store.prune(T0 + 1, keep_rollups=False)
        assert store.symbols() == ["BTCUSDT", "ETHUSDT"]
        assert require_symbol(store, "solusdt") == "SOLUSDT"
    window = ["--start", "2020-01-01T00:00:00Z", "--hours", "1"]
    code, stdout, _ = run_cli(capsys, "query", "--db", db, "--symbol", "SOLUSDT", *window)
    assert code == 0 and "0 trades; NOT RECORDED" in stdout
    assert "no trades of this symbol are stored" in " ".join(stdout.split())
    code, stdout, _ = run_cli(capsys, "verify", "--db", db, "--symbol", "SOLUSDT")
    assert code == 1 and stdout.startswith("SOLUSDT: NOT RECORDED: 0 trades in 0 batches")
    assert "None" not in stdout
    code, stdout, _ = run_cli(capsys, "query", "--db", db, "--symbol", "ETHUSDT", *window)
    assert code == 0 and "0 trades; NOT RECORDED" in stdout
    code, stdout, _ = run_cli(
        capsys, "stats", "--db", db, "--symbol", "SOLUSDT", "--format", "json"
    )
    record = json.loads(stdout)["symbols"]["SOLUSDT"]
    assert code == 0 and record["trades"] == 0 and record["last_agg_id"] == 7
    code, stdout, _ = run_cli(capsys, "stats", "--db", db, "--symbol", "SOLUSDT")
    assert code == 0 and "SOLUSDT" in stdout and "None" not in stdout


async def test_the_http_api_answers_404_with_the_same_words(db):
    async with serving_api(db) as url, httpx.AsyncClient(base_url=url) as client:
        for tool in TOOLS:
            if not any(p.name == "symbol" for p in tool.params):
                continue
            response = await client.get(f"/api/v1/{tool.path}", params={"symbol": UNKNOWN})
            assert response.status_code == 404, (tool.path, response.text)
            assert response.json()["message"] == MESSAGE, tool.path
            assert response.json()["error"] == "not_found"


async def test_mcp_answers_a_tool_error_with_the_same_words(db):
    reader = StoreReader(str(db))
    try:
        async with Client(build_server(reader)) as client:
            for tool in TOOLS:
                if not any(p.name == "symbol" for p in tool.params):
                    continue
                result = await client.call_tool(tool.name, {"symbol": UNKNOWN})
                assert result.is_error, tool.name
                assert result.content[0].text == MESSAGE, tool.name
    finally:
        reader.close()
