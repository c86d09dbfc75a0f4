"""The traded volume per exact price of a window, from the cheapest exact source.

Where the symbol's price-level rollups are kept, a window is read as a pyramid: hour
rollups for its whole hours, minute rollups for its whole minutes, and raw trades only
for the partial minutes at its edges (tradestore.store.pyramid). Otherwise (a database
whose rollups were never built, read-only) one scan of the window's trades accumulates
the levels (the compiled profile accumulator). Both give the same numbers: the rollups
are exact sums of the same trades, each agg id once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tradestore._errors import CorruptValue
from tradestore.analytics._heads import RollupHead
from tradestore.codec._binned import add_binned, binned_read
from tradestore.codec._twins import Rollup, accumulate_levels, rollup_bin_values
from tradestore.store import Pyramid, TradeSource, key_ms, pyramid


@dataclass
class WindowLevels:
    """What a window traded: counts, extremes, and its levels binned on demand."""

    trade_count: int
    first_time_ms: int | None
    last_time_ms: int | None
    first_agg_id: int | None
    last_agg_id: int | None
    min_price: int | None
    max_price: int | None
    # bins(origin, width, nbins) -> (volume, taker-buy volume, trade count) per bin
    bins: Callable[[int, int, int], tuple[list[int], list[int], list[int]]]
    from_rollups: bool
    # The part of the window answered, when less than the window (an edge minute whose
    # trades are no longer held: whole minutes only).
    answered: tuple[int, int] | None = None
    # Counts, open/close, extremes and sums of the whole window (from the rollups; None
    # when the levels were accumulated from the trades).
    head: RollupHead | None = None


def window_levels(store: TradeSource, symbol: str, start_ms: int, end_ms: int) -> WindowLevels:
    """The levels of symbol's trades with start_ms <= T <= end_ms."""
    pieces = pyramid(store, symbol, start_ms, end_ms)
    if pieces is None:
        return levels_from_trades(store, symbol, start_ms, end_ms)
    return from_pieces([pieces])


def from_pieces(parts: Sequence[Pyramid]) -> WindowLevels:
    """The levels of one or more pyramids (disjoint windows) together."""
    heads = [RollupHead.read(value, key) for part in parts for key, value in part.values]
    raw = Rollup()
    for part in parts:
        if part.raw is not None and len(part.raw):
            cols = part.raw
            raw.add_columns(cols.agg_id, cols.time_ms, cols.price, cols.qty, cols.is_buyer_maker)
    if raw.trade_count:
        heads.append(RollupHead.of(raw))
    values = [pair for part in parts for pair in part.values]
    binned = {
        key: part.binned[key_ms(key)]
        for part in parts
        for key, _value in part.days
        if key_ms(key) in part.binned
    }
    rounded = [part.answered for part in parts if part.rounded and part.answered is not None]
    answered = None
    if rounded:
        spans = [part.answered for part in parts if part.answered is not None]
        answered = (min(a for a, _ in spans), max(b for _, b in spans))

    def bins(origin: int, width: int, nbins: int) -> tuple[list[int], list[int], list[int]]:
        # A day whose pre-binned levels nest in these bins is read from them (a few
        # hundred bins instead of its every price); any other value level by level.
        coarse = []
        exact = values
        if binned:
            exact = []
            for key, value in values:
                levels = binned.get(key)
                try:
                    found = binned_read(levels, key) if levels is not None else None
                except CorruptValue:
                    found = None  # the day value answers alone (verify names the key)
                if found is not None and width % found.unit == 0 and origin % found.unit == 0:
                    coarse.append(found)
                else:
                    exact.append((key, value))
        volume, buy, count = (list(x) for x in rollup_bin_values(exact, origin, width, nbins))
        if coarse:
            add_binned((volume, buy, count), coarse, origin, width)
        if raw.trade_count:
            r_volume, r_buy, r_count = raw.bins(origin, width, nbins)
            volume = [a + b for a, b in zip(volume, r_volume, strict=True)]
            buy = [a + b for a, b in zip(buy, r_buy, strict=True)]
            count = [a + b for a, b in zip(count, r_count, strict=True)]
        return volume, buy, count

    total = RollupHead.total(heads)
    if total is None:
        return WindowLevels(0, None, None, None, None, None, None, bins, True, answered)
    return WindowLevels(
        answered=answered,
        trade_count=total.trade_count,
        first_time_ms=total.first_time_ms,
        last_time_ms=total.last_time_ms,
        first_agg_id=total.first_agg_id,
        last_agg_id=total.last_agg_id,
        min_price=total.min_price,
        max_price=total.max_price,
        bins=bins,
        from_rollups=True,
        head=total,
    )


def levels_from_trades(store: TradeSource, symbol: str, start_ms: int, end_ms: int) -> WindowLevels:
    table = store.decode_window(accumulate_levels, symbol, start_ms, end_ms)
    if table is None:  # agg ids out of scan order: count each id once, first copy wins
        table = store.decode_window(
            lambda pairs, lo, hi: accumulate_levels(pairs, lo, hi, True), symbol, start_ms, end_ms
        )
    return WindowLevels(
        trade_count=table.trade_count,
        first_time_ms=table.first_time_ms,
        last_time_ms=table.last_time_ms,
        first_agg_id=table.first_agg_id,
        last_agg_id=table.last_agg_id,
        min_price=table.min_price,
        max_price=table.max_price,
        bins=table.bins,
        from_rollups=False,
    )


def combine(parts: Sequence[WindowLevels]) -> WindowLevels:
    """The levels of disjoint windows together."""
    filled = [p for p in parts if p.trade_count]

    def bins(origin: int, width: int, nbins: int) -> tuple[list[int], list[int], list[int]]:
        volume, buy, count = [0] * nbins, [0] * nbins, [0] * nbins
        for part in filled:
            v, b, c = part.bins(origin, width, nbins)
            volume = [x + y for x, y in zip(volume, v, strict=True)]
            buy = [x + y for x, y in zip(buy, b, strict=True)]
            count = [x + y for x, y in zip(count, c, strict=True)]
        return volume, buy, count

    if not filled:
        return WindowLevels(0, None, None, None, None, None, None, bins, True)
    return WindowLevels(
        trade_count=sum(p.trade_count for p in filled),
        first_time_ms=min(p.first_time_ms for p in filled if p.first_time_ms is not None),
        last_time_ms=max(p.last_time_ms for p in filled if p.last_time_ms is not None),
        first_agg_id=min(p.first_agg_id for p in filled if p.first_agg_id is not None),
        last_agg_id=max(p.last_agg_id for p in filled if p.last_agg_id is not None),
        min_price=min(p.min_price for p in filled if p.min_price is not None),
        max_price=max(p.max_price for p in filled if p.max_price is not None),
        bins=bins,
        from_rollups=all(p.from_rollups for p in filled),
    )
