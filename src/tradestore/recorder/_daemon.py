"""``run(config)``: the recorder daemon as one Trio nursery.

    stream tasks (one per connection) --frames--> bounded channel --> dispatcher
        --> per-symbol buffers --1 s grid / 10k valve--> one WriteBatch (worker thread)
        --> each new gap record --bounded channel--> backfill worker (REST) --> store

plus the prune timer and the /metrics + /healthz server. Shutdown (cancellation) stops the
readers, drains the channel and flushes every buffer under a shielded grace deadline
before the store is closed. ``Recorder.set_symbols`` (SIGHUP) changes the symbol list
live: only connections whose symbol set changes are touched.
"""

from __future__ import annotations

import logging
import random
import time
from functools import partial

import trio

from tradestore.binance import StreamSpec
from tradestore.recorder._backoff import ConnectionBudget, LogThrottle
from tradestore.recorder._batcher import Batcher
from tradestore.recorder._config import RecorderConfig
from tradestore.recorder._dispatch import Dispatcher
from tradestore.recorder._gapfill import GapFiller
from tradestore.recorder._stats import SymbolStats
from tradestore.recorder._stream import (
    Connection,
    plan_streams,
    serve_connection,
)
from tradestore.store import TradeStore

log = logging.getLogger(__name__)

DAY_MS = 86_400_000


