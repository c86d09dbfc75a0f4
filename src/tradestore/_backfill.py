"""Fill agg-id gaps from Binance REST ``GET /api/v3/aggTrades`` (paged by fromId).

Rate limits are honoured the way Binance asks: each call costs 4 weight against a budget
of 6000 a minute, read back from ``X-MBX-USED-WEIGHT-1M``; a 429 or 418 answer means wait
``Retry-After`` seconds before anything else. Rows Binance marks invalid (``p="0"``,
``q="0"`` or ``f=-1``) are skipped. Fetched trades are stored one batch per second of trade
time, the same format as live data, so a re-run after a crash rewrites identical batches
(a no-op) instead of duplicating them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from itertools import groupby

import httpx
import trio

from tradestore._gaps import FILLED, UNFILLABLE, Gap
from tradestore._model import AggTrade
from tradestore._pure.parse import is_plain_decimal
from tradestore._store import TradeStore

log = logging.getLogger(__name__)

PAGE_LIMIT = 1000
CALL_WEIGHT = 4
WEIGHT_BUDGET_PER_MIN = 6000


class RestError(RuntimeError):
    """A REST answer that retrying will not fix (bad symbol, malformed body)."""


@dataclass
class RestStats:
    calls: int = 0
    rate_limited: int = 0  # 429 and 418 answers
    waited_s: float = 0.0
    invalid_rows_skipped: int = 0
    trades_fetched: int = 0


class BinanceRest:
    """A small Binance market-data REST client on httpx (runs under Trio through anyio)."""

    def __init__(
        self,
        base_url: str,
        *,
        weight_budget: int = WEIGHT_BUDGET_PER_MIN,
        transient_retries: int = 5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(10.0),
            headers={"User-Agent": "tradestore-trio"},
        )
        self._weight_budget = weight_budget
        self._used_weight = 0
        self._retries = transient_retries
        self._clock = clock
        self.stats = RestStats()

    async def __aenter__(self) -> BinanceRest:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self._client.aclose()

    async def agg_trades(self, symbol: str, from_id: int, limit: int = PAGE_LIMIT) -> list[dict]:
        """One page of raw aggTrades rows starting at ``from_id`` (inclusive)."""
        params = {"symbol": symbol, "fromId": from_id, "limit": limit}
        failures = 0
        while True:
            await self._respect_weight_budget()
            self.stats.calls += 1
            try:
                response = await self._client.get("/api/v3/aggTrades", params=params)
            except httpx.TransportError as exc:
                failures += 1
                if failures > self._retries:
                    raise
                delay = min(2.0**failures, 30.0)
                log.warning(
                    "REST %s fromId=%d failed (%s); retry in %.0f s", symbol, from_id, exc, delay
                )
                await self._wait(delay)
                continue
            self._note_weight(response)
            if response.status_code in (429, 418):
                self.stats.rate_limited += 1
                delay = _retry_after(response)
                log.warning(
                    "REST answered %d (%s); waiting Retry-After %.0f s",
                    response.status_code,
                    "rate limited" if response.status_code == 429 else "IP banned",
                    delay,
                )
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
            rows = response.json()
            if not isinstance(rows, list):
                raise RestError(f"REST answer is not a list: {response.text[:200]}")
            return rows

    def _note_weight(self, response: httpx.Response) -> None:
        used = response.headers.get("X-MBX-USED-WEIGHT-1M") or response.headers.get(
            "x-mbx-used-weight-1m"
        )
        if used and used.isdigit():
            self._used_weight = int(used)
        else:
            self._used_weight += CALL_WEIGHT

    async def _respect_weight_budget(self) -> None:
        if self._used_weight + CALL_WEIGHT <= self._weight_budget:
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


def _retry_after(response: httpx.Response) -> float:
    value = response.headers.get("Retry-After", "")
    try:
        return max(float(value), 1.0)
    except ValueError:
        return 60.0


def row_trade(row: dict) -> AggTrade | None:
    """An AggTrade from a REST row, or None for rows Binance marks invalid."""
    p, q, first = row.get("p"), row.get("q"), row.get("f")
    if p == "0" or q == "0" or first == -1:
        return None
    a, t, m = row.get("a"), row.get("T"), row.get("m")
    if not (type(a) is int and type(t) is int and type(m) is bool):
        raise RestError(f"malformed aggTrades row: {str(row)[:200]}")
    if not (
        isinstance(p, str) and isinstance(q, str) and is_plain_decimal(p) and is_plain_decimal(q)
    ):
        raise RestError(f"malformed aggTrades row: {str(row)[:200]}")
    return AggTrade(a, Decimal(p), Decimal(q), t, m)


@dataclass
class FillResult:
    stored: int = 0
    invalid_skipped: int = 0
    invalid_ids: list[int] | None = None
    missing: list[tuple[int, int]] | None = None  # ids the exchange did not return
    next_id: int | None = None  # ids below this are done (stored, skipped or missing)


async def backfill_range(
    store: TradeStore,
    rest: BinanceRest,
    symbol: str,
    first_id: int,
    last_id: int,
    *,
    on_page: Callable[[int], None] | None = None,
    gap: Gap | None = None,
    result: FillResult | None = None,
) -> FillResult:
    """Fetch ids first_id..last_id and store them; with ``gap``, persist progress per page.

    ``result`` (filled in as pages are stored) tells a caller that catches an exception
    how far the range got."""
    if result is None:
        result = FillResult()
    result.missing = [] if result.missing is None else result.missing
    result.invalid_ids = [] if result.invalid_ids is None else result.invalid_ids
    next_id = result.next_id = first_id
    while next_id <= last_id:
        rows = await rest.agg_trades(symbol, next_id, min(PAGE_LIMIT, last_id - next_id + 1))
        if not rows:
            result.missing.append((next_id, last_id))
            break
        trades = []
        expected = next_id
        for row in rows:
            a = row.get("a")
            if type(a) is not int or a < next_id:
                raise RestError(f"REST returned id {a!r} before fromId {next_id}")
            if a > last_id:
                # The exchange went past the range: the ids before this row do not exist.
                if expected <= last_id:
                    result.missing.append((expected, last_id))
                    expected = last_id + 1
                break
            if a > expected:
                result.missing.append((expected, a - 1))
            expected = a + 1
            trade = row_trade(row)
            if trade is None:
                result.invalid_skipped += 1
                result.invalid_ids.append(a)
                rest.stats.invalid_rows_skipped += 1
                continue
            trades.append(trade)
        rest.stats.trades_fetched += len(trades)
        batches = [list(g) for _s, g in groupby(trades, key=lambda t: t.time_ms // 1000)]
        progress = [(symbol, gap.with_progress(expected, "backfill in progress"))] if gap else []
        await trio.to_thread.run_sync(_store_batches, store, symbol, batches, progress)
        result.stored += len(trades)
        if on_page:
            on_page(len(trades))
        result.next_id = expected
        if expected == next_id:  # nothing usable in range: avoid spinning
            break
        next_id = expected
    return result


def _store_batches(store: TradeStore, symbol: str, batches: list, progress: list) -> None:
    for i, batch in enumerate(batches):
        store.write_batches({symbol: batch}, gaps=progress if i == len(batches) - 1 else ())
    if not batches and progress:
        store.write_batches({}, gaps=progress)


async def fill_gap(store: TradeStore, rest: BinanceRest, symbol: str, gap: Gap) -> Gap:
    """Fill one gap; return (and store) its new record: filled, unfillable, or still open."""
    start = gap.resume_from if gap.resume_from is not None else gap.first_id
    log.debug("backfilling %s ids %d..%d", symbol, start, gap.last_id)
    result = FillResult()
    try:
        await backfill_range(store, rest, symbol, start, gap.last_id, gap=gap, result=result)
    except (RestError, httpx.HTTPError, ValueError) as exc:
        # ValueError: a body that is not JSON. The gap stays open, with the reason and
        # the progress made (the next attempt resumes there).
        updated = gap.with_status(gap.status, reason=f"backfill failed: {exc}"[:300])
        if result.next_id is not None and result.next_id > start:
            updated = replace(updated, resume_from=result.next_id)
        await trio.to_thread.run_sync(store.put_gap, symbol, updated)
        log.error("backfill of %s %d..%d failed: %s", symbol, gap.first_id, gap.last_id, exc)
        return updated
    now = int(time.time() * 1000)
    if result.missing:
        missing = sum(b - a + 1 for a, b in result.missing)
        updated = gap.with_status(
            UNFILLABLE, reason=f"exchange returned no data for {missing} ids", filled_ms=now
        )
    else:
        reason = ""
        if result.invalid_ids:
            shown = ", ".join(map(str, result.invalid_ids[:20]))
            more = ", ..." if len(result.invalid_ids) > 20 else ""
            reason = f"{len(result.invalid_ids)} rows marked invalid by the exchange skipped (ids {shown}{more})"
        updated = gap.with_status(FILLED, reason=reason, filled_ms=now)
    await trio.to_thread.run_sync(store.put_gap, symbol, updated)
    log.info(
        "gap %s %d..%d %s (%d trades stored)",
        symbol,
        gap.first_id,
        gap.last_id,
        updated.status,
        result.stored,
    )
    return updated
