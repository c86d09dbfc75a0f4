"""Price-level rollups beside the trades, and the one object that keeps them exact.

Per symbol, the rollup of each minute of trade time that holds trades
(``rollup:m:{SYMBOL}:{minute}``) and of each hour (``rollup:h:{SYMBOL}:{hour}``): per
exact price the volume, taker-buy volume and trade count, with the summary a candle
needs (tradestore/codec/_rollupfmt.py has the value format, docs/FORMAT.md the whole layout).

``RollupKeeper`` owns them: each symbol's rollup state, the open minutes summed in
memory, and every write to a rollup key. It reads the trades through the store's public
reader (``TradeReader``); the store hands it each write's new trades, decoded once.

- **Writing.** ``TradeStore.write_batches`` hands the new trades of a WriteBatch to
  ``RollupKeeper.add``, whose puts go into the same WriteBatch: a duplicate id never
  counts twice, and a backfilled batch landing in a summarised minute updates that
  minute (read, add, write back). An hour is summarised once its minutes are complete:
  until a write reaches a later hour it is *open* (listed in the symbol's
  ``meta:rollups`` state) and readers take its minutes; a write into a summarised hour
  updates it too. So the live recorder rewrites one small minute value per flush, not the
  hour.
- **Deleting.** ``RollupKeeper.remove`` drops the rollups of the minutes and hours whose
  trades all go with a range delete, and recomputes from the remaining trades the few at
  its edges that keep some.
- **Building.** ``RollupKeeper.build`` computes them from the stored trades an hour at a
  time (a database written before rollups existed, or ``tradestore-trio rollups
  rebuild``).

The changes themselves are computed in ``_rollupops``; reading is ``_pyramid``, checking
``_rollcheck``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import rocksdict

from tradestore._errors import CorruptValue, FixedPointError
from tradestore.codec._twins import Rollup, rollup_split_segments, rollup_summary
from tradestore.store import _book, _keys
from tradestore.store._book import RollupState
from tradestore.store._columns import TradeColumns
from tradestore.store._idset import AggIdSet
from tradestore.store._pass import PassLogger, PassProgress, PassReport
from tradestore.store._reader import TradeReader
from tradestore.store._rollupops import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    Deltas,
    Op,
    add_to_open,
    apply,
    candle_key,
    day_ops,
    day_rollup,
    drop_all,
    floor_to,
    hour_key,
    minute_key,
    ops_for_closing,
    ops_for_delete,
    ops_for_trades,
    split_columns,
    tier_range,
)

log = logging.getLogger(__name__)
# Logged when a write cannot keep a symbol's rollups exact: symbol, error, path, symbol.
_ROLLUPS_OFF = (
    "%s: price-level rollups switched off (%s); analytics read the trades instead. "
    "`tradestore-trio rollups rebuild --db %s --symbol %s` builds them again"
)
_DELETE_OFF = (
    "%s: price-level rollups switched off (%s); `tradestore-trio rollups "
    "rebuild --db %s --symbol %s` builds them again"
)

# A minute (an hour) is closed once the newest stored trade is this far past its end:
# later trades for it (a late line, a backfill) update its written rollup instead.
CLOSE_GRACE_MS = 10_000
# Closing is spread over the writes: at most this many minutes and hours per WriteBatch,
# the oldest first, so the minute and hour boundaries, when every active symbol leaves
# one behind, cost no single flush more than a few milliseconds.
CLOSE_MINUTES_PER_WRITE = 200
CLOSE_HOURS_PER_WRITE = 16
CLOSE_DAYS_PER_WRITE = 4


def next_due(state: RollupState) -> int:
    """The clock (ms) at which the first of the state's open minutes or hours is due."""
    due: int = _keys.MAX_MS
    if state.open_minutes:
        due = min(state.open_minutes) + MINUTE_MS + CLOSE_GRACE_MS
    if state.open_hours:
        due = min(due, min(state.open_hours) + HOUR_MS + CLOSE_GRACE_MS)
    if state.open_days:
        due = min(due, min(state.open_days) + DAY_MS + CLOSE_GRACE_MS)
    return due


