"""``run(config)``: the recorder daemon as one Trio nursery.

    stream tasks (one per connection; two per shard with A/B lines)
        --batches of frames--> bounded channel --> dispatcher --> arbitration by agg id
        --> per-symbol buffers --1 s grid / 10k valve--> one WriteBatch (worker thread)
        --> each new gap record --> backfill workers (REST, shortest first) --> store

plus the stall checker (which also catches every symbol up at start), the prune timer,
the /metrics + /healthz server and, with ``symbols = ALL``, the exchangeInfo refresh
(``_universe.py``). Shutdown (cancellation) stops the readers, drains the channel and
flushes every buffer under a shielded grace deadline before the store is closed.
``Recorder.set_symbols`` (SIGHUP, exchangeInfo) changes the symbol list live: on combined
connections by SUBSCRIBE/UNSUBSCRIBE (on both lines of a shard), never by dropping one.
"""

from __future__ import annotations

import logging
import random
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import trio

from tradestore.binance import BinanceRest, StreamSpec
from tradestore.recorder._backoff import ConnectionBudget, LogThrottle
from tradestore.recorder._batcher import Batcher
from tradestore.recorder._config import RecorderConfig
from tradestore.recorder._dispatch import Dispatcher
from tradestore.recorder._gapfill import GapFiller
from tradestore.recorder._stalls import StallChecker
from tradestore.recorder._statistics import (
    ConnectionStatistics,
    FrameQueueStatistics,
    PruneStatistics,
    RecorderStatistics,
    StallStatistics,
    SymbolSetStatistics,
    SymbolStatistics,
    frozen,
)
from tradestore.recorder._stream import LINE_A, LINE_B, STALLED, Connection, plan_streams
from tradestore.recorder._universe import Universe
from tradestore.store import (
    TradeStore,
    apply_retention,
    check_store_path,
    plan_retention,
    retention_cutoff,
)

