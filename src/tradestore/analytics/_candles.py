"""Candles, footprints and cumulative volume delta, from the rollups where they can.

An interval that is a whole number of minutes is summed from minute rollups (hour
rollups when it is a whole number of hours), with raw trades only for the partial
minutes at the window's edges; any other interval (1 s, 90 s) is summed from the trades.
Intervals are aligned to multiples of their length since the Unix epoch (UTC), as the
exchange's klines are: 1d candles open at 00:00 UTC. docs/ANALYTICS.md defines each figure.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from tradestore.analytics._bars import (
    Candle,
    CandleSeries,
    DeltaPoint,
    Footprint,
    FootprintCandle,
    FootprintLevel,
    VolumeDelta,
)
from tradestore.analytics._heads import RollupHead
from tradestore.analytics._profile import check_window, tick_to_fixed
from tradestore.analytics._results import fixed_to_decimal
from tradestore.codec._twins import Rollup, rollup_decode, rollup_split
from tradestore.store import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    Coverage,
    Pyramid,
    TradeColumns,
    TradeSource,
    check_symbol,
    coverage_in,
    key_ms,
    pyramid,
    whole_minutes,
)

MIN_INTERVAL_MS = 1000
# A window of raw trades is read this many ms at a time, so memory stays bounded.
RAW_CHUNK_MS = HOUR_MS


def check_interval(interval_ms: int, *, minutes: bool = False) -> int:
    if not isinstance(interval_ms, int) or isinstance(interval_ms, bool):
        raise TypeError("interval_ms must be an integer (milliseconds)")
    if interval_ms < MIN_INTERVAL_MS:
        raise ValueError(f"the interval must be at least 1 s, not {interval_ms} ms")
    if minutes and interval_ms % MINUTE_MS:
        raise ValueError(f"the interval must be a whole number of minutes, not {interval_ms} ms")
    return interval_ms


def _pieces(
    store: TradeSource,
    symbol: str,
    start_ms: int,
    end_ms: int,
    interval_ms: int,
    *,
    summaries: bool = False,
) -> Pyramid | None:
    """(rollup pairs, raw trade column chunks) covering the window for this interval;
    None: the interval cannot use rollups (or they are not kept). ``summaries``: the
    minutes as their summaries alone."""
    if interval_ms % MINUTE_MS:
        return None
    return pyramid(
        store,
        symbol,
        start_ms,
        end_ms,
        hours=interval_ms % HOUR_MS == 0,
        days=interval_ms % DAY_MS == 0,
        summaries=summaries,
    )


def _raw_chunks(
    store: TradeSource, symbol: str, start_ms: int, end_ms: int
) -> Iterator[TradeColumns]:
    """The window's trades as column chunks of at most RAW_CHUNK_MS, skipping empty
    stretches with one seek each."""
    lo = start_ms
    while lo <= end_ms:
        nxt = store.next_trade_bound(symbol, lo)
        if nxt is None or nxt > end_ms:
            return
        lo = max(lo, nxt)
        hi = min(end_ms, lo - lo % RAW_CHUNK_MS + RAW_CHUNK_MS - 1)
        yield store.query_columns(symbol, lo, hi)
        lo = hi + 1


def _summaries(
    store: TradeSource,
    symbol: str,
    start_ms: int,
    end_ms: int,
    interval_ms: int,
    use_rollups: bool,
) -> tuple[dict[int, RollupHead], tuple[int, int] | None]:
    """(bucket start -> the head of the window's trades, per interval; the part of the
    window answered when less than the window)."""
    buckets: dict[int, RollupHead] = {}

    def add(bucket: int, head: RollupHead) -> None:
        found = buckets.get(bucket)
        buckets[bucket] = head if found is None else found.merge(head)

    def add_raw(cols: TradeColumns) -> None:
        if len(cols):
            parts = rollup_split(*cols.arrays(), interval_ms)
            for start, rollup in parts.items():
                add(start, RollupHead.of(rollup))

    state = store.rollup_state(symbol)
    first, end = whole_minutes(start_ms, end_ms)
    if (
        not use_rollups
        or interval_ms % MINUTE_MS
        or state is None
        or not state.kept
        or first >= end
    ):
        for cols in _raw_chunks(store, symbol, start_ms, end_ms):
            add_raw(cols)
        return buckets, None
    # Whole days and hours from their values' heads (the summary alone is read) where the
    # interval holds them, whole minutes from their summaries (rollup:c:, a few dozen
    # bytes each), the partial minutes at the edges from their trades.
    pieces = _pieces(store, symbol, start_ms, end_ms, interval_ms, summaries=True)
    assert pieces is not None
    for key, value in pieces.values:
        ms = key_ms(key)
        add(ms - ms % interval_ms, RollupHead.read(value, key))
    if pieces.raw is not None:
        add_raw(pieces.raw)
    return buckets, pieces.answered if pieces.rounded else None


def _coverage(
    store: TradeSource,
    symbol: str,
    start_ms: int,
    end_ms: int,
    total: RollupHead | None,
    answered: tuple[int, int] | None = None,
) -> Coverage:
    return coverage_in(
        store,
        symbol,
        None if total is None else total.first_agg_id,
        None if total is None else total.last_agg_id,
        0 if total is None else total.trade_count,
        start_ms,
        end_ms,
        answered=answered,
    )


def _candle(start: int, interval_ms: int, s: RollupHead) -> Candle:
    count, _t0, _t1, first_id, last_id, open_p, close_p, low, high, vol, buy, notional = s
    vwap = None
    if vol:
        quotient, rest = divmod(notional, vol)  # notional is at 1e-16: the quotient at 1e-8
        if 2 * rest > vol or (2 * rest == vol and quotient % 2):
            quotient += 1
        vwap = fixed_to_decimal(quotient)
    volume = fixed_to_decimal(vol)
    buy_volume = fixed_to_decimal(buy)
    return Candle(
        open_time_ms=start,
        close_time_ms=start + interval_ms - 1,
        open=fixed_to_decimal(open_p),
        high=fixed_to_decimal(high),
        low=fixed_to_decimal(low),
        close=fixed_to_decimal(close_p),
        volume=volume,
        buy_volume=buy_volume,
        sell_volume=fixed_to_decimal(vol - buy),
        trade_count=count,
        vwap=vwap,
        first_agg_id=first_id,
        last_agg_id=last_id,
    )


def _total(buckets: dict[int, RollupHead]) -> RollupHead | None:
    """The head of all buckets together (None: no trades)."""
    return RollupHead.total(buckets.values())


def candles(
    store: TradeSource,
    symbol: str,
    start_ms: int,
    end_ms: int,
    interval_ms: int = MINUTE_MS,
    *,
    use_rollups: bool = True,
) -> CandleSeries:
    """Candles of ``interval_ms`` (at least 1 s) over start_ms <= T <= end_ms.
    ``use_rollups=False`` reads every trade (slower, the same result: for checking)."""
    symbol = check_symbol(symbol)
    check_window(start_ms, end_ms)
    check_interval(interval_ms)
    with store.reading():
        buckets, answered = _summaries(store, symbol, start_ms, end_ms, interval_ms, use_rollups)
        total = _total(buckets)
        coverage = _coverage(store, symbol, start_ms, end_ms, total, answered)
    return CandleSeries(
        symbol=symbol,
        start_ms=start_ms,
        end_ms=end_ms,
        interval_ms=interval_ms,
        candles=tuple(_candle(b, interval_ms, buckets[b]) for b in sorted(buckets)),
        trade_count=0 if total is None else total.trade_count,
        coverage=coverage,
    )


def cumulative_volume_delta(
    store: TradeSource,
    symbol: str,
    start_ms: int,
    end_ms: int,
    interval_ms: int = MINUTE_MS,
    *,
    use_rollups: bool = True,
) -> VolumeDelta:
    """Taker-buy minus taker-sell volume per interval over start_ms <= T <= end_ms, and
    its running sum from the window's start."""
    series = candles(store, symbol, start_ms, end_ms, interval_ms, use_rollups=use_rollups)
    points = []
    running = Decimal(0)
    buy = sell = Decimal(0)
    for c in series.candles:
        running += c.delta
        buy += c.buy_volume
        sell += c.sell_volume
        points.append(
            DeltaPoint(c.open_time_ms, c.buy_volume, c.sell_volume, c.trade_count, running)
        )
    return VolumeDelta(
        symbol=series.symbol,
        start_ms=start_ms,
        end_ms=end_ms,
        interval_ms=interval_ms,
        points=tuple(points),
        buy_volume=buy,
        sell_volume=sell,
        trade_count=series.trade_count,
        coverage=series.coverage,
    )


