"""The changes to a symbol's rollup keys that a write, a close and a delete make.

Pure computations over a ``TradeReader``: each returns a list of ops for the caller's
WriteBatch and updates the ``RollupState`` it is given; nothing here writes. The
keeper (``tradestore.store._rollups.RollupKeeper``) decides when each runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import rocksdict

from tradestore.codec._binned import binned_of
from tradestore.codec._twins import Rollup, decode_columns, rollup_split
from tradestore.store import _keys
from tradestore.store._book import RollupState
from tradestore.store._columns import TradeColumns
from tradestore.store._reader import TradeReader

MINUTE_MS = _keys.MINUTE_MS
HOUR_MS = _keys.HOUR_MS
DAY_MS = _keys.DAY_MS

# A change to the database, applied in order to one WriteBatch:
# ("put", key, value), ("delete", key) or ("range", lower, upper) (delete_range).
Op = tuple[str, bytes] | tuple[str, bytes, bytes]
# One Rollup per period, keyed by its start (ms).
Deltas = dict[int, Any]


def floor_to(ms: int, unit: int) -> int:
    return ms - ms % unit


def ceil_to(ms: int, unit: int) -> int:
    return -(-ms // unit) * unit


def minute_key(symbol: str, ms: int) -> bytes:
    return _keys.rollup_key(_keys.MINUTE, symbol, ms)


def hour_key(symbol: str, ms: int) -> bytes:
    return _keys.rollup_key(_keys.HOUR, symbol, ms)


def day_key(symbol: str, ms: int) -> bytes:
    return _keys.rollup_key(_keys.DAY, symbol, ms)


def binned_key(symbol: str, ms: int) -> bytes:
    return _keys.rollup_key(_keys.BINNED, symbol, ms)


def day_ops(symbol: str, day: int, rollup: Any) -> list[Op]:
    """Write a day's rollup and its pre-binned levels (None, or no trades: delete both)."""
    if rollup is None or not rollup.trade_count:
        return [("delete", day_key(symbol, day)), ("delete", binned_key(symbol, day))]
    binned = binned_of(rollup.levels, rollup.min_price, rollup.max_price)
    return [
        ("put", day_key(symbol, day), rollup.encode()),
        ("put", binned_key(symbol, day), binned),
    ]


def candle_key(symbol: str, ms: int) -> bytes:
    return _keys.rollup_key(_keys.CANDLE, symbol, ms)


def drop_all(symbol: str) -> list[Op]:
    """Ops deleting every rollup of a symbol."""
    return [("range", *tier_range(tier, symbol)) for tier in _keys.TIERS]


def tier_range(tier: str, symbol: str) -> tuple[bytes, bytes]:
    """[lower, upper) of every rollup key of one tier of a symbol."""
    prefix = _keys.rollup_prefix(tier, symbol)
    return prefix, _keys.prefix_end(prefix)


def apply(wb: rocksdict.WriteBatch, ops: Iterable[Op]) -> None:
    for op in ops:
        if op[0] == "put":
            wb.put(op[1], op[2])  # type: ignore[misc]
        elif op[0] == "delete":
            wb.delete(op[1])
        else:
            wb.delete_range(op[1], op[2])  # type: ignore[misc]


def split_columns(cols: TradeColumns, period_ms: int) -> Deltas:
    """One Rollup per period that holds trades of ``cols`` (keyed by its start)."""
    found: Deltas = rollup_split(*cols.arrays(), period_ms)
    return found


def one_rollup(cols: TradeColumns) -> Any:
    """The Rollup of every trade of ``cols``."""
    rollup = Rollup()
    rollup.add_columns(*cols.arrays())
    return rollup


# ---------------------------------------------------------------------- a view of minutes


class _Minutes:
    """The minute rollups of a symbol as they will be once pending changes apply:
    ``changed`` maps a minute to its new value (None: deleted), and the minutes in
    [gone_from, gone_to) go with a range delete."""

    def __init__(self, reader: TradeReader, symbol: str, *, stored: bool = True) -> None:
        self.reader = reader
        self.symbol = symbol
        self.stored = stored  # False: nothing stored counts (a symbol's first trades)
        self.changed: dict[int, bytes | None] = {}
        self.gone_from = self.gone_to = 0

    def hour_pairs(self, hour: int) -> list[tuple[bytes, bytes]]:
        """(key, value) of every minute of ``hour`` that holds trades."""
        found: dict[int, bytes] = {}
        lower, upper = minute_key(self.symbol, hour), minute_key(self.symbol, hour + HOUR_MS)
        if self.stored:
            for key, value in self.reader.iter_range(lower, upper):
                found[_keys.key_ms(key)] = value
        for minute, changed in self.changed.items():
            if hour <= minute < hour + HOUR_MS:
                if changed is None:
                    found.pop(minute, None)
                else:
                    found[minute] = changed
        return [
            (minute_key(self.symbol, m), found[m])
            for m in sorted(found)
            if not self.gone_from <= m < self.gone_to
        ]

    def hour_value(self, hour: int) -> bytes | None:
        """The hour's rollup summed from its minutes (None: no trades in it)."""
        pairs = self.hour_pairs(hour)
        if not pairs:
            return None
        total = Rollup()
        for key, stored in pairs:
            total.add_value(stored, key)
        value: bytes = total.encode()
        return value