log = logging.getLogger(__name__)


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
        self.user_config = config  # as given: symbols may be ALL (SIGHUP compares it)
        self.universe = universe
        if config.follow_all and (universe is None or not symbols):
            raise ValueError("symbols = ALL needs the universe and its first symbol list")
        # The parts see a plain symbol list (the first one; set_symbols changes it).
        if symbols:
            config = config.replace(symbols=tuple(symbols), quote=())
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
                market=config.market_info,
                weight_budget=config.rest_weight_budget,
            )
            if config.backfill or config.stall_check or universe is not None
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
        # Control messages sent and failed by connections closed since (for the totals).
        self._retired_control = [0, 0]

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

    async def load_positions(self, symbols: Sequence[str]) -> list[str]:
        """Resume each symbol after its last stored agg id (and its time), so the first
        live trade after a restart opens a gap if ids were missed while we were down.
        A symbol removed earlier in this run goes on from its last accepted trade, which
        the store may not have yet (it can still be buffered). Returns the symbols that
        have stored trades (the ones to catch up)."""
        symbols = [s for s in symbols if not self.batcher.reinstate(s)]
        positions = await trio.to_thread.run_sync(self._read_positions, symbols)
        stored = []
        for symbol, (last_id, last_trade_ms) in positions.items():
            self.batcher.resume(symbol, last_id, last_trade_ms)
            if last_id is not None:
                stored.append(symbol)
                log.info("%s: resuming after stored agg id %d", symbol, last_id)
        return stored

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

    def begin_listing(self, symbol: str, first_id: int, first_ms: int) -> None:
        """A new listing's record begins at its first trade (``first_id``, time
        ``first_ms``): the ids before the first live one become a gap to backfill."""
        self.batcher.begin_at(symbol, first_id, first_ms)
        if self.stalls is not None:
            # Ask for its latest trade at once, as for every symbol at start: a listing
            # that went quiet before its first live trade would otherwise hide what it
            # traded until it trades again.
            self.stalls.catch_up([symbol])

    # ------------------------------------------------------------------ running

    async def serve(
        self, *, task_status: trio.TaskStatus[Recorder] = trio.TASK_STATUS_IGNORED
    ) -> None:
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
                    self.api_url = await nursery.start(
                        partial(
                            serve_api,
                            config.api_addr,
                            config.db,
                            archive=self._api_archive(),
                        )
                    )
                for conn in self.connections:
                    await self._start_connection(conn)
                if self.stalls is not None:
                    await nursery.start(self.stalls.serve, stored)
                if self.universe is not None:
                    assert self.rest is not None
                    await nursery.start(self.universe.serve, self, self.rest)
                log.info(
                    "recording %d %s symbols%s over %d connections%s from %s into %s "
                    "(backfill %s, stall checks %s)",
                    len(config.symbols),
                    config.market,
                    " (ALL, kept current from exchangeInfo)" if self.universe else "",
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
                write_first=self.batcher.write_first,
            )
        )

    async def set_symbols(self, symbols: Sequence[str]) -> dict[str, list[str]]:
        """Record exactly ``symbols`` from now on, touching as few connections as possible.

        Combined connections (the default) change in place: a removed symbol is
        unsubscribed from the lines carrying it, an added one subscribed on the shard
        with the most room (within max_streams_per_connection; on both lines with A/B
        lines), and only the symbols that fit nowhere get a new shard. No running
        connection is dropped; a shard left with no symbol is closed. Trades of a removed
        symbol that the exchange sent before it took the unsubscription are still stored.

        Per-symbol ``/ws`` connections cannot change: a connection that lost its symbol
        is closed, and each added symbol gets its own.

        Returns {"added", "removed", "reconnected", "opened", "closed": [...],
        "subscribed", "unsubscribed": {connection name: [symbols]}}.
        """
        # Validated and normalised like the configuration's own list.
        wanted = self.config.replace(symbols=tuple(symbols)).symbols
        if wanted == ("ALL",):
            raise ValueError("set_symbols takes symbol names; ALL is followed by the universe")
        async with self._reload_lock:
            current = list(self.batcher.symbols)
            wanted_set = set(wanted)
            # Sets: with ALL these are thousands of names (a list test here held the
            # event loop for a fifth of a second on every exchangeInfo refresh).
            added = [s for s in wanted if s not in self.batcher.symbols]
            removed = [s for s in current if s not in wanted_set]
            if self.config.per_symbol_streams:
                change = await self._replace_connections(list(wanted), added, removed)
            else:
                change = await self._change_in_place(added, removed)
            self._index_lines()
            self.config = self.config.replace(symbols=wanted)
            if not self.user_config.follow_all:
                self.user_config = self.user_config.replace(symbols=wanted)
            self._reloads += 1
            log.info(
                "symbols reloaded: %d recorded; added %s, removed %s; connections opened "
                "%s, closed %s, %d untouched",
                len(self.batcher.symbols),
                _names(added),
                _names(removed),
                _names(change["opened"]),
                _names(change["reconnected"] + change["closed"]),
                len(self.connections) - len(change["opened"]),
            )
            return change

    async def _change_in_place(self, added: list[str], removed: list[str]) -> dict:
        unsubscribed: defaultdict[Connection, list[str]] = defaultdict(list)
        for symbol in removed:
            for conn in self.lines_of(symbol):
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
            stored = await self.load_positions(added)
            if self.stalls is not None:
                self.stalls.catch_up(stored)
        # A shard is its lines (A, and B with A/B lines): they carry the same symbols.
        shards: dict[str, list[Connection]] = {}
        for conn in self.connections:
            shards.setdefault(conn.settings.spec.name, []).append(conn)
        room = {name: lines[0].room for name, lines in shards.items()}
        placed: defaultdict[str, list[str]] = defaultdict(list)
        homeless = []
        for symbol in added:
            name = max(room, key=room.__getitem__, default=None)
            if name is None or room[name] <= 0:
                homeless.append(symbol)
                continue
            placed[name].append(symbol)
            room[name] -= 1
        subscribed = {}
        for name, names in placed.items():
            for conn in shards[name]:
                conn.subscribe(names)
                subscribed[conn.name] = names
        new = [c for spec in self._plan(homeless) for c in self._lines(spec)]
        for conn in new:
            await self._start_connection(conn)
        self.connections += new
        return {
            "added": added,
            "removed": removed,
            "reconnected": [],
            "opened": [c.name for c in new],
            "closed": [c.name for c in emptied],
            "subscribed": subscribed,
            "unsubscribed": {c.name: names for c, names in unsubscribed.items()},
        }

    async def _replace_connections(
        self, wanted: list[str], added: list[str], removed: list[str]
    ) -> dict:
        """Per-symbol streams: close the connections of removed symbols, open one per
        added symbol (opened before the old ones close)."""
        wanted_set = set(wanted)
        keep, stop, homeless = [], [], list(added)
        for conn in self.connections:
            if conn.symbols <= wanted_set:
                keep.append(conn)
            else:
                stop.append(conn)
                if conn.settings.line == LINE_A:  # line B carries the same symbols
                    homeless.extend(s for s in conn.settings.spec.symbols if s in wanted_set)
        order = {symbol: i for i, symbol in enumerate(wanted)}
        homeless.sort(key=order.__getitem__)
        if added:
            stored = await self.load_positions(added)
            if self.stalls is not None:
                self.stalls.catch_up(stored)
        new = [c for spec in self._plan(homeless) for c in self._lines(spec)]
        for conn in new:
            await self._start_connection(conn)
        for conn in stop:
            self._retire(conn)
        for symbol in removed:
            self.batcher.remove_symbol(symbol)
            self.dispatcher.forget(symbol)
        self.connections = keep + new
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
        specs = plan_streams(self.config, symbols, first_index=self._shards)
        self._shards += len(specs)
        return specs

    # ------------------------------------------------------------------ tasks

    async def serve_pruning(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Prune at start, then every ``prune_interval`` seconds (on a fixed grid)."""
        interval = self.config.prune_interval
        next_at = trio.current_time()
        task_status.started()
        while True:
            await trio.sleep_until(next_at)
            await self.prune_once()
            next_at += interval

    def _api_archive(self) -> Any:
        """The archive the API reads beside the store (archive_to), or None."""
        if self.config.archive_to is None:
            return None
        from tradestore.archive import ArchiveReader

        return ArchiveReader(str(self.config.archive_to), self.config.market)

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
            if self.config.rollup_retention_days > 0:
                cut = retention_cutoff(self.config.rollup_retention_days, now_ms)
                dropped = await trio.to_thread.run_sync(
                    partial(self.store.prune_rollups, cut, only_summarized=True)
                )
                if dropped:
                    log.info(
                        "retention: rollups older than %g days deleted (%d symbols)",
                        self.config.rollup_retention_days,
                        len(dropped),
                    )
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
            symbol_set=self._symbol_set_statistics(),
            metrics_url=self._metrics_url,
            symbols=frozen({s: self._symbol_statistics(s) for s in self.batcher.symbols}),
            connections=self.connection_statistics(),
        )

    def connection_statistics(self) -> tuple[ConnectionStatistics, ...]:
        """The connections' part of ``statistics()`` alone: cheap at any symbol count."""
        return tuple(c.statistics() for c in self.connections)

    def _symbol_set_statistics(self) -> SymbolSetStatistics:
        subscribed = len(self._lines_of)
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


def _names(symbols: list[str]) -> str:
    if not symbols:
        return "none"
    return ",".join(symbols) if len(symbols) <= 20 else f"{len(symbols)} ({symbols[0]}, ...)"


async def run(
    config: RecorderConfig,
    *,
    rng: random.Random | None = None,
    task_status: trio.TaskStatus[Recorder] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Record ``config.symbols`` (or, with ALL, the market's trading symbols) into
    ``config.db`` until cancelled.

    ``task_status.started`` receives the Recorder (its ``statistics()`` are live).
    Cancel the surrounding scope to stop: the buffers are flushed before this returns.
    Raises MarketMismatch (before recording anything) when the database holds another
    market's trades, ConfigError when ALL finds no trading symbol, and UnusablePath
    (having written nothing) when ``config.db`` cannot hold the store: a file, a folder
    holding other things, a folder that cannot be written. A missing path or an empty
    folder becomes a new store: a daemon's first start.
    """
    await trio.to_thread.run_sync(partial(check_store_path, config.db_path, create=True))
    store = await trio.to_thread.run_sync(TradeStore, config.db_path)
    try:
        await trio.to_thread.run_sync(store.claim_market, config.market)
        if config.archive_to is not None:
            from tradestore.archive import redact

            # Readers of this store say where its pruned trades are.
            await trio.to_thread.run_sync(store.note_archive, redact(str(config.archive_to)))
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