def footprint(
    store: TradeSource,
    symbol: str,
    start_ms: int,
    end_ms: int,
    interval_ms: int = MINUTE_MS,
    *,
    tick_size: Decimal | str | None = None,
    use_rollups: bool = True,
) -> Footprint:
    """Per candle of ``interval_ms`` (a whole number of minutes) over start_ms <= T <=
    end_ms, per price (or per bin of ``tick_size``): taker-buy and taker-sell volume."""
    symbol = check_symbol(symbol)
    check_window(start_ms, end_ms)
    check_interval(interval_ms, minutes=True)
    width = 1 if tick_size is None else tick_to_fixed(tick_size)
    buckets: dict[int, Rollup] = {}

    def bucket(ms: int) -> Any:
        start = ms - ms % interval_ms
        found = buckets.get(start)
        if found is None:
            found = buckets[start] = Rollup()
        return found

    with store.reading():
        pieces = _pieces(store, symbol, start_ms, end_ms, interval_ms) if use_rollups else None
        if pieces is None:
            chunks = list(_raw_chunks(store, symbol, start_ms, end_ms))
        else:
            for key, value in pieces.values:
                bucket(key_ms(key)).add(rollup_decode(value, key))
            chunks = [pieces.raw] if pieces.raw is not None else []
        for cols in chunks:
            if len(cols):
                parts = rollup_split(
                    cols.agg_id, cols.time_ms, cols.price, cols.qty, cols.is_buyer_maker,
                    interval_ms,
                )  # fmt: skip
                for start, rollup in parts.items():
                    bucket(start).add(rollup)
        heads = {start: RollupHead.of(r) for start, r in buckets.items()}
        total = _total(heads)
        answered = pieces.answered if pieces is not None and pieces.rounded else None
        coverage = _coverage(store, symbol, start_ms, end_ms, total, answered)
    out = []
    for start in sorted(buckets):
        levels = tuple(
            FootprintLevel(
                price=fixed_to_decimal(price),
                buy_volume=fixed_to_decimal(buy),
                sell_volume=fixed_to_decimal(vol - buy),
                trade_count=n,
            )
            for price, vol, buy, n in buckets[start].levels(width)
        )
        out.append(FootprintCandle(_candle(start, interval_ms, heads[start]), levels))
    return Footprint(
        symbol=symbol,
        start_ms=start_ms,
        end_ms=end_ms,
        interval_ms=interval_ms,
        tick_size=None if tick_size is None else fixed_to_decimal(width),
        candles=tuple(out),
        trade_count=0 if total is None else total.trade_count,
        coverage=coverage,
    )
