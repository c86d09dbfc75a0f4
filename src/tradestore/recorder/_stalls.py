"""Stall checks and the catch-up at start: no silent hole, whatever the market does.

A live stream shows a hole only when the next trade arrives. Two cases never bring one:

- **A stuck symbol.** One subscription of a combined connection stops while the others
  flow, so the connection's own watchdog sees data and is content. Each symbol's trade
  rate is followed here; a symbol silent far beyond it (``stall_factor`` x its mean
  interval between trades, at least ``stall_floor`` and at most ``stall_max`` seconds)
  while its connection is alive (still delivering other streams, or reconnected since
  and quiet as long) is *suspected* and checked against the exchange: one
  ``aggTrades?limit=1`` request for its latest trade. Newer ids there *confirm* the stall: the latest trade is taken (the
  ids before it become a gap for the backfill) and the connections carrying the symbol
  are replaced, make-before-break. No newer ids: the symbol is merely quiet, and its next
  check waits twice as long (up to ``stall_recheck_max``), so a quiet symbol costs an
  occasional request. (A stall that outlives its repair is re-checked the same way, each
  check fetching what was missed meanwhile.) All checks together stay within ``stall_check_share`` of the REST
  weight budget (a token bucket), however many symbols are quiet.
- **A crash's tail in a quiet market.** After a crash or a stop, every symbol with stored
  trades is checked the same way at start, at once: the trades the exchange made since
  the last stored one are fetched without waiting for a live trade to reveal them.
  Taking the latest trade through the batcher's arbitration means the live stream and
  the catch-up meet without duplicates and without a false gap.

The same task follows the exchange's event lag (receive time - trade time) and warns
once a minute when it is implausible for most symbols (a wrong local clock, or a replay).
"""

from __future__ import annotations

import logging
import math
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import httpx
import trio

from tradestore._model import TradeRow
from tradestore.binance import (
    BinanceRest,
    RestError,
    row_trade,
)
from tradestore.recorder._backoff import LogThrottle
from tradestore.recorder._batcher import Batcher
from tradestore.recorder._config import RecorderConfig
from tradestore.recorder._stream import Connection

log = logging.getLogger(__name__)

SCAN_EVERY = 1.0  # seconds between two looks at every symbol
RATE_TAU = 300.0  # seconds: the time constant of a symbol's smoothed trade rate
CHECKS_AT_ONCE = 4  # REST checks in flight at most
SKEW_EVERY = 10.0  # seconds between two looks at the event lag
RECENT_S = 60.0  # a symbol's event lag counts while its last live trade is this recent

CATCH_UP = "catch_up"
STALL = "stall"


@dataclass(slots=True)
class Watch:
    """What the checker knows of one symbol."""

    rate: float | None = None  # live trades per second, smoothed
    live_seen: int = 0  # the batcher's live count at the last scan
    scanned_at: float = 0.0
    recheck: float = 0.0  # after a check found it quiet: wait at least this long again
    checked_at: float | None = None
    checking: bool = False
    suspected: int = 0
    confirmed: int = 0
    quiet: int = 0  # checks that found nothing newer
    stalled_since_ms: int | None = None  # wall time of a confirmed stall, until data flows


