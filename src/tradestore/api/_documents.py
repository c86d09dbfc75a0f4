"""The JSON documents of the read side, built in one place for every front end.

The command line's ``--format json`` (docs/OUTPUT.md), the HTTP API and the MCP tools
all give these shapes, so a result is the same wherever it is asked for. Each function
takes an open store and returns plain JSON types: decimals as exact strings, times as
RFC 3339 text or epoch ms in keys ending in ``_ms``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tradestore._model import AggTrade, decimal_text
from tradestore._timeparse import format_time_ms
from tradestore.analytics import window_levels
from tradestore.api._errors import BadArgument, NotFound
from tradestore.store import (
    Coverage,
    TradeSource,
    TradeStore,
    UnknownSymbol,
    certified_days,
    coverage_in,
    gap_tally,
    recorded_span,
)
from tradestore.store import require_symbol as store_require_symbol

MINUTE_MS = 60_000
HOUR_MS = 3_600_000


def require_symbol(store: TradeStore, symbol: str) -> None:
    """NotFound, in ``tradestore.store.require_symbol``'s words, unless a trade of
    ``symbol`` was ever stored (the command line exits 2 with the same text)."""
    try:
        store_require_symbol(store, symbol)
    except UnknownSymbol as exc:
        raise NotFound(str(exc)) from None


# ---------------------------------------------------------------------------- trades

TRADE_FIELDS = ("agg_id", "price", "qty", "time_ms", "is_buyer_maker")


def trade_record(t: AggTrade) -> dict[str, Any]:
    """A trade as a record: the library's field names, prices and quantities as the
    exchange's exact text."""
    return {
        "agg_id": t.agg_id,
        "price": decimal_text(t.price),
        "qty": decimal_text(t.qty),
        "time_ms": t.time_ms,
        "is_buyer_maker": t.is_buyer_maker,
    }


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page of trades ends: the last agg id returned and its trade time. Its text
    is ``ID-TIME``; a bare agg id is accepted too (the page then reads from the start
    of the window to find it)."""

    agg_id: int
    time_ms: int | None = None

    def __str__(self) -> str:
        return f"{self.agg_id}-{self.time_ms}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        agg, sep, time = text.partition("-")
        if agg.isascii() and agg.isdigit() and (not sep or (time.isascii() and time.isdigit())):
            return cls(int(agg), int(time) if sep else None)
        raise BadArgument(
            f"cursor: {text!r} is not a cursor (pass back a next_cursor, or an agg id)"
        )


def trades_page(
    store: TradeStore,
    symbol: str,
    start: int,
    end: int,
    *,
    limit: int,
    cursor: Cursor | None = None,
) -> dict[str, Any]:
    """The first ``limit`` trades of [start, end] after ``cursor`` (ascending agg id).

    The document is ``query --format json``'s (symbol, window, ``trades``, ``count``,
    ``coverage``) plus ``limit`` and ``next_cursor`` (null on the last page). ``count``
    and ``coverage`` describe the trades this page holds: the part of the window from
    its start (or the cursor) to its last trade (or the window's end on the last page),
    checked for missing ids from the cursor on, so a hole at a page seam is seen. A window
    that fits one page gets exactly the command line's figures.

    Reads a minute at a time, growing the step while the trades are sparse, and jumps
    over stretches where nothing is stored: the cost follows the page, not the window.
    """
    after = cursor.agg_id if cursor is not None else None
    lo = start
    if cursor is not None and cursor.time_ms is not None:
        lo = max(start, cursor.time_ms)  # agg ids rise with trade time
    page: list[AggTrade] = []
    more = False
    for t in _trades_from(store, symbol, lo, end, limit):
        if after is not None and t.agg_id <= after:
            continue
        if len(page) == limit:
            more = True
            break
        page.append(t)
    page_end = page[-1].time_ms if more else end
    first_id = page[0].agg_id if page else None
    if after is not None and page:
        first_id = after + 1  # a hole right after the cursor counts as missing
    coverage = coverage_in(
        store,
        symbol,
        first_id,
        page[-1].agg_id if page else None,
        len(page),
        min(lo, page_end),
        page_end,
        raw=True,
    )
    return {
        "symbol": symbol,
        "start": format_time_ms(start),
        "end": format_time_ms(end),
        "start_ms": start,
        "end_ms": end,
        "trades": [trade_record(t) for t in page],
        "count": len(page),
        "coverage": coverage.to_dict(),
        "limit": limit,
        "next_cursor": str(Cursor(page[-1].agg_id, page[-1].time_ms)) if more else None,
    }


def _trades_from(
    store: TradeStore, symbol: str, lo: int, end: int, want: int
) -> Iterator[AggTrade]:
    """The trades of [lo, end], ascending, read in steps that start at a minute and
    double (up to an hour) while a step yields fewer than ``want`` trades."""
    step = MINUTE_MS
    while lo <= end:
        hi = min(lo + step - 1, end)
        trades = store.query_trades(symbol, lo, hi)
        yield from trades
        lo = hi + 1
        if not trades and lo <= end:
            bound = store.next_trade_bound(symbol, lo)
            if bound is None or bound > end:
                return
            lo = bound
        if len(trades) < want:
            step = min(step * 2, HOUR_MS)


# ---------------------------------------------------------------------------- stats

STATS_FIELDS = (
    "symbol",
    "trades",
    "recorded_from",
    "recorded_to",
    "first_trade_time",
    "last_trade_time",
    "first_time_ms",
    "last_time_ms",
    "first_agg_id",
    "last_agg_id",
    "open_gaps",
    "filled_gaps",
    "unfillable_gaps",
    "missing_ids_open",
    "bytes_on_disk_est",
    "certified_days",
    "last_certified",
)


def stats_records(
    store: TradeStore, symbol: str | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(header, one record per symbol): what the store holds. NotFound for a ``symbol``
    never stored; one whose trades were all pruned has a record of 0 trades."""
    if symbol is not None:
        require_symbol(store, symbol)
    stats = store.stats()
    symbols = stats["symbols"]
    if symbol is not None:
        symbols = {symbol: symbols.get(symbol) or _pruned_stats(store, symbol)}
    header = {
        "path": stats["path"],
        "format_version": stats["format_version"],
        "bytes_on_disk": stats["bytes_on_disk"],
        "table_bytes": stats["table_bytes"],
    }
    records = [
        {**stats_record(name, s, recorded_span(store, name)), **certified_fields(store, name)}
        for name, s in symbols.items()
    ]
    return header, records


def certified_fields(store: TradeStore, symbol: str) -> dict[str, Any]:
    """The UTC days certified against Binance's published files (``verify --against``)
    that still hold: how many, and the last."""
    days = certified_days(store, symbol)
    return {
        "certified_days": len(days),
        "last_certified": max(days).isoformat() if days else None,
    }


def _pruned_stats(store: TradeStore, symbol: str) -> dict[str, Any]:
    """The ``TradeStore.stats`` row of a symbol stored once whose trades are all gone."""
    return {
        "trades": 0,
        "first_time_ms": None,
        "last_time_ms": None,
        "first_agg_id": None,
        "last_agg_id": store.last_agg_id(symbol),
        **gap_tally(store.gaps(symbol)),
        "bytes_on_disk_est": 0,
    }


def stats_document(header: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    """``stats --format json``: the header and the records keyed by symbol."""
    return {**header, "symbols": {r["symbol"]: r for r in records}}


def stats_record(symbol: str, s: dict[str, Any], span: tuple[int, int] | None) -> dict[str, Any]:
    """The same fields in every format (a None time is null in JSON, empty in CSV)."""
    return {
        "symbol": symbol,
        "trades": s["trades"],
        "recorded_from": None if span is None else format_time_ms(span[0]),
        "recorded_to": None if span is None else format_time_ms(span[1]),
        "first_trade_time": _time(s["first_time_ms"]),
        "last_trade_time": _time(s["last_time_ms"]),
        "first_time_ms": s["first_time_ms"],
        "last_time_ms": s["last_time_ms"],
        "first_agg_id": s["first_agg_id"],
        "last_agg_id": s["last_agg_id"],
        "open_gaps": s["open_gaps"],
        "filled_gaps": s["filled_gaps"],
        "unfillable_gaps": s["unfillable_gaps"],
        "missing_ids_open": s["missing_ids_open"],
        "bytes_on_disk_est": s["bytes_on_disk_est"],
    }


def _time(ms: int | None) -> str | None:
    return None if ms is None else format_time_ms(ms)


# ---------------------------------------------------------------------------- gaps

GAP_FIELDS = ("symbol", "first_id", "last_id", "missing", "from", "to", "status", "reason")


def gap_records(store: TradeStore, symbols: list[str], *, open_only: bool) -> list[dict[str, Any]]:
    """The gap records of ``symbols`` (only the open ones with ``open_only``)."""
    return [
        {
            "symbol": symbol,
            "first_id": g.first_id,
            "last_id": g.last_id,
            "missing": g.size,
            "from": format_time_ms(g.after_time_ms),
            "to": format_time_ms(g.before_time_ms),
            "status": g.status,
            "reason": g.reason,
        }
        for symbol in symbols
        for g in store.gaps(symbol)
        if not open_only or g.status == "open"
    ]


def gaps_document(
    records: list[dict[str, Any]], *, open_only: bool, limit: int | None
) -> dict[str, Any]:
    """``gaps --format json``: ``count`` is every matching gap, ``gaps`` at most ``limit``."""
    shown = records if limit is None else records[:limit]
    return {"open_only": open_only, "count": len(records), "gaps": shown}


# ---------------------------------------------------------------------------- coverage


def coverage_document(store: TradeSource, symbol: str, start: int, end: int) -> dict[str, Any]:
    """Whether [start, end] of ``symbol`` is recorded and whole (docs/OUTPUT.md,
    "Coverage"). Reads the summaries of the window's rollups where they are kept (as
    every analytic does, so the answers agree where the trades are pruned), else only
    the window's agg ids, an hour at a time."""
    state = store.rollup_state(symbol)
    if state is not None and state.kept:
        with store.reading():
            levels = window_levels(store, symbol, start, end)
            coverage = coverage_in(
                store,
                symbol,
                levels.first_agg_id,
                levels.last_agg_id,
                levels.trade_count,
                start,
                end,
                answered=levels.answered,
            )
        return _coverage_doc(symbol, start, end, coverage)
    count, first_id, last_id = 0, None, None
    lo = start
    while lo <= end:
        hi = min(lo + HOUR_MS - 1, end)
        ids = store.query_columns(symbol, lo, hi).agg_id
        n = int(ids.shape[0])
        if n:
            count += n
            first_id = int(ids[0]) if first_id is None else min(first_id, int(ids[0]))
            last_id = int(ids[-1]) if last_id is None else max(last_id, int(ids[-1]))
        lo = hi + 1
        if not n and lo <= end:
            bound = store.next_trade_bound(symbol, lo)
            if bound is None:
                break
            lo = bound
    coverage = coverage_in(store, symbol, first_id, last_id, count, start, end)
    return _coverage_doc(symbol, start, end, coverage)


def _coverage_doc(symbol: str, start: int, end: int, coverage: Coverage) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "start": format_time_ms(start),
        "end": format_time_ms(end),
        "start_ms": start,
        "end_ms": end,
        "coverage": coverage.to_dict(),
    }
