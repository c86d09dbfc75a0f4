"""``run(config)``: the recorder daemon as one Trio nursery.

    stream tasks (one per connection) --frames--> bounded channel --> dispatcher
        --> per-symbol buffers --1 s grid / 10k valve--> one WriteBatch (worker thread)

plus the prune timer. Shutdown (cancellation) stops the readers, drains the channel and
flushes every buffer under a shielded grace deadline before the store is closed.
"""

from __future__ import annotations

import logging
import random
import time

import trio

from tradestore._store import TradeStore
from tradestore.recorder._backoff import ConnectionBudget, LogThrottle
from tradestore.recorder._batcher import Batcher
from tradestore.recorder._config import RecorderConfig
from tradestore.recorder._dispatch import Dispatcher
from tradestore.recorder._stats import SymbolStats
from tradestore.recorder._stream import Connection, plan_streams, serve_connection

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
        self.throttle = LogThrottle(log)
        self.batcher = Batcher(store, self.symbols, config, self.throttle)
        self.dispatcher = Dispatcher(self.batcher, self.symbols, throttle=self.throttle)
        self.budget = ConnectionBudget(config.connect_budget, config.connect_budget_window)
        self.prunes = 0
        self.pruned_trades = 0
        self.last_prune_ms: int | None = None
        self.stopping = False
        self._queue: trio.MemoryReceiveChannel | None = None

    def load_positions(self) -> None:
        """Read back each symbol's last stored agg id (and its time), so the first live
        trade after a restart opens a gap if ids were missed while we were down."""
        last_times = {}
        if any(self.store.last_agg_id(s) is not None for s in self.symbols):
            stats = self.store.stats()["symbols"]
            last_times = {s: v.get("last_time_ms") for s, v in stats.items()}
        for symbol, st in self.symbols.items():
            st.last_id = self.store.last_agg_id(symbol)
            st.last_trade_ms = last_times.get(symbol)
            if st.last_id is not None:
                log.info("%s: resuming after stored agg id %d", symbol, st.last_id)

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
            row["reconnects"] = self._conn_of[symbol].reconnects
            symbols[symbol] = row
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
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(recorder.batcher.serve)
                await nursery.start(recorder.dispatcher.serve, receive_channel)
                if config.retention_days > 0:
                    await nursery.start(recorder.serve_pruning)
                async with send_channel:
                    for conn in recorder.connections:
                        await nursery.start(_serve_connection, recorder, conn, send_channel.clone())
                log.info(
                    "recording %d symbols over %d connections from %s into %s",
                    len(config.symbols),
                    len(recorder.connections),
                    config.endpoint,
                    config.db,
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
            await trio.to_thread.run_sync(store.close)


async def _serve_connection(
    recorder: Recorder,
    conn: Connection,
    send_channel: trio.MemorySendChannel,
    *,
    task_status=trio.TASK_STATUS_IGNORED,
) -> None:
    await serve_connection(
        conn,
        send_channel,
        recorder.budget,
        on_drop=recorder.dispatcher.drop,
        rng=recorder.rng,
        throttle=recorder.throttle,
        task_status=task_status,
    )