# ---------------------------------------------------------------------- writing


class _Nothing:
    """A database without rollups (the first trades of a symbol)."""

    def get(self, key: bytes) -> None:
        return None


def ops_for_trades(
    reader: TradeReader,
    symbol: str,
    state: RollupState,
    deltas: Deltas,
    *,
    stored: bool = True,
    hot: Deltas | None = None,
    clock: int = 0,
    grace: int = 0,
    touched: set[int] | None = None,
) -> list[Op]:
    """The changes that add new trades (each id once), given as ``deltas`` (one Rollup
    per minute, keyed by its start: ``split_columns``), to the symbol's rollups;
    ``state`` is updated. ``stored`` False: the symbol has no rollups yet (its
    first trades). Raises CorruptValue when a stored rollup cannot be read (the caller
    switches the symbol's rollups off).

    A minute within ``grace`` ms of ``clock`` (the newest trade time the writer has
    stored) that has no rollup yet is *opened* instead of written: it joins
    ``state.open_minutes``, readers take its trades, and its rollup is summed in ``hot``
    (the symbol's minute -> Rollup) until ``ops_for_closing`` writes it once. So the live
    recorder does not rewrite a growing minute value every second. A minute already
    summarised (a backfill) is read, added to and written back; a summarised hour takes
    the new trades at once, and a new hour is opened. ``touched`` collects the minutes
    the trades fall in.
    """
    db = reader.db if stored else _Nothing()
    if not deltas:
        return []
    ops: list[Op] = []
    # Summarised hours and days take the new trades first (the deltas, before the
    # minutes absorb their stored values). An open hour (day) has no value, and a new one
    # is opened: its minutes (hours) say everything until it is summarised.
    for period_ms, opened, key_of in (
        (HOUR_MS, state.open_hours, hour_key),
        (DAY_MS, state.open_days, day_key),
    ):
        grouped: dict[int, list[Any]] = {}
        for minute, delta in deltas.items():
            grouped.setdefault(floor_to(minute, period_ms), []).append(delta)
        for start, parts in sorted(grouped.items()):
            if start in opened:
                continue
            key = key_of(symbol, start)
            old = db.get(key)
            if old is None:
                opened.add(start)
                continue
            total = Rollup()
            total.add_value(old, key)
            for part in parts:
                total.add(part)
            if period_ms == DAY_MS:
                ops.extend(day_ops(symbol, start, total))
            else:
                ops.append(("put", key, total.encode()))
    for minute, delta in deltas.items():
        if touched is not None:
            touched.add(minute)
        if minute in state.open_minutes:
            kept = hot.get(minute) if hot is not None else None
            if kept is not None:
                kept.add(delta)
            # else: summed from the stored trades when it closes
            continue
        key = minute_key(symbol, minute)
        old = db.get(key)
        if old is None and minute + MINUTE_MS + grace > clock:
            state.open_minutes.add(minute)
            if hot is not None:
                hot[minute] = delta
            continue
        if old is not None:
            delta.add_value(old, key)
        ops.append(("put", key, delta.encode()))
        ops.append(("put", candle_key(symbol, minute), delta.encode_summary()))
    return ops


def add_to_open(state: RollupState, deltas: Deltas, hot: Deltas | None, touched: set[int]) -> bool:
    """The live case of ``ops_for_trades``, without a copy of the state: when every
    minute of ``deltas`` is an open minute of an open hour already summed in ``hot``, add
    the deltas there (``touched`` collects the minutes) and return True; ops_for_trades
    would write nothing and change no state. Otherwise change nothing and return False."""
    if hot is None or not all(
        m in hot
        and m in state.open_minutes
        and floor_to(m, HOUR_MS) in state.open_hours
        and floor_to(m, DAY_MS) in state.open_days
        for m in deltas
    ):
        return False
    for minute, delta in deltas.items():
        hot[minute].add(delta)
        touched.add(minute)
    return True