def closable_minutes(state: RollupState, clock: int, touched: set[int]) -> list[int]:
    return [
        m
        for m in state.open_minutes
        if m + MINUTE_MS + CLOSE_GRACE_MS <= clock and m not in touched
    ]


def closable_days(state: RollupState, clock: int, touched: set[int]) -> list[int]:
    """Open days the clock has passed, with no open hour or minute and no new trade."""
    busy = {floor_to(m, DAY_MS) for m in state.open_minutes}
    busy |= {floor_to(h, DAY_MS) for h in state.open_hours}
    busy |= {floor_to(m, DAY_MS) for m in touched}
    return sorted(
        d for d in state.open_days if d + DAY_MS + CLOSE_GRACE_MS <= clock and d not in busy
    )


def closable_hours(state: RollupState, clock: int, touched: set[int]) -> list[int]:
    """Open hours the clock has passed, with no open minute and no new trade in them."""
    busy = {floor_to(m, HOUR_MS) for m in state.open_minutes}
    busy |= {floor_to(m, HOUR_MS) for m in touched}
    return sorted(
        h for h in state.open_hours if h + HOUR_MS + CLOSE_GRACE_MS <= clock and h not in busy
    )


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


@dataclass(frozen=True)
class NewTrades:
    """The trades one WriteBatch stores, as the store hands them to the keeper.

    ``columns`` holds the new trades of every symbol whose values decoded, one symbol
    after another, ``runs`` each one's [start, end) rows, and ``errors`` why a symbol's
    values could not be decoded exactly (its rollups are switched off). ``first``: the
    symbols storing their first trades; ``newest_ms``: the latest trade time stored.
    Columns are left empty by a handle that does not keep rollups."""

    symbols: Sequence[str]
    first: Set[str]
    newest_ms: int
    columns: TradeColumns = field(default_factory=TradeColumns.empty)
    runs: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    errors: Mapping[str, Exception] = field(default_factory=dict)


