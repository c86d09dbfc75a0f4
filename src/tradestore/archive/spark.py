"""The volume profile and the composite profile on a cluster: the archive read by Spark.

A user with months of the whole market in the archive runs the analytics where the data
is, on their own ``SparkSession``, and gets the results ``tradestore.analytics`` gives
over a store: the same types (``VolumeProfile``, ``CompositeProfile``) with the same bins,
volumes, counts, point of control and value area, exactly::

    from pyspark.sql import SparkSession
    from tradestore.archive import day_end_ms, day_start_ms, parse_day
    from tradestore.archive.spark import composite_profile, volume_profiles

    spark = SparkSession.builder.getOrCreate()
    start, end = day_start_ms(parse_day("2026-11-01")), day_end_ms(parse_day("2026-11-30"))
    month = composite_profile(spark, "s3a://my-bucket/trades", "BTCUSDT", start, end)
    print(month.profile.point_of_control, [s.point_of_control for s in month.sessions])
    market = volume_profiles(spark, "s3a://my-bucket/trades", None, start, end)  # all

Windows are inclusive, ``start_ms <= T <= end_ms``, and a composite's sessions are UTC
days, as in ``tradestore.analytics``. ``archive`` is the archive's root as Spark reads it
(a local path, ``s3a://bucket/prefix``, ``hdfs://...``) or a DataFrame of it, such as
``spark.table("market.trades")`` of a metastore that knows its partitions. Only the
partitions of the window's days, the market and the symbols asked are opened (filters on
the partition columns ``market``, ``symbol`` and ``date``); but Spark lists every file
under a root it is given as a path, once per call, which on S3 with years of the whole
market takes a while: a metastore table lists only the partitions asked.

Spark does the heavy part in exact integers: a price becomes its count of 1e-8 units (a
BIGINT: the archive holds prices below 10^10), its bin that count divided by the bin
width in whole units (``div``, never a decimal division, which rounds), and quantities
are summed as decimal(38, 8), which no realistic number of trades can overflow. Two
small results reach the driver: each (symbol, day)'s count, first and last trade and
agg id, lowest and highest price, then the sums per bin (per day and bin for a
composite). The bins, the point of control and the value area are then made by the
same functions ``tradestore.analytics`` uses.

Coverage here is the archive's: the days that have a partition are the record, and the
agg ids missing between a window's first and last trade are counted; the gap records a
partition's footer lists are not read. ``import tradestore.archive`` never imports this
module (nor pyspark): import it by name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Context, Decimal
from fractions import Fraction
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    BooleanType,
    DateType,
    DecimalType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from tradestore.analytics import (
    MIN_TRADES,
    CompositeProfile,
    InsufficientData,
    SessionProfile,
    VolumeProfile,
    WindowLevels,
    bin_grid,
    build_profile,
    check_window,
    fraction,
    nice_width,
    session_bounds,
    session_profile,
    tick_to_fixed,
)
from tradestore.archive import day_end_ms, day_of, day_start_ms
from tradestore.codec._fixed import SCALE, SCALE_DIGITS
from tradestore.store import DAY_MS, Coverage, check_symbol, coverage_from_range

__all__ = [
    "SCHEMA",
    "composite_profile",
    "composite_profiles",
    "volume_profile",
    "volume_profiles",
]

# The archive's columns as Spark reads them, partition columns last (docs/SCALING.md).
# Given to the reader, so Spark opens no file to learn it and no file it prunes.
SCHEMA = StructType(
    [
        StructField("agg_id", LongType()),
        StructField("price", DecimalType(18, 8)),
        StructField("qty", DecimalType(18, 8)),
        StructField("time", TimestampType()),
        StructField("is_buyer_maker", BooleanType()),
        StructField("market", StringType()),
        StructField("symbol", StringType()),
        StructField("date", DateType()),
    ]
)
_SUM = DecimalType(38, 8)  # a volume: 10^30 at most, more than any market ever traded
_EXACT = Context(prec=80)

Bins = tuple[list[int], list[int], list[int]]  # volume, taker-buy volume, trades per bin


def volume_profile(
    spark: SparkSession,
    archive: str | DataFrame,
    symbol: str,
    start_ms: int,
    end_ms: int,
    *,
    market: str = "spot",
    tick_size: Decimal | str | None = None,
    bins: int = 100,
    value_area: float = 0.70,
    min_trades: int = MIN_TRADES,
) -> VolumeProfile:
    """The volume profile of ``symbol`` over start_ms <= T <= end_ms from the archive:
    ``tradestore.analytics.volume_profile``'s answer (InsufficientData below
    ``min_trades``), its coverage the archive's."""
    got = volume_profiles(
        spark, archive, [symbol], start_ms, end_ms, market=market, tick_size=tick_size,
        bins=bins, value_area=value_area, min_trades=min_trades,
    )  # fmt: skip
    return _one(got, symbol)