def ops_for_closing(
    reader: TradeReader,
    symbol: str,
    state: RollupState,
    *,
    minutes: Sequence[int],
    hours: Sequence[int],
    hot: Deltas | None,
    days: Sequence[int] = (),
) -> list[Op]:
    """Write the rollups of the open ``minutes`` (from ``hot``, or summed from their
    stored trades), then of the open ``hours`` (summed from their minutes), then of the
    open ``days`` (summed from their hours), and take them out of ``state``. An hour is
    only passed here once none of its minutes is open, a day once none of its hours is.
    """
    ops: list[Op] = []
    view = _Minutes(reader, symbol)
    for minute in sorted(minutes):
        rollup = hot.pop(minute, None) if hot is not None else None
        if rollup is None:
            cols = reader.query_columns(symbol, minute, minute + MINUTE_MS - 1)
            rollup = one_rollup(cols) if len(cols) else None
        state.open_minutes.discard(minute)
        if rollup is None or not rollup.trade_count:
            continue  # its trades went with a delete: nothing to summarise
        value = rollup.encode()
        ops.append(("put", minute_key(symbol, minute), value))
        ops.append(("put", candle_key(symbol, minute), rollup.encode_summary()))
        view.changed[minute] = value
    hour_values: dict[int, bytes | None] = {}
    for hour in hours:
        if any(hour <= m < hour + HOUR_MS for m in state.open_minutes):
            continue
        value = view.hour_value(hour)
        if value is not None:
            ops.append(("put", hour_key(symbol, hour), value))
        hour_values[hour] = value
        state.open_hours.discard(hour)
    for day in days:
        if any(day <= h < day + DAY_MS for h in state.open_hours) or any(
            day <= m < day + DAY_MS for m in state.open_minutes
        ):
            continue
        rollup = day_rollup(reader, symbol, day, hour_values)
        if rollup is not None:
            ops.extend(day_ops(symbol, day, rollup))
        state.open_days.discard(day)
    return ops


def day_rollup(
    reader: TradeReader, symbol: str, day: int, changed: dict[int, bytes | None] | None = None
) -> Any:
    """The day's Rollup summed from its stored hour rollups, overlaid by ``changed``
    (hour -> its new value, None: none); None when the day holds no trades."""
    found = {
        _keys.key_ms(key): value
        for key, value in reader.iter_range(hour_key(symbol, day), hour_key(symbol, day + DAY_MS))
    }
    for hour, value in (changed or {}).items():
        if day <= hour < day + DAY_MS:
            if value is None:
                found.pop(hour, None)
            else:
                found[hour] = value
    if not found:
        return None
    total = Rollup()
    for hour in sorted(found):
        total.add_value(found[hour], hour_key(symbol, hour))
    return total


# ---------------------------------------------------------------------- deleting