class RollupKeeper:
    """Keeps a store's rollups: their state per symbol, the open minutes summed in
    memory, and every change written with a batch, a close, a delete or a build.

    ``lock`` is the store's write lock: ``add`` and ``remove`` run under it (the store
    holds it); ``build`` takes it for each of its own writes. ``keep`` False (a
    read-only handle, or one opened with ``rollups=False``): writes drop the rollups of
    the symbols they touch instead of keeping them.
    """

    def __init__(self, reader: TradeReader, lock: threading.Lock, *, keep: bool) -> None:
        self._reader = reader
        self._lock = lock
        self.keep = keep
        self._states: dict[str, RollupState | None] = {}
        # The rollups of the open minutes, summed as their trades are written:
        # symbol -> {minute: Rollup}. A minute missing here (after a restart or a failed
        # write) is summed from its trades when it closes.
        self._hot: dict[str, Deltas] = {}
        # The newest trade time written through this handle: open minutes and hours it
        # has passed are summarised (``_close_due``).
        self._clock = 0
        # No open minute or hour this handle knows is due before this clock (ms).
        self._next_due = 0

    def state(self, symbol: str) -> RollupState | None:
        """The symbol's rollup state (None: it has no price-level rollups)."""
        if symbol not in self._states:
            self._states[symbol] = _book.load_rollups(self._reader.db, symbol)
        return self._states[symbol]

    def forget(self) -> None:
        """Drop what is cached (read again from the database): after a failed write, a
        reopen, or a reader's catch-up with the writer."""
        self._states.clear()
        self._hot.clear()
        self._next_due = 0

    # ------------------------------------------------------------------ writing

    def add(self, wb: rocksdict.WriteBatch, new: NewTrades) -> None:
        """Add a write's new trades to their symbols' rollups, in its WriteBatch, and
        summarise the open minutes and hours it has left behind. Nothing here fails the
        write: a rollup that cannot be kept exact is switched off (readers use the
        trades) and logged."""
        self._clock = max(self._clock, new.newest_ms)
        deltas = self._split(new) if self.keep else {}
        if self.keep:
            self._leave_out_summarized(new, deltas)
        touched: dict[str, set[int]] = {}
        for symbol in new.symbols:
            touched[symbol] = set()
            self._add_symbol(wb, symbol, deltas.get(symbol), new.first, touched[symbol])
        if self.keep:
            self._close_due(wb, touched)

    def _split(self, new: NewTrades) -> dict[str, Deltas | Exception]:
        """Each symbol's new trades as one Rollup per minute, split in one call: thousands
        of small calls cost a whole-market flush a tenth of its time. A symbol at a time
        when that fails, so only the symbol whose trades cannot be summed exactly loses
        its rollups."""
        found: dict[str, Deltas | Exception] = dict(new.errors)
        if not new.runs:
            return found
        try:
            parts = rollup_split_segments(*new.columns.arrays(), list(new.runs.values()), MINUTE_MS)
            found.update(zip(new.runs, parts, strict=True))
        except (CorruptValue, ValueError):  # FixedPointError is a ValueError
            for symbol, (lo, hi) in new.runs.items():
                rows = new.columns.rows(lo, hi)
                try:
                    found[symbol] = split_columns(rows, MINUTE_MS)
                except (CorruptValue, FixedPointError) as exc:
                    found[symbol] = exc
        return found

    def _leave_out_summarized(self, new: NewTrades, deltas: dict[str, Deltas | Exception]) -> None:
        """Trades written again whose rollups outlived them are in the rollups already:
        their deltas leave them out (and they are held again)."""
        for symbol, (lo, hi) in new.runs.items():
            state = self.state(symbol)
            if state is None or not state.kept or not len(state.summarized):
                continue
            ids = new.columns.agg_id[lo:hi]
            last = state.summarized.last
            assert last is not None
            if not len(ids) or int(ids.min()) > last:
                continue  # the live case: every id newer than anything pruned
            known = np.fromiter((int(i) in state.summarized for i in ids), bool, len(ids))
            if not known.any():
                continue
            rows = new.columns.rows(lo, hi)
            keep = ~known
            rest = TradeColumns(*(a[keep] for a in rows.arrays()))
            deltas[symbol] = split_columns(rest, MINUTE_MS) if len(rest) else {}

    def _add_symbol(
        self,
        wb: rocksdict.WriteBatch,
        symbol: str,
        deltas: Deltas | Exception | None,
        first: Set[str],
        touched: set[int],
    ) -> None:
        if symbol in first:
            # Whatever an earlier life of the symbol left behind goes; a new symbol's
            # rollups are kept from its first trade on.
            apply(wb, drop_all(symbol))
            self._hot.pop(symbol, None)
            self._states[symbol] = RollupState() if self.keep else None
            _book.put_rollups(wb, symbol, self._states[symbol])
        state = self.state(symbol)
        if state is None or not state.kept:
            return
        if not self.keep:
            # Not kept by this handle: readers must not trust them, and none stay behind.
            self._states[symbol] = None
            apply(wb, drop_all(symbol))
            _book.put_rollups(wb, symbol, None)
            return
        if isinstance(deltas, dict) and add_to_open(state, deltas, self._hot.get(symbol), touched):
            return  # the live case: nothing to write, no new state (no copy to compare)

        def ops_for(working: RollupState) -> list[Op]:
            # Each agg id once already (the store left out every id stored or repeated),
            # and a rollup does not depend on the order of its trades.
            if isinstance(deltas, Exception):
                raise deltas
            return ops_for_trades(
                self._reader,
                symbol,
                working,
                deltas or {},
                stored=symbol not in first,
                hot=self._hot.setdefault(symbol, {}),
                clock=self._clock,
                grace=CLOSE_GRACE_MS,
                touched=touched,
            )

        self._change(wb, symbol, state, ops_for, "storing trades", _ROLLUPS_OFF)

    def outlive(
        self, wb: rocksdict.WriteBatch, symbol: str, ids: AggIdSet, last_time_ms: int
    ) -> None:
        """The trades ``ids`` (none later than ``last_time_ms``) are about to be deleted
        while their rollups stay: remember them, so that a later write of one of them
        stores the trade without counting it again, and that readers know the trades
        before ``last_time_ms`` may be gone."""
        state = self.state(symbol)
        if state is None or not state.kept or not len(ids):
            return
        after = state.copy()
        for lo, hi in ids.intervals:
            after.summarized.add_run(lo, hi)
        held = last_time_ms + 1
        after.held_from_ms = held if state.held_from_ms is None else max(held, state.held_from_ms)
        self._states[symbol] = after
        _book.put_rollups(wb, symbol, after)

    def drop_before(
        self, wb: rocksdict.WriteBatch, symbol: str, day_ms: int, *, only_summarized: bool
    ) -> bool:
        """Delete every rollup of the symbol before the UTC day ``day_ms`` (the rollups'
        own retention); True when some went. The trades' ids they alone remembered
        are forgotten with them (a later write of one counts it again), and readers
        take the trades still held before it. ``only_summarized``: never before the
        day of the trades still held (the rollups outlive the trades, never the reverse)."""
        state = self.state(symbol)
        if state is None or not state.kept:
            return False
        if only_summarized:
            if state.held_from_ms is None:
                return False
            day_ms = min(day_ms, state.held_from_ms)
        day_ms = floor_to(day_ms, DAY_MS)
        lower = _keys.rollup_key(_keys.MINUTE, symbol, 0)
        if next(iter(self._reader.iter_keys(lower, minute_key(symbol, day_ms))), None) is None:
            return False
        last_id = None
        for key, value in self._reader.iter_range(
            candle_key(symbol, 0), candle_key(symbol, day_ms), reverse=True
        ):
            last_id = rollup_summary(value, key)[4]
            break
        for tier in _keys.TIERS:
            wb.delete_range(
                _keys.rollup_key(tier, symbol, 0), _keys.rollup_key(tier, symbol, day_ms)
            )
        after = state.copy()
        after.open_minutes = {m for m in after.open_minutes if m >= day_ms}
        after.open_hours = {h for h in after.open_hours if h >= day_ms}
        after.open_days = {d for d in after.open_days if d >= day_ms}
        after.rollups_from_ms = max(day_ms, state.rollups_from_ms or 0)
        if last_id is not None and len(after.summarized):
            first = after.summarized.first
            assert first is not None
            if first <= last_id:
                after.summarized.remove_run(first, last_id)
        if after != state:
            self._states[symbol] = after
            _book.put_rollups(wb, symbol, after)
        return True

    def remove(
        self, wb: rocksdict.WriteBatch, symbol: str, lower_ms: int | None, upper_ms: int
    ) -> None:
        """Take the trades of the batches keyed in [lower_ms, upper_ms) (lower None:
        from the first), about to be deleted, out of the symbol's rollups in the same
        WriteBatch."""
        state = self.state(symbol)
        if state is None or not state.kept:
            return
        self._hot.pop(symbol, None)  # the deleted trades may be in an open minute's sum
        self._change(
            wb,
            symbol,
            state,
            lambda working: ops_for_delete(
                self._reader, symbol, working, lower_ms, upper_ms, self._reader.margins(symbol)
            ),
            "deleting trades",
            _DELETE_OFF,
        )

    def _change(
        self,
        wb: rocksdict.WriteBatch,
        symbol: str,
        state: RollupState,
        ops_for: Callable[[RollupState], list[Op]],
        doing: str,
        message: str,
    ) -> None:
        """Put the rollup changes ``ops_for`` computes into the WriteBatch; a change
        that cannot be kept exact switches the symbol's rollups off instead (logged with
        ``message``: symbol, error, path, symbol), and never fails the write."""
        working = state.copy()
        try:
            ops = ops_for(working)
        except (CorruptValue, FixedPointError) as exc:
            working = RollupState(off=f"switched off while {doing}: {exc}")
            ops = []
            self._hot.pop(symbol, None)
            log.error(message, symbol, exc, self._reader.path, symbol)
        apply(wb, ops)
        if working != state:
            self._states[symbol] = working
            _book.put_rollups(wb, symbol, working)
            if working.kept and working.has_open:
                self._next_due = min(self._next_due, next_due(working))

    def _close_due(self, wb: rocksdict.WriteBatch, touched: dict[str, set[int]]) -> None:
        """Summarise, in this WriteBatch, the open minutes and hours (of any symbol this
        handle knows) that the newest written trade has passed: the oldest first, at most
        CLOSE_MINUTES_PER_WRITE minutes and CLOSE_HOURS_PER_WRITE hours."""
        clock = self._clock
        if clock < self._next_due:
            return
        soonest = _keys.MAX_MS
        minutes: list[tuple[int, str]] = []
        with_hours: list[tuple[str, RollupState]] = []
        nothing: set[int] = set()
        hour_late = HOUR_MS + CLOSE_GRACE_MS
        day_late = DAY_MS + CLOSE_GRACE_MS
        for symbol, state in self._states.items():
            if state is None or not state.kept or not state.has_open:
                continue
            due = next_due(state)
            if due < soonest:
                soonest = due
            if due > clock:
                continue  # nothing of it is due: the usual case, so the scan stays cheap
            near = touched.get(symbol, nothing)
            minutes.extend((m, symbol) for m in closable_minutes(state, clock, near))
            if (state.open_hours and min(state.open_hours) + hour_late <= clock) or (
                state.open_days and min(state.open_days) + day_late <= clock
            ):
                with_hours.append((symbol, state))
        # What stays open after this write is due no earlier than it was found due
        # (what the budget leaves makes the next write look again).
        self._next_due = soonest
        if not minutes and not with_hours:
            return
        minutes.sort()
        chosen: dict[str, list[int]] = {}
        for minute, symbol in minutes[:CLOSE_MINUTES_PER_WRITE]:
            chosen.setdefault(symbol, []).append(minute)
        # Hours whose minutes are all closed once the chosen minutes are, then days
        # whose hours are all closed once the chosen hours are: oldest first.
        due_hours: list[tuple[int, str]] = []
        for symbol, state in with_hours:
            after = state.copy()
            if symbol in chosen:
                after.open_minutes = state.open_minutes - set(chosen[symbol])
            near = touched.get(symbol, nothing)
            due_hours.extend((h, symbol) for h in closable_hours(after, clock, near))
        hour_picks: dict[str, list[int]] = {}
        for hour, symbol in sorted(due_hours)[:CLOSE_HOURS_PER_WRITE]:
            hour_picks.setdefault(symbol, []).append(hour)
        due_days: list[tuple[int, str]] = []
        for symbol, state in with_hours:
            if not state.open_days:
                continue
            after = state.copy()
            after.open_minutes = state.open_minutes - set(chosen.get(symbol, ()))
            after.open_hours = state.open_hours - set(hour_picks.get(symbol, ()))
            near = touched.get(symbol, nothing)
            due_days.extend((d, symbol) for d in closable_days(after, clock, near))
        day_picks: dict[str, list[int]] = {}
        for day, symbol in sorted(due_days)[:CLOSE_DAYS_PER_WRITE]:
            day_picks.setdefault(symbol, []).append(day)
        for symbol in chosen.keys() | hour_picks.keys() | day_picks.keys():
            state = self._states[symbol]
            assert state is not None
            self._change(
                wb,
                symbol,
                state,
                partial(
                    ops_for_closing,
                    self._reader,
                    symbol,
                    minutes=chosen.get(symbol, []),
                    hours=sorted(hour_picks.get(symbol, [])),
                    hot=self._hot.get(symbol),
                    days=sorted(day_picks.get(symbol, [])),
                ),
                "summarising its minutes",
                _ROLLUPS_OFF,
            )

    # ------------------------------------------------------------------ building

    def build(
        self,
        symbols: Sequence[str],
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
        progress: Callable[[RollupProgress], None] | None = None,
    ) -> RollupReport:
        """Compute the rollups of ``symbols`` from their stored trades, an hour at a time.

        A symbol whose rollups are kept has those of the hours [start, end] touches
        replaced; any other (none yet, or switched off) is built whole, whatever the
        range, and its rollups are kept from then on. Each hour is one WriteBatch: the
        old rollups of the hour go and the new ones come in the same write.
        """
        began = time.perf_counter()
        path = self._reader.path
        report = progress or PassLogger(
            path, log, "%s: building rollups of %s (%d of %d): %d trades, %.0f%% done"
        )
        done: list[SymbolRollups] = []
        for index, symbol in enumerate(symbols):
            state = self.state(symbol)
            whole = state is None or not state.kept
            span = self._reader.trade_time_span(symbol)
            counted = [0, 0, 0]  # hours, minutes, trades

            def note(
                fraction: float,
                index: int = index,
                symbol: str = symbol,
                counted: list[int] = counted,
            ) -> None:
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

            lo: int | None
            hi: int | None
            if span is None:
                lo = hi = None
            elif whole:
                lo, hi = floor_to(span[0], HOUR_MS), floor_to(span[1], HOUR_MS)
            else:
                lo = floor_to(max(span[0], start_ms if start_ms is not None else span[0]), HOUR_MS)
                hi = floor_to(min(span[1], end_ms if end_ms is not None else span[1]), HOUR_MS)
                held = state.held_from_ms if state is not None else None
                if held is not None:
                    # Hours whose trades were deleted keep the rollups they had: a build
                    # from the trades left would lose what only the rollups remember.
                    lo = max(lo, -(-held // HOUR_MS) * HOUR_MS)
            off = None
            try:
                self._build_symbol(symbol, whole, lo, hi, counted, note)
            except CorruptValue as exc:  # a trades value no decoder can read
                off = f"cannot read the trades: {exc}"
            except ValueError as exc:  # FixedPointError: a price or qty beyond 1e-8 int64
                off = f"cannot summarise the trades exactly: {exc}"
            if off is not None:
                log.error("%s: rollups stay off: %s", symbol, off)
                self._set_state(symbol, RollupState(off=off))
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
                path,
                len(done),
                result.trades,
                result.seconds,
            )
        return result

    def _build_symbol(
        self,
        symbol: str,
        whole: bool,
        lo: int | None,
        hi: int | None,
        counted: list[int],
        note: Callable[[float], None],
    ) -> None:
        reader = self._reader
        if whole:
            # Whatever is there (a build cut short, rollups switched off) goes first.
            self._write_hour(symbol, drop_all(symbol), None)
        hour = lo
        days: set[int] = set()
        while hour is not None and hi is not None and hour <= hi:
            nxt = reader.next_trade_bound(symbol, hour)
            if nxt is None or nxt > hi + HOUR_MS - 1:
                break
            if nxt >= hour + HOUR_MS:
                hour = floor_to(nxt, HOUR_MS)  # jump a stretch without trades
            cols = reader.query_columns(symbol, hour, hour + HOUR_MS - 1)
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
            self._write_hour(symbol, ops, hour)
            days.add(floor_to(hour, DAY_MS))
            counted[0] += bool(minutes)
            counted[1] += len(minutes)
            counted[2] += len(cols)
            note((hour - lo + HOUR_MS) / (hi - lo + HOUR_MS) if lo is not None else 1.0)
            hour += HOUR_MS
        if whole:
            self._set_state(symbol, RollupState())
        newest = reader.trade_time_span(symbol)
        for day in sorted(days):
            self.write_day(symbol, day, newest[1] if newest else 0)
        note(1.0)

    def write_day(self, symbol: str, day: int, newest_ms: int) -> None:
        """Sum the day's rollup from its hours (one WriteBatch); a day that may still
        take live trades (within the grace of ``newest_ms``) is opened instead, and
        summarised when the writer's clock passes it."""
        with self._lock:
            try:
                state = self.state(symbol)
                if state is None or not state.kept:
                    return
                after = state.copy()
                wb = rocksdict.WriteBatch(raw_mode=True)
                busy = any(floor_to(h, DAY_MS) == day for h in state.open_hours) or any(
                    floor_to(m, DAY_MS) == day for m in state.open_minutes
                )
                if busy or day + DAY_MS + CLOSE_GRACE_MS > newest_ms:
                    apply(wb, day_ops(symbol, day, None))
                    after.open_days.add(day)
                else:
                    apply(wb, day_ops(symbol, day, day_rollup(self._reader, symbol, day)))
                    after.open_days.discard(day)
                if after != state:
                    self._states[symbol] = after
                    _book.put_rollups(wb, symbol, after)
                    if after.has_open:
                        self._next_due = min(self._next_due, next_due(after))
                self._reader.db.write(wb)
            except BaseException:
                self.forget()
                raise

    def build_days(self, symbols: Sequence[str]) -> int:
        """Sum the day rollups of symbols whose state predates the day tier (a database
        of version 2) from their hour rollups, and mark the day tier kept. Returns the
        days written or opened."""
        done = 0
        for symbol in symbols:
            state = self.state(symbol)
            if state is None or not state.kept or state.days:
                continue
            lo, hi = tier_range(_keys.HOUR, symbol)
            days = sorted(
                {floor_to(_keys.key_ms(k), DAY_MS) for k in self._reader.iter_keys(lo, hi)}
            )
            span = self._reader.trade_time_span(symbol)
            for day in days:
                self.write_day(symbol, day, span[1] if span else 0)
            with self._lock:
                state = self.state(symbol)
                if state is not None and state.kept:
                    after = state.copy()
                    after.days = True
                    wb = rocksdict.WriteBatch(raw_mode=True)
                    _book.put_rollups(wb, symbol, after)
                    self._reader.db.write(wb)
                    self._states[symbol] = after
            done += len(days)
            log.info("%s: day rollups summed from the hours (%d days)", symbol, len(days))
        return done

    def _write_hour(self, symbol: str, ops: list[Op], built_hour: int | None) -> None:
        """Apply a build's ops in one WriteBatch; ``built_hour`` is summarised now."""
        with self._lock:
            try:
                wb = rocksdict.WriteBatch(raw_mode=True)
                apply(wb, ops)
                state = self.state(symbol)
                self._hot.pop(symbol, None)
                if built_hour is not None and state is not None:
                    # The build wrote every minute of the hour and the hour itself.
                    after = state.copy()
                    after.open_hours.discard(built_hour)
                    after.open_minutes = {
                        m for m in after.open_minutes if not built_hour <= m < built_hour + HOUR_MS
                    }
                    if after != state:
                        self._states[symbol] = after
                        _book.put_rollups(wb, symbol, after)
                self._reader.db.write(wb)
            except BaseException:
                self.forget()
                raise

    def _set_state(self, symbol: str, state: RollupState | None) -> None:
        with self._lock:
            wb = rocksdict.WriteBatch(raw_mode=True)
            _book.put_rollups(wb, symbol, state)
            self._reader.db.write(wb)
            self._states[symbol] = state
            self._hot.pop(symbol, None)
