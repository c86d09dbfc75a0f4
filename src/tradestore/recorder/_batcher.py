"""Per-symbol continuity and buffers, flushed on a fixed 1 s grid in one WriteBatch.

Continuity is by agg id only (agg ids are contiguous per symbol): an id at or below the
last one is a duplicate and is dropped; an id past ``last + 1`` opens a gap record that is
written in the same atomic WriteBatch as the trade that revealed it, so the store never
holds the trades after a hole without the record of the hole.

Several lines may deliver a symbol (A/B lines: the same streams on two connections, or a
REST probe beside the live stream), each in order but at slightly different moments, so
the first copy of each id wins and the later copies are dropped. A jump seen on one line
is not yet a gap while another open line has not passed that id: it may be about to
deliver the missing ids. Such a trade is held (``arbitration_hold`` at most) and the gap
is judged only once no live line can still fill it.

A failed write (disk full, EFBIG, an I/O error) keeps every trade buffered, in order, and
starts an outage: RocksDB latches the error and refuses all later writes until the DB is
reopened, so each retry reopens the store first, with backoff. One ERROR line opens the
outage, a reminder follows at most once a minute, one line closes it. An outage longer
than ``write_failure_timeout`` raises StoreUnavailable: the daemon exits 1, and a restart
reads back the last stored id and backfills the hole.
"""

from __future__ import annotations

import logging
import math
import time
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Protocol

import trio

from tradestore._errors import TradestoreError
from tradestore._model import AggTrade, TradeRow
from tradestore.recorder._backoff import LogThrottle
from tradestore.recorder._config import RecorderConfig
from tradestore.recorder._memory import MemoryTrimmer
from tradestore.recorder._statistics import FlushStatistics
from tradestore.store import Gap, TradeStore

log = logging.getLogger(__name__)

# Upper edges (seconds) of the flush-duration histogram in /metrics.
FLUSH_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
RETRY_DELAY_MAX = 5.0  # seconds between reopen-and-write attempts while the store fails
REMIND_EVERY = 60.0  # seconds between the reminder lines of one outage
# A write has the process to itself for this long at most (see write_first).
WRITE_FIRST_S = 0.25


class StoreUnavailable(TradestoreError, RuntimeError):
    """The store refused every write for longer than ``write_failure_timeout``."""


# A trade as the batcher holds it: the live path's TradeRow (the exchange's exact
# strings), or an AggTrade (REST, tests); both give agg_id, time_ms and to_row().
Trade = AggTrade | TradeRow


class Line(Protocol):
    """A source of one symbol's trades in id order: a connection (A/B line)."""

    last_ids: dict[str, int]  # the highest agg id it delivered, per symbol
    taken: int  # agg ids it delivered first

    @property
    def is_open(self) -> bool: ...


@dataclass(slots=True)
class SymbolCounters:
    """One symbol's continuity since the daemon started (the batcher's own counters)."""

    received: int = 0
    stored: int = 0
    duplicates: int = 0  # a line repeated an id (or one the store held at start)
    redundant: int = 0  # copies of ids another line delivered first (A/B lines)
    gaps: int = 0
    missing_ids: int = 0
    holds: int = 0  # jumps held back while another line could still fill them
    holds_filled: int = 0  # ... that another line did fill (no gap recorded)
    last_id: int | None = None  # highest agg id accepted (or read back from the store)
    last_trade_ms: int | None = None
    # The first trade accepted when nothing was known before it (a symbol new to the
    # store): where the record begins, unless begin_at() says it begins earlier.
    first_id: int | None = None
    first_trade_ms: int | None = None
    resumed_id: int = -1  # the last id the store held at start: copies up to it are replays
    live: int = 0  # new agg ids that came live (not from REST)
    last_live_at: float | None = None  # trio time the last of them arrived
    last_live_wall: float | None = None  # ... and its local wall time
    event_lag: float | None = None  # its receive wall time minus its trade time, seconds
    # Trades past a jump, held in id order until the jump is judged (arbitration).
    pending: list = field(default_factory=list)
    hold_until: float = 0.0


