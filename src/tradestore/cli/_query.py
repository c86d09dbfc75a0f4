"""``query``: the trades of one symbol in a time window, and whether that window was recorded."""

from __future__ import annotations

import argparse
import sys

from tradestore._timeparse import format_time_ms
from tradestore.binance import spot_csv_line
from tradestore.cli import _common as c
from tradestore.cli import _trades
from tradestore.cli._output import emit
from tradestore.store import coverage_in


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "query",
        help="print the trades of a symbol in a time window",
        description="Print the stored trades of one symbol with start <= trade time <= end, "
        "ascending by agg id, and whether the window's record is complete: a window (or a "
        "part of it) outside what was ever recorded for the symbol is reported as NOT "
        "RECORDED, which is not the same as no trades. Works while a daemon is recording "
        "into the same --db.",
    )
    c.add_db(p)
    c.add_archive(p)
    c.add_symbol(p)
    c.add_window(p, default_hours=1.0)
    c.add_limit(p, "trades")
    c.add_format(p)
    _trades.add_keys(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    symbol = c.symbol_arg(args)
    start, end = c.window_args(args)
    limit = c.row_limit(args)
    with c.open_reader(args, symbol=symbol) as store:
        tally = _trades.Tally()
        trades = _trades.walk(store, symbol, start, end, take=limit, tally=tally)

        def coverage():
            return coverage_in(
                store, symbol, tally.first_id, tally.last_id, tally.count, start, end, raw=True
            )

        keys = "ours" if args.format == "table" else args.keys
        window = f"{symbol} {format_time_ms(start)} .. {format_time_ms(end)}"
        if args.format == "table":
            rows = list(_trades.records(trades, keys))
            cover = coverage()
            emit(
                "table",
                rows,
                fields=_trades.FIELDS,
                columns=_trades.COLUMNS,
                title=f"{window}: {tally.count:,} trades; {cover.summary()}",
                more=tally.count - len(rows),
            )
        elif args.format == "csv" and keys == "binance":
            # The data.binance.vision layout: no header, as in the official files.
            sys.stdout.writelines(spot_csv_line(t) for t in trades)
            cover = coverage()
        else:
            document = {
                "symbol": symbol,
                "start": format_time_ms(start),
                "end": format_time_ms(end),
                "start_ms": start,
                "end_ms": end,
            }
            emit(
                args.format,
                _trades.records(trades, keys),
                fields=_trades.fields(keys),
                document=document,
                rows_key="trades",
                # Known once the trades are written: they come after them in the document.
                after=lambda: {"count": tally.count, "coverage": coverage().to_dict()},
            )
            cover = coverage()
        status = c.report_corrupt(store)
    if args.format != "table" and (tally.count == 0 or not cover.complete):
        c.note(f"{window}: {tally.count:,} trades; {cover.summary()}")
    return status
