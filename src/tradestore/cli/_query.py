"""``query``: the trades of a symbol (or several) in a time window, and whether that window
was recorded."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from tradestore._timeparse import format_time_ms
from tradestore.binance import spot_csv_line
from tradestore.cli import _common as c
from tradestore.cli import _many as many
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
        "into the same --db. --symbols A,B prints several symbols' trades at once, keyed by "
        "symbol (--limit then holds for each).",
    )
    c.add_db(p)
    c.add_archive(p)
    many.add_symbols(p)
    c.add_window(p, default_hours=1.0)
    c.add_limit(p, "trades")
    c.add_format(p)
    _trades.add_keys(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    symbols = many.symbols_arg(args)
    if symbols is not None:
        return run_many(args, symbols)
    symbol = c.symbol_arg(args)
    start, end = c.window_args(args)
    limit = c.row_limit(args)
    with c.open_reader(args, symbol=symbol) as store:
        window = _Window(store, symbol, start, end, limit)
        keys = "ours" if args.format == "table" else args.keys
        if args.format == "table":
            window.table()
        elif args.format == "csv" and keys == "binance":
            # The data.binance.vision layout: no header, as in the official files.
            sys.stdout.writelines(spot_csv_line(t) for t in window.trades)
        else:
            window.document(args.format, keys)
        cover = window.coverage()
        status = c.report_corrupt(store)
    if args.format != "table":
        window.note(cover)
    return status


def run_many(args: argparse.Namespace, symbols: list[str]) -> int:
    """--symbols: every symbol's trades of the window from one snapshot, one symbol after
    the other, each as --symbol prints it (keyed by symbol in json, led by a ``symbol``
    column in csv and jsonl)."""
    start, end = c.window_args(args)
    limit = c.row_limit(args)
    keys = "ours" if args.format == "table" else args.keys
    if args.format == "csv" and keys == "binance":
        raise c.UsageError(
            "--keys binance --format csv is the data.binance.vision layout, which has no "
            "symbol column: give one --symbol, or use --format jsonl"
        )
    with many.open_reader(args, symbols) as store, store.reading():
        windows = {s: _Window(store, s, start, end, limit) for s in symbols}
        if args.format == "table":
            for n, window in enumerate(windows.values()):
                if n:
                    sys.stdout.write("\n")
                window.table()
        elif args.format == "json":
            many.write_keyed(symbols, lambda s, out: windows[s].document("json", keys, out))
        else:
            rows = (
                row
                for window in windows.values()
                for row in many.with_symbol(window.symbol, _trades.records(window.trades, keys))
            )
            emit(args.format, rows, fields=("symbol", *_trades.fields(keys)))
        covers = [window.coverage() for window in windows.values()]
        status = c.report_corrupt(store)
    if args.format != "table":
        for window, cover in zip(windows.values(), covers, strict=True):
            window.note(cover)
    return status


class _Window:
    """One symbol's trades of the window, walked (once) as they are printed, and the
    record they rest on, known once they were."""

    def __init__(self, store, symbol: str, start: int, end: int, limit: int | None) -> None:
        self.store = store
        self.symbol = symbol
        self.start = start
        self.end = end
        self.tally = _trades.Tally()
        self.trades = _trades.walk(store, symbol, start, end, take=limit, tally=self.tally)
        self.label = f"{symbol} {format_time_ms(start)} .. {format_time_ms(end)}"

    def coverage(self):
        tally = self.tally
        return coverage_in(
            self.store,
            self.symbol,
            tally.first_id,
            tally.last_id,
            tally.count,
            self.start,
            self.end,
            raw=True,
        )

    def table(self) -> None:
        rows = list(_trades.records(self.trades, "ours"))
        emit(
            "table",
            rows,
            fields=_trades.FIELDS,
            columns=_trades.COLUMNS,
            title=f"{self.label}: {self.tally.count:,} trades; {self.coverage().summary()}",
            more=self.tally.count - len(rows),
        )

    def document(self, fmt: str, keys: str, out: TextIO | None = None) -> None:
        """The trades in json (the window's document) or jsonl/csv (the records alone)."""
        document = {
            "symbol": self.symbol,
            "start": format_time_ms(self.start),
            "end": format_time_ms(self.end),
            "start_ms": self.start,
            "end_ms": self.end,
        }
        emit(
            fmt,
            _trades.records(self.trades, keys),
            fields=_trades.fields(keys),
            document=document,
            rows_key="trades",
            # Known once the trades are written: they come after them in the document.
            after=lambda: {"count": self.tally.count, "coverage": self.coverage().to_dict()},
            out=out,
        )

    def note(self, cover) -> None:
        """A note on stderr beside machine-readable trades: none, or not all, recorded."""
        if self.tally.count == 0 or not cover.complete:
            c.note(f"{self.label}: {self.tally.count:,} trades; {cover.summary()}")
