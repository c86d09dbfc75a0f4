"""``symbols = ALL``: the market's trading symbols, read from exchangeInfo and kept current.

The first read decides what the recorder starts with. Then exchangeInfo is read again
every ``exchange_info_interval`` seconds (or at once on SIGHUP) and the difference is
applied to the live connections (``Recording.set_symbols``): new listings are subscribed,
delisted symbols unsubscribed. A symbol leaves when exchangeInfo shows it with another
status than TRADING, or when it is missing from two reads in a row (one odd answer never
unsubscribes anything). A read that fails changes nothing and is retried at the next tick.

A new listing is recorded from its very first trade: the recorder asks REST for the
symbol's first aggregate trade and, when that trade is younger than the previous read
of exchangeInfo, the ids before the first live trade become a gap that backfill fills.
A symbol that traded long before we saw it (a quote filter widened, a halted symbol
back) starts with its next live trade, as every symbol does at the first start.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import trio

from tradestore.binance import (
    BinanceRest,
    ExchangeInfoError,
    RestError,
    SymbolInfo,
    parse_symbols,
    select_symbols,
)
from tradestore.recorder._backoff import Backoff, LogThrottle
from tradestore.recorder._config import ConfigError, RecorderConfig
from tradestore.recorder._shard import own_symbols, parse_shard
from tradestore.recorder._statistics import SymbolSetStatistics

log = logging.getLogger(__name__)

# Reads a selected symbol may be missing from before it counts as delisted.
ABSENT_READS = 2
# A listing's first trade counts as new when it is at most this much older than the
# previous read of exchangeInfo (its serverTime): room for the exchange's own delays.
LISTING_MARGIN_MS = 60_000
# Errors of one exchangeInfo read or one REST look-up that a later attempt may not meet.
_READ_ERRORS = (RestError, ExchangeInfoError, httpx.HTTPError, ValueError)


@dataclass(slots=True)
class _Counters:
    refreshes: int = 0
    refresh_failures: int = 0
    listings: int = 0
    delistings: int = 0
    catch_ups: int = 0
    last_refresh_ms: int | None = None
    last_error: str | None = None


class Recording(Protocol):
    """What the universe asks of the recorder and changes in it (``Recorder`` is one):
    defined here, below the daemon, so the daemon imports the universe and not back."""

    async def set_symbols(self, symbols: Sequence[str]) -> dict[str, list[str]]:
        """Record exactly ``symbols`` from now on; what changed ("added", "removed", ...)."""
        ...

    def new_to_store(self, symbol: str) -> bool:
        """Nothing of ``symbol`` is known yet: not stored, no trade taken."""
        ...

    def has_traded(self, symbol: str) -> bool:
        """A trade of ``symbol`` was taken (or was stored when it was added)."""
        ...

    def begin_listing(self, symbol: str, first_id: int, first_ms: int) -> None:
        """``symbol``'s record begins at its first trade ``first_id`` (time ``first_ms``)."""
        ...


