"""``archive`` and ``verify --archive`` on a real store and a local archive, read back by
DuckDB: counts, id ranges and exact decimal sums per symbol and day; idempotence,
re-archiving after a backfill, a pruned store, conflicts and bad input."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest

from tests.helpers.archive import FIRST_DAY, build_store, day_trades, exact_figures, write
from tradestore import TradeStore
from tradestore.cli import main
from tradestore.store import FILLED, Gap

pq = pytest.importorskip("pyarrow.parquet")
duckdb = pytest.importorskip("duckdb")

from tradestore.archive import (  # noqa: E402
    METADATA_KEY,
    Destination,
    PartitionInfo,
    PartitionKey,
    day_start_ms,
)

SYMBOLS = {"BTCUSDT": 0, "ETHUSDT": 5_000_000}
DAYS = [FIRST_DAY + timedelta(days=i) for i in range(3)]


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def built(tmp_path):
    db = tmp_path / "db"
    return db, build_store(db, SYMBOLS, days=3, per_day=2000)


def glob(root) -> str:
    return f"{root}/market=*/symbol=*/date=*/*.parquet"


def duck_figures(root) -> dict:
    con = duckdb.connect()
    rows = con.execute(
        f"""SELECT symbol, date, count(*), min(agg_id), max(agg_id), sum(qty), sum(CAST(price AS DECIMAL(38, 8)) * qty)
            FROM read_parquet('{glob(root)}', hive_partitioning = true)
            GROUP BY symbol, date ORDER BY symbol, date"""
    ).fetchall()
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}


def info_of(root, symbol: str, day: date) -> PartitionInfo:
    key = PartitionKey("spot", symbol, day)
    meta = pq.read_metadata(f"{root}/{key.path}").metadata
    return PartitionInfo.from_json(meta[METADATA_KEY.encode()].decode())


def test_duckdb_reads_the_archive_exactly(built, tmp_path, capsys):
    db, data = built
    root = tmp_path / "archive"
    code, out, err = cli(capsys, "archive", "--db", db, "--to", root)
    assert code == 0, err
    # Two symbols, three full days and the short fourth one (long closed too).
    assert "8 partitions written, 0 failed" in err
    figures = duck_figures(root)
    expected = {(s, d): exact_figures(trades) for (s, d), trades in data.by_day().items()}
    assert len(expected) == 8
    assert figures == expected
    con = duckdb.connect()
    types = dict(
        con.execute(
            f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM "
            f"read_parquet('{glob(root)}', hive_partitioning = true))"
        ).fetchall()
    )
    assert types["agg_id"] == "BIGINT"
    assert types["price"] == types["qty"] == "DECIMAL(18,8)"
    assert types["time"] == "TIMESTAMP WITH TIME ZONE"
    assert types["is_buyer_maker"] == "BOOLEAN"
    assert types["date"] == "DATE"
    assert isinstance(figures[("BTCUSDT", DAYS[0])][3], Decimal)


def test_partition_layout_encodings_and_footer(built, tmp_path, capsys):
    db, data = built
    root = tmp_path / "archive"
    assert cli(capsys, "archive", "--db", db, "--to", root, "--through", DAYS[2])[0] == 0
    key = PartitionKey("spot", "BTCUSDT", DAYS[1])
    path = root / key.path
    assert path.is_file()
    meta = pq.read_metadata(path)
    column = {meta.schema.column(i).name: i for i in range(meta.num_columns)}
    chunk = meta.row_group(0).column
    assert "DELTA_BINARY_PACKED" in chunk(column["agg_id"]).encodings
    assert "DELTA_BINARY_PACKED" in chunk(column["time"]).encodings
    assert any("DICTIONARY" in e for e in chunk(column["price"]).encodings)
    assert chunk(column["qty"]).compression == "ZSTD"
    assert meta.schema.column(column["price"]).physical_type == "INT64"
    stats = chunk(column["agg_id"]).statistics
    day = [t for t in data.trades["BTCUSDT"] if day_start_ms(DAYS[1]) <= t.time_ms]
    day = [t for t in day if t.time_ms < day_start_ms(DAYS[2])]
    assert (stats.min, stats.max) == (day[0].agg_id, day[-1].agg_id)
    assert meta.row_group(0).sorting_columns[0].column_index == 0
    info = info_of(root, "BTCUSDT", DAYS[1])
    assert (info.rows, info.first_agg_id, info.last_agg_id) == (2000, 2000, 3999)
    assert info.complete and info.missing_ids == 0 and info.checksum.startswith("sha256:")
    # The first day starts at agg id 0 (the symbol's first trade): complete; ETHUSDT's
    # record starts mid-history: its first day says so.
    assert info_of(root, "BTCUSDT", DAYS[0]).complete
    eth = info_of(root, "ETHUSDT", DAYS[0])
    assert not eth.complete
    assert any("no earlier trade known" in r for r in eth.incomplete_reasons)
    # --through stops at the day asked for; nothing is left in the staging area.
    assert not (root / PartitionKey("spot", "BTCUSDT", DAYS[2] + timedelta(days=1)).path).exists()
    assert list((root / "_staging").iterdir()) == []


def test_running_again_writes_nothing(built, tmp_path, capsys):
    db, _data = built
    root = tmp_path / "archive"
    assert cli(capsys, "archive", "--db", db, "--to", root)[0] == 0
    files = sorted(root.glob("market=*/symbol=*/date=*/*.parquet"))
    before = {f: f.stat().st_mtime_ns for f in files}
    code, out, err = cli(capsys, "archive", "--db", db, "--to", root, "--format", "jsonl")
    assert code == 0
    actions = {(r["symbol"], r["date"]): r["action"] for r in map(json.loads, out.splitlines())}
    assert set(actions.values()) <= {"complete", "unchanged"}
    assert {f: f.stat().st_mtime_ns for f in files} == before


def test_backfill_then_archive_again_replaces_the_day(tmp_path, capsys):
    db = tmp_path / "db"
    day = DAYS[0]
    trades = day_trades("BTCUSDT", day, 1000, 0) + day_trades("BTCUSDT", DAYS[1], 10, 1000)
    hole = trades[400:450]
    kept = trades[:400] + trades[450:]
    gap = Gap(400, 449, trades[399].time_ms, trades[450].time_ms, detected_ms=1)
    with TradeStore(db) as store:
        write(store, "BTCUSDT", kept)
        store.put_gap("BTCUSDT", gap)
    root = tmp_path / "archive"
    assert cli(capsys, "archive", "--db", db, "--to", root, "--through", day)[0] == 0
    info = info_of(root, "BTCUSDT", day)
    assert (info.rows, info.missing_ids, info.complete) == (950, 50, False)
    assert [(g.first_id, g.last_id, g.status) for g in info.open_gaps] == [(400, 449, "open")]
    # verify sees the day archived; then the backfill lands and the day is stale.
    assert cli(capsys, "verify", "--db", db, "--archive", root, "--through", day)[0] == 0
    with TradeStore(db) as store:
        write(store, "BTCUSDT", hole)
        store.put_gap("BTCUSDT", gap.with_status(FILLED, filled_ms=2))
    code, out, _ = cli(capsys, "verify", "--db", db, "--archive", root, "--through", day)
    assert code == 1 and "stale" in out
    code, out, _ = cli(capsys, "archive", "--db", db, "--to", root, "--through", day)
    assert code == 0 and "replaced" in out
    info = info_of(root, "BTCUSDT", day)
    assert (info.rows, info.missing_ids, info.complete, info.open_gaps) == (1000, 0, True, ())
    assert duck_figures(root)[("BTCUSDT", day)] == exact_figures(trades[:1000])
    assert cli(capsys, "verify", "--db", db, "--archive", root, "--through", day)[0] == 0


def test_a_pruned_store_never_shrinks_the_archive(built, tmp_path, capsys):
    db, data = built
    root = tmp_path / "archive"
    assert cli(capsys, "archive", "--db", db, "--to", root)[0] == 0
    before = duck_figures(root)
    # Prune the first day and a half: the archive keeps every trade; verify agrees the
    # store's half day is archived (safe to delete), the pruned day is simply not there.
    with TradeStore(db) as store:
        store.prune(day_start_ms(DAYS[1]) + 43_200_000)
    code, out, _ = cli(capsys, "archive", "--db", db, "--to", root, "--force", "--format", "jsonl")
    assert code == 0
    assert {json.loads(line)["action"] for line in out.splitlines()} <= {"unchanged"}
    assert duck_figures(root) == before
    code, out, _ = cli(
        capsys, "verify", "--db", db, "--archive", root, "--symbol", "BTCUSDT", "--format", "json"
    )
    assert code == 0
    verdicts = {c["date"]: c["verdict"] for c in json.loads(out)}
    assert verdicts[DAYS[1].isoformat()] == "archived"
    assert verdicts[DAYS[2].isoformat()] == "ok"
    assert DAYS[0].isoformat() not in verdicts


def test_conflicting_values_fail_the_day_and_keep_the_partition(built, tmp_path, capsys):
    db, _data = built
    root = tmp_path / "archive"
    assert cli(capsys, "archive", "--db", db, "--to", root, "--symbol", "BTCUSDT")[0] == 0
    key = PartitionKey("spot", "BTCUSDT", DAYS[0])
    # An archive written from another store with a different qty for one id, marked
    # incomplete, so the next run merges with it.
    from tradestore.archive import from_table, to_table

    path = root / key.path
    table = pq.read_table(path)
    cols = from_table(table)
    qty = cols.qty.copy()
    qty[10] += 1
    info = info_of(root, "BTCUSDT", DAYS[0])
    forged = PartitionInfo(**{**info.__dict__, "complete": False, "incomplete_reasons": ("x",)})
    bad = to_table(type(cols)(cols.agg_id, cols.time_ms, cols.price, qty, cols.is_buyer_maker))
    bad = bad.replace_schema_metadata({METADATA_KEY: forged.to_json()})
    pq.write_table(bad, path)
    size = path.stat().st_size
    code, out, _ = cli(capsys, "archive", "--db", db, "--to", root, "--symbol", "BTCUSDT")
    assert code == 1
    assert "agg id 10 has a different qty" in out
    assert path.stat().st_size == size
    code, out, _ = cli(capsys, "verify", "--db", db, "--archive", root, "--symbol", "BTCUSDT")
    assert code == 1 and "corrupt" in out  # its rows no longer match its own checksum


def test_verify_reports_missing_days(built, tmp_path, capsys):
    db, _data = built
    root = tmp_path / "archive"
    assert cli(capsys, "archive", "--db", db, "--to", root, "--symbol", "ETHUSDT")[0] == 0
    code, out, _ = cli(capsys, "verify", "--db", db, "--archive", root, "--format", "json")
    assert code == 1
    checks = json.loads(out)
    assert {c["verdict"] for c in checks if c["symbol"] == "ETHUSDT"} == {"ok"}
    assert {c["verdict"] for c in checks if c["symbol"] == "BTCUSDT"} == {"missing"}
    assert not any(c["safe_to_delete"] for c in checks if c["symbol"] == "BTCUSDT")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--through", "2026-13-01"], "--through: invalid time '2026-13-01'"),
        (["--since", "yesterday"], "--since: invalid time 'yesterday'"),
        (["--symbol", "BTC-USDT"], "invalid symbol"),
    ],
)
def test_archive_bad_input_exits_2(built, tmp_path, capsys, argv, message):
    db, _data = built
    code, out, err = cli(capsys, "archive", "--db", db, "--to", tmp_path / "a", *argv)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "a" / "market=spot").exists()


def test_archive_bad_destination_exits_2(built, tmp_path, capsys):
    db, _data = built
    (tmp_path / "file").write_text("x")
    code, _, err = cli(capsys, "archive", "--db", db, "--to", tmp_path / "file")
    assert code == 2 and "not a directory" in err
    code, _, err = cli(capsys, "archive", "--db", db, "--to", "ftp://host/x")
    assert code == 2 and "local path or s3://" in err
    code, _, err = cli(capsys, "archive", "--db", tmp_path / "nodb", "--to", tmp_path / "a")
    assert code == 2 and "no trade store" in err


def test_partitions_listed_and_read_back_through_the_api(built, tmp_path):
    from tradestore.archive import Archiver, verify_archive

    db, data = built
    dest = Destination(str(tmp_path / "archive"))
    with TradeStore(db, read_only=True) as store:
        results = list(Archiver(store, dest).run(["BTCUSDT"]))
        assert [r.action for r in results] == ["written"] * 4
        assert sorted(k.day for k in dest.partitions("spot", "BTCUSDT")) == [
            r.key.day for r in results
        ]
        checks = list(verify_archive(store, dest, symbols=["BTCUSDT"]))
    assert all(c.verdict == "ok" and c.safe_to_delete for c in checks)
    assert sum(c.store_rows for c in checks) == len(data.trades["BTCUSDT"])


def test_values_the_archive_cannot_hold_fail_their_day_only(tmp_path, capsys):
    from tradestore import AggTrade

    db = tmp_path / "db"
    t0 = day_start_ms(DAYS[0])
    with TradeStore(db) as store:  # 12 decimals; 10**10 or more; fine
        store.store_batch("BTCUSDT", [AggTrade(1, Decimal("1.5"), Decimal("1E-12"), t0, True)])
        store.store_batch(
            "ETHUSDT", [AggTrade(1, Decimal("1.5"), Decimal("12345678901"), t0, True)]
        )
        store.store_batch("BNBUSDT", [AggTrade(1, Decimal("1.5"), Decimal("2"), t0, True)])
    code, out, err = cli(capsys, "archive", "--db", db, "--to", tmp_path / "a")
    assert code == 1
    assert "BTCUSDT 2026-03-01: failed: " in out and "more than 8 decimal places" in out
    assert "ETHUSDT 2026-03-01: failed: " in out and "does not fit" in out
    assert "BNBUSDT 2026-03-01: written" in out
    assert "1 partitions written, 2 failed" in err
    assert sorted(p.name for p in (tmp_path / "a").glob("market=*/symbol=*/date=*/*")) == [
        "BNBUSDT-2026-03-01.parquet",
        "_BNBUSDT-2026-03-01.rollups",  # the day's rollups, beside its trades
    ]


def test_a_quiet_symbol_with_a_day_without_trades_is_still_complete(tmp_path, capsys):
    db = tmp_path / "db"
    quiet = (
        day_trades("QUIETUSDT", DAYS[0], 100, 0)
        + day_trades("QUIETUSDT", DAYS[2], 100, 100)  # nothing traded on DAYS[1]
        + day_trades("QUIETUSDT", DAYS[2] + timedelta(days=1), 5, 200)
    )
    with TradeStore(db) as store:
        write(store, "QUIETUSDT", quiet)
    root = tmp_path / "archive"
    code, out, _ = cli(capsys, "archive", "--db", db, "--to", root, "--through", DAYS[2])
    assert code == 0
    assert not (root / PartitionKey("spot", "QUIETUSDT", DAYS[1]).path).exists()
    assert info_of(root, "QUIETUSDT", DAYS[0]).complete  # agg id 0: the symbol's first trade
    assert info_of(root, "QUIETUSDT", DAYS[2]).complete, out  # id 99 two days before
