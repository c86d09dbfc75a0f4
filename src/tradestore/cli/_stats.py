"""``stats``: what the store holds, per symbol."""

from __future__ import annotations

import argparse
import json

from tradestore._timeparse import format_time_ms
from tradestore.cli import _common as c


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "stats",
        help="per-symbol counts, first/last trade and ids, open gaps, size on disk",
        description="Summarise the store: per symbol the trade count, first and last trade "
        "time and agg id, open and filled gaps, and its share of the table files on disk "
        "(an estimate by trade count); the bytes the whole DB directory takes.",
    )
    c.add_db(p)
    c.add_symbol(p, required=False)
    c.add_format(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with c.open_reader(args) as store:
        stats = store.stats()
    symbols = stats["symbols"]
    if args.symbol:
        symbol = c.symbol_arg(args)
        if symbol not in symbols:
            raise c.UsageError(f"no trades stored for {symbol} in {args.db}")
        symbols = {symbol: symbols[symbol]}
    if args.format == "json":
        print(json.dumps({**stats, "symbols": symbols}, indent=2))
        return 0
    rows = [
        {
            "symbol": name,
            "trades": s["trades"],
            "first_trade": format_time_ms(s["first_time_ms"]),
            "last_trade": format_time_ms(s["last_time_ms"]),
            "first_agg_id": s["first_agg_id"],
            "last_agg_id": s["last_agg_id"],
            "open_gaps": s["open_gaps"],
            "filled_gaps": s["filled_gaps"],
            "bytes_on_disk_est": s["bytes_on_disk_est"],
        }
        for name, s in symbols.items()
    ]
    title = f"{stats['path']}: {stats['bytes_on_disk']:,} bytes on disk"
    c.emit(rows, args.format, title=title)
    return 0
