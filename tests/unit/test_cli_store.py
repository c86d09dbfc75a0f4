"""The store commands driven as a user would: import, query, stats, prune; bad input -> exit 2."""

from __future__ import annotations

import csv
import hashlib
import json
import zipfile
from decimal import Decimal

import pytest

from tests.helpers.cli import run_cli
from tradestore import TradeStore
from tradestore.cli import main

FIRST_ID, LAST_ID = 3800397495, 3800402494


def csv_qty_sum(path) -> Decimal:
    with open(path, newline="") as fh:
        return sum((Decimal(row[2]) for row in csv.reader(fh)), Decimal(0))


def test_import_real_csv_then_query_and_stats(tmp_path, capsys, real_csv):
    db = tmp_path / "db"
    code, out, _ = run_cli(
        capsys, "import", "--create", "--db", db, "--symbol", "BTCUSDT", real_csv
    )
    assert code == 0
    assert "5,000 new trades stored" in out

    with TradeStore(db, read_only=True) as store:
        trades = store.query_trades("BTCUSDT", 0, 2_000_000_000_000)
    assert [t.agg_id for t in trades] == list(range(FIRST_ID, LAST_ID + 1))
    assert sum((t.qty for t in trades), Decimal(0)) == csv_qty_sum(real_csv)
    assert trades[0].time_ms == 1767225600039  # µs timestamps became ms
    assert str(trades[0].price) == "87648.21000000"

    # A minute of it, as JSON lines.
    code, out, _ = run_cli(
        capsys,
        "query",
        "--db",
        db,
        "--symbol",
        "btcusdt",
        "--start",
        "2026-01-01T00:00:00Z",
        "--end",
        "2026-01-01T00:00:59.999Z",
        "--format",
        "jsonl",
    )
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    want = [t for t in trades if 1767225600000 <= t.time_ms <= 1767225659999]
    assert [r["agg_id"] for r in rows] == [t.agg_id for t in want]
    assert rows[0] == {
        "agg_id": FIRST_ID,
        "price": "87648.21000000",
        "qty": "0.08185000",
        "time_ms": 1767225600039,
        "is_buyer_maker": True,
    }

    code, out, _ = run_cli(capsys, "stats", "--db", db, "--format", "json")
    assert code == 0
    stats = json.loads(out)["symbols"]["BTCUSDT"]
    assert stats["trades"] == 5000
    assert (stats["first_agg_id"], stats["last_agg_id"]) == (FIRST_ID, LAST_ID)

    code, out, _ = run_cli(capsys, "stats", "--db", db)
    assert code == 0 and "BTCUSDT" in out and "5,000" in out

    # Importing the same file again stores nothing twice.
    code, out, _ = run_cli(
        capsys, "import", "--create", "--db", db, "--symbol", "BTCUSDT", real_csv
    )
    assert code == 0 and "0 new trades stored" in out


def test_import_zip_with_checksum(tmp_path, capsys, real_csv):
    archive = tmp_path / "BTCUSDT-aggTrades-2026-01-01.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(real_csv, "BTCUSDT-aggTrades-2026-01-01.csv")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    (tmp_path / (archive.name + ".CHECKSUM")).write_text(f"{digest}  {archive.name}\n")
    code, out, _ = run_cli(
        capsys, "import", "--create", "--db", tmp_path / "db", "--symbol", "BTCUSDT", archive
    )
    assert code == 0 and "5,000 new trades" in out

    (tmp_path / (archive.name + ".CHECKSUM")).write_text(f"{'0' * 64}  {archive.name}\n")
    code, _, err = run_cli(
        capsys, "import", "--create", "--db", tmp_path / "db2", "--symbol", "BTCUSDT", archive
    )
    assert code == 2 and "sha256 does not match" in err
    assert not (tmp_path / "db2").exists()


