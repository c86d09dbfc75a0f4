"""Price-level rollups beside the trades: kept exact on every write, read as a pyramid.

Per symbol, the rollup of each minute of trade time that holds trades
(``rollup:m:{SYMBOL}:{minute}``) and of each hour (``rollup:h:{SYMBOL}:{hour}``): per
exact price the volume, taker-buy volume and trade count, with the summary a candle
needs (tradestore/codec/_rollupfmt.py has the value format, docs/FORMAT.md the whole layout).

- **Writing.** ``TradeStore.write_batches`` hands the trades ``new_trades`` found new to
  ``ops_for_trades``, whose puts go into the same WriteBatch as the trades: a duplicate id
  never counts twice, and a backfilled batch landing in a summarised minute updates that
  minute (read, add, write back). An hour is summarised once its minutes are complete:
  until a write reaches a later hour it is *open* (listed in the symbol's
  ``meta:rollups`` state) and readers take its minutes; a write into a summarised hour
  updates it too. So the live recorder rewrites one small minute value per flush, not the
  hour.
- **Deleting.** ``ops_for_delete`` drops the rollups of the minutes and hours whose
  trades all go with a range delete, and recomputes from the remaining trades the few at
  its edges that keep some.
- **Reading.** ``pyramid`` splits a window into whole hours (their hour rollups), whole
  minutes (minute rollups) and the partial minutes at its edges (raw trades), so an
  analytic over a day reads 24 values and two minutes of trades instead of 8.6 million.
- **Building.** ``build`` computes them from the stored trades an hour at a time (a
  database written before rollups existed, or ``tradestore-trio rollups rebuild``), and
  ``check`` compares what is stored with such a recomputation (``verify``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from tradestore._errors import CorruptValue
from tradestore.codec._twins import Rollup, decode_columns, rollup_summary
from tradestore.store import _keys
from tradestore.store._book import RollupState
from tradestore.store._columns import TradeColumns
from tradestore.store._pass import PassLogger, PassProgress, PassReport

if TYPE_CHECKING:
    from tradestore.store._store import TradeStore

log = logging.getLogger(__name__)

MINUTE_MS = _keys.MINUTE_MS
HOUR_MS = _keys.HOUR_MS

# A change to the database, applied in order to one WriteBatch:
# ("put", key, value), ("delete", key) or ("range", lower, upper) (delete_range).
Op = tuple


def floor_to(ms: int, unit: int) -> int:
    return ms - ms % unit


def ceil_to(ms: int, unit: int) -> int:
    return -(-ms // unit) * unit


def minute_key(symbol: str, ms: int) -> bytes:
    return _keys.rollup_key(_keys.MINUTE, symbol, ms)


def hour_key(symbol: str, ms: int) -> bytes:
    return _keys.rollup_key(_keys.HOUR, symbol, ms)


def candle_key(symbol: str, ms: int) -> bytes:
    return _keys.rollup_key(_keys.CANDLE, symbol, ms)


def drop_all(symbol: str) -> list[Op]:
    """Ops deleting every rollup of a symbol."""
    return [("range", *tier_range(tier, symbol)) for tier in _keys.TIERS]


def tier_range(tier: str, symbol: str) -> tuple[bytes, bytes]:
    """[lower, upper) of every rollup key of one tier of a symbol."""
    prefix = _keys.rollup_prefix(tier, symbol)
    return prefix, _keys.prefix_end(prefix)


def apply(wb, ops: Iterable[Op]) -> None:
    for op in ops:
        if op[0] == "put":
            wb.put(op[1], op[2])
        elif op[0] == "delete":
            wb.delete(op[1])
        else:
            wb.delete_range(op[1], op[2])


def _columns(cols) -> tuple:
    return cols.agg_id, cols.time_ms, cols.price, cols.qty, cols.is_buyer_maker


def split_columns(cols: TradeColumns, period_ms: int) -> dict[int, Any]:
    """One Rollup per period that holds trades of ``cols`` (keyed by its start)."""
    from tradestore.codec._twins import rollup_split

    return rollup_split(*_columns(cols), period_ms)


# ---------------------------------------------------------------------- a view of minutes


class _Minutes:
    """The minute rollups of a symbol as they will be once pending changes apply:
    ``changed`` maps a minute to its new value (None: deleted), and the minutes in
    [gone_from, gone_to) go with a range delete."""

    def __init__(self, store: TradeStore, symbol: str, *, stored: bool = True) -> None:
        self.store = store
        self.symbol = symbol
        self.stored = stored  # False: nothing stored counts (a symbol's first trades)
        self.changed: dict[int, bytes | None] = {}
        self.gone_from = self.gone_to = 0

    def hour_pairs(self, hour: int) -> list[tuple[bytes, bytes]]:
        """(key, value) of every minute of ``hour`` that holds trades."""
        found: dict[int, bytes] = {}
        lower, upper = minute_key(self.symbol, hour), minute_key(self.symbol, hour + HOUR_MS)
        if self.stored:
            for key, value in self.store._iter_range(lower, upper):
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
        for key, value in pairs:
            total.add_value(value, key)
        return total.encode()


# ---------------------------------------------------------------------- writing


class _Nothing:
    """A database without rollups (the first trades of a symbol)."""

    def get(self, key: bytes) -> None:
        return None


def ops_for_trades(
    store: TradeStore,
    symbol: str,
    state: RollupState,
    deltas: dict[int, Any],
    *,
    stored: bool = True,
    hot: dict | None = None,
    clock: int = 0,
    touched: set[int] | None = None,
) -> list[Op]:
    """The changes that add new trades (each id once), given as ``deltas`` (one Rollup
    per minute, keyed by its start: ``split_columns``), to the symbol's rollups;
    ``state`` is updated. ``stored`` False: the symbol has no rollups yet (its
    first trades). Raises CorruptValue when a stored rollup cannot be read (the caller
    switches the symbol's rollups off).

    A minute within CLOSE_GRACE_MS of ``clock`` (the newest trade time the writer has
    stored) that has no rollup yet is *opened* instead of written: it joins
    ``state.open_minutes``, readers take its trades, and its rollup is summed in ``hot``
    (the symbol's minute -> Rollup) until ``ops_for_closing`` writes it once. So the live
    recorder does not rewrite a growing minute value every second. A minute already
    summarised (a backfill) is read, added to and written back; a summarised hour takes
    the new trades at once, and a new hour is opened. ``touched`` collects the minutes
    the trades fall in.
    """
    db = store.db if stored else _Nothing()
    if not deltas:
        return []
    ops: list[Op] = []
    by_hour: dict[int, list] = {}
    for minute, delta in deltas.items():
        by_hour.setdefault(floor_to(minute, HOUR_MS), []).append(delta)
    # Summarised hours take the new trades first (the deltas, before the minutes absorb
    # their stored values). An open hour has no value; its minutes say everything.
    for hour, parts in sorted(by_hour.items()):
        if hour in state.open_hours:
            continue
        key = hour_key(symbol, hour)
        old = db.get(key)
        if old is None:
            state.open_hours.add(hour)
            continue
        total = Rollup()
        total.add_value(old, key)
        for part in parts:
            total.add(part)
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
        if old is None and minute + MINUTE_MS + CLOSE_GRACE_MS > clock:
            state.open_minutes.add(minute)
            if hot is not None:
                hot[minute] = delta
            continue
        if old is not None:
            delta.add_value(old, key)
        ops.append(("put", key, delta.encode()))
        ops.append(("put", candle_key(symbol, minute), delta.encode_summary()))
    return ops


def add_to_open(
    state: RollupState, deltas: dict[int, Any], hot: dict | None, touched: set[int]
) -> bool:
    """The live case of ``ops_for_trades``, without a copy of the state: when every
    minute of ``deltas`` is an open minute of an open hour already summed in ``hot``, add
    the deltas there (``touched`` collects the minutes) and return True; ops_for_trades
    would write nothing and change no state. Otherwise change nothing and return False."""
    if hot is None or not all(
        m in hot and m in state.open_minutes and floor_to(m, HOUR_MS) in state.open_hours
        for m in deltas
    ):
        return False
    for minute, delta in deltas.items():
        hot[minute].add(delta)
        touched.add(minute)
    return True


# ---------------------------------------------------------------------- closing

# A minute (an hour) is closed once the newest stored trade is this far past its end:
# later trades for it (a late line, a backfill) update its written rollup instead.
CLOSE_GRACE_MS = 10_000
# Closing is spread over the writes: at most this many minutes and hours per WriteBatch,
# the oldest first, so the minute and hour boundaries, when every active symbol leaves
# one behind, cost no single flush more than a few milliseconds.
CLOSE_MINUTES_PER_WRITE = 200
CLOSE_HOURS_PER_WRITE = 16


def next_due(state: RollupState) -> int:
    """The clock (ms) at which the first of the state's open minutes or hours is due."""
    due = _keys.MAX_MS
    if state.open_minutes:
        due = min(state.open_minutes) + MINUTE_MS + CLOSE_GRACE_MS
    if state.open_hours:
        due = min(due, min(state.open_hours) + HOUR_MS + CLOSE_GRACE_MS)
    return due


def closable_minutes(state: RollupState, clock: int, touched: set[int]) -> list[int]:
    return [
        m
        for m in state.open_minutes
        if m + MINUTE_MS + CLOSE_GRACE_MS <= clock and m not in touched
    ]


def closable_hours(state: RollupState, clock: int, touched: set[int]) -> list[int]:
    """Open hours the clock has passed, with no open minute and no new trade in them."""
    busy = {floor_to(m, HOUR_MS) for m in state.open_minutes}
    busy |= {floor_to(m, HOUR_MS) for m in touched}
    return sorted(
        h for h in state.open_hours if h + HOUR_MS + CLOSE_GRACE_MS <= clock and h not in busy
    )


def ops_for_closing(
    store: TradeStore,
    symbol: str,
    state: RollupState,
    *,
    minutes: Sequence[int],
    hours: Sequence[int],
    hot: dict | None,
) -> list[Op]:
    """Write the rollups of the open ``minutes`` (from ``hot``, or summed from their
    stored trades), then of the open ``hours`` (summed from their minutes), and take
    them out of ``state``. An hour is only passed here once none of its minutes is open.
    """
    ops: list[Op] = []
    view = _Minutes(store, symbol)
    for minute in sorted(minutes):
        rollup = hot.pop(minute, None) if hot is not None else None
        if rollup is None:
            cols = store.query_columns(symbol, minute, minute + MINUTE_MS - 1)
            rollup = _one(cols) if len(cols) else None
        state.open_minutes.discard(minute)
        if rollup is None or not rollup.trade_count:
            continue  # its trades went with a delete: nothing to summarise
        value = rollup.encode()
        ops.append(("put", minute_key(symbol, minute), value))
        ops.append(("put", candle_key(symbol, minute), rollup.encode_summary()))
        view.changed[minute] = value
    for hour in hours:
        if any(hour <= m < hour + HOUR_MS for m in state.open_minutes):
            continue
        value = view.hour_value(hour)
        if value is not None:
            ops.append(("put", hour_key(symbol, hour), value))
        state.open_hours.discard(hour)
    return ops


# ---------------------------------------------------------------------- deleting


def ops_for_delete(
    store: TradeStore,
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
    view = _Minutes(store, symbol)
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
    skip = (
        _keys.trades_prefix(symbol) if lower_ms is None else _keys.trade_key(symbol, lower_ms),
        _keys.trade_key(symbol, upper_ms),
    )
    edges = []
    if touched_lo is not None:
        edges.append((floor_to(touched_lo, MINUTE_MS), m_from))
    edges.append((m_to, ceil_to(touched_hi + 1, MINUTE_MS)))
    for lo, hi in edges:
        # Open minutes at the edges are summarised from the trades that stay, like the
        # written ones, and closed: a summarised hour around them is summed from them.
        opened = {m for m in state.open_minutes if lo <= m < hi}
        state.open_minutes -= opened
        for minute in sorted(opened.union(_stored_minutes(store, symbol, lo, hi))):
            rest = _trades_except(store, symbol, minute, minute + MINUTE_MS - 1, skip)
            key = minute_key(symbol, minute)
            if len(rest):
                rollup = _one(rest)
                value = rollup.encode()
                ops.append(("put", key, value))
                ops.append(("put", candle_key(symbol, minute), rollup.encode_summary()))
                view.changed[minute] = value
            else:
                ops.append(("delete", key))
                ops.append(("delete", candle_key(symbol, minute)))
                view.changed[minute] = None
    hours = set()
    if touched_lo is not None:
        hours |= set(range(floor_to(touched_lo, HOUR_MS), h_from, HOUR_MS))
    hours |= set(range(h_to, ceil_to(touched_hi + 1, HOUR_MS), HOUR_MS))
    for hour in sorted(hours):
        key = hour_key(symbol, hour)
        if store.db.get(key) is None:
            continue  # open, or no trades: its minutes say everything
        value = view.hour_value(hour)
        ops.append(("put", key, value) if value is not None else ("delete", key))
    return ops


def _stored_minutes(store: TradeStore, symbol: str, lo: int, hi: int) -> list[int]:
    if lo >= hi:
        return []
    return [
        _keys.key_ms(k)
        for k, _v in store._iter_range(minute_key(symbol, lo), minute_key(symbol, hi))
    ]


def _trades_except(
    store: TradeStore, symbol: str, start_ms: int, end_ms: int, skip: tuple[bytes, bytes]
) -> TradeColumns:
    """The trades with start <= T <= end outside the batches keyed in [skip)."""
    lower, upper = store.key_window(symbol, start_ms, end_ms)
    pairs = [(k, v) for k, v in store._iter_range(lower, upper) if not skip[0] <= k < skip[1]]
    return _distinct(decode_columns(pairs, start_ms, end_ms))


def _distinct(arrays) -> TradeColumns:
    """Columns with each agg id once (the first copy), as query_columns returns them."""
    agg_id, time_ms, price, qty, side = arrays
    if agg_id.shape[0] > 1 and not bool(np.all(agg_id[1:] > agg_id[:-1])):
        _ids, first = np.unique(agg_id, return_index=True)
        agg_id, time_ms, price, qty, side = (a[first] for a in (agg_id, time_ms, price, qty, side))
    return TradeColumns(agg_id=agg_id, time_ms=time_ms, price=price, qty=qty, is_buyer_maker=side)


def _one(cols: TradeColumns):
    rollup = Rollup()
    rollup.add_columns(*_columns(cols))
    return rollup


# ---------------------------------------------------------------------- building


@dataclass(frozen=True)
class RollupProgress(PassProgress):
    """Where a build is: ``symbol`` (the ``index``-th of ``symbols``), the trades
    summarised so far, and the share of the whole build done."""


@dataclass(frozen=True)
class SymbolRollups:
    """What a build did for one symbol."""

    symbol: str
    hours: int  # hours that hold trades, summarised
    minutes: int
    trades: int
    start_ms: int | None  # the range rebuilt (None: nothing stored)
    end_ms: int | None
    off: str | None = None  # why the symbol's rollups stay off (None: they are kept)

    def as_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "hours": self.hours,
            "minutes": self.minutes,
            "trades": self.trades,
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "off": self.off,
        }


@dataclass(frozen=True)
class RollupReport(PassReport[SymbolRollups]):
    pass


def build(
    store: TradeStore,
    symbols: Sequence[str],
    *,
    start_ms: int | None = None,
    end_ms: int | None = None,
    progress: Callable[[RollupProgress], None] | None = None,
) -> RollupReport:
    """Compute the rollups of ``symbols`` from their stored trades, an hour at a time.

    A symbol whose rollups are kept has those of the hours [start, end] touches
    replaced; any other (none yet, or switched off) is built whole, whatever the range,
    and its rollups are kept from then on. Each hour is one WriteBatch: the old rollups
    of the hour go and the new ones come in the same write.
    """
    began = time.perf_counter()
    report = progress or PassLogger(
        store, log, "%s: building rollups of %s (%d of %d): %d trades, %.0f%% done"
    )
    done: list[SymbolRollups] = []
    for index, symbol in enumerate(symbols):
        state = store.rollup_state(symbol)
        whole = state is None or not state.kept
        span = store.trade_time_span(symbol)
        counted = [0, 0, 0]  # hours, minutes, trades

        def note(fraction: float, index=index, symbol=symbol, counted=counted) -> None:
            report(
                RollupProgress(
                    symbol,
                    index,
                    len(symbols),
                    counted[2],
                    (index + fraction) / len(symbols),
                    time.perf_counter() - began,
                )
            )

        if span is None:
            lo = hi = None
        elif whole:
            lo, hi = floor_to(span[0], HOUR_MS), floor_to(span[1], HOUR_MS)
        else:
            lo = floor_to(max(span[0], start_ms if start_ms is not None else span[0]), HOUR_MS)
            hi = floor_to(min(span[1], end_ms if end_ms is not None else span[1]), HOUR_MS)
        off = None
        try:
            _build_symbol(store, symbol, whole, lo, hi, counted, note)
        except CorruptValue as exc:  # a trades value no decoder can read
            off = f"cannot read the trades: {exc}"
        except ValueError as exc:  # FixedPointError: a price or qty beyond 1e-8 int64
            off = f"cannot summarise the trades exactly: {exc}"
        if off is not None:
            log.error("%s: rollups stay off: %s", symbol, off)
            store._set_rollup_state(symbol, RollupState(off=off))
        done.append(
            SymbolRollups(
                symbol,
                counted[0],
                counted[1],
                counted[2],
                None if lo is None or off else lo,
                None if hi is None or off else hi + HOUR_MS - 1,
                off,
            )
        )
    result = RollupReport(tuple(done), time.perf_counter() - began)
    if symbols and progress is None:
        log.info(
            "%s: rollups of %d symbols built from %d trades in %.1f s",
            store.path,
            len(done),
            result.trades,
            result.seconds,
        )
    return result


def _build_symbol(
    store: TradeStore,
    symbol: str,
    whole: bool,
    lo: int | None,
    hi: int | None,
    counted: list[int],
    note: Callable[[float], None],
) -> None:
    if whole:
        # Whatever is there (a build cut short, rollups switched off) goes first.
        store._rollup_write(symbol, drop_all(symbol), None)
    hour = lo
    while hour is not None and hi is not None and hour <= hi:
        nxt = store.next_trade_bound(symbol, hour)
        if nxt is None or nxt > hi + HOUR_MS - 1:
            break
        if nxt >= hour + HOUR_MS:
            hour = floor_to(nxt, HOUR_MS)  # jump a stretch without trades
        cols = store.query_columns(symbol, hour, hour + HOUR_MS - 1)
        minutes = split_columns(cols, MINUTE_MS)
        ops: list[Op] = [
            ("range", minute_key(symbol, hour), minute_key(symbol, hour + HOUR_MS)),
            ("range", candle_key(symbol, hour), candle_key(symbol, hour + HOUR_MS)),
            ("delete", hour_key(symbol, hour)),
        ]
        if minutes:
            total = Rollup()
            for minute, rollup in sorted(minutes.items()):
                ops.append(("put", minute_key(symbol, minute), rollup.encode()))
                ops.append(("put", candle_key(symbol, minute), rollup.encode_summary()))
                total.add(rollup)
            ops.append(("put", hour_key(symbol, hour), total.encode()))
        store._rollup_write(symbol, ops, hour)
        counted[0] += bool(minutes)
        counted[1] += len(minutes)
        counted[2] += len(cols)
        note((hour - lo + HOUR_MS) / (hi - lo + HOUR_MS) if lo is not None else 1.0)
        hour += HOUR_MS
    if whole:
        store._set_rollup_state(symbol, RollupState())
    note(1.0)


# ---------------------------------------------------------------------- reading


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
    store: TradeStore, symbol: str, start_ms: int, end_ms: int, *, hours: bool = True
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
        for key, value in store._iter_range(hour_key(symbol, h_first), hour_key(symbol, h_end)):
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
            out.minutes.extend(store._iter_range(minute_key(symbol, lo), minute_key(symbol, hi)))
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
    store: TradeStore, symbol: str, first_ms: int, end_ms: int
) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) of the minute summaries (``rollup:c:``) in [first_ms, end_ms)."""
    return store._iter_range(candle_key(symbol, first_ms), candle_key(symbol, end_ms))


def rollup_counts(store: TradeStore, symbol: str) -> dict[str, int]:
    """How many rollups of each tier ("m", "h", "c") the symbol has (keys only)."""
    store.refresh()
    return {
        tier: sum(1 for _ in store._iter_keys(*tier_range(tier, symbol))) for tier in _keys.TIERS
    }


# ---------------------------------------------------------------------- checking


@dataclass(frozen=True)
class RollupMismatch:
    key: str
    problem: str  # "differs", "missing", "not expected", "undecodable: ..."


def check(
    store: TradeStore, symbol: str, start_ms: int, end_ms: int, limit: int = 1000
) -> list[RollupMismatch]:
    """Every rollup lying wholly inside [start_ms, end_ms] (those an analytic of the window
    reads) that disagrees with a recomputation from the stored trades (at most ``limit``)."""
    state = store.rollup_state(symbol)
    if state is None or not state.kept:
        return []
    span = store.trade_time_span(symbol)
    found: list[RollupMismatch] = []
    lo = floor_to(max(start_ms, 0), HOUR_MS)
    hi = floor_to(min(end_ms, _keys.MAX_MS), HOUR_MS)
    first, end = whole_minutes(start_ms, end_ms)
    hour = lo
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
            stored = dict(store._iter_range(minute_key(symbol, m_lo), minute_key(symbol, m_hi)))
            stored.update(store._iter_range(candle_key(symbol, m_lo), candle_key(symbol, m_hi)))
            for key in sorted(expected.keys() | stored.keys()):
                _compare(found, key, expected.get(key), stored.get(key))
        if first <= hour and hour + HOUR_MS <= end:
            _check_hour(store, symbol, hour, state, found)
        hour += HOUR_MS
    return found[:limit]


def _check_hour(
    store: TradeStore, symbol: str, hour: int, state: RollupState, found: list[RollupMismatch]
) -> None:
    hkey = hour_key(symbol, hour)
    stored = store.db.get(hkey)
    cols = store.query_columns(symbol, hour, hour + HOUR_MS - 1)
    if not len(cols):
        if stored is not None:
            found.append(RollupMismatch(hkey.decode(), "not expected"))
        return
    want = _one(cols).encode()
    if stored is None:
        if hour not in state.open_hours:
            found.append(RollupMismatch(hkey.decode(), "missing"))
        return
    _compare(found, hkey, want, stored)


def _next_hour_with_anything(
    store: TradeStore, symbol: str, hour: int, span: tuple[int, int] | None
) -> int | None:
    """The first hour at or after ``hour`` with trades or with a stored rollup."""
    candidates = []
    trade = store.next_trade_bound(symbol, hour) if span is not None else None
    if trade is not None:
        candidates.append(floor_to(trade, HOUR_MS))
    for tier in _keys.TIERS:
        lower = _keys.rollup_key(tier, symbol, hour)
        upper = _keys.prefix_end(_keys.rollup_prefix(tier, symbol))
        pair = next(iter(store._iter_range(lower, upper)), None)
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
            if key.split(b":", 2)[1] == _keys.CANDLE.encode():
                rollup_summary(have, key)  # a summary alone
            else:
                Rollup().add_value(have, key)
        except CorruptValue as exc:
            found.append(RollupMismatch(name, f"undecodable: {exc.detail}"))
            return
        found.append(RollupMismatch(name, "differs"))
