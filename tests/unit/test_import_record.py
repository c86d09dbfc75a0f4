"""What an import records comes from the data: a day file's record reaches past its last
trade only when its published .CHECKSUM proves it whole, or stored trades continue its agg
ids. Every surface (query, stats, the API, the archive) gives the same answer."""

from __future__ import annotations

import csv
import io
import json

import httpx
import pytest
import trio
from mcp.client import Client

from tests.helpers.api import serving_api
from tests.helpers.cli import official_zip, run_cli
from tradestore import TradeStore
from tradestore.api._mcp import build_server
from tradestore.api._reader import StoreReader
from tradestore.store import recorded_span, window_coverage

FIRST_MS, LAST_MS = 1767225600039, 1767226339347  # the sample's first and last trade
DAY_START, DAY_END = 1767225600000, 1767311999999  # 2026-01-01, all of it
HOUR_ONE = ["--start", "2026-01-01T01:00:00Z", "--hours", "1"]
TRUNCATED_WARNINGS = (
    "warning: BTCUSDT-aggTrades-2026-01-01.zip: file starts 39 ms after its day begins; "
    "the start of the day is not recorded (no .CHECKSUM to prove the file whole)\n"
    "warning: BTCUSDT-aggTrades-2026-01-01.zip: file ends 23 h 47 min before its day; "
    "the rest of the day is not recorded (no .CHECKSUM to prove the file whole)\n"
)


@pytest.fixture
def truncated_db(tmp_path, capsys, real_csv):
    """The sample (00:00:00-00:12:19) as BTCUSDT-aggTrades-2026-01-01.zip, no .CHECKSUM."""
    db = tmp_path / "truncated"
    code, out, err = run_cli(
        capsys, "import", "--create", "--db", db, official_zip(real_csv, tmp_path), "--no-progress"
    )
    assert code == 0 and "5,000 new trades stored" in out
    assert err == TRUNCATED_WARNINGS
    return db


@pytest.fixture
def proven_db(tmp_path, capsys, real_csv):
    """The same zip with the .CHECKSUM data.binance.vision publishes beside it."""
    folder = tmp_path / "proven-files"
    folder.mkdir()
    db = tmp_path / "proven"
    archive = official_zip(real_csv, folder, checksum=True)
    code, _, err = run_cli(capsys, "import", "--create", "--db", db, archive, "--no-progress")
    assert code == 0 and err == ""
    return db


def query_json(capsys, db, *window) -> dict:
    code, out, _ = run_cli(
        capsys, "query", "--db", db, "--symbol", "BTCUSDT", *window, "--format", "json"
    )
    assert code == 0
    return json.loads(out)["coverage"]


def stats_row(capsys, db) -> dict:
    code, out, _ = run_cli(capsys, "stats", "--db", db, "--format", "csv")
    assert code == 0
    return next(csv.DictReader(io.StringIO(out)))


def test_a_truncated_day_is_recorded_only_as_far_as_its_trades(truncated_db, capsys):
    code, out, _ = run_cli(capsys, "query", "--db", truncated_db, "--symbol", "BTCUSDT", *HOUR_ONE)
    text = " ".join(out.split())
    assert code == 0 and "0 trades; NOT RECORDED: the record runs" in text
    assert "record complete" not in text
    cover = query_json(capsys, truncated_db, *HOUR_ONE)
    assert (cover["recorded"], cover["complete"]) == ("none", False)
    assert (cover["recorded_from"], cover["recorded_to"]) == (
        "2026-01-01T00:00:00.039Z",
        "2026-01-01T00:12:19.347Z",
    )
    row = stats_row(capsys, truncated_db)
    assert (row["recorded_from"], row["recorded_to"]) == (
        cover["recorded_from"],
        cover["recorded_to"],
    )
    with TradeStore(truncated_db, read_only=True) as store:
        assert recorded_span(store, "BTCUSDT") == (FIRST_MS, LAST_MS)
        hour = window_coverage(store, "BTCUSDT", DAY_START + 3_600_000, DAY_START + 7_199_999)
        assert hour.recorded == "none"
        assert not window_coverage(store, "BTCUSDT", DAY_START, DAY_END).complete


