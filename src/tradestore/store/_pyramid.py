"""Reading the rollups: a window split into hour rollups, minute rollups and the raw
trades of the partial minutes at its edges, so an analytic over a day reads 24 values
and two minutes of trades instead of 8.6 million (docs/FORMAT.md, "Rollups")."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from tradestore.store import _keys
from tradestore.store._book import RollupState
from tradestore.store._columns import TradeColumns
from tradestore.store._reader import RangeReader, RollupReader
from tradestore.store._rollupops import (
    HOUR_MS,
    MINUTE_MS,
    candle_key,
    ceil_to,
    floor_to,
    hour_key,
    minute_key,
    tier_range,
)


@dataclass
class Pyramid:
    """A window split by what summarises it: hour rollups, minute rollups (both as
    (key, value) pairs, ascending) and the raw trades of the partial minutes at its
    edges (``raw``, each agg id once)."""

    hours: list[tuple[bytes, bytes]] = field(default_factory=list)
    minutes: list[tuple[bytes, bytes]] = field(default_factory=list)
    raw: TradeColumns | None = None

    @property
    def values(self) -> list[tuple[bytes, bytes]]:
        return self.hours + self.minutes


def whole_minutes(start_ms: int, end_ms: int) -> tuple[int, int]:
    """[first, end) of the whole minutes inside [start_ms, end_ms] (first >= end: none)."""
    return ceil_to(start_ms, MINUTE_MS), floor_to(end_ms + 1, MINUTE_MS)


def pyramid(
    store: RollupReader, symbol: str, start_ms: int, end_ms: int, *, hours: bool = True
) -> Pyramid | None:
    """The pieces of [start_ms, end_ms] (None: the symbol's rollups are not kept);
    ``hours=False`` takes minutes where hours would do."""
    state = store.rollup_state(symbol)
    if state is None or not state.kept:
        return None
    first, end = whole_minutes(start_ms, end_ms)
    if first >= end:
        return Pyramid(raw=store.query_columns(symbol, start_ms, end_ms))
    out = Pyramid()
    h_first, h_end = ceil_to(first, HOUR_MS), floor_to(end, HOUR_MS)
    minute_spans = []
    if hours and h_first < h_end:
        cursor = h_first
        for key, value in store.iter_range(hour_key(symbol, h_first), hour_key(symbol, h_end)):
            hour = _keys.key_ms(key)
            if hour > cursor:
                minute_spans.append((cursor, hour))  # open hours, or none with trades
            out.hours.append((key, value))
            cursor = hour + HOUR_MS
        minute_spans.append((cursor, h_end))
        minute_spans = [(first, h_first), *minute_spans, (h_end, end)]
    else:
        minute_spans = [(first, end)]
    for lo, hi in minute_spans:
        if lo < hi:
            out.minutes.extend(store.iter_range(minute_key(symbol, lo), minute_key(symbol, hi)))
    # Open minutes (near the newest trade, not summarised yet) are read from their trades.
    edges = [store.query_columns(symbol, lo, hi - 1) for lo, hi in open_runs(state, minute_spans)]
    if start_ms < first:
        edges.append(store.query_columns(symbol, start_ms, first - 1))
    if end <= end_ms:
        edges.append(store.query_columns(symbol, end, end_ms))
    if edges:
        out.raw = TradeColumns.concat(edges)
    return out


def open_runs(state: RollupState, spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """[lo, hi) runs of consecutive open minutes of ``state`` inside the [lo, hi) spans."""
    runs: list[tuple[int, int]] = []
    if not state.open_minutes:
        return runs
    for lo, hi in spans:
        for minute in sorted(m for m in state.open_minutes if lo <= m < hi):
            if runs and runs[-1][1] == minute:
                runs[-1] = (runs[-1][0], minute + MINUTE_MS)
            else:
                runs.append((minute, minute + MINUTE_MS))
    return runs


def minute_summaries(
    store: RangeReader, symbol: str, first_ms: int, end_ms: int
) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) of the minute summaries (``rollup:c:``) in [first_ms, end_ms)."""
    return store.iter_range(candle_key(symbol, first_ms), candle_key(symbol, end_ms))


def rollup_counts(store: RangeReader, symbol: str) -> dict[str, int]:
    """How many rollups of each tier ("m", "h", "c") the symbol has (keys only)."""
    store.refresh()
    return {
        tier: sum(1 for _ in store.iter_keys(*tier_range(tier, symbol))) for tier in _keys.TIERS
    }


# ---------------------------------------------------------------------- checking
