"""Fill agg-id gaps from Binance REST ``GET /api/v3/aggTrades`` (paged by fromId).

Rows Binance marks invalid (``p="0"``, ``q="0"`` or ``f=-1``) are skipped. Fetched trades
are stored one batch per second of trade time, the same format as live data; the store
leaves out every agg id it already holds, so a re-run after a crash stores nothing twice.

``bound_gap`` keeps a fill within a horizon (the recorder's retention window, or a few
days): the part of a hole older than it is recorded once as unfillable instead of being
fetched, so a resume point months old costs a few probes, not millions of ids.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from itertools import groupby

import httpx
import trio

from tradestore._model import AggTrade
from tradestore._timeparse import format_time_ms
from tradestore.binance._rest import PAGE_LIMIT, BinanceRest, RestError
from tradestore.codec._decimal import is_plain_decimal
from tradestore.store import FILLED, UNFILLABLE, Gap, TradeStore

log = logging.getLogger(__name__)


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
    invalid_ids: list[int] = field(default_factory=list)
    missing: list[tuple[int, int]] = field(default_factory=list)  # ids the exchange did not return
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
    next_id = result.next_id = first_id
    while next_id <= last_id:
        rows = await rest.agg_trades(symbol, next_id, min(PAGE_LIMIT, last_id - next_id + 1))
        if not rows:
            result.missing.append((next_id, last_id))
            break
        _check_ids(rows, next_id)
        trades, expected = _page_trades(rows, next_id, last_id, result, rest)
        progress = [(symbol, gap.with_progress(expected, "backfill in progress"))] if gap else []
        result.stored += await trio.to_thread.run_sync(
            _store_batches, store, symbol, _by_second(trades), progress
        )
        if on_page:
            on_page(len(trades))
        result.next_id = expected
        if expected == next_id:  # nothing usable in range: avoid spinning
            break
        next_id = expected
    return result


def _check_ids(rows: list[dict], from_id: int) -> None:
    """REST rows must come in increasing agg-id order, none before ``from_id``."""
    previous = from_id - 1
    for row in rows:
        a = row.get("a")
        if type(a) is not int or a <= previous:
            if type(a) is int and a >= from_id:
                raise RestError(f"REST returned id {a} out of order (after {previous})")
            raise RestError(f"REST returned id {a!r} before fromId {from_id}")
        previous = a


def _page_trades(
    rows: list[dict], next_id: int, last_id: int, result: FillResult, rest: BinanceRest
) -> tuple[list[AggTrade], int]:
    """The trades of one page within next_id..last_id, noting in ``result`` the ids the
    exchange skipped and the rows it marks invalid; also the id the next page starts at."""
    trades = []
    expected = next_id
    for row in rows:
        a = row["a"]
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
    return trades, expected


def _by_second(trades: list[AggTrade]) -> list[list[AggTrade]]:
    """One batch per second of trade time, the shape live data is stored in."""
    return [list(g) for _s, g in groupby(trades, key=lambda t: t.time_ms // 1000)]


def _store_batches(store: TradeStore, symbol: str, batches: list, progress: list) -> int:
    """Store the batches; the number of trades that were new (not already stored)."""
    new = 0
    for i, batch in enumerate(batches):
        report = store.write_batches(
            {symbol: batch}, gaps=progress if i == len(batches) - 1 else ()
        )
        new += report.total_new
    if not batches and progress:
        store.write_batches({}, gaps=progress)
    return new


async def bound_gap(
    store: TradeStore, rest: BinanceRest, symbol: str, gap: Gap, horizon_ms: int
) -> list[Gap]:
    """Split off the part of ``gap`` whose trades are older than ``horizon_ms``.

    That part is recorded as unfillable (the hole stays on record, once) and is never
    fetched; what is left is recorded as an open gap of its own. Returns the gap records
    now stored, oldest first: [gap] unchanged when it lies wholly after the horizon.
    Finding the first id at the horizon takes about log2(gap size) one-row requests.
    """
    if gap.after_time_ms >= horizon_ms:
        return [gap]
    split, split_ms = gap.last_id + 1, gap.before_time_ms
    if gap.before_time_ms >= horizon_ms:
        split, split_ms = await _first_id_at(rest, symbol, gap, horizon_ms)
    if split <= gap.first_id:
        return [gap]
    older = replace(
        gap.with_status(
            UNFILLABLE,
            reason=f"older than the backfill horizon ({format_time_ms(horizon_ms)}): not "
            "fetched; import it from data.binance.vision",
            filled_ms=int(time.time() * 1000),
        ),
        last_id=split - 1,
        before_time_ms=split_ms,
        resume_from=None,
    )
    parts = [older]
    if split <= gap.last_id:
        # An earlier fill's progress still counts when it lies past the split.
        resume = (
            gap.resume_from if gap.resume_from is not None and gap.resume_from > split else None
        )
        parts.append(replace(gap, first_id=split, after_time_ms=split_ms, resume_from=resume))
    await trio.to_thread.run_sync(_put_gaps, store, symbol, parts)
    log.warning(
        "%s: agg ids %d..%d (%d trades) lie before the backfill horizon %s: recorded as "
        "unfillable, not fetched%s",
        symbol,
        older.first_id,
        older.last_id,
        older.size,
        format_time_ms(horizon_ms),
        f"; ids {split}..{gap.last_id} will be backfilled" if len(parts) > 1 else "",
    )
    return parts


async def _first_id_at(
    rest: BinanceRest, symbol: str, gap: Gap, horizon_ms: int
) -> tuple[int, int]:
    """(the first id in the gap traded at or after horizon_ms, its time), by bisection
    over one-row ``fromId`` requests; (gap.last_id + 1, gap.before_time_ms) if none is."""
    lo, hi = gap.first_id, gap.last_id + 1
    hi_ms = gap.before_time_ms
    while lo < hi:
        mid = (lo + hi) // 2
        rows = await rest.agg_trades(symbol, mid, 1)
        a, t = (rows[0].get("a"), rows[0].get("T")) if rows else (None, None)
        if type(a) is not int or type(t) is not int or a > gap.last_id:
            hi = mid  # no id from mid to the end of the gap exists
        elif t >= horizon_ms:
            hi, hi_ms = mid, t  # ids mid..a-1 do not exist; a is at or after the horizon
        else:
            lo = a + 1
    return hi, hi_ms


def _put_gaps(store: TradeStore, symbol: str, gaps: list[Gap]) -> None:
    store.write_batches({}, gaps=[(symbol, g) for g in gaps])


def _start(gap: Gap) -> int:
    """The first id of a gap still to fetch (a resumed fill starts past its progress)."""
    return gap.resume_from if gap.resume_from is not None else gap.first_id


async def fill_gap(store: TradeStore, rest: BinanceRest, symbol: str, gap: Gap) -> Gap:
    """Fill one gap; return (and store) its new record: filled, unfillable, or still open."""
    start = _start(gap)
    log.debug("backfilling %s ids %d..%d", symbol, start, gap.last_id)
    result = FillResult()
    try:
        await backfill_range(store, rest, symbol, start, gap.last_id, gap=gap, result=result)
    except (RestError, httpx.HTTPError, ValueError) as exc:
        return await _failed(store, symbol, gap, exc, result.next_id)
    updated = _outcome(gap, result)
    await trio.to_thread.run_sync(store.put_gap, symbol, updated)
    _log_outcome(symbol, gap, updated, result)
    return updated


async def fill_gaps(
    store: TradeStore, rest: BinanceRest, symbol: str, gaps: list[Gap]
) -> list[Gap]:
    """Fill several gaps of one symbol that lie within one REST page with one request.

    Each gap ends as ``fill_gap`` would end it (its trades and its new record in one
    write); a gap the page does not reach to its end (the exchange returned fewer rows)
    goes on with ``fill_gap`` from where the page stopped. A page costs the same weight
    whatever its size, so thousands of small gaps (one per symbol of a cut connection,
    several per symbol over time) drain in as many requests as symbols, not as gaps."""
    if len(gaps) == 1:
        return [await fill_gap(store, rest, symbol, gaps[0])]
    first = min(_start(g) for g in gaps)
    last = max(g.last_id for g in gaps)
    if last - first + 1 > PAGE_LIMIT:
        raise ValueError(f"gaps {first}..{last} do not fit in one page of {PAGE_LIMIT}")
    try:
        rows = await rest.agg_trades(symbol, first, last - first + 1)
        _check_ids(rows, first)
    except (RestError, httpx.HTTPError, ValueError) as exc:
        return [await _failed(store, symbol, g, exc, None) for g in gaps]
    reached = rows[-1]["a"] if rows else first - 1
    done = []
    for gap in sorted(gaps, key=lambda g: g.first_id):
        start = _start(gap)
        if reached < gap.last_id:
            done.append(await fill_gap(store, rest, symbol, gap))
            continue
        result = FillResult()
        inside = [r for r in rows if start <= r["a"] <= gap.last_id]
        trades, expected = _page_trades(inside, start, gap.last_id, result, rest)
        if expected <= gap.last_id:  # the page went past the gap without these ids
            result.missing.append((expected, gap.last_id))
        updated = _outcome(gap, result)
        result.stored = await trio.to_thread.run_sync(
            _store_batches, store, symbol, _by_second(trades), [(symbol, updated)]
        )
        _log_outcome(symbol, gap, updated, result)
        done.append(updated)
    return done


async def _failed(
    store: TradeStore, symbol: str, gap: Gap, exc: BaseException, next_id: int | None
) -> Gap:
    # ValueError: a body that is not JSON. The gap stays open, with the reason and the
    # progress made (the next attempt resumes there).
    updated = gap.with_status(gap.status, reason=f"backfill failed: {exc}"[:300])
    if next_id is not None and next_id > _start(gap):
        updated = replace(updated, resume_from=next_id)
    await trio.to_thread.run_sync(store.put_gap, symbol, updated)
    log.error("backfill of %s %d..%d failed: %s", symbol, gap.first_id, gap.last_id, exc)
    return updated


def _outcome(gap: Gap, result: FillResult) -> Gap:
    """The gap's record once every id of it was fetched: filled, or unfillable."""
    now = int(time.time() * 1000)
    if result.missing:
        missing = sum(b - a + 1 for a, b in result.missing)
        return gap.with_status(
            UNFILLABLE, reason=f"exchange returned no data for {missing} ids", filled_ms=now
        )
    reason = ""
    if result.invalid_ids:
        shown = ", ".join(map(str, result.invalid_ids[:20]))
        more = ", ..." if len(result.invalid_ids) > 20 else ""
        reason = f"{len(result.invalid_ids)} rows marked invalid by the exchange skipped (ids {shown}{more})"
    return gap.with_status(FILLED, reason=reason, filled_ms=now)


def _log_outcome(symbol: str, gap: Gap, updated: Gap, result: FillResult) -> None:
    log.info(
        "gap %s %d..%d %s (%d trades stored)",
        symbol,
        gap.first_id,
        gap.last_id,
        updated.status,
        result.stored,
    )