def test_a_proven_day_is_recorded_whole(proven_db, capsys):
    code, out, _ = run_cli(capsys, "query", "--db", proven_db, "--symbol", "BTCUSDT", *HOUR_ONE)
    assert code == 0 and "0 trades; record complete" in " ".join(out.split())
    cover = query_json(capsys, proven_db, *HOUR_ONE)
    assert (cover["recorded"], cover["complete"]) == ("full", True)
    row = stats_row(capsys, proven_db)
    assert (row["recorded_from"], row["recorded_to"]) == (
        "2026-01-01T00:00:00.000Z",
        "2026-01-01T23:59:59.999Z",
    )
    with TradeStore(proven_db, read_only=True) as store:
        assert recorded_span(store, "BTCUSDT") == (DAY_START, DAY_END)
        assert window_coverage(store, "BTCUSDT", DAY_START, DAY_END).complete


async def test_the_api_and_mcp_agree(truncated_db, proven_db):
    window = {"symbol": "BTCUSDT", "start": "2026-01-01T01:00:00Z", "hours": 1}
    answers: dict[str, list] = {"truncated": [], "proven": []}
    with trio.fail_after(60):
        for name, db in (("truncated", truncated_db), ("proven", proven_db)):
            async with serving_api(db) as url, httpx.AsyncClient(base_url=url) as client:
                response = await client.get("/api/v1/coverage", params=window)
                assert response.status_code == 200, response.text
                stats = (await client.get("/api/v1/stats")).json()
            cover = response.json()["coverage"]
            assert stats["symbols"]["BTCUSDT"]["recorded_to"] == cover["recorded_to"]
            answers[name].append((cover["recorded"], cover["complete"]))
            reader = StoreReader(db)
            try:
                async with Client(build_server(reader)) as session:
                    result = await session.call_tool("get_coverage", window)
                    assert not result.is_error, result.content[0].text
                    cover = json.loads(result.content[0].text)["coverage"]
                    answers[name].append((cover["recorded"], cover["complete"]))
            finally:
                reader.close()
    assert answers == {"truncated": [("none", False)] * 2, "proven": [("full", True)] * 2}


def test_the_archive_agrees(truncated_db, proven_db, capsys, tmp_path):
    pytest.importorskip("pyarrow")
    verdicts = {}
    for name, db in (("truncated", truncated_db), ("proven", proven_db)):
        code, out, err = run_cli(
            capsys, "archive", "--db", db, "--to", tmp_path / f"archive-{name}",
            "--format", "jsonl",
        )  # fmt: skip
        assert code == 0, err
        (day,) = [json.loads(line) for line in out.splitlines()]
        verdicts[name] = (day["complete"], day["incomplete_reasons"])
    assert verdicts["proven"] == (True, [])
    assert verdicts["truncated"] == (
        False,
        [
            "record starts at 2026-01-01T00:00:00.039Z: no earlier trade known",
            "record ends at 2026-01-01T00:12:19.347Z: no later trade known yet",
        ],
    )


def test_trades_that_continue_the_file_extend_its_record(tmp_path, capsys, real_csv):
    """Two copies of the day's name, cut at row 2000: the first is continued by the second
    (agg id last + 1), so only the second's end is unproven."""
    rows = real_csv.read_text().splitlines()
    files = []
    for part, cut in (("early", rows[:2000]), ("late", rows[2000:])):
        folder = tmp_path / part
        folder.mkdir()
        files.append(folder / "BTCUSDT-aggTrades-2026-01-01.csv")
        files[-1].write_text("\n".join(cut) + "\n")
    db = tmp_path / "db"
    assert run_cli(capsys, "import", "--create", "--db", db, files[1], "--no-progress")[0] == 0
    code, out, err = run_cli(capsys, "import", "--create", "--db", db, files[0], "--no-progress")
    assert code == 0 and "gap" not in out
    assert err.startswith("warning: BTCUSDT-aggTrades-2026-01-01.csv: file starts 39 ms after")
    assert "file ends" not in err  # the stored trades continue it
    with TradeStore(db, read_only=True) as store:
        assert recorded_span(store, "BTCUSDT") == (FIRST_MS, LAST_MS)
        assert window_coverage(store, "BTCUSDT", FIRST_MS, LAST_MS).complete


def test_a_wrong_checksum_refuses_the_file(tmp_path, capsys, real_csv):
    archive = official_zip(real_csv, tmp_path, checksum=True)
    sidecar = archive.with_name(archive.name + ".CHECKSUM")
    sidecar.write_text(f"{'0' * 64}  {archive.name}\n")
    code, _, err = run_cli(capsys, "import", "--create", "--db", tmp_path / "db", archive)
    assert code == 2 and "sha256 does not match" in err
    assert not (tmp_path / "db").exists()
