"""Checking the rollups: what is stored against a recomputation from the trades
(``tradestore-trio verify`` and ``rollups check``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tradestore._errors import CorruptValue
from tradestore.codec._binned import binned_of, binned_read
from tradestore.codec._twins import Rollup, rollup_summary
from tradestore.store import _keys
from tradestore.store._book import RollupState
from tradestore.store._pyramid import whole_minutes
from tradestore.store._reader import RollupReader
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
    one_rollup,
    split_columns,
)


@dataclass(frozen=True)
class RollupMismatch:
    key: str
    problem: str  # "differs", "missing", "not expected", "undecodable: ..."


def check(
    store: RollupReader, symbol: str, start_ms: int, end_ms: int, limit: int = 1000
) -> list[RollupMismatch]:
    """Every rollup lying wholly inside [start_ms, end_ms] (those an analytic of the window
    reads) that disagrees with a recomputation from the stored trades (at most ``limit``)."""
    state = store.rollup_state(symbol)
    if state is None or not state.kept:
        return []
    if state.held_from_ms is not None:
        # Before it the rollups outlive their trades: nothing is left to check them by.
        start_ms = max(start_ms, ceil_to(state.held_from_ms, HOUR_MS))
        if start_ms > end_ms:
            return []
    span = store.trade_time_span(symbol)
    found: list[RollupMismatch] = []
    lo = floor_to(max(start_ms, 0), HOUR_MS)
    hi = floor_to(min(end_ms, _keys.MAX_MS), HOUR_MS)
    first, end = whole_minutes(start_ms, end_ms)
    hour = lo
    days: dict[int, Any] = {}
    while hour <= hi and len(found) < limit:
        nxt = _next_hour_with_anything(store, symbol, hour, span)
        if nxt is None or nxt > hi:
            break
        hour = nxt
        m_lo, m_hi = max(hour, first), min(hour + HOUR_MS, end)  # whole minutes inside
        if m_lo < m_hi:
            cols = store.query_columns(symbol, m_lo, m_hi - 1)
            minutes = split_columns(cols, MINUTE_MS)
            for m in state.open_minutes:
                minutes.pop(m, None)  # not summarised yet: readers take its trades
            expected = {minute_key(symbol, m): r.encode() for m, r in minutes.items()}
            expected.update({candle_key(symbol, m): r.encode_summary() for m, r in minutes.items()})
            stored = dict(store.iter_range(minute_key(symbol, m_lo), minute_key(symbol, m_hi)))
            stored.update(store.iter_range(candle_key(symbol, m_lo), candle_key(symbol, m_hi)))
            for key in sorted(expected.keys() | stored.keys()):
                _compare(found, key, expected.get(key), stored.get(key))
        if first <= hour and hour + HOUR_MS <= end:
            rollup = _check_hour(store, symbol, hour, state, found)
            if rollup is not None:
                days.setdefault(floor_to(hour, DAY_MS), Rollup()).add(rollup)
        hour += HOUR_MS
    _check_days(store, symbol, first, end, state, days, found)
    return found[:limit]


def _check_days(
    store: RollupReader,
    symbol: str,
    first: int,
    end: int,
    state: RollupState,
    days: dict[int, Any],
    found: list[RollupMismatch],
) -> None:
    """Each summarised day wholly inside [first, end) against the sum of its hours'
    recomputations (an open day's hours say everything: its value is not read)."""
    d_first, d_end = ceil_to(first, DAY_MS), floor_to(end, DAY_MS)
    if d_first >= d_end:
        return
    stored = dict(store.iter_range(day_key(symbol, d_first), day_key(symbol, d_end)))
    stored.update(store.iter_range(binned_key(symbol, d_first), binned_key(symbol, d_end)))
    for day in range(d_first, d_end, DAY_MS):
        if day in state.open_days:
            continue
        key = day_key(symbol, day)
        rollup = days.get(day)
        want = None if rollup is None else rollup.encode()
        have = stored.get(key)
        if want is not None and have is None and not state.days:
            continue  # a day of a database from before the day tier: its hours answer
        if want is not None or have is not None:
            _compare(found, key, want, have)
        bkey = binned_key(symbol, day)
        want_binned = (
            None if rollup is None else binned_of(rollup.levels, rollup.min_price, rollup.max_price)
        )
        if have is None:
            want_binned = None  # a day without its value has no binned levels either
        if want_binned is not None or stored.get(bkey) is not None:
            _compare(found, bkey, want_binned, stored.get(bkey))


def _check_hour(
    store: RollupReader, symbol: str, hour: int, state: RollupState, found: list[RollupMismatch]
) -> Any:
    """Check the hour's rollup; the Rollup recomputed from its trades (None: none)."""
    hkey = hour_key(symbol, hour)
    stored = store.db.get(hkey)
    cols = store.query_columns(symbol, hour, hour + HOUR_MS - 1)
    if not len(cols):
        if stored is not None:
            found.append(RollupMismatch(hkey.decode(), "not expected"))
        return None
    rollup = one_rollup(cols)
    want = rollup.encode()
    if stored is None:
        if hour not in state.open_hours:
            found.append(RollupMismatch(hkey.decode(), "missing"))
        return rollup
    _compare(found, hkey, want, stored)
    return rollup


def _next_hour_with_anything(
    store: RollupReader, symbol: str, hour: int, span: tuple[int, int] | None
) -> int | None:
    """The first hour at or after ``hour`` with trades or with a stored rollup."""
    candidates = []
    trade = store.next_trade_bound(symbol, hour) if span is not None else None
    if trade is not None:
        candidates.append(floor_to(trade, HOUR_MS))
    for tier in _keys.TIERS:
        lower = _keys.rollup_key(tier, symbol, hour)
        upper = _keys.prefix_end(_keys.rollup_prefix(tier, symbol))
        pair = next(iter(store.iter_range(lower, upper)), None)
        if pair is not None:
            candidates.append(floor_to(_keys.key_ms(pair[0]), HOUR_MS))
    return min(candidates) if candidates else None


def _compare(
    found: list[RollupMismatch], key: bytes, want: bytes | None, have: bytes | None
) -> None:
    name = key.decode("ascii", "replace")
    if have is None:
        found.append(RollupMismatch(name, "missing"))
    elif want is None:
        found.append(RollupMismatch(name, "not expected"))
    elif have != want:
        try:
            tier = key.split(b":", 2)[1]
            if tier == _keys.CANDLE.encode():
                rollup_summary(have, key)  # a summary alone
            elif tier == _keys.BINNED.encode():
                binned_read(have, key)
            else:
                Rollup().add_value(have, key)
        except CorruptValue as exc:
            found.append(RollupMismatch(name, f"undecodable: {exc.detail}"))
            return
        found.append(RollupMismatch(name, "differs"))
