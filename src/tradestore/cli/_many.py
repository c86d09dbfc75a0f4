"""``--symbols A,B,...`` on the one-symbol reads (candles, cvd, query): one answer per
symbol, printed as one result keyed by symbol.

json is one document, ``{"symbols": [...], "by_symbol": {SYMBOL: the one-symbol
document}}``; csv and jsonl are every symbol's records, one symbol after the other, each
led by a ``symbol`` key; a table is each symbol's table as the one-symbol command prints
it, a blank line between them. ``--limit`` holds for each symbol. docs/OUTPUT.md has it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TextIO, cast

from tradestore.cli import _common as c
from tradestore.cli._output import Column, emit
from tradestore.cli._results import coverage_footer, note_coverage


def add_symbols(parser: argparse.ArgumentParser) -> None:
    """--symbol S, or --symbols S,S,... instead (``symbols_arg`` checks that one is given)."""
    c.add_symbol(parser, required=False)
    parser.add_argument(
        "--symbols",
        metavar="S,S,...",
        help="several symbols instead of --symbol, comma-separated (e.g. BTCUSDT,ETHUSDT): "
        "one result keyed by symbol, each symbol's exactly as --symbol gives it",
    )


def symbols_arg(args: argparse.Namespace) -> list[str] | None:
    """The symbols of --symbols, normalised, in the order given; None: --symbol was given.
    A usage error when neither or both are given, or --symbols is empty, names a symbol
    twice or holds something that is not a symbol."""
    from tradestore.analytics import check_symbols

    if args.symbol is not None and args.symbols is not None:
        raise c.UsageError("give --symbol or --symbols, not both")
    if args.symbols is None:
        if args.symbol is None:
            raise c.UsageError("give --symbol S (or --symbols S,S,... for several)")
        return None
    names = [name.strip() for name in args.symbols.split(",")]
    if not any(names):
        raise c.UsageError("--symbols: no symbol given (e.g. --symbols BTCUSDT,ETHUSDT)")
    if not all(names):
        raise c.UsageError(f"--symbols {args.symbols}: an empty name between the commas")
    try:
        return list(check_symbols(names))
    except ValueError as exc:
        raise c.UsageError(f"--symbols: {exc}") from None


def open_reader(args: argparse.Namespace, symbols: Sequence[str]):
    """``c.open_reader``, once every one of ``symbols`` is known to the store: a symbol
    never stored is the usage error --symbol gives for it."""
    store = c.open_reader(args)
    try:
        c.require_known(store, *symbols)
    except BaseException:
        store.close()
        raise
    return store


def refuse_plot(args: argparse.Namespace) -> None:
    if getattr(args, "plot", None) is not None:
        raise c.UsageError("--plot draws one symbol: give --symbol, not --symbols")


class _Indented:
    """A text stream writing into ``out`` with every line after the first indented by
    ``pad``, and the last line break held back: a JSON document nested in another."""

    def __init__(self, out: TextIO, pad: str) -> None:
        self.out = out
        self.pad = pad
        self.held = False

    def write(self, text: str) -> int:
        if not text:
            return 0
        if self.held:
            self.out.write("\n" + self.pad)
            self.held = False
        if text.endswith("\n"):
            text = text[:-1]
            self.held = True
        self.out.write(text.replace("\n", "\n" + self.pad))
        return len(text)


def write_keyed(
    symbols: Sequence[str],
    write_one: Callable[[str, TextIO], None],
    out: TextIO | None = None,
) -> None:
    """The json document keyed by symbol; ``write_one(symbol, out)`` writes that symbol's
    own document (as the one-symbol command does), so a large one streams."""
    out = out or sys.stdout
    out.write('{\n  "symbols": ' + json.dumps(list(symbols)) + ',\n  "by_symbol": {')
    for n, symbol in enumerate(symbols):
        out.write(("\n" if n == 0 else ",\n") + "    " + json.dumps(symbol) + ": ")
        # json's writer only calls write(): the nested document streams through it.
        write_one(symbol, cast(TextIO, _Indented(out, "    ")))
    out.write("\n  }\n}\n")


def with_symbol(symbol: str, records: Iterable[dict]) -> Iterator[dict]:
    """Each record led by its ``symbol``."""
    return ({"symbol": symbol, **record} for record in records)


def emit_by_interval(
    args: argparse.Namespace,
    store,
    symbols: Sequence[str],
    answer: Callable[[str], Any],
    *,
    rows_key: str,
    fields: Sequence[str],
    columns: Sequence[Column],
    title: Callable[[Any], Callable[[dict, int], str]],
) -> None:
    """Results by interval (candles, cvd) keyed by symbol, in --format: each symbol's
    part as ``_results.emit_by_interval`` prints the one symbol's ``answer(symbol)``;
    ``title(result)`` is its one-symbol title. Every symbol is read inside one
    ``store.reading()`` (one state of the store), and answered only when its part is
    printed: memory holds one symbol's result at a time, however many are asked."""

    def part(symbol: str) -> tuple[Any, dict, list, list, int]:
        result = answer(symbol)
        doc = result.to_json()
        records = doc.pop(rows_key)
        shown, more = c.limited(args, records)
        return result, doc, records, shown, more

    def write_one(symbol: str, out: TextIO) -> None:
        _result, doc, _records, shown, _more = part(symbol)
        emit("json", shown, fields=fields, document=doc, rows_key=rows_key, out=out)

    def rows() -> Iterator[dict]:
        for symbol in symbols:
            result, _doc, _records, shown, _more = part(symbol)
            yield from with_symbol(symbol, shown)
            note_coverage(result)  # on stderr, once the symbol's rows are out

    with store.reading():
        if args.format == "json":
            write_keyed(symbols, write_one)
        elif args.format == "table":
            for n, symbol in enumerate(symbols):
                result, doc, records, shown, more = part(symbol)
                if n:
                    sys.stdout.write("\n")
                emit(
                    "table",
                    shown,
                    fields=fields,
                    columns=columns,
                    title=title(result)(doc, len(records)),
                    footer=coverage_footer(result),
                    more=more,
                )
        else:
            emit(args.format, rows(), fields=("symbol", *fields))
