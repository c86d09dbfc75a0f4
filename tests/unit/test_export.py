"""``export`` round-trips: the CSV matches data.binance.vision's columns; JSONL; Parquet."""

from __future__ import annotations

import csv
import json
from decimal import Decimal

import pytest

from tests.helpers.cli import run_cli
from tradestore import TradeStore


def export(capsys, db, symbol, *argv):
    return run_cli(capsys, "export", "--db", db, "--symbol", symbol, *argv)


@pytest.fixture
def imported(tmp_path, capsys, real_csv):
    db = tmp_path / "db"
    assert (
        run_cli(capsys, "import", "--create", "--db", db, "--symbol", "BTCUSDT", real_csv)[0] == 0
    )
    return db


def test_csv_export_matches_official_columns(tmp_path, capsys, imported, real_csv):
    out_file = tmp_path / "out.csv"
    code, out, _ = export(
        capsys,
        imported,
        "BTCUSDT",
        "--keys",
        "binance",
        "--output",
        out_file,
        "--no-progress",
    )
    assert code == 0 and "5000 BTCUSDT trades" in out
    with open(real_csv, newline="") as fh:
        official = list(csv.reader(fh))
    with open(out_file, newline="") as fh:
        ours = list(csv.reader(fh))
    # Every column we record is identical to the official file, timestamps in µs included.
    assert [[r[0], r[1], r[2], r[5], r[6]] for r in ours] == [
        [r[0], r[1], r[2], r[5][:-3] + "000", r[6]] for r in official
    ]
    # And it imports back to the same trades.
    assert (
        run_cli(
            capsys, "import", "--create", "--db", tmp_path / "db2", "--symbol", "BTCUSDT", out_file
        )[0]
        == 0
    )
    with (
        TradeStore(imported, read_only=True) as a,
        TradeStore(tmp_path / "db2", read_only=True) as b,
    ):
        assert a.query_trades("BTCUSDT", 0, 2 * 10**12) == b.query_trades("BTCUSDT", 0, 2 * 10**12)


def test_jsonl_export_window(tmp_path, capsys, imported):
    out_file = tmp_path / "out.jsonl"
    code, _, _ = export(
        capsys,
        imported,
        "BTCUSDT",
        "--format",
        "jsonl",
        "--start",
        "2026-01-01T00:01:00Z",
        "--end",
        "2026-01-01T00:01:59.999Z",
        "--output",
        out_file,
    )
    assert code == 0
    rows = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert rows and all(1767225660000 <= r["time_ms"] <= 1767225719999 for r in rows)
    with TradeStore(imported, read_only=True) as store:
        want = store.query_trades("BTCUSDT", 1767225660000, 1767225719999)
    assert [r["agg_id"] for r in rows] == [t.agg_id for t in want]
    assert set(rows[0]) == {"agg_id", "price", "qty", "time_ms", "is_buyer_maker"}


def test_parquet_export_is_exact(tmp_path, capsys, imported):
    pq = pytest.importorskip("pyarrow.parquet")
    out_file = tmp_path / "out.parquet"
    code, _, _ = export(
        capsys,
        imported,
        "BTCUSDT",
        "--format",
        "parquet",
        "--output",
        out_file,
    )
    assert code == 0
    table = pq.read_table(out_file)
    assert table.num_rows == 5000
    # The archive's layout and writer: exact decimals on INT64, a UTC timestamp, sorted ids.
    assert str(table.schema.field("price").type) == "decimal64(18, 8)"
    assert str(table.schema.field("time").type) == "timestamp[ms, tz=UTC]"
    assert pq.read_metadata(out_file).schema.column(1).physical_type == "INT64"
    ids = table.column("agg_id").to_pylist()
    assert ids == sorted(ids)
    with TradeStore(imported, read_only=True) as store:
        trades = store.query_trades("BTCUSDT", 0, 2 * 10**12)
    assert sum(table.column("qty").to_pylist(), Decimal(0)) == sum(
        (t.qty for t in trades), Decimal(0)
    )


def test_export_bad_input(tmp_path, capsys, imported):
    code, _, err = export(capsys, imported, "ETHUSDT", "--output", tmp_path / "x.csv")
    assert code == 2 and "no trades were ever stored for ETHUSDT (stored: BTCUSDT)" in err
    code, _, err = export(
        capsys,
        imported,
        "BTCUSDT",
        "--output",
        tmp_path / "no" / "x.csv",
    )
    assert code == 2 and "no such directory" in err
    assert not list(tmp_path.glob("*.partial"))


def test_export_from_the_epoch_skips_empty_time(tmp_path, capsys, imported):
    """A window of 56 years with 12 minutes of data: one seek, not 490,000 empty hours."""
    out_file = tmp_path / "all.jsonl"
    code, _, _ = export(
        capsys,
        imported,
        "BTCUSDT",
        "--format",
        "jsonl",
        "--start",
        "0",
        "--output",
        out_file,
        "--no-progress",
    )
    assert code == 0
    assert len(out_file.read_text().splitlines()) == 5000
