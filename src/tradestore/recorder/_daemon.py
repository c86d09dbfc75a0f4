"""``run(config)``: the recorder daemon as one Trio nursery.

    stream tasks (one per connection; two per shard with A/B lines)
        --batches of frames--> bounded channel --> dispatcher --> arbitration by agg id
        --> per-symbol buffers --1 s grid / 10k valve--> one WriteBatch (worker thread)
        --> each new gap record --> backfill workers (REST, shortest first) --> store

plus the stall checker (which also catches every symbol up at start), the prune timer
and the /metrics + /healthz server. Shutdown (cancellation) stops the readers, drains the
channel and flushes every buffer under a shielded grace deadline before the store is
closed. ``Recorder.set_symbols`` (SIGHUP) changes the symbol list live: only connections
whose symbol set changes are touched.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping
from functools import partial

import trio

from tradestore.binance import WEIGHT_PER_MINUTE, BinanceRest, StreamSpec
from tradestore.recorder._backoff import ConnectionBudget, LogThrottle
from tradestore.recorder._batcher import Batcher
from tradestore.recorder._config import RecorderConfig
from tradestore.recorder._dispatch import Dispatcher
from tradestore.recorder._gapfill import GapFiller
from tradestore.recorder._stalls import StallChecker
from tradestore.recorder._statistics import (
    FrameQueueStatistics,
    PruneStatistics,
    RecorderStatistics,
    StallStatistics,
    SymbolStatistics,
    frozen,
)
from tradestore.recorder._stream import LINE_A, LINE_B, STALLED, Connection, plan_streams
from tradestore.store import TradeStore, apply_retention, plan_retention, retention_cutoff

log = logging.getLogger(__name__)


class Recorder:
    """The daemon: its parts, wired here, and ``serve``, which runs them.

    ``statistics()`` reads a snapshot of every part's counters and changes nothing.
    """

    def __init__(
        self, config: RecorderConfig, store: TradeStore, *, rng: random.Random | None = None
    ) -> None:
        self.config = config
        self.store = store
        self.started_ms = int(time.time() * 1000)
        specs = plan_streams(config)
        self._shards = len(specs)  # for unique names of shards added later
        self.connections = [c for spec in specs for c in self._lines(spec)]
        self._index_lines()
        self.throttle = LogThrottle(log)
        # One REST client for the backfill and the stall checks: one weight budget.
        self.rest = (
            BinanceRest(
                config.rest_endpoint,
                weight_budget=int(WEIGHT_PER_MINUTE * config.rest_weight_share),
            )
            if config.backfill or config.stall_check
            else None
        )
        self.gapfiller = GapFiller(store, config, self.throttle, rest=self.rest)
        self.archiver = None
        if config.archive_to is not None:
            from tradestore.recorder._archiving import ArchiveKeeper

            self.archiver = ArchiveKeeper(config, store, self.throttle)
        self.batcher = Batcher(
            store,
            config,
            throttle=self.throttle,
            on_gap=self.gapfiller.submit,
            lines=self.lines_of,
        )
        self.dispatcher = Dispatcher(self.batcher, throttle=self.throttle)
        self.stalls = (
            StallChecker(
                config,
                self.batcher,
                self.rest,
                repair=self.repair,
                lines=self.lines_of,
                throttle=self.throttle,
            )
            if config.stall_check and self.rest is not None
            else None
        )
        self.budget = ConnectionBudget(config.connect_budget, config.connect_budget_window)
        # The frame queue: each connection sends on its own clone of _send; the dispatcher
        # receives, and at shutdown final_flush drains what is left.
        self._send, self._receive = trio.open_memory_channel(config.frame_queue_size)
        self._rng = rng
        self._prunes = 0
        self._pruned_trades = 0
        self._last_prune_ms: int | None = None
        self._reloads = 0
        self._metrics_url: str | None = None
        self.api_url: str | None = None  # the HTTP API's base URL, once it serves
        self._nursery: trio.Nursery | None = None  # serve's, for connections added later
        self._reload_lock = trio.Lock()

    def _lines(self, spec: StreamSpec) -> list[Connection]:
        """The connections of one shard: line A, and line B with A/B lines."""
        lines = [Connection(spec, self.config, LINE_A)]
        if self.config.ab_lines:
            lines.append(Connection(spec, self.config, LINE_B))
        return lines

    def _index_lines(self) -> None:
        lines: dict[str, list[Connection]] = {}
        for conn in self.connections:
            for symbol in conn.symbols:
                lines.setdefault(symbol, []).append(conn)
        self._lines_of = {s: tuple(c) for s, c in lines.items()}
        self._conn_of = {s: c[0] for s, c in self._lines_of.items()}

    def lines_of(self, symbol: str) -> tuple[Connection, ...]:
        """The connections that carry ``symbol`` (two with A/B lines)."""
        return self._lines_of.get(symbol, ())

    def repair(self, symbol: str) -> None:
        """Replace (make-before-break) the connections carrying a symbol found stuck."""
        for conn in self.lines_of(symbol):
            conn.rotate(STALLED)

    async def load_positions(self, symbols) -> list[str]:
        """Resume each symbol after its last stored agg id (and its time), so the first
        live trade after a restart opens a gap if ids were missed while we were down.
        Returns the symbols that have stored trades (the ones to catch up)."""
        positions = await trio.to_thread.run_sync(self._read_positions, list(symbols))
        stored = []
        for symbol, (last_id, last_trade_ms) in positions.items():
            self.batcher.resume(symbol, last_id, last_trade_ms)
            if last_id is not None:
                stored.append(symbol)
                log.info("%s: resuming after stored agg id %d", symbol, last_id)
        return stored

    def _read_positions(self, symbols: list[str]) -> dict[str, tuple[int | None, int | None]]:
        last_ids = {s: self.store.last_agg_id(s) for s in symbols}
        last_times = {}
        if any(i is not None for i in last_ids.values()):
            stats = self.store.stats()["symbols"]
            last_times = {s: v.get("last_time_ms") for s, v in stats.items()}
        return {s: (last_ids[s], last_times.get(s)) for s in symbols}

    # ------------------------------------------------------------------ running

    async def serve(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Record until cancelled; ``task_status.started(self)`` once every task runs.

        On the way out (cancellation) the readers stop, the queued frames are handled and
        every buffer is flushed under a shielded ``shutdown_grace`` deadline.
        """
        config = self.config
        stored = await self.load_positions(config.symbols)
        try:
            async with self._send, trio.open_nursery() as nursery:
                self._nursery = nursery
                await nursery.start(self.batcher.serve)
                await nursery.start(self.dispatcher.serve, self._receive)
                await nursery.start(self.gapfiller.serve, list(config.symbols))
                if self.archiver is not None:
                    await nursery.start(self.archiver.serve)
                if config.retention_days > 0:
                    await nursery.start(self.serve_pruning)
                else:
                    log.info("retention: off (retention_days = 0): nothing is ever deleted")
                if config.metrics_addr is not None:
                    from tradestore.recorder._metrics import serve_metrics

                    self._metrics_url = await nursery.start(
                        partial(
                            serve_metrics,
                            config.metrics_addr,
                            self.statistics,
                            stale_after_s=config.health_stale_after,
                        )
                    )
                if config.api_addr is not None:
                    from tradestore.api import serve_api

                    # Its own read-only store and worker threads: a request never waits
                    # on the recorder, nor the recorder on a request.
                    self.api_url = await nursery.start(serve_api, config.api_addr, config.db)
                for conn in self.connections:
                    await self._start_connection(conn)
                if self.stalls is not None:
                    await nursery.start(self.stalls.serve, stored)
                log.info(
                    "recording %d symbols over %d connections%s from %s into %s (backfill %s, "
                    "stall checks %s)",
                    len(config.symbols),
                    len(self.connections),
                    " (A/B lines)" if config.ab_lines else "",
                    config.endpoint,
                    config.db,
                    f"from {config.rest_endpoint}" if config.backfill else "off",
                    "on" if self.stalls is not None else "off",
                )
                task_status.started(self)
        finally:
            with trio.move_on_after(config.shutdown_grace, shield=True) as grace:
                await self.final_flush()
            left = self.batcher.buffered
            if grace.cancelled_caught or left:
                log.error("shutdown: %d buffered trades could not be written in time", left)
            else:
                log.info("shutdown: all buffers flushed")
            self._receive.close()
            if self.rest is not None:
                with trio.CancelScope(shield=True):
                    await self.rest.__aexit__(None, None, None)

    async def _start_connection(self, conn: Connection) -> None:
        """Run ``conn`` in serve's nursery (``conn.stop()`` ends it)."""
        assert self._nursery is not None, "connections start inside serve()"
        await self._nursery.start(
            partial(
                conn.serve,
                self._send.clone(),
                self.budget,
                on_drop=self.dispatcher.drop,
                rng=self._rng,
                throttle=self.throttle,
            )
        )

    async def set_symbols(self, symbols) -> dict[str, list[str]]:
        """Record exactly ``symbols`` from now on, touching as few connections as possible.

        What "unchanged" means: a connection whose whole symbol set is still wanted stays
        up, untouched. A connection that lost a symbol is replaced by one carrying its
        remaining symbols (the replacement is opened before the old one is closed; the
        seam is de-duplicated by agg id, any hole becomes a gap that backfill fills).
        Added symbols get new connections of their own (packed up to
        max_streams_per_connection), so adding never disturbs a running connection.
        Returns {"added": [...], "removed": [...], "reconnected": [connection names]}.
        """
        wanted = self.config.replace(symbols=tuple(symbols)).symbols  # validated, normalised
        async with self._reload_lock:
            current = list(self.batcher.symbols)
            added = [s for s in wanted if s not in current]
            removed = [s for s in current if s not in set(wanted)]
            keep, stop, homeless = [], [], list(added)
            for conn in self.connections:
                if conn.symbols <= set(wanted):
                    keep.append(conn)
                else:
                    stop.append(conn)
                    if conn.settings.line == LINE_A:  # line B carries the same symbols
                        homeless.extend(s for s in conn.settings.spec.symbols if s in set(wanted))
            homeless.sort(key=list(wanted).index)
            if added:
                stored = await self.load_positions(added)
                if self.stalls is not None:
                    self.stalls.catch_up(stored)
            new = [c for spec in self._plan(homeless) for c in self._lines(spec)]
            for conn in new:
                await self._start_connection(conn)
            for conn in stop:
                conn.stop()
            for symbol in removed:
                self.batcher.remove_symbol(symbol)
                self.dispatcher.forget(symbol)
            self.connections = keep + new
            self._index_lines()
            self.config = self.config.replace(symbols=wanted)
            self._reloads += 1
            change = {
                "added": added,
                "removed": removed,
                "reconnected": [c.name for c in stop],
                "opened": [c.name for c in new],
            }
            log.info(
                "symbols reloaded: %d recorded; added %s, removed %s; connections opened %s, "
                "closed %s, %d untouched",
                len(self.batcher.symbols),
                ",".join(added) or "none",
                ",".join(removed) or "none",
                ",".join(change["opened"]) or "none",
                ",".join(change["reconnected"]) or "none",
                len(keep),
            )
            return change

    def _plan(self, symbols: list[str]) -> list[StreamSpec]:
        specs = plan_streams(self.config, symbols, first_index=self._shards)
        self._shards += len(specs)
        return specs

    # ------------------------------------------------------------------ tasks

    async def serve_pruning(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Prune at start, then every ``prune_interval`` seconds (on a fixed grid)."""
        interval = self.config.prune_interval
        next_at = trio.current_time()
        task_status.started()
        while True:
            await trio.sleep_until(next_at)
            await self.prune_once()
            next_at += interval

    async def prune_once(self) -> Mapping[str, int]:
        """One retention pass (the rule: tradestore.store.plan_retention). The first pass
        says plainly what retention deletes and what it keeps. With an archive, nothing
        of a symbol from its first day not archived and verified on is deleted."""
        now_ms = int(time.time() * 1000)
        keep_from = None
        if self.archiver is not None:
            await self.archiver.first_run_done.wait()
            keep_from = await self.archiver.retention_limits(
                retention_cutoff(self.config.retention_days, now_ms), now_ms=now_ms
            )
        try:
            plan = await trio.to_thread.run_sync(
                partial(
                    plan_retention,
                    self.store,
                    days=self.config.retention_days,
                    now_ms=now_ms,
                    keep_from=keep_from,
                )
            )
            if not self._prunes:
                for line in plan.describe():
                    log.info("%s", line)
            # The store serialises its writers itself and compacts outside its write lock,
            # so flushes carry on while a prune compacts.
            removed = await trio.to_thread.run_sync(apply_retention, self.store, plan)
        except Exception as exc:
            self.throttle.log("prune", logging.ERROR, "pruning failed: %s", exc)
            return {}
        self._prunes += 1
        self._pruned_trades += sum(removed.values())
        self._last_prune_ms = int(time.time() * 1000)
        total = sum(removed.values())
        log.log(
            logging.INFO if total else logging.DEBUG,
            "pruned %d trades older than %.1f days (%s)",
            total,
            self.config.retention_days,
            ", ".join(f"{s}: {n}" for s, n in removed.items() if n) or "nothing expired",
        )
        return removed

    async def final_flush(self) -> None:
        """Handle whatever is queued and write every buffer; retried until it succeeds
        (the caller bounds this with the grace deadline)."""
        drained = self.dispatcher.drain(self._receive)
        if drained:
            log.info("shutdown: handled %d queued frames", drained)
        self.batcher.settle_due(everything=True)  # held trades are written too
        for attempt in range(1_000_000):
            if await self.batcher.flush():
                return
            await trio.sleep(min(0.1 * 2**attempt, 2.0))

    # ------------------------------------------------------------------ counters

    def statistics(self) -> RecorderStatistics:
        """A snapshot of every counter: per symbol, per connection, flush, queue, prune and
        backfill figures. Taking it changes nothing."""
        queue = self._receive.statistics()
        return RecorderStatistics(
            started_ms=self.started_ms,
            frames=self.dispatcher.frames,
            drops=frozen(self.dispatcher.drops),
            server_shutdowns=self.dispatcher.shutdown_events,
            buffered=self.batcher.buffered,
            held=self.batcher.held,
            in_flight=self.batcher.in_flight,
            queue=FrameQueueStatistics(
                used=queue.current_buffer_used, size=int(queue.max_buffer_size)
            ),
            flush=self.batcher.statistics(),
            prune=PruneStatistics(
                runs=self._prunes,
                trades_removed=self._pruned_trades,
                last_ms=self._last_prune_ms,
            ),
            archive=self.archiver.statistics() if self.archiver is not None else None,
            connect_budget_waits=self.budget.waited,
            gaps=self.gapfiller.gap_records(),
            backfill=self.gapfiller.statistics(),
            stalls=self._stall_statistics(),
            reloads=self._reloads,
            metrics_url=self._metrics_url,
            symbols=frozen({s: self._symbol_statistics(s) for s in self.batcher.symbols}),
            connections=tuple(c.statistics() for c in self.connections),
        )

    def _stall_statistics(self) -> StallStatistics:
        stalls = self.stalls
        if stalls is None:
            return StallStatistics(False, frozen({}), 0, 0, 0, 0.0, None, False)
        return StallStatistics(
            enabled=True,
            checks=frozen(stalls.checks),
            check_failures=stalls.check_failures,
            catching_up=stalls.catching_up,
            caught_up=stalls.caught_up,
            checks_per_minute=stalls.bucket.rate * 60,
            median_event_lag=stalls.median_event_lag,
            clock_skew_suspected=stalls.skew_suspected,
        )

    def _symbol_statistics(self, symbol: str) -> SymbolStatistics:
        counters = self.batcher.symbols[symbol]
        conn = self._conn_of.get(symbol)
        watch = self.stalls.watches.get(symbol) if self.stalls is not None else None
        wall = counters.last_live_wall
        return SymbolStatistics(
            received=counters.received,
            stored=counters.stored,
            duplicates=counters.duplicates,
            redundant=counters.redundant,
            gaps=counters.gaps,
            missing_ids=counters.missing_ids,
            holds=counters.holds,
            holds_filled=counters.holds_filled,
            drops=frozen(self.dispatcher.symbol_drops.get(symbol, {})),
            reconnects=conn.counters.reconnects if conn is not None else 0,
            last_id=counters.last_id,
            last_trade_ms=counters.last_trade_ms,
            buffered=self.batcher.depth(symbol),
            last_received_ms=None if wall is None else int(wall * 1000),
            event_lag=counters.event_lag,
            stall_suspected=watch.suspected if watch is not None else 0,
            stall_confirmed=watch.confirmed if watch is not None else 0,
            stall_quiet=watch.quiet if watch is not None else 0,
            stalled_since_ms=watch.stalled_since_ms if watch is not None else None,
        )


async def run(
    config: RecorderConfig,
    *,
    rng: random.Random | None = None,
    task_status=trio.TASK_STATUS_IGNORED,
) -> None:
    """Record ``config.symbols`` into ``config.db`` until cancelled.

    ``task_status.started`` receives the Recorder (its ``statistics()`` are live).
    Cancel the surrounding scope to stop: the buffers are flushed before this returns.
    """
    store = await trio.to_thread.run_sync(TradeStore, config.db_path)
    try:
        await Recorder(config, store, rng=rng).serve(task_status=task_status)
    finally:
        with trio.CancelScope(shield=True):
            try:
                await trio.to_thread.run_sync(store.close)
            except Exception as exc:
                # Whatever was written before is in the WAL; what was not is still
                # counted as buffered, so the exit status already tells.
                log.error("closing the store failed: %s", exc)
