"""FakeExchange: the state shared by the generators, the WebSocket connections and REST."""

from __future__ import annotations

import bisect
import logging
import math
import random
import time
import zlib
from contextlib import ExitStack
from typing import Protocol

import trio

from tradestore.binance import TRADING
from tradestore.fake._config import FakeExchangeConfig
from tradestore.fake._frames import event_json
from tradestore.fake._log import SentLog
from tradestore.fake._source import Record, SyntheticSource, csv_source, store_source
from tradestore.store import check_symbol


class Connection(Protocol):
    """What the exchange needs of a client's WebSocket connection (fake/_ws.py has the one
    kind there is); a protocol, so that the exchange does not import the connections,
    which import it."""

    streams: list[str]
    stuck: set[str]  # symbols withheld from this connection (a test hook)
    opened_at: float

    def offer_trade(self, symbol: str, record: Record, raw: str) -> None: ...

    def request_abort(self, reason: str) -> None: ...


log = logging.getLogger(__name__)

MAX_BURST = 1000  # trades generated per symbol between two checkpoints when catching up
# A busy symbol wakes at most once per quantum and publishes every trade due by then (each
# keeps its scheduled time): 5 ms batches instead of a wake-up per trade at 800/s.
WAKE_QUANTUM = 0.005


class FakeExchange:
    """Generates trades per symbol on the Trio clock and fans them out to subscribers.

    ``history`` keeps the generated trades (skipped ids included; the last
    ``history_limit`` per symbol) for REST. ``log`` accounts for what went out over
    WebSocket. The test hooks (``drop_all``, ``set_silent``) act on every connection at
    once; ``drop_oldest`` on one, ``stall`` on one symbol of the connections open now.
    """

    def __init__(self, config: FakeExchangeConfig) -> None:
        self.config = config
        self.market = config.market_info
        self.log = SentLog(config.symbols)
        self.port: int | None = None
        self._records: dict[str, list[Record]] = {}
        self._generated: dict[str, int] = {}
        self._subscribers: dict[str, set[Connection]] = {}
        self._connections: set[Connection] = set()
        self._first_subscriber: dict[str, trio.Event] = {}
        self._changed: dict[str, trio.Event] = {}
        self._any_change = trio.Event()
        self._waiters = 0  # tasks in wait_until / wait_generated
        self._finished: dict[str, bool] = {}
        # exchangeInfo status by symbol; a symbol not listed yet is absent.
        self.status: dict[str, str] = {}
        self._rates = _symbol_rates(config)
        self._generators: dict[str, trio.CancelScope] = {}
        self._nursery: trio.Nursery | None = None
        for symbol in config.symbols:
            self._add_symbol(symbol)
        self._silent = False
        self._origin_time = trio.current_time()
        self._origin_ms = (
            config.start_time_ms if config.start_time_ms is not None else int(time.time() * 1000)
        )
        self._resources = ExitStack()
        try:
            self._sources = self._open_sources()
        except BaseException:
            self._resources.close()  # e.g. the replayed store's secondary instance
            raise

    # ------------------------------------------------------------------ addresses

    @property
    def ws_url(self) -> str:
        return f"ws://{self._url_host}:{self.port}"

    @property
    def rest_url(self) -> str:
        return f"http://{self._url_host}:{self.port}"

    @property
    def _url_host(self) -> str:
        host = self.config.host
        return f"[{host}]" if ":" in host else host

    # ------------------------------------------------------------------ clock

    def now_ms(self) -> int:
        """Exchange time: the Trio clock mapped onto start_time_ms (or the wall clock)."""
        return self.to_ms(trio.current_time())

    def to_ms(self, trio_time: float) -> int:
        return self._origin_ms + round((trio_time - self._origin_time) * 1000)

    # ------------------------------------------------------------------ sources

    def _open_sources(self) -> dict:
        cfg = self.config
        sources: dict = {}
        if cfg.replay_db is not None:
            from tradestore.store import TradeStore

            store = self._resources.enter_context(TradeStore(cfg.replay_db, read_only=True))
            for symbol in cfg.symbols:
                sources[symbol] = store_source(store, symbol)
        elif cfg.csv is not None:
            if not cfg.csv.is_file():
                raise FileNotFoundError(f"{cfg.csv}: no such file")
            sources[cfg.symbols[0]] = csv_source(cfg.csv)
        for symbol in cfg.symbols:
            sources.setdefault(symbol, SyntheticSource(symbol, cfg.seed, cfg.start_id))
        for _at, _kind, symbol in cfg.schedule():
            sources.setdefault(symbol, SyntheticSource(symbol, cfg.seed, cfg.start_id))
        for source in sources.values():
            if hasattr(source, "close"):
                self._resources.callback(source.close)
        return sources

    def close(self) -> None:
        self._resources.close()

    # ------------------------------------------------------------------ generation

    async def serve_generators(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            for symbol in self.config.symbols:
                self._start_generator(symbol)
            if self.config.drop_every is not None:
                nursery.start_soon(self._drop_periodically, self.config.drop_every)
            if self.config.drop_one_every is not None:
                nursery.start_soon(self._drop_one_periodically, self.config.drop_one_every)
            if self.config.schedule():
                nursery.start_soon(self._follow_schedule)
            task_status.started()

    def _add_symbol(self, symbol: str) -> None:
        self.status[symbol] = TRADING
        self._records.setdefault(symbol, [])
        self._generated.setdefault(symbol, 0)
        self._subscribers.setdefault(symbol, set())
        self._first_subscriber.setdefault(symbol, trio.Event())
        self._changed.setdefault(symbol, trio.Event())
        self._finished[symbol] = False
        self.log.note_listed(symbol)

    def _start_generator(self, symbol: str) -> None:
        scope = trio.CancelScope()
        self._generators[symbol] = scope
        assert self._nursery is not None
        self._nursery.start_soon(self._generate, symbol, scope)

    def rate_of(self, symbol: str) -> float:
        """Trades per second of ``symbol`` outside bursts."""
        return self._rates.get(symbol, self.config.rate)

    # ------------------------------------------------------------------ listings

    def list_symbol(self, symbol: str, rate: float | None = None) -> None:
        """List ``symbol`` (TRADING in exchangeInfo) and start trading it now; a delisted
        symbol trades again, its ids going on from where they stopped."""
        symbol = check_symbol(symbol)
        if self.status.get(symbol) == TRADING:
            return
        if rate is not None:
            if not (rate > 0 and math.isfinite(rate)):
                raise ValueError(f"rate must be a positive number, not {rate!r}")
            self._rates[symbol] = rate
        if symbol not in self._sources:
            self._sources[symbol] = SyntheticSource(symbol, self.config.seed, self.config.start_id)
        self._add_symbol(symbol)
        if self._nursery is not None:
            self._start_generator(symbol)
        log.info("listed %s (%.3g trades/s)", symbol, self.rate_of(symbol))
        self._notify(symbol)

    def delist_symbol(self, symbol: str) -> None:
        """Stop trading ``symbol`` now: exchangeInfo shows it with the market's delisted
        status, its stream goes quiet, REST keeps its history."""
        symbol = self._symbol(symbol)
        if self.status.get(symbol) != TRADING:
            return
        self.status[symbol] = self.market.delisted_status
        scope = self._generators.pop(symbol, None)
        if scope is not None:
            scope.cancel()
        self.log.note_delisted(symbol)
        log.info("delisted %s", symbol)
        self._notify(symbol)

    def hush(self, symbol: str) -> None:
        """Stop trading ``symbol`` while it stays listed (TRADING): an illiquid symbol
        that has gone quiet, for as long as the run lasts."""
        symbol = self._symbol(symbol)
        scope = self._generators.pop(symbol, None)
        if scope is not None:
            scope.cancel()
        log.info("%s went quiet", symbol)

    async def _follow_schedule(self) -> None:
        start = self._origin_time
        for at, kind, symbol in self.config.schedule():
            await trio.sleep_until(start + at)
            if kind == "list":
                self.list_symbol(symbol)
            else:
                self.delist_symbol(symbol)

    # ------------------------------------------------------------------ generation

    def _clock(self, t: float) -> float:
        """Seconds of trading at the base rate from the origin to trio time ``t``: a
        burst second counts burst_factor seconds. Each burst_every period is calm, then
        bursts for burst_for seconds in its middle, then calm again."""
        cfg = self.config
        elapsed = t - self._origin_time
        if cfg.burst_every is None:
            return elapsed
        every, length, factor = cfg.burst_every, cfg.burst_for, cfg.burst_factor
        periods, into = divmod(elapsed, every)
        calm = (every - length) / 2  # before the burst (and again after it)
        per_period = every - length + factor * length
        burst = min(max(into - calm, 0.0), length)
        return periods * per_period + into - burst + factor * burst

    def _time_at(self, clock: float) -> float:
        """The trio time at which ``_clock`` reaches ``clock`` (its inverse)."""
        cfg = self.config
        if cfg.burst_every is None:
            return self._origin_time + clock
        every, length, factor = cfg.burst_every, cfg.burst_for, cfg.burst_factor
        calm = (every - length) / 2
        periods, into = divmod(clock, every - length + factor * length)
        if into <= calm:
            offset = into
        elif into <= calm + factor * length:
            offset = calm + (into - calm) / factor
        else:
            offset = into - factor * length + length
        return self._origin_time + periods * every + offset

    async def _generate(self, symbol: str, scope: trio.CancelScope) -> None:
        cfg = self.config
        with scope:
            if cfg.start_on_first_subscriber:
                await self._first_subscriber[symbol].wait()
            await self._run_generator(symbol)

    async def _run_generator(self, symbol: str) -> None:
        cfg = self.config
        source = self._sources[symbol]
        limit = cfg.max_trades
        interval = 1.0 / self.rate_of(symbol)
        # With a skew, each symbol's trades start at a seeded phase of its interval, so
        # thousands of rare symbols do not all trade in the same instant.
        phase = 0.0
        if cfg.zipf:
            phase = random.Random(cfg.seed * 7919 + zlib.crc32(symbol.encode())).random()
        start = self._clock(trio.current_time()) + phase * interval
        n = self._generated[symbol]
        first = n
        end = None if cfg.stop_after is None else self._origin_time + cfg.stop_after
        woke = -math.inf
        try:
            while limit is None or n < limit:
                # Deadlines come from the start, not from the previous wake-up: no drift,
                # and a late wake-up catches up with every trade that fell due meanwhile.
                deadline = self._time_at(start + (n - first) * interval)
                await trio.sleep_until(max(deadline, woke + WAKE_QUANTUM))
                now = woke = trio.current_time()
                due = n + MAX_BURST  # then yield, so a long stall cannot starve the rest
                while limit is None or n < limit:
                    at = self._time_at(start + (n - first) * interval)
                    if at > now or n >= due:
                        break
                    if end is not None and at > end:
                        return
                    record = source.next(self.to_ms(at))
                    if record is None:
                        log.info("%s: source exhausted after %d trades", symbol, n)
                        return
                    n += 1
                    self._publish(symbol, record)
        finally:
            self._finished[symbol] = True
            self._notify(symbol)

    def _publish(self, symbol: str, record: Record) -> None:
        records = self._records[symbol]
        records.append(record)
        limit = self.config.history_limit
        if limit is not None and len(records) > limit + limit // 10:
            del records[: len(records) - limit]  # in chunks: amortised O(1) per trade
        self._generated[symbol] += 1
        every = self.config.skip_every
        skipped = bool(every) and self._generated[symbol] % every == 0
        self.log.note_generated(symbol, record.trade.agg_id, skipped)
        self._notify(symbol)
        subscribers = self._subscribers[symbol]
        if skipped:
            return
        if self._silent:
            self.log.trades_withheld += len(subscribers)
            return
        if subscribers:
            raw = event_json(symbol, record, record.trade.time_ms, self.market.event_has_best_match)
            for connection in tuple(subscribers):
                connection.offer_trade(symbol, record, raw)

    def _notify(self, symbol: str | None = None) -> None:
        # Only while someone waits (a test): this runs for every trade, and thousands of
        # new Events a second are a real cost at whole-market rates.
        if not self._waiters:
            return
        if symbol is not None:
            self._changed[symbol].set()
            self._changed[symbol] = trio.Event()
        self._any_change.set()
        self._any_change = trio.Event()

    async def wait_until(self, predicate) -> None:
        """Return once ``predicate()`` is true, re-checking whenever a trade is generated,
        a connection opens, is dropped or ends, or a ping or pong passes
        (e.g. ``lambda: fx.log.connections_dropped``)."""
        while not predicate():
            self._waiters += 1
            try:
                await self._any_change.wait()
            finally:
                self._waiters -= 1

    def note_dropped(self, reason: str) -> None:
        self.log.note_dropped(reason)
        self._notify()

    async def wait_generated(self, symbol: str, n: int) -> None:
        """Return once ``n`` trades of ``symbol`` exist; raise if the source ran out first."""
        symbol = self._symbol(symbol)
        while self._generated[symbol] < n:
            if self._finished[symbol]:
                raise RuntimeError(
                    f"{symbol}: generation stopped after {self._generated[symbol]} trades"
                )
            self._waiters += 1
            try:
                await self._changed[symbol].wait()
            finally:
                self._waiters -= 1

    def generated(self, symbol: str) -> int:
        """How many trades of ``symbol`` were generated so far."""
        return self._generated[self._symbol(symbol)]

    def history(self, symbol: str) -> list:
        """Every AggTrade generated so far for ``symbol`` (skipped ids included), or the
        last ``history_limit`` of them."""
        return [r.trade for r in self._records[self._symbol(symbol)]]

    def records(self, symbol: str) -> list[Record]:
        return self._records[self._symbol(symbol)]

    def _symbol(self, symbol: str) -> str:
        if symbol not in self.status:
            raise KeyError(f"{symbol} is not served (symbols: {', '.join(self._records)})")
        return symbol

    # ------------------------------------------------------------------ REST lookups

    def by_id(self, symbol: str, from_id: int, limit: int) -> list[Record]:
        records = self._records[symbol]
        i = bisect.bisect_left(records, from_id, key=lambda r: r.trade.agg_id)
        return records[i : i + limit]

    def by_time(self, symbol: str, start_ms: int | None, end_ms: int | None, limit: int):
        records = self._records[symbol]
        key = lambda r: r.trade.time_ms  # noqa: E731
        lo = 0 if start_ms is None else bisect.bisect_left(records, start_ms, key=key)
        hi = len(records) if end_ms is None else bisect.bisect_right(records, end_ms, key=key)
        if start_ms is None:  # only an end: the most recent trades up to it
            return records[max(lo, hi - limit) : hi]
        return records[lo : min(hi, lo + limit)]

    def recent(self, symbol: str, limit: int) -> list[Record]:
        records = self._records[symbol]
        return records[max(0, len(records) - limit) :]

    # ------------------------------------------------------------------ connections

    def count_keepalive(self, what: str) -> None:
        if what == "ping":
            self.log.pings_sent += 1
        else:
            self.log.pongs_received += 1
        self._notify()  # so wait_until() can wait for pings and pongs

    def attach(self, connection: Connection) -> None:
        self._connections.add(connection)
        self.log.connections_opened += 1
        self._notify()

    def detach(self, connection: Connection) -> None:
        self._connections.discard(connection)
        for subscribers in self._subscribers.values():
            subscribers.discard(connection)
        self._notify()

    def serves(self, symbol: str) -> bool:
        """True for a symbol listed now or before (a delisted stream exists, silent)."""
        return symbol in self.status

    def subscribe(self, connection: Connection, symbol: str) -> None:
        self._subscribers[symbol].add(connection)
        self._first_subscriber[symbol].set()

    def unsubscribe(self, connection: Connection, symbol: str) -> None:
        self._subscribers[symbol].discard(connection)

    @property
    def connections(self) -> int:
        return len(self._connections)

    def subscriptions(self) -> list[tuple[str, ...]]:
        """The stream names of each open connection (sorted), e.g. to see which
        connections a client kept and which it replaced."""
        return sorted(tuple(c.streams) for c in self._connections)

    def drop_all(self, reason: str = "drop_all") -> int:
        """Abruptly close every connection now (no close frame); returns how many."""
        connections = tuple(self._connections)
        for connection in connections:
            connection.request_abort(reason)
        return len(connections)

    def stall(self, symbol: str) -> int:
        """Stop sending ``symbol`` on every connection open now, while their other streams
        flow (connections opened later are not affected): a stuck subscription. Returns
        how many connections carry the symbol."""
        symbol = self._symbol(symbol)
        stuck = [c for c in self._subscribers[symbol]]
        for connection in stuck:
            connection.stuck.add(symbol)
        return len(stuck)

    def drop_oldest(self, reason: str = "drop_one") -> bool:
        """Abruptly close the connection open the longest; False when none is open."""
        if not self._connections:
            return False
        min(self._connections, key=lambda c: c.opened_at).request_abort(reason)
        return True

    def set_silent(self, silent: bool) -> None:
        """Stop (or resume) data frames on every connection; pings and replies continue.
        Trades generated while silent are never sent (REST still has them)."""
        self._silent = bool(silent)

    async def _drop_one_periodically(self, every: float) -> None:
        deadline = trio.current_time()
        while True:
            deadline += every
            await trio.sleep_until(deadline)
            if self.drop_oldest("drop_one_every"):
                log.info("dropped the oldest connection (drop_one_every=%s s)", every)

    async def _drop_periodically(self, every: float) -> None:
        deadline = trio.current_time()
        while True:
            deadline += every
            await trio.sleep_until(deadline)
            n = self.drop_all("drop_every")
            log.info("dropped %d connections (drop_every=%s s)", n, every)


def _symbol_rates(config: FakeExchangeConfig) -> dict[str, float]:
    """Trades/s per symbol: ``rate`` each, or with ``zipf`` the total rate x N shared by
    rank (the listed symbols first, then the scheduled listings) with weights 1/k^zipf."""
    symbols = list(dict.fromkeys([*config.symbols, *(s for _a, _k, s in config.schedule())]))
    if not config.zipf:
        return {s: config.rate for s in symbols}
    weights = [1.0 / (k**config.zipf) for k in range(1, len(symbols) + 1)]
    total = config.rate * len(symbols)
    norm = sum(weights)
    return {s: total * w / norm for s, w in zip(symbols, weights, strict=True)}
