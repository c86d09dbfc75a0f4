"""``gaps``: the holes in a symbol's agg-id sequence, open and filled."""

from __future__ import annotations

import argparse

from tradestore._timeparse import format_time_ms
from tradestore.cli import _common as c


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "gaps",
        help="list recorded gaps (missing agg ids) and whether backfill filled them",
        description="List the gaps the recorder found in a symbol's agg-id sequence: the "
        "missing ids, where they lie in time, and their status (open, filled, unfillable).",
    )
    c.add_db(p)
    c.add_symbol(p, required=False)
    p.add_argument("--open", action="store_true", help="only gaps that are still open")
    c.add_format(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with c.open_reader(args) as store:
        symbols = [c.symbol_arg(args)] if args.symbol else store.symbols()
        rows = [
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
            if not args.open or g.status == "open"
        ]
    c.emit(rows, args.format, title="gaps")
    return 0
