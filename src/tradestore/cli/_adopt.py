"""``adopt``: make a database another program wrote fully usable, in one pass."""

from __future__ import annotations

import argparse
import json

from tradestore._timeparse import format_time_ms
from tradestore.cli import _common as c


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "adopt",
        help="measure and record the bookkeeping of a database written by another program",
        description="Make a database written by the Rust recorder this project succeeds (or "
        "by tradestore-trio 0.1) fully usable. One pass over every batch of each symbol that "
        "lacks bookkeeping measures its trade count, its true last agg id and trade time "
        "(whatever key they lie under; empty and re-sent batches included), how far its "
        "trades lie from their keys (so queries seek exactly instead of scanning), and the "
        "set of agg ids it holds (so import and backfill never store an id twice), and "
        "records them in the database. Every writing command (run, import, backfill, prune) "
        "does the same by itself when it first opens such a database; until then, read "
        "commands measure in memory on each run (exact, slower) and say so. Needs the "
        "database not to be held by a running daemon.",
    )
    c.add_db(p)
    p.add_argument(
        "--rebuild",
        action="store_true",
        help="measure every symbol again (after another program wrote into the database)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    c.add_format(p, choices=("table", "json"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    if not (Path(args.db) / "CURRENT").is_file():
        raise c.UsageError(f"no trade store at {args.db} (use --db PATH)")
    with c.open_writer(args, progress=not args.no_progress) as store:
        report = store.adoption
        if args.rebuild:
            with c.adoption_progress(enabled=not args.no_progress) as on_adopt:
                report = store.adopt(rebuild=True, progress=on_adopt)
    if args.format == "json":
        doc = report.as_dict() if report is not None else {"symbols": [], "trades": 0}
        print(json.dumps(doc, indent=2))
        return 0
    if report is None or not report.symbols:
        print(
            f"{args.db}: every symbol already has its bookkeeping; nothing to adopt "
            "(--rebuild measures again)"
        )
        return 0
    rows = [
        {
            "symbol": s.symbol,
            "batches": s.batches,
            "empty": s.empty_batches,
            "trades": s.trades,
            "first_trade": format_time_ms(s.first_time_ms),
            "last_trade": format_time_ms(s.last_time_ms),
            "last_agg_id": s.last_agg_id,
            "id_ranges": s.id_ranges,
            "duplicates": s.duplicates,
            "margin_ms": f"-{s.before_ms}/+{s.after_ms}",
            "undecodable": len(s.undecodable_keys),
        }
        for s in report.symbols
    ]
    title = (
        f"adopted {args.db}: {report.trades:,} trades in {report.seconds:.1f} s "
        f"({report.trades_per_s:,.0f} trades/s)"
    )
    c.emit(rows, "table", title=title)
    if any(s.duplicates or s.undecodable_keys for s in report.symbols):
        print(
            "some agg ids are stored more than once or some values cannot be decoded: "
            "every query reads each id once and skips what it cannot decode; "
            "`tradestore-trio verify --symbol S` lists them"
        )
    return 0
