"""``gaps``: the holes in a symbol's agg-id sequence, open and filled."""

from __future__ import annotations

import argparse
import sys

from tradestore.api._documents import GAP_FIELDS, gap_records, gaps_document
from tradestore.cli import _common as c
from tradestore.cli._output import Column, emit, field, write_json

FIELDS = GAP_FIELDS
COLUMNS = [
    field("symbol"),
    Column("agg ids\nfirst / last", lambda r: f"{r['first_id']}\n{r['last_id']}", right=True),
    Column("missing", lambda r: f"{r['missing']:,}", right=True),
    Column("between (UTC)", lambda r: f"{r['from']}\n{r['to']}"),
    field("status"),
    field("reason", drop=1),
]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "gaps",
        help="list recorded gaps (missing agg ids) and whether backfill filled them",
        description="List the gaps found in a symbol's agg-id sequence (by the recorder, or "
        "between imported files): the missing ids, the trade times on either side, and "
        "their status (open, filled, unfillable).",
    )
    c.add_db(p)
    c.add_symbol(p, required=False)
    p.add_argument("--open", action="store_true", help="only gaps that are still open")
    c.add_limit(p, "gaps")
    c.add_format(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    symbol = c.symbol_arg(args) if args.symbol else None
    with c.open_reader(args, symbol=symbol) as store:
        symbols = [symbol] if symbol else store.symbols()
        records = gap_records(store, symbols, open_only=args.open)
    limit = c.row_limit(args)
    shown = records if limit is None else records[:limit]
    if args.format == "json":
        document = gaps_document(records, open_only=args.open, limit=limit)
        document["gaps"] = iter(document["gaps"])  # one gap per line
        write_json(document, sys.stdout)
        return 0
    emit(
        args.format,
        shown,
        fields=FIELDS,
        columns=COLUMNS,
        title=f"{len(records)} {'open ' if args.open else ''}gaps",
        more=len(records) - len(shown),
    )
    return 0
