"""The backfill worker: every recorded gap is filled from Binance REST, one at a time.

Gaps reach it two ways: the batcher hands over each gap once its record is durably in the
store (after the flush that wrote it, so a fill can never be overwritten by the "open"
record), and at start every gap still open in the store is queued. The queue is bounded;
a gap that does not fit stays open in the store and is found again by the next scan.
A fill that fails (REST unreachable, 5xx) leaves the gap open with its reason and is
retried after ``backfill_retry`` seconds, doubling up to an hour. The part of a gap older
than the backfill horizon (``backfill_max_days``, within the retention window) is recorded
as unfillable and never fetched: retention would delete it again.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Mapping

import trio

from tradestore.binance import BinanceRest, bound_gap, fill_gap
from tradestore.recorder._backoff import LogThrottle
from tradestore.recorder._config import RecorderConfig
from tradestore.recorder._statistics import ActiveFill, BackfillStatistics, frozen
from tradestore.store import DAY_MS, OPEN, Gap, TradeStore

log = logging.getLogger(__name__)

MAX_RETRY_DELAY = 3600.0


class GapFiller:
    """Queue and counters of the backfill worker; ``serve`` is the worker task."""

    def __init__(
        self, store: TradeStore, config: RecorderConfig, throttle: LogThrottle | None = None
    ) -> None:
        self.store = store
        self.config = config
        self.enabled = config.backfill
        self.throttle = throttle or LogThrottle(log)
        self._send, self._receive = trio.open_memory_channel(config.backfill_queue_size)
        self._pending: set[tuple[str, int]] = set()  # queued or being filled
        self._overflowed = False
        self._rescan = trio.Event()
        self.status: dict[str, Counter] = {}  # symbol -> gap records by status
        self._known: dict[tuple[str, int], str] = {}  # (symbol, first_id) -> status
        self.rest: BinanceRest | None = None
        self.fills = Counter()  # outcome -> count (filled, unfillable, failed)
        self._attempts: Counter = Counter()  # failed fills per gap, for the retry delay
        self.active: tuple[str, Gap] | None = None

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
        if key in self._pending:
            return
        try:
            self._send.send_nowait((symbol, gap))
        except trio.WouldBlock:
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
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return  # shutting down: the gap is open in the store, the next start fills it
        self._pending.add(key)

    # ------------------------------------------------------------------ worker

    async def serve(self, symbols, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
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
        async with BinanceRest(self.config.rest_endpoint) as rest, trio.open_nursery() as retries:
            self.rest = rest
            waiting = 0
            for symbol, gaps in stored.items():
                for gap in gaps:
                    if gap.status == OPEN:
                        self._queue(symbol, gap)
                        waiting += 1
            if waiting:
                log.info("backfill: %d open gaps found in the store, queued", waiting)
            task_status.started()
            while True:
                if self._overflowed and not self._receive.statistics().current_buffer_used:
                    await self._scan_again()
                symbol, gap = await self._receive.receive()
                try:
                    await self._fill(rest, retries, symbol, gap)
                finally:
                    self._pending.discard((symbol, gap.first_id))
                    self.active = None

    async def _fill(self, rest: BinanceRest, retries: trio.Nursery, symbol: str, gap: Gap) -> None:
        self.active = (symbol, gap)
        try:
            horizon_ms = int(time.time() * 1000 - self.config.backfill_horizon_days * DAY_MS)
            if gap.after_time_ms < horizon_ms:
                parts = await bound_gap(self.store, rest, symbol, gap, horizon_ms)
                for part in parts:
                    self.note(symbol, part)
                if parts[-1].status != OPEN:
                    self.fills[parts[-1].status] += 1
                    return
                gap = parts[-1]
                self.active = (symbol, gap)
            updated = await fill_gap(self.store, rest, symbol, gap)
        except Exception as exc:  # a bug or a storage failure: keep the daemon recording
            log.error(
                "backfill of %s %d..%d failed", symbol, gap.first_id, gap.last_id, exc_info=exc
            )
            updated = gap
        self.note(symbol, updated)
        if updated.status == OPEN:
            self.fills["failed"] += 1
            attempt = self._attempts[(symbol, gap.first_id)]
            self._attempts[(symbol, gap.first_id)] += 1
            delay = min(self.config.backfill_retry * 2**attempt, MAX_RETRY_DELAY)
            retries.start_soon(self._retry_later, symbol, updated, delay)
        else:
            self.fills[updated.status] += 1

    async def _retry_later(self, symbol: str, gap: Gap, delay: float) -> None:
        log.info(
            "backfill of %s %d..%d retried in %.0f s", symbol, gap.first_id, gap.last_id, delay
        )
        await trio.sleep(delay)
        self._queue(symbol, gap)

    async def _scan_again(self) -> None:
        self._overflowed = False
        symbols = tuple(self.status)
        stored = await trio.to_thread.run_sync(self._stored_gaps, symbols)
        for symbol, gaps in stored.items():
            for gap in gaps:
                if gap.status == OPEN:
                    self._queue(symbol, gap)

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
        active = self.active
        return BackfillStatistics(
            enabled=self.enabled,
            queued=len(self._pending),
            active=None if active is None else ActiveFill(active[0], active[1].first_id),
            filled=self.fills["filled"],
            unfillable=self.fills["unfillable"],
            failed=self.fills["failed"],
            calls=rest.calls if rest else 0,
            rate_limited=rest.rate_limited if rest else 0,
            waited_s=rest.waited_s if rest else 0.0,
            trades_fetched=rest.trades_fetched if rest else 0,
            invalid_rows_skipped=rest.invalid_rows_skipped if rest else 0,
        )
