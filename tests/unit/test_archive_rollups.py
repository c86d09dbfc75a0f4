"""The rollups each archived day carries in its sidecar, and ``ArchiveReader``: every tier
read back equals a recomputation from the raw trades, minute by minute; the sidecar is
invisible to DuckDB's and pyarrow's readers of the archive; a partition without one (an
older archive) is summed from its trades; ``verify --archive`` checks the sidecar."""

from __future__ import annotations

import json
import struct
from collections import defaultdict
from datetime import timedelta

import numpy as np
import pytest

from tests.helpers.archive import FIRST_DAY, build_store
from tradestore.cli import main
from tradestore.codec._twins import Rollup
from tradestore.store import TradeColumns

pq = pytest.importorskip("pyarrow.parquet")
ds = pytest.importorskip("pyarrow.dataset")
duckdb = pytest.importorskip("duckdb")

from tradestore.archive import (  # noqa: E402
    ArchiveReader,
    DayRollups,
    Destination,
    PartitionKey,
    add_missing_rollups,
    day_start_ms,
    sidecar_path,
)
from tradestore.codec._binned import MAX_BINS  # noqa: E402

SYMBOLS = {"BTCUSDT": 0, "ETHUSDT": 5_000_000}
DAYS = [FIRST_DAY + timedelta(days=i) for i in range(3)]
MINUTE, HOUR = 60_000, 3_600_000


def cli(capsys, *argv) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    out, _err = capsys.readouterr()
    return code, out


@pytest.fixture
def archived(tmp_path, capsys):
    db, root = tmp_path / "db", tmp_path / "archive"
    built = build_store(db, SYMBOLS, days=3, per_day=3000)
    assert cli(capsys, "archive", "--db", db, "--to", root, "--through", DAYS[2])[0] == 0
    return db, root, built


def columns_of(trades) -> TradeColumns:
    trades = sorted(trades, key=lambda t: t.agg_id)
    return TradeColumns(
        np.array([t.agg_id for t in trades], dtype=np.int64),
        np.array([t.time_ms for t in trades], dtype=np.int64),
        np.array([int(t.price * 10**8) for t in trades], dtype=np.int64),
        np.array([int(t.qty * 10**8) for t in trades], dtype=np.int64),
        np.array([t.is_buyer_maker for t in trades], dtype=np.bool_),
    )


def rollup_of(trades) -> Rollup:
    """A Rollup added trade by trade (one trade's columns at a time): no split involved."""
    rollup = Rollup()
    for t in trades:
        rollup.add_columns(*columns_of([t]).arrays())
    return rollup


def key(tier: str, symbol: str, ms: int) -> bytes:
    return b"rollup:%s:%s:%013d" % (tier.encode(), symbol.encode(), ms)


