"""``run(config)``: the recorder daemon as one Trio nursery.

    stream tasks (one per connection) --frames--> bounded channel --> dispatcher
        --> per-symbol buffers --1 s grid / 10k valve--> one WriteBatch (worker thread)
        --> each new gap record --bounded channel--> backfill worker (REST) --> store

plus the prune timer, the /metrics + /healthz server and, with ``symbols = ALL``, the
exchangeInfo refresh (``_universe.py``). Shutdown (cancellation) stops the readers, drains
the channel and flushes every buffer under a shielded grace deadline before the store is
closed. ``Recorder.set_symbols`` (SIGHUP, exchangeInfo) changes the symbol list live: on
combined connections by SUBSCRIBE/UNSUBSCRIBE, never by dropping a connection.
"""

from __future__ import annotations

import logging
import random
import time
from collections import defaultdict
from collections.abc import Sequence
from functools import partial

import trio

from tradestore.binance import BinanceRest, StreamSpec
from tradestore.recorder._backoff import ConnectionBudget, LogThrottle
from tradestore.recorder._batcher import Batcher
from tradestore.recorder._config import RecorderConfig
from tradestore.recorder._dispatch import Dispatcher
from tradestore.recorder._gapfill import GapFiller
from tradestore.recorder._statistics import (
    FrameQueueStatistics,
    PruneStatistics,
    RecorderStatistics,
    SymbolSetStatistics,
    SymbolStatistics,
    frozen,
)
from tradestore.recorder._stream import Connection, plan_streams
from tradestore.recorder._universe import Universe
from tradestore.store import TradeStore

log = logging.getLogger(__name__)

DAY_MS = 86_400_000


