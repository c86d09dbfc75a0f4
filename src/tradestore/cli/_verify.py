"""``verify``: audit a symbol's stored trades; exit 1 when anything is wrong."""

from __future__ import annotations

import argparse
import json

from tradestore.cli import _common as c


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "verify",
        help="check a symbol's trades for id holes, duplicates, bad values, disorder",
        description="Walk the stored trades of one symbol (optionally only --start..--end) and "
        "report agg-id holes, ids stored more than once, values that cannot be decoded (by "
        "key) and batches out of id order. Holes inside a closed gap record (rows the exchange "
        "marks invalid, ranges it cannot return) are listed as explained. Exit 0 when clean, "
        "1 when anything else is found (an open gap still counts: backfill has not closed it).",
    )
    c.add_db(p)
    c.add_symbol(p)
    p.add_argument("--start", metavar="TIME", help="only trades at or after this time")
    p.add_argument("--end", metavar="TIME", help="only trades at or before this time")
    c.add_format(p, choices=("table", "json"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tradestore.store import verify

    symbol = c.symbol_arg(args)
    start = c.time_arg(args.start, "--start") if args.start else None
    end = c.time_arg(args.end, "--end") if args.end else None
    if start is not None and end is not None and end < start:
        raise c.UsageError("--end is before --start")
    with c.open_reader(args) as store:
        report = verify(store, symbol, start, end)
    doc = report.to_dict()
    if args.format == "json":
        print(json.dumps(doc, indent=2))
    else:
        verdict = "OK" if report.ok else "PROBLEMS FOUND"
        print(
            f"{symbol}: {verdict}: {report.trades} trades in {report.batches} batches, "
            f"ids {report.first_id}..{report.last_id}"
        )
        print(
            f"  id holes: {len(report.holes)} ({report.missing_ids} ids missing), "
            f"{len(report.unexplained_holes)} not explained by a closed gap record"
        )
        for hole in doc["holes"][:20]:
            reason = f": {hole['gap_reason']}" if "gap_reason" in hole else ""
            print(
                f"    {hole['first_id']}..{hole['last_id']} (gap record: {hole['recorded_gap']}{reason})"
            )
        print(f"  duplicate ids: {report.duplicates}")
        print(f"  undecodable values: {len(report.undecodable)}")
        for key in report.undecodable[:20]:
            print(f"    {key}")
        print(f"  batches out of order: {len(report.out_of_order)}")
        for key in report.out_of_order[:20]:
            print(f"    {key}")
    return 0 if report.ok else 1
