"""Reading the rollups: a window split into day rollups, hour rollups, minute rollups and
the raw trades of the partial minutes at its edges, so an analytic over a day reads one
value and two minutes of trades instead of 8.6 million, and a year 365 values
(docs/FORMAT.md, "Rollups")."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from tradestore.store import _keys
from tradestore.store._book import RollupState
from tradestore.store._columns import TradeColumns
from tradestore.store._reader import RangeReader, RollupReader
from tradestore.store._rollupops import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    binned_key,
    candle_key,
    ceil_to,
    day_key,
    floor_to,
    hour_key,
    minute_key,
    tier_range,
)


@dataclass
class Pyramid:
    """A window split by what summarises it: day, hour and minute rollups (each as
    (key, value) pairs, ascending) and the raw trades of the partial minutes at its
    edges (``raw``, each agg id once).

    ``answered`` is the part of the window the pieces cover, inclusive: the window
    itself, unless an edge falls inside a minute whose trades are no longer held (the
    rollups outlive the trades), where the answer keeps to the whole minutes inside."""

    days: list[tuple[bytes, bytes]] = field(default_factory=list)
    # Each day's levels pre-binned at a coarse width (day start ms -> its ``rollup:b:``
    # value), where kept: a profile whose bin width is a multiple reads them instead.
    binned: dict[int, bytes] = field(default_factory=dict)
    hours: list[tuple[bytes, bytes]] = field(default_factory=list)
    minutes: list[tuple[bytes, bytes]] = field(default_factory=list)
    raw: TradeColumns | None = None
    answered: tuple[int, int] | None = None
    rounded: bool = False  # ``answered`` is less than the window asked

    @property
    def values(self) -> list[tuple[bytes, bytes]]:
        return self.days + self.hours + self.minutes


def whole_minutes(start_ms: int, end_ms: int) -> tuple[int, int]:
    """[first, end) of the whole minutes inside [start_ms, end_ms] (first >= end: none)."""
    return ceil_to(start_ms, MINUTE_MS), floor_to(end_ms + 1, MINUTE_MS)


def pyramid(
    store: RollupReader,
    symbol: str,
    start_ms: int,
    end_ms: int,
    *,
    hours: bool = True,
    days: bool = True,
    summaries: bool = False,
) -> Pyramid | None:
    """The pieces of [start_ms, end_ms] (None: the symbol's rollups are not kept);
    ``hours=False`` takes minutes where hours would do, ``days=False`` hours where
    days would; ``summaries``: the minutes as their summaries alone (``rollup:c:``,
    for what needs no price levels: candles)."""
    state = store.rollup_state(symbol)
    if state is None or not state.kept:
        return None
    since = state.rollups_from_ms
    if since is not None and start_ms < since:
        # The rollups before ``since`` went with their own retention: the trades still
        # held there answer for that part.
        head = store.query_columns(symbol, start_ms, min(end_ms, since - 1))
        if end_ms < since:
            return Pyramid(raw=head, answered=(start_ms, end_ms))
        rest = pyramid(store, symbol, since, end_ms, hours=hours, days=days, summaries=summaries)
        assert rest is not None
        rest.raw = TradeColumns.concat([head, *([rest.raw] if rest.raw is not None else [])])
        if rest.answered is not None:
            rest.answered = (start_ms, rest.answered[1])
        return rest
    first, end = whole_minutes(start_ms, end_ms)
    out = Pyramid(answered=(start_ms, end_ms))
    if first >= end:
        if not store.holds_trades(symbol, start_ms, end_ms):
            out.answered = (start_ms, start_ms - 1)  # inside one minute, trades gone
            out.rounded = True
            return out
        out.raw = store.query_columns(symbol, start_ms, end_ms)
        return out
    hour_spans: list[tuple[int, int]] = []
    d_first, d_end = ceil_to(first, DAY_MS), floor_to(end, DAY_MS)
    if hours and days and d_first < d_end:
        cursor = d_first
        for key, value in store.iter_range(day_key(symbol, d_first), day_key(symbol, d_end)):
            day = _keys.key_ms(key)
            if day in state.open_days:
                continue  # not summarised yet (a stale value never counts): its hours
            if day > cursor:
                hour_spans.append((cursor, day))
            out.days.append((key, value))
            cursor = day + DAY_MS
        hour_spans = [(first, d_first), *hour_spans, (cursor, d_end), (d_end, end)]
        if out.days and not summaries:
            used = {_keys.key_ms(key) for key, _value in out.days}
            lower, upper = binned_key(symbol, d_first), binned_key(symbol, d_end)
            for key, value in store.iter_range(lower, upper):
                if _keys.key_ms(key) in used:
                    out.binned[_keys.key_ms(key)] = value
    else:
        hour_spans = [(first, end)]
    minute_spans: list[tuple[int, int]] = []
    for lo, hi in hour_spans:
        if lo < hi:
            minute_spans += _hours(store, symbol, lo, hi, out) if hours else [(lo, hi)]
    tier_key = candle_key if summaries else minute_key
    for lo, hi in minute_spans:
        if lo < hi:
            out.minutes.extend(store.iter_range(tier_key(symbol, lo), tier_key(symbol, hi)))
    # Open minutes (near the newest trade, not summarised yet) are read from their trades.
    edges = [store.query_columns(symbol, lo, hi - 1) for lo, hi in open_runs(state, minute_spans)]
    answered_lo, answered_hi = start_ms, end_ms
    if start_ms < first:
        if not store.holds_trades(symbol, start_ms, first - 1):
            answered_lo = first  # the edge minute's trades are gone: whole minutes only
        else:
            edges.append(store.query_columns(symbol, start_ms, first - 1))
    if end <= end_ms:
        if not store.holds_trades(symbol, end, end_ms):
            answered_hi = end - 1
        else:
            edges.append(store.query_columns(symbol, end, end_ms))
    out.answered = (answered_lo, answered_hi)
    out.rounded = out.answered != (start_ms, end_ms)
    if edges:
        out.raw = TradeColumns.concat(edges)
    return out


def day_pyramids(
    store: RollupReader, symbol: str, first_ms: int, end_ms: int, *, binned: bool = True
) -> dict[int, Pyramid] | None:
    """The whole UTC days in [first_ms, end_ms) that their day rollup answers alone, by
    day start: each the Pyramid ``pyramid`` gives for [day, day + 1 d - 1] (the day value
    and its pre-binned levels unless ``binned`` is False), all read in two range scans
    instead of two per day. A day
    not here (open, never summarised, before the rollups' own retention, not traded) is
    for ``pyramid`` to read. None: the symbol's rollups are not kept."""
    state = store.rollup_state(symbol)
    if state is None or not state.kept:
        return None
    lo = ceil_to(max(first_ms, state.rollups_from_ms or first_ms), DAY_MS)
    hi = floor_to(end_ms, DAY_MS)
    out: dict[int, Pyramid] = {}
    if lo >= hi:
        return out
    for key, value in store.iter_range(day_key(symbol, lo), day_key(symbol, hi)):
        day = _keys.key_ms(key)
        if day not in state.open_days:
            out[day] = Pyramid(days=[(key, value)], answered=(day, day + DAY_MS - 1))
    if out and binned:
        add_binned_days(store, symbol, out)
    return out


def add_binned_days(store: RangeReader, symbol: str, days: dict[int, Pyramid]) -> None:
    """Give each of ``days`` (day pyramids, by day start) its pre-binned levels where
    kept, in one range scan (``day_pyramids(binned=False)`` leaves them out, for a reader
    that needs them for a few days only)."""
    if not days:
        return
    lower, upper = binned_key(symbol, min(days)), binned_key(symbol, max(days) + DAY_MS)
    for key, value in store.iter_range(lower, upper):
        found = days.get(_keys.key_ms(key))
        if found is not None:
            found.binned[_keys.key_ms(key)] = value


def _hours(
    store: RollupReader, symbol: str, first: int, end: int, out: Pyramid
) -> list[tuple[int, int]]:
    """Take the summarised hours of [first, end) into ``out``; the [lo, hi) spans left
    to minutes."""
    h_first, h_end = ceil_to(first, HOUR_MS), floor_to(end, HOUR_MS)
    if h_first >= h_end:
        return [(first, end)]
    spans = [(first, h_first)]
    cursor = h_first
    for key, value in store.iter_range(hour_key(symbol, h_first), hour_key(symbol, h_end)):
        hour = _keys.key_ms(key)
        if hour > cursor:
            spans.append((cursor, hour))  # open hours, or none with trades
        out.hours.append((key, value))
        cursor = hour + HOUR_MS
    spans += [(cursor, h_end), (h_end, end)]
    return spans


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
    """How many rollups of each tier ("m", "h", "d", "c") the symbol has (keys only)."""
    store.refresh()
    return {
        tier: sum(1 for _ in store.iter_keys(*tier_range(tier, symbol))) for tier in _keys.TIERS
    }


# ---------------------------------------------------------------------- checking
