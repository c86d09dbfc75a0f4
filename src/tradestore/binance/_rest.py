"""A small Binance market-data REST client on httpx, honouring Binance's rate limits.

Every call costs its market's request weight (spot ``GET /api/v3/aggTrades``: 4 of 6000 a
minute; futures: 20 of 2400), and the weight used so far is read back from
``X-MBX-USED-WEIGHT-1M``; a 429 or 418 answer means wait ``Retry-After`` seconds before
anything else; transport errors and 5xx answers are retried with backoff (a one-shot
command bounds the time without any answer: ``ExchangeUnreachable``). Several
tasks may share one client: requests in flight count against the budget, and a 429 or
418 pauses every request of the client, not only the one that received it.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import trio

from tradestore._errors import TradestoreError
from tradestore.binance._markets import AGG_TRADES_PAGE, RATE_LIMIT_STATUSES, SPOT, Market

log = logging.getLogger(__name__)

PAGE_LIMIT = AGG_TRADES_PAGE
# A rate-limited answer without a usable Retry-After: wait out a whole weight window.
RETRY_AFTER_FALLBACK_S = 60.0
# Never hammer back sooner than this, whatever the header says.
RETRY_AFTER_MIN_S = 1.0


class RestError(TradestoreError, RuntimeError):
    """A REST answer that retrying will not fix (bad symbol, malformed body)."""


class ExchangeUnreachable(TradestoreError, RuntimeError):
    """No answer at all (DNS, a refused or dropped connection, a timeout) for the client's
    ``give_up_after`` seconds; the last transport error is its ``__cause__``. Neither a
    RestError nor an httpx error: a gap fill does not record it as the gap's failure."""

    def __init__(self, url: str, seconds: float, attempts: int) -> None:
        super().__init__(f"no answer from {url} for {seconds:.1f} s ({attempts} attempts)")
        self.url = url
        self.seconds = seconds
        self.attempts = attempts


@dataclass
class RestStats:
    calls: int = 0
    rate_limited: int = 0  # 429 and 418 answers
    waited_s: float = 0.0
    invalid_rows_skipped: int = 0
    trades_fetched: int = 0
    exchange_info_calls: int = 0