def composite_profile(
    spark: SparkSession,
    archive: str | DataFrame,
    symbol: str,
    start_ms: int,
    end_ms: int,
    *,
    market: str = "spot",
    tick_size: Decimal | str | None = None,
    bins: int = 100,
    value_area: float = 0.70,
    min_trades: int = MIN_TRADES,
) -> CompositeProfile:
    """The composite profile of ``symbol`` over start_ms <= T <= end_ms in UTC-day
    sessions from the archive: ``tradestore.analytics.composite_profile``'s answer."""
    got = composite_profiles(
        spark, archive, [symbol], start_ms, end_ms, market=market, tick_size=tick_size,
        bins=bins, value_area=value_area, min_trades=min_trades,
    )  # fmt: skip
    return _one(got, symbol)


def _one(answers: dict[str, Any], symbol: str) -> Any:
    """The answer for one symbol of a many-symbol call; its InsufficientData raised."""
    got = answers[check_symbol(symbol)]
    if isinstance(got, InsufficientData):
        raise got
    return got


def volume_profiles(
    spark: SparkSession,
    archive: str | DataFrame,
    symbols: Iterable[str] | None,
    start_ms: int,
    end_ms: int,
    *,
    market: str = "spot",
    tick_size: Decimal | str | None = None,
    bins: int = 100,
    value_area: float = 0.70,
    min_trades: int = MIN_TRADES,
) -> dict[str, VolumeProfile | InsufficientData]:
    """The volume profile of each symbol (None: every symbol archived in the window's
    days), in two Spark jobs for all of them. A symbol with fewer than ``min_trades``
    trades in the window maps to its InsufficientData (not raised), saying how many."""
    ask = _Question.make(symbols, start_ms, end_ms, market, tick_size, bins, value_area)
    out: dict[str, VolumeProfile | InsufficientData] = {}
    for symbol, window, grid, found in _compute(spark, archive, ask, min_trades, by_day=False):
        if grid is None:
            out[symbol] = window.insufficient(min_trades)
            continue
        out[symbol] = window.profile(grid, found[None], ask.va_fraction)
    return out


def composite_profiles(
    spark: SparkSession,
    archive: str | DataFrame,
    symbols: Iterable[str] | None,
    start_ms: int,
    end_ms: int,
    *,
    market: str = "spot",
    tick_size: Decimal | str | None = None,
    bins: int = 100,
    value_area: float = 0.70,
    min_trades: int = MIN_TRADES,
) -> dict[str, CompositeProfile | InsufficientData]:
    """The composite profile (UTC-day sessions) of each symbol, as ``volume_profiles``."""
    ask = _Question.make(symbols, start_ms, end_ms, market, tick_size, bins, value_area)
    out: dict[str, CompositeProfile | InsufficientData] = {}
    for symbol, window, grid, found in _compute(spark, archive, ask, min_trades, by_day=True):
        if grid is None:
            out[symbol] = window.insufficient(min_trades)
            continue
        summed = _sum_bins(list(found.values()), grid.n_bins)
        profile = window.profile(grid, summed, ask.va_fraction)
        sessions = tuple(
            window.session(lo, hi, found.get(day_of(lo)), profile, ask.va_fraction)
            for lo, hi in session_bounds(start_ms, end_ms, DAY_MS)
        )
        out[symbol] = CompositeProfile(profile=profile, session_ms=DAY_MS, sessions=sessions)
    return out


# ---------------------------------------------------------------------- the question


@dataclass(frozen=True)
class _Question:
    symbols: tuple[str, ...] | None
    start_ms: int
    end_ms: int
    market: str
    width: int | None  # the bin width in 1e-8 units, None: from the window's range
    bins: int
    va_fraction: Fraction

    @classmethod
    def make(
        cls,
        symbols: Iterable[str] | None,
        start_ms: int,
        end_ms: int,
        market: str,
        tick_size: Decimal | str | None,
        bins: int,
        value_area: float,
    ) -> _Question:
        check_window(start_ms, end_ms)
        if not isinstance(bins, int) or bins < 1:
            raise ValueError("bins must be a positive integer")
        if not market or not market.isascii() or not market.replace("-", "").isalnum():
            raise ValueError(f"invalid market {market!r}")
        if isinstance(symbols, str):
            raise TypeError("symbols is a list of symbols (or None for all), not one symbol")
        return cls(
            None if symbols is None else tuple(sorted({check_symbol(s) for s in symbols})),
            start_ms,
            end_ms,
            market,
            tick_to_fixed(tick_size) if tick_size is not None else None,
            bins,
            fraction(value_area, "value_area"),
        )


@dataclass(frozen=True)
class _Grid:
    origin: int  # the first bin's low price, 1e-8 units
    width: int
    n_bins: int


