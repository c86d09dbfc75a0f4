"""``query``: the trades of one symbol in a time window."""

from __future__ import annotations

import argparse

from tradestore._model import decimal_text
from tradestore._timeparse import format_time_ms
from tradestore.cli import _common as c
from tradestore.store import coverage_of, window_coverage


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "query",
        help="print the trades of a symbol in a time window",
        description="Print the stored trades of one symbol with start <= trade time <= end, "
        "ascending by agg id. Works while a daemon is recording into the same --db.",
    )
    c.add_db(p)
    c.add_symbol(p)
    c.add_window(p, default_hours=1.0)
    p.add_argument("--limit", type=int, metavar="N", help="print at most N trades")
    c.add_format(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    symbol = c.symbol_arg(args)
    start, end = c.window_args(args)
    if args.limit is not None and args.limit < 0:
        raise c.UsageError("--limit must be >= 0")
    with c.open_reader(args) as store:
        trades = store.query_trades(symbol, start, end, limit=args.limit)
        if args.limit is None:
            cover = coverage_of([t.agg_id for t in trades], store.gaps(symbol), start, end)
        else:
            cover = window_coverage(store, symbol, start, end)
        status = c.report_corrupt(store)
    rows = [
        {
            "agg_id": t.agg_id,
            "time": format_time_ms(t.time_ms),
            "time_ms": t.time_ms,
            "price": decimal_text(t.price),
            "qty": decimal_text(t.qty),
            "is_buyer_maker": t.is_buyer_maker,
        }
        for t in trades
    ]
    title = (
        f"{symbol} {format_time_ms(start)} .. {format_time_ms(end)}: {len(rows)} trades "
        f"(record {cover.summary()})"
    )
    c.emit(rows, args.format, title=title)
    return status