class Recorder:
    """The daemon's state: connections, counters, buffers. ``statistics()`` reads it."""

    def __init__(
        self, config: RecorderConfig, store: TradeStore, *, rng: random.Random | None = None
    ) -> None:
        self.config = config
        self.store = store
        self.rng = rng
        self.started_ms = int(time.time() * 1000)
        self.symbols = {s: SymbolStats() for s in config.symbols}
        self.connections = [Connection(spec, config) for spec in plan_streams(config)]
        self._conn_of = {s: c for c in self.connections for s in c.symbols}
        self._shards = len(self.connections)  # for unique names of shards added later
        self.throttle = LogThrottle(log)
        self.batcher = Batcher(store, self.symbols, config, self.throttle)
        self.dispatcher = Dispatcher(self.batcher, self.symbols, throttle=self.throttle)
        self.gapfiller = GapFiller(store, config, self.throttle)
        self.batcher.on_gap = self.gapfiller.submit
        self.budget = ConnectionBudget(config.connect_budget, config.connect_budget_window)
        self.prunes = 0
        self.pruned_trades = 0
        self.last_prune_ms: int | None = None
        self.reloads = 0
        self.metrics_url: str | None = None
        self.stopping = False
        self._queue: trio.MemoryReceiveChannel | None = None
        self._send: trio.MemorySendChannel | None = None
        self._nursery: trio.Nursery | None = None
        self._reload_lock = trio.Lock()

    def load_positions(self, symbols=None) -> None:
        """Read back each symbol's last stored agg id (and its time), so the first live
        trade after a restart opens a gap if ids were missed while we were down."""
        symbols = list(self.symbols) if symbols is None else list(symbols)
        last_times = {}
        if any(self.store.last_agg_id(s) is not None for s in symbols):
            stats = self.store.stats()["symbols"]
            last_times = {s: v.get("last_time_ms") for s, v in stats.items()}
        for symbol in symbols:
            st = self.symbols[symbol]
            st.last_id = self.store.last_agg_id(symbol)
            st.last_trade_ms = last_times.get(symbol)
            if st.last_id is not None:
                log.info("%s: resuming after stored agg id %d", symbol, st.last_id)

    # ------------------------------------------------------------------ connections

    async def start_connection(self, conn: Connection) -> None:
        """Run ``conn`` in the daemon's nursery, under a scope of its own (to stop it)."""
        await self._nursery.start(self._serve_connection, conn, self._send.clone())

    async def _serve_connection(
        self,
        conn: Connection,
        send_channel: trio.MemorySendChannel,
        *,
        task_status=trio.TASK_STATUS_IGNORED,
    ) -> None:
        with trio.CancelScope() as conn.task_scope:
            await serve_connection(
                conn,
                send_channel,
                self.budget,
                on_drop=self.dispatcher.drop,
                rng=self.rng,
                throttle=self.throttle,
                task_status=task_status,
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
            current = set(self.symbols)
            added = [s for s in wanted if s not in current]
            removed = [s for s in self.symbols if s not in set(wanted)]
            keep, stop, homeless = [], [], list(added)
            for conn in self.connections:
                if conn.symbols <= set(wanted):
                    keep.append(conn)
                else:
                    stop.append(conn)
                    homeless.extend(s for s in conn.spec.symbols if s in set(wanted))
            homeless.sort(key=list(wanted).index)
            for symbol in added:
                self.symbols[symbol] = SymbolStats()
                self.batcher.add_symbol(symbol, self.symbols[symbol])
            if added:
                await trio.to_thread.run_sync(self.load_positions, added)
            new = [Connection(spec, self.config) for spec in self._plan(homeless)]
            for conn in new:
                await self.start_connection(conn)
            for conn in stop:
                conn.task_scope.cancel()
            for symbol in removed:
                del self.symbols[symbol]
            self.connections = keep + new
            self._conn_of = {s: c for c in self.connections for s in c.symbols}
            self.config = self.config.replace(symbols=wanted)
            self.reloads += 1
            change = {
                "added": added,
                "removed": removed,
                "reconnected": [c.name for c in stop],
                "opened": [c.name for c in new],
            }
            log.info(
                "symbols reloaded: %d recorded; added %s, removed %s; connections opened %s, "
                "closed %s, %d untouched",
                len(self.symbols),
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

    async def prune_once(self) -> dict[str, int]:
        cutoff = int(time.time() * 1000 - self.config.retention_days * DAY_MS)
        try:
            # The store serialises its writers itself and compacts outside its write lock,
            # so flushes carry on while a prune compacts.
            removed = await trio.to_thread.run_sync(self.store.prune, cutoff)
        except Exception as exc:
            self.throttle.log("prune", logging.ERROR, "pruning failed: %s", exc)
            return {}
        self.prunes += 1
        self.pruned_trades += sum(removed.values())
        self.last_prune_ms = int(time.time() * 1000)
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
        if self._queue is not None:
            drained = self.dispatcher.drain(self._queue)
            if drained:
                log.info("shutdown: handled %d queued frames", drained)
        for attempt in range(1_000_000):
            if await self.batcher.flush():
                return
            await trio.sleep(min(0.1 * 2**attempt, 2.0))

    # ------------------------------------------------------------------ counters

    def statistics(self) -> dict:
        """Counters per symbol and per connection, flush and queue figures (a snapshot)."""
        symbols = {}
        for symbol, st in self.symbols.items():
            st.buffered = self.batcher.depth(symbol)
            row = st.as_dict()
            conn = self._conn_of.get(symbol)
            row["reconnects"] = conn.reconnects if conn is not None else 0
            symbols[symbol] = row
        gaps, backfill = self.gapfiller.statistics()
        queue = None
        if self._queue is not None:
            q = self._queue.statistics()
            queue = {"used": q.current_buffer_used, "size": q.max_buffer_size}
        return {
            "started_ms": self.started_ms,
            "frames": self.dispatcher.frames,
            "drops": dict(self.dispatcher.drops),
            "server_shutdowns": self.dispatcher.shutdown_events,
            "buffered": self.batcher.buffered,
            "in_flight": self.batcher.in_flight,
            "queue": queue,
            "flush": self.batcher.stats.as_dict(),
            "prune": {
                "runs": self.prunes,
                "trades_removed": self.pruned_trades,
                "last_ms": self.last_prune_ms,
            },
            "connect_budget_waits": self.budget.waited,
            "gaps": gaps,
            "backfill": backfill,
            "reloads": self.reloads,
            "metrics_url": self.metrics_url,
            "symbols": symbols,
            "connections": [c.as_dict() for c in self.connections],
        }


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
        recorder = Recorder(config, store, rng=rng)
        await trio.to_thread.run_sync(recorder.load_positions)
        send_channel, receive_channel = trio.open_memory_channel(config.frame_queue_size)
        recorder._queue = receive_channel
        recorder._send = send_channel
        try:
            async with send_channel, trio.open_nursery() as nursery:
                recorder._nursery = nursery
                await nursery.start(recorder.batcher.serve)
                await nursery.start(recorder.dispatcher.serve, receive_channel)
                await nursery.start(recorder.gapfiller.serve, list(config.symbols))
                if config.retention_days > 0:
                    await nursery.start(recorder.serve_pruning)
                if config.metrics_addr is not None:
                    from tradestore.recorder._metrics import serve_metrics

                    recorder.metrics_url = await nursery.start(
                        partial(
                            serve_metrics,
                            config.metrics_addr,
                            recorder.statistics,
                            stale_after_s=config.health_stale_after,
                        )
                    )
                for conn in recorder.connections:
                    await recorder.start_connection(conn)
                log.info(
                    "recording %d symbols over %d connections from %s into %s (backfill %s)",
                    len(config.symbols),
                    len(recorder.connections),
                    config.endpoint,
                    config.db,
                    f"from {config.rest_endpoint}" if config.backfill else "off",
                )
                task_status.started(recorder)
        finally:
            recorder.stopping = True
            with trio.move_on_after(config.shutdown_grace, shield=True) as grace:
                await recorder.final_flush()
            left = recorder.batcher.buffered
            if grace.cancelled_caught or left:
                log.error("shutdown: %d buffered trades could not be written in time", left)
            else:
                log.info("shutdown: all buffers flushed")
            receive_channel.close()
    finally:
        with trio.CancelScope(shield=True):
            try:
                await trio.to_thread.run_sync(store.close)
            except Exception as exc:
                # Whatever was written before is in the WAL; what was not is still
                # counted as buffered, so the exit status already tells.
                log.error("closing the store failed: %s", exc)