def binned(rollup) -> bytes:
    """The day's levels pre-binned (format 2): at most MAX_BINS bins of the smallest
    10^k x 1e-8, as int64 columns."""
    k = 0
    while rollup.max_price // 10**k - rollup.min_price // 10**k + 1 > MAX_BINS:
        k += 1
    levels = rollup.levels(10**k)
    head = struct.pack("<BBI", 2, k, len(levels))
    columns = [[p // 10**k for p, *_ in levels], *([lv[i] for lv in levels] for i in (1, 2, 3))]
    return head + b"".join(struct.pack(f"<{len(c)}q", *c) for c in columns)


def expected(symbol: str, trades) -> DayRollups:
    """The day's rollups computed from the raw trades, period by period."""
    minutes, hours = defaultdict(list), defaultdict(list)
    for t in trades:
        minutes[t.time_ms - t.time_ms % MINUTE].append(t)
        hours[t.time_ms - t.time_ms % HOUR].append(t)
    day_ms = trades[0].time_ms - trades[0].time_ms % 86_400_000
    by_minute = {m: rollup_of(ts) for m, ts in sorted(minutes.items())}
    return DayRollups(
        (key("d", symbol, day_ms), rollup_of(trades).encode()),
        [(key("h", symbol, h), rollup_of(ts).encode()) for h, ts in sorted(hours.items())],
        [(key("m", symbol, m), r.encode()) for m, r in by_minute.items()],
        [(key("c", symbol, m), r.encode_summary()) for m, r in by_minute.items()],
        (key("b", symbol, day_ms), binned(rollup_of(trades))),
    )


def test_every_tier_equals_a_recomputation_from_the_trades(archived):
    _db, root, built = archived
    reader = ArchiveReader(str(root))
    by_day = built.by_day()
    assert reader.symbols() == sorted(SYMBOLS)
    for symbol in SYMBOLS:
        assert reader.days(symbol) == DAYS
        for day in DAYS:
            want = expected(symbol, by_day[(symbol, day)])
            got = reader.day_rollups(symbol, day)
            assert got.day == want.day
            assert got.hours == want.hours
            assert got.minutes == want.minutes
            assert got.candles == want.candles
            assert got.binned == want.binned is not None
            assert reader.day_value(symbol, day) == want.day
            assert reader.binned_value(symbol, day) == want.binned
            assert reader.hours(symbol, day) == want.hours
    # The sidecar's layout: the day and its pre-binned levels in row group 0, hours in 1,
    # candles+minutes in 2.
    path = root / sidecar_path(PartitionKey("spot", "BTCUSDT", DAYS[1]))
    meta = pq.read_metadata(path)
    assert meta.num_row_groups == 3
    assert [meta.row_group(i).num_rows for i in range(3)] == [2, 24, 2 * 1440]
    assert pq.read_schema(path).names == ["tier", "start_ms", "value"]


def test_the_sidecar_is_invisible_to_engines_reading_the_archive(archived):
    _db, root, built = archived
    assert len(list(root.glob("market=*/symbol=*/date=*/_*.rollups"))) == 6
    con = duckdb.connect()
    n = con.execute(
        f"SELECT count(*) FROM read_parquet('{root}/market=*/symbol=*/date=*/*.parquet', "
        "hive_partitioning = 1)"
    ).fetchone()[0]
    assert n == 2 * 3 * 3000
    dataset = ds.dataset(str(root), format="parquet", partitioning="hive")
    assert all(f.endswith(".parquet") for f in dataset.files)
    assert dataset.count_rows() == 2 * 3 * 3000


def test_reader_info_and_columns(archived):
    _db, root, built = archived
    reader = ArchiveReader(Destination(str(root)))
    trades = built.by_day()[("ETHUSDT", DAYS[2])]
    info = reader.info("ethusdt", DAYS[2])
    assert (info.rows, info.first_agg_id, info.last_agg_id) == (
        3000,
        trades[0].agg_id,
        trades[-1].agg_id,
    )
    cols = reader.columns("ETHUSDT", DAYS[2])
    want = columns_of(trades)
    for a, b in zip(cols.arrays(), want.arrays(), strict=True):
        assert np.array_equal(a, b)
    lo = day_start_ms(DAYS[2]) + 6 * HOUR
    hi = lo + HOUR - 1
    part = reader.columns("ETHUSDT", DAYS[2], lo, hi)
    assert part.agg_id.tolist() == [t.agg_id for t in trades if lo <= t.time_ms <= hi]
    assert reader.info("ETHUSDT", DAYS[2] + timedelta(days=5)) is None
    assert reader.day_value("ETHUSDT", DAYS[2] + timedelta(days=5)) is None
    assert len(reader.columns("ETHUSDT", DAYS[2] + timedelta(days=5))) == 0


def test_a_partition_without_sidecar_is_summed_from_its_trades(archived, capsys):
    db, root, built = archived
    sidecar = root / sidecar_path(PartitionKey("spot", "BTCUSDT", DAYS[0]))
    sidecar.unlink()  # as an archive written by an older version
    want = expected("BTCUSDT", built.by_day()[("BTCUSDT", DAYS[0])])
    reader = ArchiveReader(str(root))
    assert reader.day_value("BTCUSDT", DAYS[0]) == want.day
    assert reader.day_rollups("BTCUSDT", DAYS[0]) == want
    # verify says so (the trades are safe: the verdict stays ok) ...
    code, out = cli(
        capsys, "verify", "--db", db, "--archive", root, "--through", DAYS[2], "--format", "json"
    )
    checks = {(c["symbol"], c["date"]): c for c in json.loads(out)}
    first = checks[("BTCUSDT", DAYS[0].isoformat())]
    assert (first["verdict"], first["rollups"]) == ("ok", "missing")
    assert checks[("BTCUSDT", DAYS[1].isoformat())]["rollups"] == "ok"
    # ... and the next archive run writes it, from the partition's trades.
    assert cli(capsys, "archive", "--db", db, "--to", root, "--through", DAYS[2])[0] == 0
    assert sidecar.is_file()
    assert ArchiveReader(str(root)).day_rollups("BTCUSDT", DAYS[0]) == want


def test_a_sidecar_of_other_trades_is_not_used(archived, capsys):
    db, root, built = archived
    one = root / sidecar_path(PartitionKey("spot", "BTCUSDT", DAYS[0]))
    other = root / sidecar_path(PartitionKey("spot", "BTCUSDT", DAYS[1]))
    one.write_bytes(other.read_bytes())  # names day 1's trades
    want = expected("BTCUSDT", built.by_day()[("BTCUSDT", DAYS[0])])
    reader = ArchiveReader(str(root))
    assert reader.day_value("BTCUSDT", DAYS[0]) == want.day
    assert reader.day_rollups("BTCUSDT", DAYS[0]) == want
    code, out = cli(
        capsys, "verify", "--db", db, "--archive", root, "--through", DAYS[2], "--format", "json"
    )
    checks = {(c["symbol"], c["date"]): c for c in json.loads(out)}
    assert checks[("BTCUSDT", DAYS[0].isoformat())]["rollups"] == "stale"
    assert code == 0


def test_verify_finds_a_sidecar_whose_rollups_are_not_its_trades(archived, capsys):
    db, root, _built = archived
    key = PartitionKey("spot", "ETHUSDT", DAYS[1])
    path = root / sidecar_path(key)
    table = pq.read_table(path)
    meta = pq.read_metadata(path).metadata
    values = table.column("value").to_pylist()
    values[0], values[1] = values[1], values[0]  # the day's value swapped with an hour's
    import pyarrow as pa

    table = table.set_column(2, "value", pa.array(values, pa.binary()))
    pq.write_table(table.replace_schema_metadata(meta), path)
    code, out = cli(
        capsys, "verify", "--db", db, "--archive", root, "--through", DAYS[2], "--format", "json"
    )
    checks = {(c["symbol"], c["date"]): c for c in json.loads(out)}
    bad = checks[("ETHUSDT", DAYS[1].isoformat())]
    assert (bad["verdict"], bad["rollups"]) == ("corrupt", "differs")
    assert code == 1


def test_an_older_archive_is_given_its_rollups_from_its_own_trades(archived):
    _db, root, built = archived
    sidecars = sorted(root.glob("market=*/symbol=*/date=*/_*.rollups"))
    for path in sidecars:
        path.unlink()
    dest = Destination(str(root))
    written = list(add_missing_rollups(dest))
    assert [w for _k, w in written] == [True] * 6
    assert sorted(root.glob("market=*/symbol=*/date=*/_*.rollups")) == sidecars
    reader = ArchiveReader(dest)
    for (symbol, day), trades in built.by_day().items():
        if day in DAYS:
            assert reader.day_rollups(symbol, day) == expected(symbol, trades)
    assert [w for _k, w in add_missing_rollups(dest, symbols=["ethusdt"])] == [False] * 3


def test_the_rollups_go_in_first_a_failed_sidecar_leaves_no_partition(
    tmp_path, capsys, monkeypatch
):
    db, root = tmp_path / "db", tmp_path / "archive"
    build_store(db, {"BTCUSDT": 0}, days=1, per_day=500)

    def broken(stream, rollups, stamp):
        raise OSError("disk full")

    monkeypatch.setattr("tradestore.archive._archiver.write_sidecar", broken)
    code, out = cli(capsys, "archive", "--db", db, "--to", root, "--through", DAYS[0])
    assert code == 1 and "disk full" in out
    assert list(root.glob("market=*/symbol=*/date=*/*")) == []
    assert list((root / "_staging").iterdir()) == []
    monkeypatch.undo()
    assert cli(capsys, "archive", "--db", db, "--to", root, "--through", DAYS[0])[0] == 0
    assert len(list(root.glob("market=*/symbol=*/date=*/*"))) == 2
