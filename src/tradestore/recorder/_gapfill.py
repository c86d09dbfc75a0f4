"""The backfill worker: every recorded gap is filled from Binance REST, several at a time.

Gaps reach it two ways: the batcher hands over each gap once its record is durably in the
store (after the flush that wrote it, so a fill can never be overwritten by the "open"
record), and at start every gap still open in the store is queued. The queue is bounded;
a gap that does not fit stays open in the store and is found again by the next scan.

``backfill_concurrency`` requests run at once, within the REST weight budget the client
keeps, the shortest gaps first: a cut of a busy connection opens one small gap per
symbol on it, and those are what a reader of the data misses most. Gaps of one symbol
that fit in one REST page are fetched with one request. A fill that fails (REST
unreachable, 5xx) leaves the gap open with its reason and is retried after
``backfill_retry`` seconds, doubling up to an hour. The part of a gap older than the
backfill horizon (``backfill_max_days``, within the retention window) is recorded as
unfillable and never fetched: retention would delete it again.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import time
from collections import Counter
from collections.abc import Iterable, Mapping

import trio

from tradestore.binance import AGG_TRADES_PAGE, BinanceRest, bound_gap, fill_gaps
from tradestore.recorder._backoff import LogThrottle
from tradestore.recorder._config import RecorderConfig
from tradestore.recorder._statistics import ActiveFill, BackfillStatistics, frozen
from tradestore.store import DAY_MS, OPEN, Gap, TradeStore

log = logging.getLogger(__name__)

MAX_RETRY_DELAY = 3600.0

Key = tuple[str, int]  # (symbol, first id of the gap)


def _start(gap: Gap) -> int:
    return gap.resume_from if gap.resume_from is not None else gap.first_id


def _left(gap: Gap) -> int:
    """Ids of the gap still to fetch."""
    return gap.last_id - _start(gap) + 1


class GapFiller:
    """Queue and counters of the backfill workers; ``serve`` runs them."""

    def __init__(
        self,
        store: TradeStore,
        config: RecorderConfig,
        throttle: LogThrottle | None = None,
        *,
        rest: BinanceRest | None = None,
    ) -> None:
        """``rest``: the REST client to fetch with (shared with the stall checks, so one
        weight budget covers both); without one, ``serve`` opens its own."""
        self.store = store
        self.config = config
        self.enabled = config.backfill
        self.throttle = throttle or LogThrottle(log)
        self.rest = rest
        # Queued gaps, shortest first: (ids left, arrival, symbol, gap). Entries whose gap
        # was taken along with another of its symbol are skipped when they come up.
        self._heap: list[tuple[int, int, str, Gap]] = []
        self._queued: dict[Key, Gap] = {}
        self._active: dict[Key, Gap] = {}  # being filled now
        self._arrival = itertools.count()
        self._ready = trio.Event()
        self._overflowed = False
        self._scanning = False
        self.status: dict[str, Counter] = {}  # symbol -> gap records by status
        self._known: dict[Key, str] = {}  # (symbol, first_id) -> status
        self.fills: Counter = Counter()  # outcome -> count (filled, unfillable, failed)
        self.requests_saved = 0  # gaps fetched along with another one of the same page
        self._attempts: Counter = Counter()  # failed fills per gap, for the retry delay

    # ------------------------------------------------------------------ intake

    def note(self, symbol: str, gap: Gap) -> None:
        """Count a gap record at its current status (replacing what was known of it)."""
        key = (symbol, gap.first_id)
        before = self._known.get(key)
        counts = self.status.setdefault(symbol, Counter())
        if before is not None:
            counts[before] -= 1
        counts[gap.status] += 1
        self._known[key] = gap.status

    def submit(self, symbol: str, gap: Gap) -> None:
        """Hand over a gap whose record is in the store (called after each flush)."""
        self.note(symbol, gap)
        if self.enabled and gap.status == OPEN:
            self._queue(symbol, gap)

    def _queue(self, symbol: str, gap: Gap) -> None:
        key = (symbol, gap.first_id)
        if key in self._queued or key in self._active:
            return
        if len(self._queued) >= self.config.backfill_queue_size:
            self._overflowed = True
            self.throttle.log(
                "backfill-queue-full",
                logging.WARNING,
                "backfill queue full (%d gaps): %s %d..%d stays open until the next scan",
                self.config.backfill_queue_size,
                symbol,
                gap.first_id,
                gap.last_id,
            )
            return
        self._queued[key] = gap
        heapq.heappush(self._heap, (_left(gap), next(self._arrival), symbol, gap))
        self._ready.set()

    def _take(self) -> tuple[str, list[Gap]] | None:
        """The shortest queued gap, with the other queued gaps of its symbol that fit in
        the same REST page; None when nothing is queued."""
        import heapq

        while self._heap:
            _left_ids, _n, symbol, gap = heapq.heappop(self._heap)
            key = (symbol, gap.first_id)
            if self._queued.get(key) is not gap:
                continue  # taken along with an earlier one
            group = [gap]
            lo, hi = _start(gap), gap.last_id
            if hi - lo + 1 < AGG_TRADES_PAGE:
                others = [g for (s, _f), g in self._queued.items() if s == symbol and g is not gap]
                others.sort(key=lambda g: abs(_start(g) - lo))
                for other in others:
                    new_lo, new_hi = min(lo, _start(other)), max(hi, other.last_id)
                    if new_hi - new_lo + 1 <= AGG_TRADES_PAGE:
                        group.append(other)
                        lo, hi = new_lo, new_hi
            for g in group:
                del self._queued[(symbol, g.first_id)]
                self._active[(symbol, g.first_id)] = g
            self.requests_saved += len(group) - 1
            return symbol, group
        return None

    # ------------------------------------------------------------------ workers

    async def serve(
        self,
        symbols: Iterable[str],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Count the stored gaps, queue the open ones, then fill gaps until cancelled."""
        stored = await trio.to_thread.run_sync(self._stored_gaps, tuple(symbols))
        for symbol, gaps in stored.items():
            for gap in gaps:
                self.note(symbol, gap)
        if not self.enabled:
            opened = sum(c[OPEN] for c in self.status.values())
            if opened:
                log.warning("backfill is off: %d open gaps stay open", opened)
            task_status.started()
            return
        own = self.rest is None
        rest = (
            self.rest
            if self.rest is not None
            else BinanceRest(
                self.config.rest_endpoint,
                market=self.config.market_info,
                weight_budget=self.config.rest_weight_budget,
            )
        )
        self.rest = rest
        try:
            async with trio.open_nursery() as nursery:
                waiting = 0
                for symbol, gaps in stored.items():
                    for gap in gaps:
                        if gap.status == OPEN:
                            self._queue(symbol, gap)
                            waiting += 1
                if waiting:
                    log.info("backfill: %d open gaps found in the store, queued", waiting)
                for _ in range(self.config.backfill_concurrency):
                    nursery.start_soon(self._worker, rest, nursery)
                task_status.started()
        finally:
            if own:
                with trio.CancelScope(shield=True):
                    await rest.__aexit__(None, None, None)

    async def _worker(self, rest: BinanceRest, retries: trio.Nursery) -> None:
        while True:
            taken = self._take()
            if taken is None:
                if self._overflowed and not self._scanning:
                    await self._scan_again()
                    continue
                if self._ready.is_set():  # every idle worker waits on the same event
                    self._ready = trio.Event()
                await self._ready.wait()
                continue
            symbol, group = taken
            try:
                await self._fill(rest, retries, symbol, group)
            finally:
                for gap in group:
                    self._active.pop((symbol, gap.first_id), None)

    async def _fill(
        self, rest: BinanceRest, retries: trio.Nursery, symbol: str, group: list[Gap]
    ) -> None:
        try:
            group = await self._within_horizon(rest, symbol, group)
            if not group:
                return
            updated = await fill_gaps(self.store, rest, symbol, group)
        except Exception as exc:  # a bug or a storage failure: keep the daemon recording
            log.error(
                "backfill of %s %s failed",
                symbol,
                ", ".join(f"{g.first_id}..{g.last_id}" for g in group),
                exc_info=exc,
            )
            updated = group
        for gap in updated:
            self.note(symbol, gap)
            if gap.status == OPEN:
                self.fills["failed"] += 1
                key = (symbol, gap.first_id)
                attempt = self._attempts[key]
                self._attempts[key] += 1
                delay = min(self.config.backfill_retry * 2**attempt, MAX_RETRY_DELAY)
                retries.start_soon(self._retry_later, symbol, gap, delay)
            else:
                self.fills[gap.status] += 1

    async def _within_horizon(self, rest: BinanceRest, symbol: str, group: list[Gap]) -> list[Gap]:
        """The gaps, each cut to what lies within the backfill horizon (the older part is
        recorded as unfillable, once); those wholly older drop out."""
        horizon_ms = int(time.time() * 1000 - self.config.backfill_horizon_days * DAY_MS)
        kept = []
        for gap in group:
            if gap.after_time_ms >= horizon_ms:
                kept.append(gap)
                continue
            parts = await bound_gap(self.store, rest, symbol, gap, horizon_ms)
            for part in parts:
                self.note(symbol, part)
            if parts[-1].status != OPEN:
                self.fills[parts[-1].status] += 1
                continue
            kept.append(parts[-1])
        return kept

    async def _retry_later(self, symbol: str, gap: Gap, delay: float) -> None:
        log.info(
            "backfill of %s %d..%d retried in %.0f s", symbol, gap.first_id, gap.last_id, delay
        )
        await trio.sleep(delay)
        self._queue(symbol, gap)

    async def _scan_again(self) -> None:
        self._scanning = True
        try:
            self._overflowed = False
            symbols = tuple(self.status)
            stored = await trio.to_thread.run_sync(self._stored_gaps, symbols)
            for symbol, gaps in stored.items():
                for gap in gaps:
                    if gap.status == OPEN:
                        self._queue(symbol, gap)
        finally:
            self._scanning = False

    def _stored_gaps(self, symbols: tuple[str, ...]) -> dict[str, list[Gap]]:
        found = {s: self.store.gaps(s) for s in symbols}
        # Gaps of symbols no longer recorded are still holes in the data: fill them too.
        for symbol in self.store.symbols():
            if symbol not in found:
                gaps = self.store.gaps(symbol)
                if gaps:
                    found[symbol] = gaps
        return found

    # ------------------------------------------------------------------ counters

    def gap_records(self) -> Mapping[str, Mapping[str, int]]:
        """Gap records by symbol and status (the statuses that have any)."""
        return frozen(
            {s: frozen({k: v for k, v in c.items() if v}) for s, c in self.status.items()}
        )

    def statistics(self) -> BackfillStatistics:
        rest = self.rest.stats if self.rest is not None else None
        return BackfillStatistics(
            enabled=self.enabled,
            queued=len(self._queued) + len(self._active),
            active=tuple(ActiveFill(s, f) for s, f in self._active),
            filled=self.fills["filled"],
            unfillable=self.fills["unfillable"],
            failed=self.fills["failed"],
            requests_saved=self.requests_saved,
            calls=rest.calls if rest else 0,
            rate_limited=rest.rate_limited if rest else 0,
            waited_s=rest.waited_s if rest else 0.0,
            trades_fetched=rest.trades_fetched if rest else 0,
            invalid_rows_skipped=rest.invalid_rows_skipped if rest else 0,
        )
