"""``tradestore.archive.spark`` on Spark's local mode (its own JVM) computes, from the
archive alone, the volume profiles and composite profiles ``tradestore.analytics``
computes from the store: the same bins, volumes, counts, POC and value area, exactly."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from tests.helpers.archive import DAY_MS, FIRST_DAY, build_store, write
from tradestore import TradeStore
from tradestore.analytics import (
    CompositeProfile,
    InsufficientData,
    VolumeProfile,
    composite_profile,
    volume_profile,
)
from tradestore.archive import day_end_ms, day_start_ms
from tradestore.cli import main

SYMBOLS = {"BTCUSDT": 0, "ETHUSDT": 3_000_000}
DAYS = 3
PER_DAY = 4000
D0, D1, D2 = (FIRST_DAY + timedelta(days=k) for k in range(3))
HOUR = 3_600_000


def test_the_archive_face_imports_neither_pyspark_nor_the_analytics():
    code = (
        "import sys, tradestore.archive; "
        "print(sorted(m for m in sys.modules "
        "if m.split('.')[0] == 'pyspark' or m.startswith('tradestore.analytics')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    pytest.importorskip(
        "pyspark", reason="pyspark is not installed: pip install 'tradestore-trio[spark]'"
    )
    if shutil.which("java") is None:
        pytest.skip("no Java runtime for Spark (Java 17+)")
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[1]")
        .appName("tradestore-spark-entry-test")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.warehouse.dir", str(tmp_path_factory.mktemp("spark-warehouse")))
        .getOrCreate()
    )
    yield session
    session.stop()


@pytest.fixture(scope="module")
def archived(tmp_path_factory):
    """(store path, archive root, the trades) of three days of two symbols, the archive
    written by the command line."""
    pytest.importorskip("pyarrow")
    base = tmp_path_factory.mktemp("spark-entry")
    db, root = base / "db", base / "archive"
    built = build_store(db, SYMBOLS, days=DAYS, per_day=PER_DAY)
    assert main(["archive", "--db", str(db), "--to", str(root)]) == 0
    return db, root, built


def same_profile(theirs: VolumeProfile, ours: VolumeProfile) -> None:
    """Equal in every figure and in the JSON document, coverage aside (the store's record
    is its trades, the archive's its days); the trades they count agree."""
    assert replace(theirs, coverage=None) == replace(ours, coverage=None)
    assert _without_coverage(theirs.to_json()) == _without_coverage(ours.to_json())
    assert theirs.coverage is not None and ours.coverage is not None
    t, o = theirs.coverage, ours.coverage
    assert (t.trades, t.first_id, t.last_id, t.missing_ids) == (
        o.trades,
        o.first_id,
        o.last_id,
        o.missing_ids,
    )


def same_composite(theirs: CompositeProfile, ours: CompositeProfile) -> None:
    same_profile(theirs.profile, ours.profile)
    assert theirs.session_ms == ours.session_ms
    assert len(theirs.sessions) == len(ours.sessions)
    for t, o in zip(theirs.sessions, ours.sessions, strict=True):
        assert replace(t, coverage=o.coverage) == o
        assert _without_coverage(t.to_json()) == _without_coverage(o.to_json())
    assert _without_coverage(theirs.to_json()) == _without_coverage(ours.to_json())


def _without_coverage(doc: dict) -> dict:
    out = {k: v for k, v in doc.items() if k not in ("coverage", "data_complete")}
    if "sessions" in out:
        out["sessions"] = [_without_coverage(s) for s in out["sessions"]]
    return out


# (name, start, end, tick size): a whole day, a window inside a day (its bounds
# inclusive, off the second), a window across three days, each at a given tick and at
# the default width.
WINDOWS = [
    ("one day", day_start_ms(D1), day_end_ms(D1)),
    ("inside a day", day_start_ms(D1) + 6 * HOUR + 123, day_start_ms(D1) + 17 * HOUR + 456),
    ("three days", day_start_ms(D0), day_end_ms(D2)),
    ("across midnights", day_start_ms(D0) + 20 * HOUR + 1, day_start_ms(D2) + 3 * HOUR - 1),
]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_profiles_and_composites_equal_the_stores(spark, archived):
    from tradestore.archive import spark as on_spark

    db, root, built = archived
    day = built.by_day()[("BTCUSDT", D1)]
    edges = ("edges on trades", day[1000].time_ms, day[3000].time_ms)
    with TradeStore(db, read_only=True) as store:
        for name, start, end in [*WINDOWS, edges]:
            for tick in ("0.5", None):
                for symbol in SYMBOLS:
                    ours = volume_profile(store, symbol, start, end, tick_size=tick)
                    theirs = on_spark.volume_profile(
                        spark, str(root), symbol, start, end, tick_size=tick
                    )
                    same_profile(theirs, ours)
                    if name == "edges on trades" and symbol == "BTCUSDT":
                        assert theirs.trade_count == 2001  # both edges inclusive
                ours_c = composite_profile(store, "BTCUSDT", start, end, tick_size=tick)
                theirs_c = on_spark.composite_profile(
                    spark, str(root), "BTCUSDT", start, end, tick_size=tick
                )
                same_composite(theirs_c, ours_c)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_many_symbols_at_once(spark, archived):
    from tradestore.archive import spark as on_spark

    db, root, _built = archived
    start, end = day_start_ms(D0) + 5 * HOUR, day_end_ms(D2)
    every = on_spark.composite_profiles(spark, str(root), None, start, end, bins=40)
    asked = on_spark.volume_profiles(
        spark, str(root), ["ETHUSDT", "BTCUSDT", "SOLUSDT"], start, end, bins=40
    )
    assert sorted(every) == sorted(SYMBOLS)
    assert sorted(asked) == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    # A symbol the archive does not hold: too few trades, and why (nothing archived).
    missing = asked["SOLUSDT"]
    assert isinstance(missing, InsufficientData) and missing.found == 0
    assert missing.coverage is not None and missing.coverage.recorded == "none"
    with TradeStore(db, read_only=True) as store:
        for symbol in SYMBOLS:
            got, whole = every[symbol], asked[symbol]
            assert isinstance(got, CompositeProfile) and isinstance(whole, VolumeProfile)
            same_composite(got, composite_profile(store, symbol, start, end, bins=40))
            same_profile(whole, volume_profile(store, symbol, start, end, bins=40))


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_too_few_trades_is_insufficient_data(spark, archived):
    from tradestore.archive import spark as on_spark

    _db, root, _built = archived
    start, end = day_start_ms(D1), day_start_ms(D1) + HOUR - 1  # ~170 trades
    with pytest.raises(InsufficientData) as caught:
        on_spark.volume_profile(spark, str(root), "BTCUSDT", start, end)
    assert 0 < caught.value.found < 1000 and caught.value.required == 1000
    assert caught.value.coverage is not None and caught.value.coverage.complete
    got = on_spark.volume_profile(spark, str(root), "BTCUSDT", start, end, min_trades=1)
    assert got.trade_count == caught.value.found
    with pytest.raises(ValueError, match="tick size"):
        on_spark.volume_profile(spark, str(root), "BTCUSDT", start, end, tick_size="0")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_only_the_partitions_asked_for_are_read(spark, archived, tmp_path):
    """Every other partition of a copy of the archive is garbage: the profile of one
    symbol's day still reads, so Spark opened none of them (partition pruning)."""
    from tradestore.archive import spark as on_spark

    db, root, _built = archived
    copy = tmp_path / "archive"
    shutil.copytree(root, copy)
    wanted = ("symbol=BTCUSDT", f"date={D1.isoformat()}")
    spoiled = 0
    for path in copy.rglob("*.parquet"):
        if not all(part in path.parts for part in wanted):
            path.write_bytes(b"not parquet at all")
            spoiled += 1
    assert spoiled == 2 * (DAYS + 1) - 1
    start, end = day_start_ms(D1), day_end_ms(D1)
    got = on_spark.volume_profile(spark, str(copy), "BTCUSDT", start, end)
    with TradeStore(db, read_only=True) as store:
        same_profile(got, volume_profile(store, "BTCUSDT", start, end))
    with pytest.raises(Exception, match="(?i)parquet"):  # the garbage is seen when read
        on_spark.volume_profile(spark, str(copy), "ETHUSDT", start, end)
    # The same through a table of the catalog, its partitions registered: a DataFrame.
    spark.sql(
        "CREATE TABLE spoiled (agg_id BIGINT, price DECIMAL(18, 8), qty DECIMAL(18, 8), "
        "time TIMESTAMP, is_buyer_maker BOOLEAN, market STRING, symbol STRING, date DATE) "
        f"USING parquet PARTITIONED BY (market, symbol, date) LOCATION '{copy.as_uri()}'"
    )
    try:
        spark.sql("ALTER TABLE spoiled RECOVER PARTITIONS")
        from_table = on_spark.volume_profile(spark, spark.table("spoiled"), "BTCUSDT", start, end)
    finally:
        spark.sql("DROP TABLE spoiled")
    assert from_table == got


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_schema_is_what_spark_discovers(spark, archived):
    from tradestore.archive.spark import SCHEMA

    _db, root, _built = archived
    found = spark.read.parquet(str(root)).schema
    assert [(f.name, f.dataType) for f in found] == [(f.name, f.dataType) for f in SCHEMA]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_sums_past_int64_stay_exact(spark, tmp_path):
    """Prices from 1e-8 to just under 10^10 and quantities near 10^10: a bin's volume is
    far beyond a BIGINT count of 1e-8 units, and still exact."""
    from tradestore import AggTrade
    from tradestore.archive import spark as on_spark

    top = Decimal("9999999999.99999999")
    prices = [Decimal("0.00000001"), Decimal("1.23456789"), Decimal("5000000000"), top]
    start = day_start_ms(D0)
    trades = [
        AggTrade(
            agg_id=1 + i,
            price=prices[i % 4 if i % 7 else 3],
            qty=top - i,
            time_ms=start + i * 40_000,
            is_buyer_maker=i % 5 == 0,
        )
        for i in range(1200)
    ]
    db, root = tmp_path / "db", tmp_path / "archive"
    with TradeStore(db) as store:
        write(store, "BIGUSDT", trades)
        store.write_batches({"BIGUSDT": [replace(trades[-1], agg_id=1201, time_ms=start + DAY_MS)]})
    assert main(["archive", "--db", str(db), "--to", str(root)]) == 0
    end = day_end_ms(D0)
    with TradeStore(db, read_only=True) as store:
        for tick in ("1000000000", None):
            ours = volume_profile(store, "BIGUSDT", start, end, tick_size=tick)
            theirs = on_spark.volume_profile(
                spark, str(root), "BIGUSDT", start, end, tick_size=tick
            )
            same_profile(theirs, ours)
            assert max(b.volume for b in ours.bins) * 10**8 > 2**63
        ours_c = composite_profile(store, "BIGUSDT", start, end)
        same_composite(on_spark.composite_profile(spark, str(root), "BIGUSDT", start, end), ours_c)