@dataclass(frozen=True, slots=True)
class _Edge:
    """Where a hole ends when no trade marks it: the first id after it and its time."""

    agg_id: int
    time_ms: int


def _held_id(held: tuple[Trade, Line | None]) -> int:
    return held[0].agg_id


@dataclass(slots=True)
class FlushCounters:
    """The batcher's writes; ``Batcher.statistics()`` copies them into FlushStatistics."""

    flushes: int = 0
    failed: int = 0
    early: int = 0
    trades: int = 0
    last_latency: float | None = None
    max_latency: float = 0.0
    # Successful writes by duration: how many took at most each FLUSH_BUCKETS edge (not
    # cumulative; the last slot counts the longer ones), and their total seconds.
    latency_counts: list[int] = field(default_factory=lambda: [0] * (len(FLUSH_BUCKETS) + 1))
    latency_sum: float = 0.0
    last_flush_ms: int | None = None
    outages: int = 0
    reopens: int = 0
    failing_since_ms: int | None = None
    last_error: str | None = None


@dataclass(slots=True)
class Outage:
    """A run of failed writes, from the first failure to the next successful write."""

    since: float  # trio time of the first failure
    since_ms: int  # wall time of the first failure
    first_error: str
    last_error: str
    retry_at: float
    delay: float
    reminded_at: float
    attempts: int = 1
    reopens: int = 0


