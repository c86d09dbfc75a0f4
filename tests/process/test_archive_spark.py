"""Spark (local mode, its own JVM) reads the archive as a table, and a volume profile
computed in Spark SQL equals ``tradestore.analytics.volume_profile`` for the same day,
bin for bin, in exact decimals."""

from __future__ import annotations

import shutil
from datetime import timedelta
from decimal import Decimal

import pytest

from tests.helpers.archive import FIRST_DAY, build_store
from tradestore import TradeStore
from tradestore.analytics import volume_profile
from tradestore.archive import day_end_ms, day_start_ms
from tradestore.cli import main

pytest.importorskip(
    "pyspark", reason="pyspark is not installed: pip install 'tradestore-trio[spark]'"
)
pytest.importorskip("pyarrow")
if shutil.which("java") is None:
    pytest.skip("no Java runtime for Spark (Java 17+)", allow_module_level=True)

TICK = Decimal("0.5")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_spark_reads_the_archive_and_agrees_on_the_volume_profile(tmp_path, capsys):
    from pyspark.sql import SparkSession

    db = tmp_path / "db"
    data = build_store(db, {"BTCUSDT": 0, "ETHUSDT": 3_000_000}, days=2, per_day=20_000)
    root = tmp_path / "archive"
    assert main(["archive", "--db", str(db), "--to", str(root)]) == 0
    capsys.readouterr()
    day = FIRST_DAY + timedelta(days=1)
    with TradeStore(db, read_only=True) as store:
        profile = volume_profile(
            store, "BTCUSDT", day_start_ms(day), day_end_ms(day), tick_size=TICK
        )

    spark = (
        SparkSession.builder.master("local[1]")
        .appName("tradestore-archive-test")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    try:
        spark.read.parquet(str(root)).createOrReplaceTempView("trades")
        types = dict(spark.table("trades").dtypes)
        assert types["price"] == types["qty"] == "decimal(18,8)"
        assert types["agg_id"] == "bigint" and types["date"] == "date"
        counts = {
            (r["symbol"], r["date"]): (r["n"], r["lo"], r["hi"])
            for r in spark.sql(
                "SELECT symbol, date, count(*) AS n, min(agg_id) AS lo, max(agg_id) AS hi "
                "FROM trades GROUP BY symbol, date"
            ).collect()
        }
        expected = {k: (len(t), t[0].agg_id, t[-1].agg_id) for k, t in data.by_day().items()}
        assert counts == expected
        rows = spark.sql(
            f"""
            SELECT CAST(FLOOR(price / {TICK}) AS BIGINT) AS bin,
                   SUM(qty) AS volume,
                   SUM(CASE WHEN NOT is_buyer_maker THEN qty ELSE 0 END) AS buy_volume,
                   COUNT(*) AS trade_count
            FROM trades
            WHERE market = 'spot' AND symbol = 'BTCUSDT' AND date = DATE'{day.isoformat()}'
            GROUP BY 1 ORDER BY 1
            """
        ).collect()
    finally:
        spark.stop()
    in_spark = {
        r["bin"]: (Decimal(r["volume"]), Decimal(r["buy_volume"]), r["trade_count"]) for r in rows
    }
    ours = {
        int(b.price_low / TICK): (b.volume, b.buy_volume, b.trade_count)
        for b in profile.bins
        if b.trade_count
    }
    assert in_spark == ours
    assert sum(v for v, _b, _n in in_spark.values()) == profile.total_volume
    poc_bin = max(sorted(in_spark), key=lambda k: in_spark[k][0])  # ties: the lower price
    assert poc_bin * TICK == profile.bins[profile.poc_index].price_low