class Universe:
    """The symbol selection of ``symbols = ALL`` (with its quote filter), kept current."""

    def __init__(self, config: RecorderConfig, throttle: LogThrottle | None = None) -> None:
        self.config = config
        self.market = config.market_info
        self.quote: tuple[str, ...] = config.quote
        self.throttle = throttle or LogThrottle(log)
        self.selected: list[str] = []
        self.counters = _Counters()
        self._absent: Counter[str] = Counter()
        self._trading: set[str] = set()  # every TRADING symbol of the last read
        self._quote_of: dict[str, str] = {}  # symbol -> its quote asset, as last read
        self._server_ms: int | None = None  # the last read's serverTime
        self._refresh_now = trio.Event()

    # ------------------------------------------------------------------ reading

    async def first_read(self, rest: BinanceRest) -> list[str]:
        """The symbols to start with, from exchangeInfo; retried (with backoff) until the
        exchange answers. ConfigError when nothing trades that matches the quote filter."""
        backoff = Backoff(self.config.backoff_initial, self.config.backoff_max)
        while True:
            try:
                doc = await rest.exchange_info()
                infos = parse_symbols(doc, self.market)
                break
            except _READ_ERRORS as exc:
                delay = backoff.next_delay()
                self.counters.refresh_failures += 1
                self.counters.last_error = str(exc)[:300]
                self.throttle.log(
                    "exchange-info",
                    logging.ERROR,
                    "reading %s exchangeInfo failed: %s; retrying in %.1f s",
                    self.market.title,
                    exc,
                    delay,
                    later_level=logging.WARNING,
                )
                await trio.sleep(delay)
        selected = self._chosen(infos)
        if not selected:
            quoted = f" quoted in {','.join(self.quote)}" if self.quote else ""
            raise ConfigError(f"symbols: no {self.market.title} symbol{quoted} is trading")
        self._note_read(doc, infos)
        self.selected = selected
        log.info(
            "%s exchangeInfo: %d trading symbols%s; recording all of them",
            self.market.title,
            len(selected),
            f" quoted in {','.join(self.quote)}" if self.quote else "",
        )
        return selected

    def _note_read(self, doc: dict[str, Any], infos: list[SymbolInfo]) -> None:
        self.counters.refreshes += 1
        self.counters.last_refresh_ms = int(time.time() * 1000)
        server = doc.get("serverTime")
        self._server_ms = server if type(server) is int else self.counters.last_refresh_ms
        self._trading = {i.symbol for i in infos if i.trading}
        self._quote_of.update((i.symbol, i.quote_asset) for i in infos)

    def _chosen(self, infos: list[SymbolInfo]) -> list[str]:
        """What trades and matches the quote filter (and this host's --shard)."""
        chosen = select_symbols(infos, self.quote)
        if self.config.shard is not None:
            chosen = list(own_symbols(chosen, parse_shard(self.config.shard)))
        return chosen

    def select(self, infos: list[SymbolInfo]) -> list[str]:
        """The selection after a read: what trades (and matches the quote filter), plus
        the selected symbols missing from fewer than ABSENT_READS reads in a row."""
        present = {i.symbol for i in infos}
        chosen = set(self._chosen(infos))
        wanted_quote = set(self.quote)
        for symbol in self.selected:
            if symbol in present:
                self._absent.pop(symbol, None)
                continue
            self._absent[symbol] += 1
            quoted = not wanted_quote or self._quote_of.get(symbol) in wanted_quote
            if self._absent[symbol] < ABSENT_READS and quoted:
                chosen.add(symbol)
        return sorted(chosen)

    # ------------------------------------------------------------------ keeping current

    def refresh_soon(self, quote: tuple[str, ...] | None = None) -> None:
        """Read exchangeInfo now (SIGHUP), with a new quote filter if given."""
        if quote is not None:
            self.quote = quote
        self._refresh_now.set()

    async def serve(
        self,
        recorder: Recording,
        rest: BinanceRest,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Re-read exchangeInfo every ``exchange_info_interval`` seconds (on a fixed grid)
        and apply each difference to the recorder, until cancelled."""
        interval = self.config.exchange_info_interval
        next_at = trio.current_time() + interval
        async with trio.open_nursery() as catch_ups:
            task_status.started()
            while True:
                with trio.move_on_at(next_at):
                    await self._refresh_now.wait()
                self._refresh_now = trio.Event()
                try:
                    await self.refresh(recorder, rest, catch_ups)
                except Exception as exc:  # never let a refresh take the recording down
                    self.counters.refresh_failures += 1
                    self.counters.last_error = repr(exc)[:300]
                    log.error("applying exchangeInfo failed", exc_info=exc)
                now = trio.current_time()
                while next_at <= now:
                    next_at += interval

    async def refresh(
        self, recorder: Recording, rest: BinanceRest, catch_ups: trio.Nursery | None = None
    ) -> dict[str, list[str]] | None:
        """One read of exchangeInfo applied to the recorder; None if the read failed."""
        previous_server_ms = self._server_ms
        trading_before = self._trading
        try:
            doc = await rest.exchange_info()
            infos = parse_symbols(doc, self.market)
        except _READ_ERRORS as exc:
            self.counters.refresh_failures += 1
            self.counters.last_error = str(exc)[:300]
            self.throttle.log(
                "exchange-info",
                logging.ERROR,
                "reading %s exchangeInfo failed: %s; the symbol list stays as it is",
                self.market.title,
                exc,
                later_level=logging.WARNING,
            )
            return None
        wanted = self.select(infos)
        self._note_read(doc, infos)
        if not wanted:
            self.throttle.log(
                "exchange-info-empty",
                logging.ERROR,
                "%s exchangeInfo lists no trading symbol%s; keeping the %d recorded",
                self.market.title,
                f" quoted in {','.join(self.quote)}" if self.quote else "",
                len(self.selected),
            )
            return None
        if wanted == self.selected:
            return {"added": [], "removed": []}
        change = await recorder.set_symbols(wanted)
        self.selected = wanted
        listed = [s for s in change["added"] if s not in trading_before]
        delisted = [s for s in change["removed"] if s not in self._trading]
        self.counters.listings += len(listed)
        self.counters.delistings += len(delisted)
        for symbol in delisted:
            self._absent.pop(symbol, None)
        log.info(
            "%s exchangeInfo: %d symbols recorded; listed %s; delisted %s",
            self.market.title,
            len(wanted),
            ",".join(listed) or "none",
            ",".join(delisted) or "none",
        )
        if catch_ups is not None and previous_server_ms is not None:
            since = previous_server_ms - LISTING_MARGIN_MS
            for symbol in listed:
                if recorder.new_to_store(symbol):
                    catch_ups.start_soon(self.catch_up_listing, recorder, rest, symbol, since)
        return change

    async def catch_up_listing(
        self, recorder: Recording, rest: BinanceRest, symbol: str, since_ms: int
    ) -> None:
        """Record a new listing from its first trade when that trade is no older than
        ``since_ms``; otherwise (an old symbol) from its next live trade."""
        interval = self.config.exchange_info_interval
        for _attempt in range(10):
            try:
                rows = await rest.agg_trades(symbol, 0, 1)
                first = _first_row(rows)
            except _READ_ERRORS as exc:
                log.warning("%s: looking up its first trade failed: %s", symbol, exc)
                await trio.sleep(interval)
                continue
            if first is not None:
                first_id, first_ms = first
                if first_ms >= since_ms:
                    recorder.begin_listing(symbol, first_id, first_ms)
                    self.counters.catch_ups += 1
                    log.info(
                        "%s: new listing, recorded from its first trade (agg id %d); the "
                        "trades before the subscription are backfilled",
                        symbol,
                        first_id,
                    )
                else:
                    log.info("%s: traded before it was listed here; recording from now", symbol)
                return
            # Nothing traded yet: look again once the first trade has arrived live (or
            # a while has passed), in case one slipped in before the subscription.
            with trio.move_on_after(interval):
                while not recorder.has_traded(symbol):  # noqa: ASYNC110 - batcher state
                    await trio.sleep(1.0)

    # ------------------------------------------------------------------ counters

    def statistics(
        self, subscribed: int, control_messages: int, control_failures: int
    ) -> SymbolSetStatistics:
        c = self.counters
        return SymbolSetStatistics(
            market=self.market.name,
            follow_all=True,
            quote=self.quote,
            subscribed=subscribed,
            listings=c.listings,
            delistings=c.delistings,
            catch_ups=c.catch_ups,
            refreshes=c.refreshes,
            refresh_failures=c.refresh_failures,
            last_refresh_ms=c.last_refresh_ms,
            last_error=c.last_error,
            control_messages=control_messages,
            control_failures=control_failures,
        )


def _first_row(rows: list[dict]) -> tuple[int, int] | None:
    if not rows:
        return None
    a, t = rows[0].get("a"), rows[0].get("T")
    if type(a) is not int or type(t) is not int:
        raise RestError(f"malformed aggTrades row: {str(rows[0])[:200]}")
    return a, t
