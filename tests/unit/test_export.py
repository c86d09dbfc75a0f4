"""``export`` round-trips: the CSV matches data.binance.vision's columns; JSONL; Parquet."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import zipfile
from decimal import Decimal
from pathlib import Path

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


def read_back(path):
    """The trades of an export file, read with the reader of its format: (agg_id, price,
    qty, time_ms, is_buyer_maker) tuples with the prices and quantities as Decimals."""
    name = path.name
    if name.endswith(".parquet"):
        pq = pytest.importorskip("pyarrow.parquet")
        table = pq.read_table(path).to_pylist()
        return [
            (
                r["agg_id"],
                r["price"],
                r["qty"],
                int(r["time"].timestamp() * 1000),
                r["is_buyer_maker"],
            )
            for r in table
        ]
    if name.endswith(".jsonl"):
        rows = [json.loads(line) for line in path.read_text().splitlines()]
    else:
        if name.endswith(".zip"):
            with zipfile.ZipFile(path) as zf:
                assert zf.testzip() is None and zf.namelist() == [name[: -len(".zip")]]
                text = zf.read(zf.namelist()[0]).decode("ascii")
        else:
            text = path.read_text()
        rows = list(csv.DictReader(io.StringIO(text)))
        for r in rows:
            r["is_buyer_maker"] = {"true": True, "false": False}[r["is_buyer_maker"]]
    return [
        (
            int(r["agg_id"]),
            Decimal(r["price"]),
            Decimal(r["qty"]),
            int(r["time_ms"]),
            r["is_buyer_maker"],
        )
        for r in rows
    ]


@pytest.mark.parametrize("name", ["btc.csv", "btc.csv.zip", "btc.jsonl", "btc.parquet"])
def test_the_file_name_chooses_the_format(tmp_path, capsys, imported, name):
    """No --format: each ending writes its own format, read back with that format's
    reader, and holds exactly the stored trades."""
    out_file = tmp_path / name
    code, out, err = export(capsys, imported, "BTCUSDT", "-o", out_file, "--no-progress")
    assert code == 0, err
    assert "5000 BTCUSDT trades" in out
    with TradeStore(imported, read_only=True) as store:
        stored = store.query_trades("BTCUSDT", 0, 2 * 10**12)
    want = [(t.agg_id, t.price, t.qty, t.time_ms, t.is_buyer_maker) for t in stored]
    assert read_back(out_file) == want
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["db", name])


def test_a_format_that_contradicts_the_name_is_refused(tmp_path, capsys, imported):
    for name, given in [("btc.parquet", "csv"), ("btc.jsonl", "parquet"), ("btc.csv.zip", "jsonl")]:
        code, _, err = export(capsys, imported, "BTCUSDT", "-o", tmp_path / name, "--format", given)
        assert code == 2
        assert f"--format {given} contradicts -o {tmp_path / name}" in err
    # Agreeing with the name is fine.
    code, _, _ = export(
        capsys, imported, "BTCUSDT", "-o", tmp_path / "ok.jsonl", "--format", "jsonl"
    )
    assert code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db", "ok.jsonl"]


def test_a_name_that_says_no_format_needs_one(tmp_path, capsys, imported):
    code, _, err = export(capsys, imported, "BTCUSDT", "-o", tmp_path / "btc.txt")
    assert code == 2
    assert "cannot tell the format" in err and ".csv, .csv.zip, .jsonl, .parquet" in err
    code, _, err = export(capsys, imported, "BTCUSDT", "-o", tmp_path / "btc.zip")
    assert code == 2 and "FILE.csv.zip" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db"]
    # --format decides for a name without a known ending, and for standard output.
    code, _, _ = export(
        capsys, imported, "BTCUSDT", "-o", tmp_path / "btc.txt", "--format", "jsonl"
    )
    assert code == 0 and len(read_back_jsonl(tmp_path / "btc.txt")) == 5000
    code, out, _ = export(capsys, imported, "BTCUSDT", "-o", "-", "--format", "jsonl")
    assert code == 0 and json.loads(out.splitlines()[0])["agg_id"] == 3800397495
    code, out, _ = export(capsys, imported, "BTCUSDT", "-o", "-")
    assert code == 0 and out.startswith("agg_id,price,qty,time_ms,is_buyer_maker\n")


def read_back_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_parquet_without_pyarrow_says_which_extra(tmp_path, capsys, imported, monkeypatch):
    """An install without the parquet extra: pyarrow does not import."""
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    code, _, err = export(capsys, imported, "BTCUSDT", "-o", tmp_path / "btc.parquet")
    assert code == 2
    assert "Parquet export needs pyarrow: pip install 'tradestore-trio[parquet]'" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db"]


def test_a_folder_it_cannot_write_is_one_line(tmp_path, capsys, imported):
    """A path below a file, a folder that does not exist, and a folder the kernel refuses
    to create files in even for root (sysfs): one line, exit 2, no traceback, no file."""
    (tmp_path / "notes.txt").write_text("mine\n")
    cases = [
        (tmp_path / "notes.txt" / "btc.csv", "is not a directory"),
        (tmp_path / "no" / "such" / "btc.jsonl", "no such directory"),
    ]
    sys_dir = Path("/sys")
    if os.path.ismount(sys_dir):
        cases.append((sys_dir / "btc.csv", "cannot write /sys/btc.csv"))
    for target, says in cases:
        code, out, err = export(capsys, imported, "BTCUSDT", "-o", target, "--no-progress")
        assert code == 2, (target, out, err)
        assert says in err and len(err.splitlines()) == 1, err
        assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db", "notes.txt"]
    assert not list(sys_dir.glob("*btc*"))