@dataclass(frozen=True)
class _Day:
    """What one archived day of a symbol holds inside the window."""

    day: date
    trades: int
    first_ms: int | None
    last_ms: int | None
    first_id: int | None
    last_id: int | None
    low: int | None  # lowest and highest price, 1e-8 units
    high: int | None


@dataclass
class _Window:
    """A symbol's archived days in the window, and what they add up to."""

    symbol: str
    start_ms: int
    end_ms: int
    days: dict[date, _Day]

    @property
    def traded(self) -> list[_Day]:
        return [d for d in self.days.values() if d.trades]

    def levels(self, bins: Bins) -> WindowLevels:
        traded = self.traded
        return WindowLevels(
            trade_count=sum(d.trades for d in traded),
            first_time_ms=min(d.first_ms for d in traded if d.first_ms is not None),
            last_time_ms=max(d.last_ms for d in traded if d.last_ms is not None),
            first_agg_id=min(d.first_id for d in traded if d.first_id is not None),
            last_agg_id=max(d.last_id for d in traded if d.last_id is not None),
            min_price=min(d.low for d in traded if d.low is not None),
            max_price=max(d.high for d in traded if d.high is not None),
            bins=lambda _origin, _width, _n: bins,
            from_rollups=False,
        )

    def coverage(self) -> Coverage:
        traded = self.traded
        archived = sorted(self.days)
        return coverage_from_range(
            min((d.first_id for d in traded if d.first_id is not None), default=None),
            max((d.last_id for d in traded if d.last_id is not None), default=None),
            sum(d.trades for d in traded),
            [],
            self.start_ms,
            self.end_ms,
            record=(day_start_ms(archived[0]), day_end_ms(archived[-1])) if archived else None,
        )

    def grid(self, width: int | None, bins: int) -> _Grid:
        traded = self.traded
        low = min(d.low for d in traded if d.low is not None)
        high = max(d.high for d in traded if d.high is not None)
        width = width if width is not None else nice_width(high - low, bins)
        origin, n_bins = bin_grid(low, high, width)
        return _Grid(origin, width, n_bins)

    def insufficient(self, min_trades: int) -> InsufficientData:
        found = sum(d.trades for d in self.traded)
        required = max(min_trades, 1)
        return InsufficientData(
            self.symbol, found, required, self.start_ms, self.end_ms, self.coverage()
        )

    def profile(self, grid: _Grid, bins: Bins, va_fraction: Fraction) -> VolumeProfile:
        return build_profile(
            self.symbol,
            self.start_ms,
            self.end_ms,
            self.levels(bins),
            grid.origin,
            grid.width,
            grid.n_bins,
            va_fraction,
            self.coverage(),
        )

    def session(
        self, lo: int, hi: int, bins: Bins | None, profile: VolumeProfile, va_fraction: Fraction
    ) -> SessionProfile:
        """One UTC day of the composite, on the composite's bins (as the store's)."""
        day = self.days.get(day_of(lo))
        coverage = coverage_from_range(
            day.first_id if day else None,
            day.last_id if day else None,
            day.trades if day else 0,
            [],
            lo,
            hi,
            record=(day_start_ms(day.day), day_end_ms(day.day)) if day else None,
        )
        trades = day.trades if day is not None else 0
        return session_profile(lo, hi, trades, bins, profile, va_fraction, coverage)


# ---------------------------------------------------------------------- in Spark


def _compute(
    spark: SparkSession,
    archive: str | DataFrame,
    ask: _Question,
    min_trades: int,
    *,
    by_day: bool,
) -> list[tuple[str, _Window, _Grid | None, dict[date | None, Bins]]]:
    """Each symbol's window, its grid (None: too few trades) and its bins, per day when
    ``by_day`` (else under the key None)."""
    trades = _partitions(spark, archive, ask)
    windows = _windows(trades, ask)
    grids = {
        symbol: window.grid(ask.width, ask.bins)
        for symbol, window in windows.items()
        if sum(d.trades for d in window.traded) >= max(min_trades, 1)
    }
    found = _bins(spark, trades, ask, grids, by_day=by_day) if grids else {}
    return [
        (symbol, window, grids.get(symbol), found.get(symbol, {}))
        for symbol, window in sorted(windows.items())
    ]


def _partitions(spark: SparkSession, archive: str | DataFrame, ask: _Question) -> DataFrame:
    """The archive's trades of the window's days, market and symbols: filters on the
    partition columns, so Spark opens only those partitions."""
    first, last = day_of(ask.start_ms), day_of(ask.end_ms)
    where = (
        (F.col("market") == ask.market)
        & (F.col("date") >= F.lit(first))
        & (F.col("date") <= F.lit(last))
    )
    if ask.symbols is not None:
        where = where & F.col("symbol").isin(list(ask.symbols))
    table = (
        archive if isinstance(archive, DataFrame) else spark.read.schema(SCHEMA).parquet(archive)
    )
    return table.where(where)


