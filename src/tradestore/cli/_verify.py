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
        "key) and batches out of id order. Exit 0 when clean, 1 when anything is found.",
    )
    c.add_db(p)
    c.add_symbol(p)
    p.add_argument("--start", metavar="TIME", help="only trades at or after this time")
    p.add_argument("--end", metavar="TIME", help="only trades at or before this time")
    c.add_format(p, choices=("table", "json"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tradestore._verify import verify

    symbol = c.symbol_arg(args)
    start = c.time_arg(args.start, "--start") if args.start else None
    end = c.time_arg(args.end, "--end") if args.end else None
    if start is not None and end is not None and end < start:
        raise c.UsageError("--end is before --start")
    with c.open_reader(args) as store:
        report = verify(store, symbol, start, end)
        gaps = store.gaps(symbol)
    doc = report.to_dict()
    for hole in doc["holes"]:
        # A hole lies inside the gap record that explains it (invalid rows skipped by a
        # backfill leave holes inside a filled gap).
        gap = next(
            (g for g in gaps if g.first_id <= hole["first_id"] and hole["last_id"] <= g.last_id),
            None,
        )
        hole["recorded_gap"] = gap.status if gap else "not recorded"
        if gap and gap.reason:
            hole["gap_reason"] = gap.reason
    if args.format == "json":
        print(json.dumps(doc, indent=2))
    else:
        verdict = "OK" if report.ok else "PROBLEMS FOUND"
        print(
            f"{symbol}: {verdict}: {report.trades} trades in {report.batches} batches, "
            f"ids {report.first_id}..{report.last_id}"
        )
        print(f"  id holes: {len(report.holes)} ({report.missing_ids} ids missing)")
        for hole in doc["holes"][:20]:
            print(f"    {hole['first_id']}..{hole['last_id']} (gap record: {hole['recorded_gap']})")
        print(f"  duplicate ids: {report.duplicates}")
        print(f"  undecodable values: {len(report.undecodable)}")
        for key in report.undecodable[:20]:
            print(f"    {key}")
        print(f"  batches out of order: {len(report.out_of_order)}")
        for key in report.out_of_order[:20]:
            print(f"    {key}")
    return 0 if report.ok else 1