def test_bad_csv_writes_nothing(tmp_path, capsys, real_csv):
    db = tmp_path / "db"
    assert (
        run_cli(capsys, "import", "--create", "--db", db, "--symbol", "BTCUSDT", real_csv)[0] == 0
    )
    lines = real_csv.read_text().splitlines()
    bad = tmp_path / "bad.csv"
    shifted = [line.replace("3800", "4800", 1) for line in lines[:3000]]
    shifted[2500] = shifted[2500].replace(".", "e", 1)  # a price that is not a plain decimal
    bad.write_text("\n".join(shifted) + "\n")
    code, _, err = run_cli(capsys, "import", "--create", "--db", db, "--symbol", "BTCUSDT", bad)
    assert code == 2
    assert "bad.csv:2501" in err and "not a plain decimal" in err
    with TradeStore(db, read_only=True) as store:
        assert store.stats()["symbols"]["BTCUSDT"]["trades"] == 5000
        assert store.last_agg_id("BTCUSDT") == LAST_ID


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["query", "--symbol", "BTC-USDT"], "invalid symbol"),
        (["query", "--symbol", "BTCUSDT", "--start", "yesterday"], "invalid time"),
        (
            ["query", "--symbol", "BTCUSDT", "--start", "2026-01-02", "--end", "2026-01-01"],
            "before",
        ),
        (["query", "--symbol", "BTCUSDT", "--hours", "-1"], "positive"),
        (["import", "--symbol", "BTCUSDT", "/nonexistent/file.csv"], "no such file"),
        (["stats", "--db", "/nonexistent/db"], "no trade store"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys, argv, message):
    if "--db" not in argv:
        TradeStore(tmp_path / "db").close()
        argv = [*argv, "--db", str(tmp_path / "db")]
    code, _, err = run_cli(capsys, *argv)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_unknown_command_and_flag_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["query", "--symbol", "BTCUSDT", "--frobnicate"])
    assert exc.value.code == 2


def test_prune_command(tmp_path, capsys, real_csv):
    db = tmp_path / "db"
    run_cli(capsys, "import", "--create", "--db", db, "--symbol", "BTCUSDT", real_csv)
    code, out, _ = run_cli(
        capsys, "prune", "--db", db, "--before", "2026-01-01T00:06:00Z", "--format", "json"
    )
    assert code == 0
    removed = json.loads(out)["removed"][0]["trades_removed"]
    with TradeStore(db, read_only=True) as store:
        left = store.query_trades("BTCUSDT", 0, 2_000_000_000_000)
    assert removed + len(left) == 5000
    cutoff = 1767225960000
    with open(real_csv, newline="") as fh:
        newer = {int(r[0]) for r in csv.reader(fh) if int(r[5]) // 1000 >= cutoff}
    # Whole batches only: nothing at or after the cut-off is lost, at most a batch before it stays.
    assert newer <= {t.agg_id for t in left}
    assert min(t.time_ms for t in left) >= cutoff - 1000


def test_help_explains_itself(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for command in ("query", "stats", "prune", "import"):
        assert command in out


def test_stats_per_symbol_bytes_sum_to_table_files(tmp_path, capsys, real_csv):
    db = tmp_path / "db"
    run_cli(capsys, "import", "--create", "--db", db, "--symbol", "BTCUSDT", real_csv)
    # The file is named for BTCUSDT: importing it as ETHUSDT takes --force.
    assert (
        run_cli(capsys, "import", "--create", "--db", db, "--symbol", "ETHUSDT", real_csv)[0] == 2
    )
    assert (
        run_cli(
            capsys, "import", "--create", "--db", db, "--symbol", "ETHUSDT", "--force", real_csv
        )[0]
        == 0
    )
    with TradeStore(db) as store:
        store.db.flush()
    code, out, _ = run_cli(capsys, "stats", "--db", db, "--format", "json")
    assert code == 0
    doc = json.loads(out)
    per_symbol = [row["bytes_on_disk_est"] for row in doc["symbols"].values()]
    assert all(b > 0 for b in per_symbol)
    assert abs(sum(per_symbol) - doc["table_bytes"]) <= len(per_symbol)
    assert doc["bytes_on_disk"] >= doc["table_bytes"]
    assert doc["symbols"]["ETHUSDT"]["filled_gaps"] == 0