class TokenBucket:
    """``rate`` tokens a second, at most ``capacity`` saved up (non-blocking)."""

    def __init__(self, rate: float, capacity: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self._tokens = capacity
        self._stamp: float | None = None

    def take(self, now: float) -> bool:
        if self._stamp is not None:
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


class StallChecker:
    """Watches every symbol's silence; ``serve`` catches up at start, then checks."""

    def __init__(
        self,
        config: RecorderConfig,
        batcher: Batcher,
        rest: BinanceRest,
        *,
        repair: Callable[[str], None],
        lines: Callable[[str], Sequence[Connection]] | None = None,
        throttle: LogThrottle | None = None,
    ) -> None:
        """``repair(symbol)`` replaces the connections carrying a symbol confirmed stuck;
        ``lines(symbol)`` names them (without it every silence is checked)."""
        self.config = config
        self.batcher = batcher
        self.rest = rest
        self.repair = repair
        self.lines = lines
        self.throttle = throttle or LogThrottle(log)
        self.watches: dict[str, Watch] = {}
        market = config.market_info
        per_minute = config.stall_check_share * market.weight_per_minute / market.agg_trades_weight
        # Ten seconds' worth saved up at most: no minute ever sees much above the share.
        self.bucket = TokenBucket(per_minute / 60.0, max(1.0, per_minute / 6))
        self.checks: Counter = Counter()  # kind -> REST checks made
        self.check_failures = 0
        self.caught_up = 0  # symbols whose catch-up found trades to fetch
        self.catching_up = 0  # symbols whose catch-up is still to do
        self.skew_suspected = False
        self.median_event_lag: float | None = None
        self._started_at = 0.0
        self._started_ms = 0
        self._nursery: trio.Nursery | None = None
        self._limiter: trio.CapacityLimiter | None = None

    def watch(self, symbol: str) -> Watch:
        watch = self.watches.get(symbol)
        if watch is None:
            watch = self.watches[symbol] = Watch(scanned_at=trio.current_time())
        return watch

    # ------------------------------------------------------------------ running

    async def serve(
        self,
        catch_up: Iterable[str],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Catch up ``catch_up`` (the symbols with stored trades) at once, and watch every
        recorded symbol until cancelled."""
        self._started_at = trio.current_time()
        self._started_ms = int(time.time() * 1000)
        limiter = trio.CapacityLimiter(CHECKS_AT_ONCE)
        async with trio.open_nursery() as nursery:
            symbols = list(catch_up)
            self.catching_up += len(symbols)
            self._nursery = nursery
            self._limiter = limiter
            if symbols:
                nursery.start_soon(self._catch_up, symbols, limiter)
            task_status.started()
            next_skew = trio.current_time() + SKEW_EVERY
            while True:
                now = trio.current_time()
                for symbol in self._due(now):
                    self.watches[symbol].checking = True
                    nursery.start_soon(self._check, symbol, STALL, limiter)
                if now >= next_skew:
                    self._look_at_event_lag(now)
                    next_skew = now + SKEW_EVERY
                await trio.sleep(SCAN_EVERY)

    def catch_up(self, symbols: Iterable[str]) -> None:
        """Catch up symbols added while running (those with stored trades)."""
        symbols = list(symbols)
        if symbols and self._nursery is not None and self._limiter is not None:
            self.catching_up += len(symbols)
            self._nursery.start_soon(self._catch_up, symbols, self._limiter)

    async def _catch_up(self, symbols: list[str], limiter: trio.CapacityLimiter) -> None:
        started = trio.current_time()
        async with trio.open_nursery() as nursery:
            for symbol in symbols:
                st = self.batcher.symbols.get(symbol)
                if st is None or st.live:
                    # A live trade came first: it already showed what was missed.
                    self.catching_up -= 1
                    continue
                self.watch(symbol).checking = True
                nursery.start_soon(self._check, symbol, CATCH_UP, limiter)
        log.info(
            "catch-up done in %.1f s: %d of %d symbols had trades to fetch",
            trio.current_time() - started,
            self.caught_up,
            len(symbols),
        )

    def _due(self, now: float) -> list[str]:
        """The symbols whose silence calls for a check now, longest overdue first, as
        many as the check budget allows."""
        due: list[tuple[float, str]] = []
        for symbol, st in self.batcher.symbols.items():
            watch = self.watch(symbol)
            live = st.live
            dt = now - watch.scanned_at
            if dt > 0:
                fresh = live - watch.live_seen
                sample = fresh / dt
                if watch.rate is None:
                    if fresh:
                        watch.rate = sample
                else:
                    watch.rate += (sample - watch.rate) * (1 - math.exp(-dt / RATE_TAU))
                if fresh:
                    watch.recheck = 0.0
                    watch.stalled_since_ms = None
                watch.live_seen = live
                watch.scanned_at = now
            if watch.checking:
                continue
            last = st.last_live_at if st.last_live_at is not None else self._started_at
            silent = now - last
            limit = self.threshold(watch)
            if watch.checked_at is not None:
                silent = min(silent, now - watch.checked_at)
                limit = max(limit, watch.recheck)
            if silent >= limit and self._line_alive(symbol, last, limit, now):
                due.append((silent / limit, symbol))
        due.sort(reverse=True)
        chosen: list[str] = []
        for _ratio, symbol in due:
            if not self.bucket.take(now):
                self.throttle.log(
                    "stall-budget",
                    logging.INFO,
                    "stall checks at their REST budget (%.0f a minute): %d symbols wait",
                    self.bucket.rate * 60,
                    len(due) - len(chosen),
                )
                break
            self.watches[symbol].suspected += 1
            chosen.append(symbol)
        return chosen

    def _line_alive(self, symbol: str, last: float, limit: float, now: float) -> bool:
        """Whether a line carrying ``symbol`` is alive while the symbol is silent: it kept
        delivering other streams well after the symbol's last trade (a stuck
        subscription), or it reconnected since, a whole ``limit`` ago, and is open (what
        the exchange traded while it was down is unknown). A whole connection gone silent
        is the data watchdog's to recycle, not a reason to check each of its symbols.

        The reconnect counted is the first after the symbol's last trade, not the
        current session: in a quiet market the watchdog recycles a silent connection
        every ``watchdog_floor`` seconds, sooner than a quiet symbol's ``limit``, so no
        single session stays open that long."""
        if self.lines is None:
            return True
        for line in self.lines(symbol):
            if not line.is_open:
                continue
            if line.last_frame_at is not None and line.last_frame_at - last >= limit / 2:
                return True
            reopened = line.first_open_after(last)
            if reopened is not None and now - reopened >= limit:
                return True
        return False

    def threshold(self, watch: Watch) -> float:
        """Seconds of silence that make a symbol suspect: far beyond its own rate."""
        cfg = self.config
        if not watch.rate:
            return cfg.stall_max
        return min(cfg.stall_max, max(cfg.stall_floor, cfg.stall_factor / watch.rate))

    async def _check(self, symbol: str, kind: str, limiter: trio.CapacityLimiter) -> None:
        watch = self.watch(symbol)
        try:
            async with limiter:
                st = self.batcher.symbols.get(symbol)
                if st is None or (kind == CATCH_UP and st.live):
                    return  # removed, or a live trade came first and showed what was missed
                self.checks[kind] += 1
                rows = await self.rest.recent_agg_trades(symbol, 1)
            self._compare(symbol, kind, watch, rows)
        except (RestError, httpx.HTTPError, ValueError) as exc:
            self.check_failures += 1
            self.throttle.log(
                f"check:{symbol}",
                logging.WARNING,
                "%s: %s check failed: %s",
                symbol,
                kind.replace("_", "-"),
                exc,
            )
        finally:
            watch.checking = False
            watch.checked_at = trio.current_time()
            if kind == CATCH_UP:
                self.catching_up -= 1

    def _compare(self, symbol: str, kind: str, watch: Watch, rows: list) -> None:
        """Act on the exchange's latest trade of ``symbol``."""
        st = self.batcher.symbols.get(symbol)
        if st is None or not rows:
            return  # removed meanwhile, or the exchange has no trade at all
        row = rows[-1]
        latest = row.get("a")
        when = row.get("T")
        if type(latest) is not int or type(when) is not int:
            raise RestError(f"malformed aggTrades row: {str(row)[:200]}")
        known = max(
            [st.last_id if st.last_id is not None else -1] + [t.agg_id for t, _ in st.pending]
        )
        if st.last_id is None and when < self._started_ms:
            newer = False  # nothing stored, nothing since we started: nothing missed
        else:
            newer = latest > known
        if not newer:
            if kind == STALL:
                watch.quiet += 1
                watch.recheck = min(
                    self.config.stall_recheck_max, max(self.threshold(watch), watch.recheck) * 2
                )
                log.debug("%s: quiet, not stuck (exchange at %d)", symbol, latest)
            return
        missing = latest - known - 1 if known >= 0 else 0
        trade = row_trade(row)
        if trade is None:
            self.batcher.note_hole(symbol, latest, when)
        else:
            self.batcher.accept(symbol, TradeRow.of(trade))
        if kind == CATCH_UP:
            self.caught_up += 1
            log.info(
                "%s: catch-up: the exchange is at agg id %d, %d trades after the last stored "
                "one; fetching them",
                symbol,
                latest,
                missing + 1,
            )
            return
        watch.confirmed += 1
        if watch.stalled_since_ms is None:
            watch.stalled_since_ms = int(time.time() * 1000)
        # If the repair does not take, the next checks come ever more rarely too (each
        # still fills what was missed); live trades reset this.
        watch.recheck = min(
            self.config.stall_recheck_max, max(self.threshold(watch), watch.recheck) * 2
        )
        self.throttle.log(
            f"stall:{symbol}",
            logging.WARNING,
            "%s: stuck: no trade received for %.0f s while the exchange went on to agg id %d "
            "(%d missed); recorded as a gap, replacing its connection",
            symbol,
            trio.current_time() - (st.last_live_at or self._started_at),
            latest,
            missing + 1,
        )
        self.repair(symbol)

    def _look_at_event_lag(self, now: float) -> None:
        """Warn when the exchange's trade times and the local clock disagree implausibly."""
        cfg = self.config
        lags = [
            st.event_lag
            for st in self.batcher.symbols.values()
            if st.event_lag is not None
            and st.last_live_at is not None
            and now - st.last_live_at <= RECENT_S
        ]
        if not lags:
            return
        median = self.median_event_lag = statistics.median(lags)
        self.skew_suspected = not -cfg.clock_skew_tolerance <= median <= cfg.event_lag_plausible
        if median < -cfg.clock_skew_tolerance:
            self.throttle.log(
                "clock-skew",
                logging.WARNING,
                "trades arrive %.1f s before their exchange time (median over %d symbols): "
                "the local clock is behind; check NTP",
                -median,
                len(lags),
            )
        elif median > cfg.event_lag_plausible:
            self.throttle.log(
                "clock-skew",
                logging.WARNING,
                "trades arrive %.0f s after their exchange time (median over %d symbols): "
                "a replay, a congested network, or the local clock is ahead; check NTP",
                median,
                len(lags),
            )