class Recorder:
    """The daemon: its parts, wired here, and ``serve``, which runs them.

    ``statistics()`` reads a snapshot of every part's counters and changes nothing.
    """

    def __init__(
        self,
        config: RecorderConfig,
        store: TradeStore,
        *,
        rng: random.Random | None = None,
        universe: Universe | None = None,
        symbols: Sequence[str] | None = None,
    ) -> None:
        """Record ``config.symbols``; with ``symbols = ALL``, the ``universe`` that read
        them from exchangeInfo and the ``symbols`` it chose to start with."""
        self.config = config
        self.store = store
        self.universe = universe
        if config.follow_all and (universe is None or not symbols):
            raise ValueError("symbols = ALL needs the universe and its first symbol list")
        # The parts see a plain symbol list (the first one; set_symbols changes it).
        parts = config.replace(symbols=tuple(symbols), quote=()) if symbols else config
        self.started_ms = int(time.time() * 1000)
        self.connections = [Connection(spec, parts) for spec in plan_streams(parts)]
        self._parts_config = parts
        self._conn_of = {s: c for c in self.connections for s in c.symbols}
        self._shards = len(self.connections)  # for unique names of shards added later
        self.throttle = LogThrottle(log)
        self.gapfiller = GapFiller(store, parts, self.throttle)
        self.batcher = Batcher(store, parts, throttle=self.throttle, on_gap=self.gapfiller.submit)
        self.dispatcher = Dispatcher(self.batcher, throttle=self.throttle)
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
        self._nursery: trio.Nursery | None = None  # serve's, for connections added later
        self._reload_lock = trio.Lock()
        # Control messages sent and failed by connections closed since (for the totals).
        self._retired_control = [0, 0]

    async def load_positions(self, symbols) -> None:
        """Resume each symbol after its last stored agg id (and its time), so the first
        live trade after a restart opens a gap if ids were missed while we were down.
        A symbol removed earlier in this run goes on from its last accepted trade, which
        the store may not have yet (it can still be buffered)."""
        symbols = [s for s in symbols if not self.batcher.reinstate(s)]
        positions = await trio.to_thread.run_sync(self._read_positions, symbols)
        for symbol, (last_id, last_trade_ms) in positions.items():
            self.batcher.resume(symbol, last_id, last_trade_ms)
            if last_id is not None:
                log.info("%s: resuming after stored agg id %d", symbol, last_id)

    def _read_positions(self, symbols: list[str]) -> dict[str, tuple[int | None, int | None]]:
        positions: dict[str, tuple[int | None, int | None]] = {}
        for symbol in symbols:
            last_id = self.store.last_agg_id(symbol)
            last_ms = None if last_id is None else self.store.last_trade_time_ms(symbol)
            positions[symbol] = (last_id, last_ms)
        return positions

    def new_to_store(self, symbol: str) -> bool:
        """True while nothing of ``symbol`` is known: nothing stored when it was added,
        and no trade since."""
        st = self.batcher.symbols.get(symbol)
        return st is not None and st.last_id is None

    def has_traded(self, symbol: str) -> bool:
        """True once a trade of ``symbol`` was taken (or one was known when it was added)."""
        st = self.batcher.symbols.get(symbol)
        return st is not None and st.last_id is not None

    # ------------------------------------------------------------------ running

    async def serve(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Record until cancelled; ``task_status.started(self)`` once every task runs.

        On the way out (cancellation) the readers stop, the queued frames are handled and
        every buffer is flushed under a shielded ``shutdown_grace`` deadline.
        """
        config = self.config
        first = list(self.batcher.symbols)
        await self.load_positions(first)
        try:
            async with self._send, trio.open_nursery() as nursery:
                self._nursery = nursery
                await nursery.start(self.batcher.serve)
                await nursery.start(self.dispatcher.serve, self._receive)
                await nursery.start(self.gapfiller.serve, first)
                if config.retention_days > 0:
                    await nursery.start(self.serve_pruning)
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
                for conn in self.connections:
                    await self._start_connection(conn)
                if self.universe is not None:
                    rest = await nursery.start(self._serve_exchange_info)
                    await nursery.start(self.universe.serve, self, rest)
                log.info(
                    "recording %d %s symbols%s over %d connections from %s into %s (backfill %s)",
                    len(first),
                    config.market,
                    " (ALL, kept current from exchangeInfo)" if config.follow_all else "",
                    len(self.connections),
                    config.endpoint,
                    config.db,
                    f"from {config.rest_endpoint}" if config.backfill else "off",
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

    async def _start_connection(self, conn: Connection) -> None:
        """Run ``conn`` in serve's nursery (``conn.stop()`` ends it)."""
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

    async def _serve_exchange_info(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """The REST client of the exchangeInfo reads and listing look-ups, for as long as
        the recorder runs."""
        config = self.config
        client = BinanceRest(
            config.rest_endpoint, market=config.market_info, weight_budget=config.rest_weight_budget
        )
        async with client as rest:
            task_status.started(rest)
            await trio.sleep_forever()

    async def set_symbols(self, symbols) -> dict:
        """Record exactly ``symbols`` from now on, touching as few connections as possible.

        Combined connections (the default) change in place: a removed symbol is
        unsubscribed from the connection carrying it, an added one subscribed on the
        connection with the most room (within max_streams_per_connection), and only the
        symbols that fit nowhere get a new connection. No running connection is dropped;
        one left with no symbol is closed. Trades of a removed symbol that the exchange
        sent before it took the unsubscription are still stored.

        Per-symbol ``/ws`` connections cannot change: a connection that lost its symbol
        is closed, and each added symbol gets its own.

        Returns {"added", "removed", "reconnected", "opened", "closed": [...],
        "subscribed", "unsubscribed": {connection name: [symbols]}}.
        """
        # Validated and normalised like the configuration's own list.
        wanted = self._parts_config.replace(symbols=tuple(symbols)).symbols
        if wanted == ("ALL",):
            raise ValueError("set_symbols takes symbol names; ALL is followed by the universe")
        async with self._reload_lock:
            if self.config.per_symbol_streams:
                change = await self._replace_connections(list(wanted))
            else:
                change = await self._change_in_place(list(wanted))
            if not self.config.follow_all:
                self.config = self.config.replace(symbols=wanted)
            self._reloads += 1
            log.info(
                "symbols reloaded: %d recorded; added %s, removed %s; connections opened "
                "%s, closed %s, %d untouched",
                len(self.batcher.symbols),
                _names(change["added"]),
                _names(change["removed"]),
                _names(change["opened"]),
                _names(change["reconnected"] + change["closed"]),
                len(self.connections) - len(change["opened"]),
            )
            return change

    async def _change_in_place(self, wanted: list[str]) -> dict:
        current = set(self.batcher.symbols)
        wanted_set = set(wanted)
        added = [s for s in wanted if s not in current]
        removed = [s for s in self.batcher.symbols if s not in wanted_set]
        unsubscribed: defaultdict[Connection, list[str]] = defaultdict(list)
        for symbol in removed:
            conn = self._conn_of.pop(symbol, None)
            if conn is not None:
                unsubscribed[conn].append(symbol)
        for conn, names in unsubscribed.items():
            conn.unsubscribe(names)
        for symbol in removed:
            self.batcher.remove_symbol(symbol)
            self.dispatcher.forget(symbol)
        emptied = [c for c in self.connections if not c.symbols]
        for conn in emptied:
            self._retire(conn)
        self.connections = [c for c in self.connections if c.symbols]
        if added:
            await self.load_positions(added)
        room = {c: c.room for c in self.connections}
        subscribed: defaultdict[Connection, list[str]] = defaultdict(list)
        homeless = []
        for symbol in added:
            conn = max(room, key=room.__getitem__, default=None)
            if conn is None or room[conn] <= 0:
                homeless.append(symbol)
                continue
            subscribed[conn].append(symbol)
            room[conn] -= 1
        for conn, names in subscribed.items():
            conn.subscribe(names)
        new = [Connection(spec, self._parts_config) for spec in self._plan(homeless)]
        for conn in new:
            await self._start_connection(conn)
        self.connections += new
        self._conn_of = {s: c for c in self.connections for s in c.symbols}
        return {
            "added": added,
            "removed": removed,
            "reconnected": [],
            "opened": [c.name for c in new],
            "closed": [c.name for c in emptied],
            "subscribed": {c.name: names for c, names in subscribed.items()},
            "unsubscribed": {c.name: names for c, names in unsubscribed.items()},
        }

    async def _replace_connections(self, wanted: list[str]) -> dict:
        """Per-symbol streams: close the connections of removed symbols, open one per
        added symbol (opened before the old ones close)."""
        current = list(self.batcher.symbols)
        wanted_set = set(wanted)
        added = [s for s in wanted if s not in current]
        removed = [s for s in current if s not in wanted_set]
        keep, stop, homeless = [], [], list(added)
        for conn in self.connections:
            if conn.symbols <= wanted_set:
                keep.append(conn)
            else:
                stop.append(conn)
                homeless.extend(s for s in conn.symbols if s in wanted_set)
        homeless.sort(key=wanted.index)
        if added:
            await self.load_positions(added)
        new = [Connection(spec, self._parts_config) for spec in self._plan(homeless)]
        for conn in new:
            await self._start_connection(conn)
        for conn in stop:
            self._retire(conn)
        for symbol in removed:
            self.batcher.remove_symbol(symbol)
            self.dispatcher.forget(symbol)
        self.connections = keep + new
        self._conn_of = {s: c for c in self.connections for s in c.symbols}
        return {
            "added": added,
            "removed": removed,
            "reconnected": [c.name for c in stop],
            "opened": [c.name for c in new],
            "closed": [],
            "subscribed": {},
            "unsubscribed": {},
        }

    def _retire(self, conn: Connection) -> None:
        conn.stop()
        self._retired_control[0] += conn.counters.control_messages
        self._retired_control[1] += conn.counters.control_failures

    def _plan(self, symbols: list[str]) -> list[StreamSpec]:
        specs = plan_streams(self._parts_config, symbols, first_index=self._shards)
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
            connect_budget_waits=self.budget.waited,
            gaps=self.gapfiller.gap_records(),
            backfill=self.gapfiller.statistics(),
            reloads=self._reloads,
            symbol_set=self._symbol_set_statistics(),
            metrics_url=self._metrics_url,
            symbols=frozen({s: self._symbol_statistics(s) for s in self.batcher.symbols}),
            connections=tuple(c.statistics() for c in self.connections),
        )

    def _symbol_set_statistics(self) -> SymbolSetStatistics:
        subscribed = sum(len(c.symbols) for c in self.connections)
        sent = sum(c.counters.control_messages for c in self.connections)
        failed = sum(c.counters.control_failures for c in self.connections)
        sent += self._retired_control[0]
        failed += self._retired_control[1]
        if self.universe is not None:
            return self.universe.statistics(subscribed, sent, failed)
        return SymbolSetStatistics(
            market=self.config.market,
            follow_all=False,
            quote=(),
            subscribed=subscribed,
            listings=0,
            delistings=0,
            catch_ups=0,
            refreshes=0,
            refresh_failures=0,
            last_refresh_ms=None,
            last_error=None,
            control_messages=sent,
            control_failures=failed,
        )

    def _symbol_statistics(self, symbol: str) -> SymbolStatistics:
        counters = self.batcher.symbols[symbol]
        conn = self._conn_of.get(symbol)
        return SymbolStatistics(
            received=counters.received,
            stored=counters.stored,
            duplicates=counters.duplicates,
            gaps=counters.gaps,
            missing_ids=counters.missing_ids,
            drops=frozen(self.dispatcher.symbol_drops.get(symbol, {})),
            reconnects=conn.counters.reconnects if conn is not None else 0,
            last_id=counters.last_id,
            last_trade_ms=counters.last_trade_ms,
            buffered=self.batcher.depth(symbol),
        )


def _names(symbols: list[str]) -> str:
    if not symbols:
        return "none"
    return ",".join(symbols) if len(symbols) <= 20 else f"{len(symbols)} ({symbols[0]}, ...)"


async def run(
    config: RecorderConfig,
    *,
    rng: random.Random | None = None,
    task_status=trio.TASK_STATUS_IGNORED,
) -> None:
    """Record ``config.symbols`` (or, with ALL, the market's trading symbols) into
    ``config.db`` until cancelled.

    ``task_status.started`` receives the Recorder (its ``statistics()`` are live).
    Cancel the surrounding scope to stop: the buffers are flushed before this returns.
    Raises MarketMismatch (before recording anything) when the database holds another
    market's trades, and ConfigError when ALL finds no trading symbol.
    """
    store = await trio.to_thread.run_sync(TradeStore, config.db_path)
    try:
        await trio.to_thread.run_sync(store.claim_market, config.market)
        universe = symbols = None
        if config.follow_all:
            universe = Universe(config)
            client = BinanceRest(
                config.rest_endpoint,
                market=config.market_info,
                weight_budget=config.rest_weight_budget,
            )
            async with client as rest:
                symbols = await universe.first_read(rest)
        recorder = Recorder(config, store, rng=rng, universe=universe, symbols=symbols)
        await recorder.serve(task_status=task_status)
    finally:
        with trio.CancelScope(shield=True):
            try:
                await trio.to_thread.run_sync(store.close)
            except Exception as exc:
                # Whatever was written before is in the WAL; what was not is still
                # counted as buffered, so the exit status already tells.
                log.error("closing the store failed: %s", exc)