class Batcher:
    """Buffers accepted trades per symbol; ``serve`` flushes them to the store."""

    def __init__(
        self,
        store: TradeStore,
        config: RecorderConfig,
        *,
        throttle: LogThrottle | None = None,
        on_gap: Callable[[str, Gap], None] | None = None,
        lines: Callable[[str], Sequence[Line]] | None = None,
    ) -> None:
        """Record ``config.symbols``. ``on_gap(symbol, gap)`` is called once a gap record is
        durably stored (the backfill worker's intake): never before, or a fill could be
        overwritten by the "open" record. ``lines(symbol)`` names the live lines that
        carry a symbol (for the arbitration of jumps; none: every jump is a gap at once)."""
        self.store = store
        self.config = config
        self.throttle = throttle or LogThrottle(log)
        self._on_gap = on_gap
        self._lines = lines or (lambda symbol: ())
        self.held = 0  # trades held back by the arbitration, all symbols
        # When the batch being handled arrived: trio time and wall time (the dispatcher
        # sets them once per batch, so accept() never reads a clock per trade).
        self.batch_at = 0.0
        self.batch_wall = 0.0
        # The symbols recorded now; read by statistics, written only here.
        self.symbols: dict[str, SymbolCounters] = {s: SymbolCounters() for s in config.symbols}
        # Symbols no longer recorded whose last frames may still be in flight: their
        # trades are still taken (in order, de-duplicated) until they are recorded again.
        self.retired: dict[str, SymbolCounters] = {}
        # Buffers outlive a symbol's removal, so its last trades are still written.
        self.buffers: dict[str, list[Trade]] = {s: [] for s in config.symbols}
        self.gaps: list[tuple[str, Gap]] = []
        self.buffered = 0
        self.in_flight = 0  # trades in the write running now (0: none runs)
        self._written = trio.Event()  # set when the write running now ends
        self._first_until = 0.0  # trio time until which the running write goes first
        self._flush = FlushCounters()
        self._wake = trio.Event()
        self._room = trio.Event()
        self.outage: Outage | None = None
        # Freed memory goes back to the system after a flush now and then (glibc).
        self._trimmer = MemoryTrimmer(config.memory_trim_interval)

    def resume(self, symbol: str, last_id: int | None, last_trade_ms: int | None) -> None:
        """Record ``symbol`` after ``last_id`` (its last stored trade; None: nothing
        stored), so the first trade past a hole opens a gap. Adds the symbol if needed."""
        counters = self.symbols.setdefault(symbol, SymbolCounters())
        counters.last_id = last_id
        counters.resumed_id = -1 if last_id is None else last_id
        counters.last_trade_ms = last_trade_ms
        self.buffers.setdefault(symbol, [])

    def reinstate(self, symbol: str) -> bool:
        """Record a retired symbol again, continuing from its last accepted trade (fresher
        than the store, which lacks what is still buffered). False if it was not retired."""
        counters = self.retired.pop(symbol, None)
        if counters is None:
            return False
        self.symbols[symbol] = counters
        return True

    def remove_symbol(self, symbol: str) -> None:
        """Stop recording ``symbol``; what is buffered (or held) of it is still written,
        and trades of it still in flight (sent before the exchange took the
        unsubscription) are still taken, so none of what the exchange delivered is lost."""
        st = self.symbols.get(symbol)
        if st is not None and st.pending:
            self._settle(symbol, st)
        counters = self.symbols.pop(symbol, None)
        if counters is not None:
            self.retired[symbol] = counters

    def begin_at(self, symbol: str, first_id: int, first_trade_ms: int) -> None:
        """Say that ``symbol``'s record begins at ``first_id`` (a new listing's first
        trade, time ``first_trade_ms``), so the ids before the first live trade become
        a gap that backfill fills. Does nothing for a symbol resumed from the store."""
        st = self.symbols.get(symbol)
        if st is None:
            return
        if st.last_id is None:
            st.last_id = first_id - 1
            st.last_trade_ms = first_trade_ms
        elif st.first_id is not None and first_id < st.first_id:
            assert st.first_trade_ms is not None
            gap = Gap(
                first_id=first_id,
                last_id=st.first_id - 1,
                after_time_ms=first_trade_ms,
                before_time_ms=st.first_trade_ms,
                detected_ms=int(time.time() * 1000),
            )
            st.first_id = first_id
            self._note_gap(symbol, st, gap)

    # ------------------------------------------------------------------ intake

    def received_batch(self, now: float, wall: float) -> None:
        """The dispatcher starts handling a batch that arrived at ``now`` (trio time)."""
        self.batch_at = now
        self.batch_wall = wall

    def accept(self, symbol: str, trade: Trade, line: Line | None = None) -> None:
        """Take one valid trade of ``symbol`` that ``line`` delivered (None: it came from
        REST), dropping copies already taken and holding or recording jumps."""
        st = self.symbols.get(symbol)
        if st is None:
            st = self.retired.get(symbol)
            if st is None:
                return
        st.received += 1
        agg_id = trade.agg_id
        if line is not None:
            seen = line.last_ids.get(symbol)
            if seen is not None and agg_id <= seen:
                st.duplicates += 1  # the line repeated itself
                return
            line.last_ids[symbol] = agg_id
        last = st.last_id
        if last is not None and (agg_id != last + 1 or st.pending):
            if agg_id > last:
                self._arbitrate(symbol, st, trade, line)
            elif line is None or agg_id <= st.resumed_id:
                st.duplicates += 1  # REST, or a replay of what the store held at start
            else:
                st.redundant += 1  # another line (or REST) delivered it first
            return
        self._take(symbol, st, trade, line)

    def _take(self, symbol: str, st: SymbolCounters, trade: Trade, line: Line | None) -> None:
        if st.last_id is None:  # nothing known before it: where the record begins
            st.first_id = trade.agg_id
            st.first_trade_ms = trade.time_ms
        st.last_id = trade.agg_id
        st.last_trade_ms = trade.time_ms
        if line is not None:
            line.taken += 1
            st.live += 1
            st.last_live_at = self.batch_at
            st.last_live_wall = self.batch_wall
            st.event_lag = self.batch_wall - trade.time_ms / 1000
        self.buffers[symbol].append(trade)
        self.buffered += 1
        if self.buffered >= self.config.flush_max_trades:
            self._wake.set()

    def _arbitrate(self, symbol: str, st: SymbolCounters, trade: Trade, line: Line | None) -> None:
        """A trade past a jump, or any trade while others are held: hold it, take it, or
        judge the held ones. Held trades stay sorted by id, all above ``last + 1``."""
        pending = st.pending
        agg_id = trade.agg_id
        if agg_id == _next_id(st):
            self._take(symbol, st, trade, line)
            filled = True
        else:
            filled = False
            i = bisect_left(pending, agg_id, key=_held_id)
            if i < len(pending) and pending[i][0].agg_id == agg_id:
                st.redundant += 1  # held already; but this line may have passed the jump
            else:
                if not pending:
                    if not self._may_fill(symbol, agg_id):
                        self._open_gap(symbol, st, trade)
                        self._take(symbol, st, trade, line)
                        return
                    st.holds += 1
                    st.hold_until = trio.current_time() + self.config.arbitration_hold
                pending.insert(i, (trade, line))
                self.held += 1
        # Take the held trades that are now next in line.
        while pending and pending[0][0].agg_id <= _next_id(st):
            held, by = pending.pop(0)
            self.held -= 1
            if held.agg_id == _next_id(st):
                self._take(symbol, st, held, by)
            else:
                st.redundant += 1
        if not pending:
            if filled:
                st.holds_filled += 1  # another line delivered the missing ids: no gap
            return
        if trio.current_time() >= st.hold_until or not self._may_fill(symbol, pending[0][0].agg_id):
            self._settle(symbol, st)

    def _may_fill(self, symbol: str, agg_id: int) -> bool:
        """Whether an open line has not yet passed ``agg_id`` (lines deliver in order, so
        one that has passed it would have delivered the ids before it, if it had them)."""
        for line in self._lines(symbol):
            if line.is_open and line.last_ids.get(symbol, -1) < agg_id:
                return True
        return False

    def _settle(self, symbol: str, st: SymbolCounters) -> None:
        """Judge the held trades: each jump left among them is a gap now."""
        pending = st.pending
        self.held -= len(pending)
        st.pending = []
        for trade, line in pending:
            next_id = _next_id(st)
            if trade.agg_id < next_id:
                st.redundant += 1
                continue
            if trade.agg_id != next_id:
                self._open_gap(symbol, st, trade)
            self._take(symbol, st, trade, line)

    def note_hole(self, symbol: str, through_id: int, time_ms: int) -> None:
        """The exchange has ids up to ``through_id`` (traded at ``time_ms``) that cannot be
        taken as a trade (REST marks that row invalid): record the ids after the last one
        taken, through ``through_id``, as a gap for the backfill."""
        st = self.symbols.get(symbol)
        if st is None:
            return
        if st.pending:
            self._settle(symbol, st)
        if st.last_id is None or through_id <= st.last_id:
            return
        self._open_gap(symbol, st, _Edge(through_id + 1, time_ms))
        st.last_id = through_id
        st.last_trade_ms = time_ms

    def settle_due(self, *, everything: bool = False) -> None:
        """Judge the held trades whose hold has run out (all of them with everything=True,
        at shutdown: what is held must be written before the store closes)."""
        if not self.held:
            return
        now = trio.current_time()
        for symbol, st in list(self.symbols.items()):
            if st.pending and (everything or now >= st.hold_until):
                self._settle(symbol, st)

    def _open_gap(self, symbol: str, st: SymbolCounters, trade: Trade | _Edge) -> None:
        gap = Gap(
            first_id=_next_id(st),
            last_id=trade.agg_id - 1,
            after_time_ms=st.last_trade_ms if st.last_trade_ms is not None else trade.time_ms,
            before_time_ms=trade.time_ms,
            detected_ms=int(time.time() * 1000),
        )
        self._note_gap(symbol, st, gap)

    def _note_gap(self, symbol: str, st: SymbolCounters, gap: Gap) -> None:
        self.gaps.append((symbol, gap))
        st.gaps += 1
        st.missing_ids += gap.size
        self.throttle.log(
            f"gap:{symbol}",
            logging.WARNING,
            "%s: agg ids %d..%d missing (%d trades); recorded as a gap",
            symbol,
            gap.first_id,
            gap.last_id,
            gap.size,
        )

    async def write_first(self) -> None:
        """Let a running write go first: wait until it ends, or until WRITE_FIRST_S after
        it began. Returns at once, without a checkpoint, when no write runs.

        The intake (each connection's reader and the dispatcher) calls it before taking
        more. The writer thread holds the GIL for all of its work (rocksdict's write does
        not release it), so frames read and parsed meanwhile are not handled beside the
        write but between its slices, and stretch it. Paused, the intake lets the write
        run on its own CPU time (flood benchmark: the worst flush 6-8 ms, 18-26 ms with
        a GIL hand-off per round of frames, 33-175 ms with none) while frames wait
        in the kernel's socket buffers. The bound, per write, keeps a stalled disk from
        stopping the intake: past it, the buffers' limit (max_buffered_trades) decides."""
        if self.in_flight and trio.current_time() < self._first_until:
            with trio.move_on_at(self._first_until):
                await self._written.wait()

    @property
    def full(self) -> bool:
        return self.buffered >= self.config.max_buffered_trades

    async def wait_for_room(self) -> None:
        """Block the intake while the buffers are at their hard limit (a stalled disk)."""
        while self.full:
            self.throttle.log(
                "buffers-full",
                logging.ERROR,
                "%d trades buffered and the store is not keeping up; pausing intake",
                self.buffered,
            )
            self._wake.set()
            await self._room.wait()

    # ------------------------------------------------------------------ flushing

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Flush every ``flush_interval`` seconds on a fixed grid, or early when full."""
        interval = self.config.flush_interval
        next_at = trio.current_time() + interval
        task_status.started()
        while True:
            if self.outage is None:
                with trio.move_on_at(next_at):
                    await self._wake.wait()
                if trio.current_time() < next_at:
                    self._flush.early += 1
            else:
                # A failing store is retried on its backoff, not on every full-buffer wake.
                await trio.sleep_until(self.outage.retry_at)
            self._wake = trio.Event()
            self.settle_due()
            if not await self.flush():
                self.give_up_if_hopeless()
            now = trio.current_time()
            if self._trimmer.due(now):
                await trio.to_thread.run_sync(self._trimmer.trim, now)
            if now >= next_at:
                # Stay on the grid: skip the ticks a slow write overran, never drift.
                next_at += interval * max(1, math.ceil((now - next_at) / interval))
                if next_at <= now:
                    next_at += interval

    async def flush(self) -> bool:
        """Write every buffer and pending gap in one WriteBatch. False if the write failed
        or, during an outage, the next attempt is not due yet (the trades are then kept,
        in order, for the next attempt)."""
        if not self.buffered and not self.gaps:
            # Nothing is waiting (an outage always keeps something buffered; this only
            # guards serve() against spinning on a stale retry time).
            self.outage = None
            self._flush.failing_since_ms = None
            return True
        outage = self.outage
        if outage is not None:
            if trio.current_time() < outage.retry_at:
                return False
            try:
                await trio.to_thread.run_sync(self.store.reopen)
            except Exception as exc:
                self._failed(exc, f"reopening the store to write {self.buffered} trades")
                return False
            outage.reopens += 1
            self._flush.reopens += 1
        batches = {s: b for s, b in self.buffers.items() if b}
        gaps = self.gaps
        count = self.buffered
        self.buffers = {s: [] for s in self.buffers}
        self.gaps = []
        self.buffered = 0
        self.in_flight = count
        self._written = trio.Event()
        self._first_until = trio.current_time() + WRITE_FIRST_S
        started = time.perf_counter()
        try:
            await trio.to_thread.run_sync(self.store.write_batches, batches, gaps)
        except Exception as exc:
            self._restore(batches, gaps)
            self._failed(exc, f"writing {count} trades")
            return False
        finally:
            self.in_flight = 0
            self._written.set()
        latency = time.perf_counter() - started
        st = self._flush
        st.flushes += 1
        st.trades += count
        st.last_latency = latency
        st.max_latency = max(st.max_latency, latency)
        st.latency_counts[bisect_left(FLUSH_BUCKETS, latency)] += 1
        st.latency_sum += latency
        st.last_flush_ms = int(time.time() * 1000)
        for symbol, trades in batches.items():
            counters = self.symbols.get(symbol)
            if counters is not None:  # None: removed by a reload since it was buffered
                counters.stored += len(trades)
        if outage is not None:
            self._recovered(outage, count)
        if self._on_gap is not None:
            for symbol, gap in gaps:
                self._on_gap(symbol, gap)
        if not self.full:
            self._room.set()
            self._room = trio.Event()
        return True

    def _failed(self, exc: Exception, what: str) -> None:
        now = trio.current_time()
        error = str(exc) or type(exc).__name__
        self._flush.failed += 1
        outage = self.outage
        if outage is None:
            delay = self.config.flush_interval
            self.outage = Outage(
                since=now,
                since_ms=int(time.time() * 1000),
                first_error=error,
                last_error=error,
                retry_at=now + delay,
                delay=delay,
                reminded_at=now,
            )
            self._flush.outages += 1
            self._flush.failing_since_ms = self.outage.since_ms
            self._flush.last_error = error
            log.error(
                "%s failed: %s; every trade stays buffered and the store is reopened and "
                "retried (giving up after %.0f s of failures)",
                what,
                error,
                self.config.write_failure_timeout,
            )
            return
        outage.attempts += 1
        outage.last_error = error
        self._flush.last_error = error
        outage.delay = min(outage.delay * 2, max(RETRY_DELAY_MAX, self.config.flush_interval))
        outage.retry_at = now + outage.delay
        if now - outage.reminded_at >= REMIND_EVERY:
            outage.reminded_at = now
            log.error(
                "the store has refused writes for %.0f s (%d attempts, %d reopens, %d trades "
                "buffered); last error: %s",
                now - outage.since,
                outage.attempts,
                outage.reopens,
                self.buffered,
                error,
            )
        else:
            log.debug("%s failed again: %s", what, error)

    def _recovered(self, outage: Outage, count: int) -> None:
        self.outage = None
        self._flush.failing_since_ms = None
        log.warning(
            "the store takes writes again after %.1f s (%d failed attempts, %d reopens); "
            "%d buffered trades written",
            trio.current_time() - outage.since,
            outage.attempts,
            outage.reopens,
            count,
        )

    def give_up_if_hopeless(self) -> None:
        """Raise StoreUnavailable once the store has failed for write_failure_timeout."""
        outage = self.outage
        if outage is None:
            return
        failing_for = trio.current_time() - outage.since
        if failing_for >= self.config.write_failure_timeout:
            raise StoreUnavailable(
                f"the store refused every write for {failing_for:.0f} s "
                f"({outage.attempts} attempts, {outage.reopens} reopens; first error: "
                f"{outage.first_error}; last error: {outage.last_error})"
            )

    def _restore(self, batches: dict[str, list[Trade]], gaps: list[tuple[str, Gap]]) -> None:
        for symbol, trades in batches.items():
            self.buffers[symbol][:0] = trades
            self.buffered += len(trades)
        self.gaps[:0] = gaps

    def depth(self, symbol: str) -> int:
        """Trades of ``symbol`` waiting to be written (held ones included)."""
        st = self.symbols.get(symbol)
        return len(self.buffers.get(symbol, ())) + (len(st.pending) if st is not None else 0)

    def statistics(self) -> FlushStatistics:
        f = self._flush
        return FlushStatistics(
            flushes=f.flushes,
            failed=f.failed,
            early=f.early,
            trades=f.trades,
            last_latency=f.last_latency,
            max_latency=f.max_latency,
            latency_buckets=tuple(zip(FLUSH_BUCKETS, accumulate(f.latency_counts), strict=False)),
            latency_sum=f.latency_sum,
            last_flush_ms=f.last_flush_ms,
            outages=f.outages,
            reopens=f.reopens,
            failing_since_ms=f.failing_since_ms,
            last_error=f.last_error,
        )


def _next_id(st: SymbolCounters) -> int:
    """The id after the last one taken (asked only once a symbol has taken or resumed)."""
    last = st.last_id
    assert last is not None, "a jump before any trade was taken"
    return last + 1