def ops_for_delete(
    reader: TradeReader,
    symbol: str,
    state: RollupState,
    lower_ms: int | None,
    upper_ms: int,
    margins: tuple[int, int],
) -> list[Op]:
    """The changes that take out of the rollups the trades of the batches keyed in
    [lower_ms, upper_ms) (lower None: from the first), which are about to be deleted.

    A trade lies within [key - before, key + after] of its batch key, so every trade
    with a time in [lower + after, upper - 1 - before] goes: the rollups of the minutes
    and hours inside that range are deleted whole. The minutes around its edges, where
    batches that stay and batches that go meet, are recomputed from the trades that
    stay, and the summarised hours among them from their minutes.
    """
    before, after = margins
    sure_lo = None if lower_ms is None else lower_ms + after
    sure_hi = upper_ms - 1 - before  # inclusive
    touched_lo = None if lower_ms is None else lower_ms - before
    touched_hi = upper_ms - 1 + after
    ops: list[Op] = []
    view = _Minutes(reader, symbol)
    m_from = 0 if sure_lo is None else ceil_to(sure_lo, MINUTE_MS)
    m_to = floor_to(sure_hi + 1, MINUTE_MS)
    if m_from < m_to:
        ops.append(("range", minute_key(symbol, m_from), minute_key(symbol, m_to)))
        ops.append(("range", candle_key(symbol, m_from), candle_key(symbol, m_to)))
        view.gone_from, view.gone_to = m_from, m_to
        state.open_minutes -= {m for m in state.open_minutes if m_from <= m < m_to}
    else:
        m_from = m_to = floor_to(sure_hi + 1, MINUTE_MS)
    h_from = 0 if sure_lo is None else ceil_to(sure_lo, HOUR_MS)
    h_to = floor_to(sure_hi + 1, HOUR_MS)
    if h_from < h_to:
        ops.append(("range", hour_key(symbol, h_from), hour_key(symbol, h_to)))
        state.open_hours -= {h for h in state.open_hours if h_from <= h < h_to}
    else:
        h_from = h_to = floor_to(sure_hi + 1, HOUR_MS)
    d_from = 0 if sure_lo is None else ceil_to(sure_lo, DAY_MS)
    d_to = floor_to(sure_hi + 1, DAY_MS)
    if d_from < d_to:
        ops.append(("range", day_key(symbol, d_from), day_key(symbol, d_to)))
        ops.append(("range", binned_key(symbol, d_from), binned_key(symbol, d_to)))
        state.open_days -= {d for d in state.open_days if d_from <= d < d_to}
    else:
        d_from = d_to = floor_to(sure_hi + 1, DAY_MS)
    skip = (
        _keys.trades_prefix(symbol) if lower_ms is None else _keys.trade_key(symbol, lower_ms),
        _keys.trade_key(symbol, upper_ms),
    )
    edges = []
    if touched_lo is not None:
        edges.append((floor_to(touched_lo, MINUTE_MS), m_from))
    edges.append((m_to, ceil_to(touched_hi + 1, MINUTE_MS)))
    hours = set()
    if touched_lo is not None:
        hours |= set(range(floor_to(touched_lo, HOUR_MS), h_from, HOUR_MS))
    hours |= set(range(h_to, ceil_to(touched_hi + 1, HOUR_MS), HOUR_MS))
    # Summarised hours at the edges are summed again from their minutes, so an open
    # minute in one (a late trade into a summarised hour) is closed with the edges.
    summed = {h for h in hours if reader.db.get(hour_key(symbol, h)) is not None}
    in_summed = {m for m in state.open_minutes if floor_to(m, HOUR_MS) in summed}
    for lo, hi in [*edges, *((m, m + MINUTE_MS) for m in sorted(in_summed))]:
        # Open minutes at the edges are summarised from the trades that stay, like the
        # written ones, and closed: a summarised hour around them is summed from them.
        opened = {m for m in state.open_minutes if lo <= m < hi}
        state.open_minutes -= opened
        for minute in sorted(opened.union(_stored_minutes(reader, symbol, lo, hi))):
            if minute in view.changed:
                continue
            rest = _trades_except(reader, symbol, minute, minute + MINUTE_MS - 1, skip)
            key = minute_key(symbol, minute)
            if len(rest):
                rollup = one_rollup(rest)
                value = rollup.encode()
                ops.append(("put", key, value))
                ops.append(("put", candle_key(symbol, minute), rollup.encode_summary()))
                view.changed[minute] = value
            else:
                ops.append(("delete", key))
                ops.append(("delete", candle_key(symbol, minute)))
                view.changed[minute] = None
    changed_hours: dict[int, bytes | None] = dict.fromkeys(range(h_from, h_to, HOUR_MS))
    for hour in sorted(summed):
        key = hour_key(symbol, hour)
        value = view.hour_value(hour)
        ops.append(("put", key, value) if value is not None else ("delete", key))
        changed_hours[hour] = value
    days = set()
    if touched_lo is not None:
        days |= set(range(floor_to(touched_lo, DAY_MS), d_from, DAY_MS))
    days |= set(range(d_to, ceil_to(touched_hi + 1, DAY_MS), DAY_MS))
    for day in sorted(days):
        key = day_key(symbol, day)
        if reader.db.get(key) is None:
            continue  # open, or no trades: its hours say everything
        if any(day <= h < day + DAY_MS for h in state.open_hours) or any(
            day <= m < day + DAY_MS for m in state.open_minutes
        ):
            # Its open hours hold trades no hour rollup sums yet: summarised again
            # from its hours once they close.
            ops.extend(day_ops(symbol, day, None))
            state.open_days.add(day)
            continue
        ops.extend(day_ops(symbol, day, day_rollup(reader, symbol, day, changed_hours)))
    return ops


def _stored_minutes(reader: TradeReader, symbol: str, lo: int, hi: int) -> list[int]:
    if lo >= hi:
        return []
    return [
        _keys.key_ms(k)
        for k, _v in reader.iter_range(minute_key(symbol, lo), minute_key(symbol, hi))
    ]


def _trades_except(
    reader: TradeReader, symbol: str, start_ms: int, end_ms: int, skip: tuple[bytes, bytes]
) -> TradeColumns:
    """The trades with start <= T <= end outside the batches keyed in [skip)."""
    lower, upper = reader.key_window(symbol, start_ms, end_ms)
    pairs = [(k, v) for k, v in reader.iter_range(lower, upper) if not skip[0] <= k < skip[1]]
    return TradeColumns.distinct(decode_columns(pairs, start_ms, end_ms))