def _inside(ask: _Question) -> Column:
    # Compared as timestamps, so the reader can skip row groups by their time statistics.
    return (F.col("time") >= F.expr(f"timestamp_millis({ask.start_ms})")) & (
        F.col("time") <= F.expr(f"timestamp_millis({ask.end_ms})")
    )


def _units() -> Column:
    """The price as its exact count of 1e-8 units (decimal(18, 8) times 10^8: exact)."""
    return F.expr(f"CAST(price * {SCALE} AS BIGINT)")


def _windows(trades: DataFrame, ask: _Question) -> dict[str, _Window]:
    """One small job: per (symbol, day) archived, its trades inside the window."""
    inside = _inside(ask)
    ms = F.expr("unix_millis(time)")
    rows = (
        trades.groupBy("symbol", "date")
        .agg(
            F.count(F.when(inside, F.lit(1))).alias("trades"),
            F.min(F.when(inside, ms)).alias("first_ms"),
            F.max(F.when(inside, ms)).alias("last_ms"),
            F.min(F.when(inside, F.col("agg_id"))).alias("first_id"),
            F.max(F.when(inside, F.col("agg_id"))).alias("last_id"),
            F.min(F.when(inside, _units())).alias("low"),
            F.max(F.when(inside, _units())).alias("high"),
        )
        .collect()
    )
    windows: dict[str, _Window] = {}
    if ask.symbols is not None:
        for symbol in ask.symbols:
            windows[symbol] = _Window(symbol, ask.start_ms, ask.end_ms, {})
    for r in rows:
        symbol = r["symbol"]
        if check_symbol(symbol) != symbol:  # a directory no archiver wrote
            raise ValueError(f"{symbol!r} in the archive is not a symbol (symbol={symbol})")
        window = windows.setdefault(symbol, _Window(symbol, ask.start_ms, ask.end_ms, {}))
        window.days[r["date"]] = _Day(
            r["date"],
            r["trades"],
            r["first_ms"],
            r["last_ms"],
            r["first_id"],
            r["last_id"],
            r["low"],
            r["high"],
        )
    return windows


def _bins(
    spark: SparkSession,
    trades: DataFrame,
    ask: _Question,
    grids: dict[str, _Grid],
    *,
    by_day: bool,
) -> dict[str, dict[date | None, Bins]]:
    """The second job: volume, taker-buy volume and trades per bin (and day) of each
    symbol, each symbol on its own grid (a small table broadcast to every task).

    The table is SQL literals (symbols are checked, A-Z and 0-9), not Python rows: the
    executors run no Python at all."""
    rows_sql = ", ".join(f"('{s}', {g.width}L, {g.origin // g.width}L)" for s, g in grids.items())
    table = spark.sql(f"SELECT * FROM VALUES {rows_sql} AS grid(symbol, width, first_bin)")
    qty = F.col("qty").cast(_SUM)
    keys = ["symbol", "date", "bin"] if by_day else ["symbol", "bin"]
    rows = (
        trades.where(_inside(ask))
        .join(F.broadcast(table), "symbol")
        .withColumn("bin", F.expr(f"CAST(price * {SCALE} AS BIGINT) div width - first_bin"))
        .groupBy(*keys)
        .agg(
            F.sum(qty).alias("volume"),
            F.sum(F.when(~F.col("is_buyer_maker"), qty).otherwise(F.lit(0).cast(_SUM))).alias(
                "buy"
            ),
            F.count(F.lit(1)).alias("trades"),
        )
        .collect()
    )
    out: dict[str, dict[date | None, Bins]] = {}
    for r in rows:
        symbol = r["symbol"]
        n = grids[symbol].n_bins
        per = out.setdefault(symbol, {})
        key = r["date"] if by_day else None
        if key not in per:
            per[key] = ([0] * n, [0] * n, [0] * n)
        volume, buy, count = per[key]
        i = r["bin"]
        volume[i] = _to_units(r["volume"])
        buy[i] = _to_units(r["buy"])
        count[i] = r["trades"]
    return out


def _to_units(value: Decimal) -> int:
    """A decimal(38, 8) sum as its exact count of 1e-8 units."""
    return int(value.scaleb(SCALE_DIGITS, context=_EXACT))


def _sum_bins(parts: list[Bins], n_bins: int) -> Bins:
    volume, buy, count = [0] * n_bins, [0] * n_bins, [0] * n_bins
    for v, b, c in parts:
        volume = [x + y for x, y in zip(volume, v, strict=True)]
        buy = [x + y for x, y in zip(buy, b, strict=True)]
        count = [x + y for x, y in zip(count, c, strict=True)]
    return volume, buy, count
