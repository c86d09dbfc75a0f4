"""The archive on every read surface: the command line (--archive DEST, or a config's
archive_to), the HTTP API and MCP give, over days the store no longer holds, the answers
the store gave while it held them, with one coverage answer; without the archive the
store says what it no longer holds and where it is."""

from __future__ import annotations

import json

import httpx
import pytest
import trio
from mcp.client import Client

from tests.helpers.api import cli_json, serving_api, without
from tests.helpers.archive import DAY_MS, FIRST_DAY, build_tiers
from tests.helpers.cli import run_cli
from tradestore.api import StoreReader
from tradestore.api._mcp import build_server
from tradestore.archive import ArchiveReader, day_start_ms

pytest.importorskip("pyarrow")

SYMBOL = "BTCUSDT"
DAY0 = day_start_ms(FIRST_DAY)
WINDOW = ["--start", str(DAY0), "--end", str(DAY0 + 3 * DAY_MS - 1)]


@pytest.fixture(scope="module")
def tiers(tmp_path_factory):
    return build_tiers(tmp_path_factory.mktemp("tiers"), SYMBOL)


def _profile(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k != "coverage"}


def test_profile_and_composite_read_the_archive_like_hot_trades(tiers, capsys):
    want = cli_json(capsys, "profile", "--db", tiers.full, "--symbol", SYMBOL, *WINDOW)
    got = cli_json(
        capsys, "profile", "--db", tiers.tiered, "--symbol", SYMBOL, *WINDOW,
        "--archive", tiers.archive,
    )  # fmt: skip
    assert _profile(got) == _profile(want)
    cover = got["coverage"]
    assert cover["complete"] and cover["recorded"] == "full"
    assert cover["archived"] == [
        {"from": "2026-03-01T00:00:00.000Z", "to": "2026-03-02T23:59:59.999Z"}
    ]
    # Without the archive: day 0 is not recorded, day 1 is summarized (exact, rollups).
    code, out, _ = run_cli(
        capsys, "profile", "--db", tiers.tiered, "--symbol", SYMBOL, *WINDOW, "--format", "json"
    )
    alone = json.loads(out)["coverage"]
    assert alone["recorded"] == "partial"
    # Up to the last trade pruned (the next one, the first of day 2, is held).
    assert [part["from"][:10] for part in alone["summarized"]] == ["2026-03-02"]
    assert alone["summarized"][0]["to"] > "2026-03-02T23:59"
    composite = ["composite", "--symbol", SYMBOL, "--days", "3", "--end", "2026-03-03"]
    composite += ["--tick-size", "0.5"]
    want = cli_json(capsys, *composite, "--db", tiers.full)
    got = cli_json(capsys, *composite, "--db", tiers.tiered, "--archive", tiers.archive)
    assert without(got, "coverage", "sessions") == without(want, "coverage", "sessions")
    assert [without(s, "coverage") for s in got["sessions"]] == [
        without(s, "coverage") for s in want["sessions"]
    ]
    assert got["coverage"]["complete"] and got["coverage"]["archived"]


def test_query_says_where_pruned_trades_are_and_reads_them_from_the_archive(
    tiers, capsys, tmp_path
):
    day1 = ["--start", str(DAY0 + DAY_MS), "--end", str(DAY0 + 2 * DAY_MS - 1)]
    code, out, _ = run_cli(capsys, "query", "--db", tiers.tiered, "--symbol", SYMBOL, *day1)
    assert code == 0
    text = " ".join(out.split())
    assert "0 trades; record INCOMPLETE: TRADES PRUNED" in text
    assert "--archive DEST" in text
    want = cli_json(capsys, "query", "--db", tiers.full, "--symbol", SYMBOL, *day1)
    # A recorder config naming the archive does as well as --archive.
    config = tmp_path / "recorder.toml"
    config.write_text(f'archive_to = "{tiers.archive}"\nsymbols = ["BTCUSDT"]\n')
    got = cli_json(
        capsys, "query", "--db", tiers.tiered, "--symbol", SYMBOL, *day1, "--config", config
    )
    assert got["coverage"]["complete"]
    assert [t["agg_id"] for t in got["trades"]] == [t["agg_id"] for t in want["trades"]]
    assert [t["price"] for t in got["trades"]] == [t["price"] for t in want["trades"]]
    # Export to CSV: the same rows.
    mine, theirs = tmp_path / "mine.csv", tmp_path / "theirs.csv"
    assert run_cli(
        capsys, "export", "--db", tiers.tiered, "--symbol", SYMBOL, *day1,
        "--archive", tiers.archive, "-o", mine,
    )[0] == 0  # fmt: skip
    assert (
        run_cli(capsys, "export", "--db", tiers.full, "--symbol", SYMBOL, *day1, "-o", theirs)[0]
        == 0
    )
    assert mine.read_text() == theirs.read_text()
    # Without the archive, export says what it could not write and where it would be.
    alone = tmp_path / "alone.csv"
    code, _out, err = run_cli(
        capsys, "export", "--db", tiers.tiered, "--symbol", SYMBOL, *day1, "-o", alone
    )
    assert code == 0 and alone.read_text() == "agg_id,price,qty,time_ms,is_buyer_maker\n"
    assert "are pruned from the store" in err and "--archive DEST" in err


def test_a_bad_archive_is_a_usage_error(tiers, capsys, tmp_path):
    config = tmp_path / "no-archive.toml"
    config.write_text('symbols = ["BTCUSDT"]\n')
    code, _, err = run_cli(
        capsys, "profile", "--db", tiers.tiered, "--symbol", SYMBOL, *WINDOW, "--config", config
    )
    assert code == 2 and "sets no archive_to" in err
    code, _, err = run_cli(
        capsys, "profile", "--db", tiers.tiered, "--symbol", SYMBOL, *WINDOW,
        "--archive", tiers.archive, "--archive-cache-mb", "0",
    )  # fmt: skip
    assert code == 2 and "--archive-cache-mb" in err


async def test_the_api_and_mcp_answer_from_the_archive_too(tiers, capsys):
    params = {"symbol": SYMBOL, "start": DAY0, "end": DAY0 + 3 * DAY_MS - 1, "bins": 50}
    want = cli_json(
        capsys, "profile", "--db", tiers.tiered, "--symbol", SYMBOL, *WINDOW, "--bins", "50",
        "--archive", tiers.archive,
    )  # fmt: skip
    archive = ArchiveReader(str(tiers.archive))
    with trio.fail_after(60):
        async with (
            serving_api(tiers.tiered, archive=archive) as url,
            httpx.AsyncClient(base_url=url) as client,
        ):
            response = await client.get("/api/v1/profile", params=params)
            assert response.status_code == 200, response.text
            assert response.json() == want
            window = {k: v for k, v in params.items() if k != "bins"}
            cover = await client.get("/api/v1/coverage", params=window)
            assert cover.status_code == 200, cover.text
            assert cover.json()["coverage"] == want["coverage"]
        reader = StoreReader(tiers.tiered, archive=archive)
        try:
            async with Client(build_server(reader)) as session:
                result = await session.call_tool("get_volume_profile", params)
                assert not result.is_error, result.content[0].text
                assert json.loads(result.content[0].text) == want
        finally:
            reader.close()