class BinanceRest:
    """A small Binance market-data REST client on httpx (runs under Trio through anyio)."""

    def __init__(
        self,
        base_url: str,
        *,
        market: Market = SPOT,
        weight_budget: int | None = None,
        transient_retries: int = 5,
        give_up_after: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``weight_budget``: the request weight this client lets itself use per minute
        (default: all of the market's). ``give_up_after``: instead of ``transient_retries``
        tries per request, retry transport errors until the exchange has not answered
        anything for this many seconds, then raise ExchangeUnreachable."""
        self.market = market
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(10.0),
            headers={"User-Agent": "tradestore-trio"},
        )
        self._weight_budget = market.weight_per_minute if weight_budget is None else weight_budget
        self._used_weight = 0
        self._in_flight = 0
        self._paused_until = 0.0  # trio time before which no request is sent (Retry-After)
        self._retries = transient_retries
        self._give_up_after = give_up_after
        self._unanswered_since: float | None = None  # trio time of the first failure
        self._unanswered_tries = 0
        self._clock = clock
        self.stats = RestStats()

    async def __aenter__(self) -> BinanceRest:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self._client.aclose()

    async def agg_trades(self, symbol: str, from_id: int, limit: int = PAGE_LIMIT) -> list[dict]:
        """One page of raw aggTrades rows starting at ``from_id`` (inclusive)."""
        return await self._agg_trades(
            {"symbol": symbol, "fromId": from_id, "limit": limit}, f"{symbol} fromId={from_id}"
        )

    async def recent_agg_trades(self, symbol: str, limit: int = 1) -> list[dict]:
        """The exchange's latest ``limit`` aggTrades rows of ``symbol`` (oldest first): what
        a stall check compares with the last id received. Same weight as a page."""
        return await self._agg_trades({"symbol": symbol, "limit": limit}, f"{symbol} latest")

    async def exchange_info(self) -> dict:
        """The market's ``exchangeInfo`` document (symbols, their status and assets).

        The spot document runs to megabytes; it is parsed in a worker thread so the
        event loop (and the WebSocket pongs it sends) never waits on it."""
        response = await self._get(
            self.market.exchange_info_path, {}, self.market.exchange_info_weight, "exchangeInfo"
        )
        doc = await trio.to_thread.run_sync(json.loads, response.content)
        if not isinstance(doc, dict) or not isinstance(doc.get("symbols"), list):
            raise RestError(f"exchangeInfo answer has no symbols list: {response.text[:200]}")
        self.stats.exchange_info_calls += 1
        return doc

    async def _agg_trades(self, params: dict[str, str | int], what: str) -> list[dict]:
        weight = self.market.agg_trades_weight
        response = await self._get(self.market.agg_trades_path, params, weight, what)
        rows = response.json()
        if not isinstance(rows, list):
            raise RestError(f"REST answer is not a list: {response.text[:200]}")
        return rows

    async def _get(
        self, path: str, params: dict[str, str | int], weight: int, what: str
    ) -> httpx.Response:
        """A 200 answer to ``GET path``, within the weight budget, after any waits that
        rate limits ask for and retries of transient failures."""
        failures = 0
        while True:
            await self._respect_weight_budget(weight)
            self.stats.calls += 1
            self._in_flight += 1
            try:
                response = await self._client.get(path, params=params)
            except httpx.TransportError as exc:
                failures += 1
                delay = min(2.0**failures, 30.0)
                if self._give_up_after is None:
                    if failures > self._retries:
                        raise
                else:
                    delay = min(delay, self._left_before_giving_up(exc))
                log.warning(
                    "REST %s failed (%s); retry in %.0f s",
                    what,
                    str(exc) or type(exc).__name__,  # a timeout's text is empty
                    delay,
                )
                await self._wait(delay)
                continue
            finally:
                self._in_flight -= 1
            self._unanswered_since, self._unanswered_tries = None, 0
            self._note_weight(response, weight)
            if response.status_code in RATE_LIMIT_STATUSES:
                self.stats.rate_limited += 1
                asked = parse_retry_after(response.headers.get("Retry-After"))
                delay = max(RETRY_AFTER_FALLBACK_S if asked is None else asked, RETRY_AFTER_MIN_S)
                log.warning(
                    "REST answered %d (%s); waiting Retry-After %.0f s",
                    response.status_code,
                    "rate limited" if response.status_code == 429 else "IP banned",
                    delay,
                )
                # Every request of this client waits it out, not only this one.
                self._paused_until = max(self._paused_until, trio.current_time() + delay)
                await self._wait(delay)
                continue
            if response.status_code >= 500:
                failures += 1
                if failures > self._retries:
                    raise RestError(f"REST {response.status_code} after {failures} tries")
                await self._wait(min(2.0**failures, 30.0))
                continue
            if response.status_code != 200:
                raise RestError(f"REST {response.status_code}: {response.text[:200]}")
            return response

    def _left_before_giving_up(self, exc: httpx.TransportError) -> float:
        """Seconds left of ``give_up_after`` since the exchange last answered (counted
        across requests); raise ExchangeUnreachable from ``exc`` when none are."""
        assert self._give_up_after is not None
        now = trio.current_time()
        if self._unanswered_since is None:
            self._unanswered_since = now
        self._unanswered_tries += 1
        waited = now - self._unanswered_since
        if waited >= self._give_up_after:
            raise ExchangeUnreachable(
                str(self._client.base_url), waited, self._unanswered_tries
            ) from exc
        return self._give_up_after - waited

    def _note_weight(self, response: httpx.Response, weight: int) -> None:
        used = response.headers.get("X-MBX-USED-WEIGHT-1M") or response.headers.get(
            "x-mbx-used-weight-1m"
        )
        if used and used.isdigit():
            self._used_weight = int(used)
        else:
            self._used_weight += weight

    async def _respect_weight_budget(self, weight: int) -> None:
        pause = self._paused_until - trio.current_time()
        if pause > 0:
            await self._wait(pause)
        # Requests in flight have spent their weight already, the header just not yet.
        if self._used_weight + (self._in_flight + 1) * weight <= self._weight_budget:
            return
        # The used-weight window resets at each wall-clock minute.
        delay = 60.5 - self._clock() % 60
        log.warning(
            "REST weight %d of %d used: waiting %.0f s",
            self._used_weight,
            self._weight_budget,
            delay,
        )
        await self._wait(delay)
        self._used_weight = 0

    async def _wait(self, seconds: float) -> None:
        self.stats.waited_s += seconds
        await trio.sleep(seconds)


def parse_retry_after(value: str | bytes | None) -> float | None:
    """The seconds a ``Retry-After`` header value asks to wait; None when there is no
    value or it is not a finite number (Binance sends seconds, never the HTTP-date form).
    A negative value reads as 0. Each caller decides what None means for it."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    try:
        seconds = float(value)
    except ValueError:
        return None
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)
