"""``verify``: audit a symbol's stored trades; exit 1 when anything is wrong."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from tradestore._timeparse import is_duration
from tradestore.cli import _common as c
from tradestore.store import MAX_MS, coverage_from_range, recorded_span


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "verify",
        help="check a symbol's trades for id holes, duplicates, bad values, disorder",
        description="Walk the stored trades of one symbol (optionally only --start..--end) and "
        "report agg-id holes, ids stored more than once, values that cannot be decoded (by "
        "key), batches out of id order, and price-level rollups that disagree with a "
        "recomputation from the trades. Holes inside a closed gap record (rows the exchange "
        "marks invalid, ranges it cannot return) are listed as explained. Exit 0 when clean, "
        "1 when anything else is found (an open gap still counts: backfill has not closed it), "
        "or when nothing was ever recorded in the window (a mistyped symbol?). "
        "With --archive DEST it compares each closed UTC day the store holds (every symbol, "
        "or --symbol; the days of --start..--end, or up to --through) with its Parquet "
        "partition instead, trade by trade: 'ok' (identical), 'archived' (the store holds "
        "part of the day, all of it archived), or a problem: 'missing', 'stale' (the store "
        "has trades the partition lacks: archive again), 'mismatch', 'corrupt' (exit 1).",
    )
    c.add_db(p)
    c.add_symbol(p, required=False)
    c.add_window(p, default_hours=None)
    c.add_format(p, choices=("table", "json"))
    archive = p.add_argument_group("comparing with the archive")
    archive.add_argument(
        "--archive",
        metavar="DEST",
        help="compare with the Parquet archive at DEST (a path or s3://)",
    )
    archive.add_argument(
        "--through", metavar="DATE", help="the last UTC day to compare (default: yesterday)"
    )
    archive.add_argument(
        "--market", default=None, help="the partitions' market= (default: the store's, else spot)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tradestore.store import verify

    if args.archive is not None:
        return run_archive(args)
    if args.through is not None or args.market is not None:
        raise c.UsageError("--through and --market go with --archive DEST")
    if args.symbol is None:
        raise c.UsageError("--symbol is required (or --archive DEST to compare with an archive)")
    symbol = c.symbol_arg(args)
    # Everything by default: an audit of the whole record, whatever its span; a length
    # (--hours, or --start 2h) counts back from now (the stored span is not known without
    # reading it).
    length = args.hours is not None or (args.start is not None and is_duration(args.start))
    everything = (0, int(time.time() * 1000) if length else MAX_MS)
    start, end = c.window_args(args, stored=everything)
    whole = args.start is None and args.end is None and not length
    with c.open_reader(args, symbol=symbol) as store:
        report = verify(store, symbol, start, end)
        record = recorded_span(store, symbol)
    # The audit covers what is stored; say when the window asked for was not (all) recorded.
    # By default the window is the whole record, so only a record that is missing counts.
    if whole and record is not None:
        start, end = record
    cover = coverage_from_range(
        report.first_id, report.last_id, report.trades, [], start, end, record=record
    )
    nothing = cover.recorded == "none"
    doc: dict[str, Any] = {
        **report.to_dict(),
        "recorded": cover.recorded,
        "record": cover.summary(),
    }
    if args.format == "json":
        print(json.dumps(doc, indent=2))
    else:
        verdict = "NOT RECORDED" if nothing else "OK" if report.ok else "PROBLEMS FOUND"
        print(
            f"{symbol}: {verdict}: {report.trades} trades in {report.batches} batches "
            f"({report.empty_batches} empty)"
            + (f", ids {report.first_id}..{report.last_id}" if report.trades else "")
        )
        if cover.recorded != "full":
            print(f"  window: {cover.summary()}")
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
        if report.rollups == "kept":
            print(
                f"  rollups: {len(report.rollup_mismatches)} disagree with the trades"
                + (
                    " (`tradestore-trio rollups rebuild` recomputes them)"
                    if report.rollup_mismatches
                    else ""
                )
            )
            for m in report.rollup_mismatches[:20]:
                print(f"    {m.key}: {m.problem}")
        else:
            print(f"  rollups: {report.rollups} (analytics read the trades)")
    return 0 if report.ok and not nothing else 1


def run_archive(args: argparse.Namespace) -> int:
    from tradestore.archive import day_of
    from tradestore.cli._archive import day_arg, destination, require_archive, symbols_arg

    archive = require_archive()
    dest = destination(args.archive)
    through = day_arg(args.through, "--through")
    since = None
    if args.start is not None or args.end is not None or args.hours is not None:
        start, end = c.window_args(args, stored=(0, int(time.time() * 1000)))
        since, last = day_of(start), day_of(end)
        through = last if through is None else min(through, last)
    symbols = symbols_arg([args.symbol] if args.symbol else None)
    checks = []
    with c.open_reader(args) as store:
        c.require_known(store, *(symbols or ()))
        market = args.market or archive.store_market(store)
        for check in archive.verify_archive(
            store, dest, market=market, symbols=symbols, through=through, since=since
        ):
            checks.append(check)
            if args.format == "table":
                print(_check_line(check), flush=True)
    problems = [ch for ch in checks if not ch.safe_to_delete]
    if args.format == "json":
        print(json.dumps([ch.to_dict() for ch in checks], indent=2))
    else:
        print(
            f"{len(checks)} days compared with {archive.redact(args.archive)}: "
            f"{len(checks) - len(problems)} archived, {len(problems)} with problems"
        )
    return 1 if problems else 0


def _check_line(check) -> str:
    archived = "-" if check.archive_rows is None else f"{check.archive_rows:,}"
    line = f"{check.key.symbol} {check.key.day}: {check.verdict}, {check.store_rows:,} stored, {archived} archived"
    return line + (f"\n  {check.detail}" if check.detail else "")
