"""``prune``: drop trades older than the retention and reclaim the space."""

from __future__ import annotations

import argparse
import time

from tradestore._timeparse import format_time_ms
from tradestore.cli import _common as c
from tradestore.cli._output import emit, field


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "prune",
        help="delete trades older than a retention period and compact the freed range",
        description="Delete whole batches whose trades are all older than the cut-off (one "
        "range delete per symbol, then a compaction of that range). Everything older goes, "
        "including history the daemon's retention keeps (trades that were already older than "
        "its window when they were imported or adopted). The price-level rollups of those "
        "trades stay: profiles, composites and candles still answer exactly over the pruned "
        "time (to whole minutes at its edge), and coverage calls it 'summarized'; "
        "--with-rollups deletes them too, and --rollups-before TIME deletes only rollups (the "
        "daemon's rollup_retention_days does that by itself). Needs the DB not to be held "
        "by a running daemon; the daemon applies its retention by itself every hour.",
    )
    c.add_db(p)
    group = p.add_mutually_exclusive_group()
    group.add_argument("--days", type=float, default=None, help="keep this many days (default 7)")
    group.add_argument("--before", metavar="TIME", help="delete trades before this time")
    group.add_argument(
        "--rollups-before",
        metavar="TIME",
        help="delete only the price-level rollups of the UTC days before this time",
    )
    p.add_argument(
        "--with-rollups",
        action="store_true",
        help="take the deleted trades out of the rollups too (the analytics forget them)",
    )
    c.add_format(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.rollups_before:
        if args.with_rollups:
            raise c.UsageError("--with-rollups goes with --before or --days, not --rollups-before")
        return _prune_rollups(args, c.time_arg(args.rollups_before, "--rollups-before"))
    if args.before:
        cutoff = c.time_arg(args.before, "--before")
    else:
        days = 7.0 if args.days is None else args.days
        if not 0 <= days <= 36_600:
            raise c.UsageError("--days must be between 0 and 36600 (a century)")
        cutoff = int(time.time() * 1000 - days * 86_400_000)
    with c.open_writer(args) as store:
        before = store.stats()["bytes_on_disk"]
        removed = store.prune(cutoff, keep_rollups=not args.with_rollups)
        after = store.stats()["bytes_on_disk"]
    rows = [{"symbol": s, "trades_removed": n} for s, n in sorted(removed.items())]
    emit(
        args.format,
        rows,
        fields=("symbol", "trades_removed"),
        columns=[field("symbol"), field("trades_removed", "trades removed", right=True)],
        document={
            "before": format_time_ms(cutoff),
            "before_ms": cutoff,
            "bytes_on_disk_before": before,
            "bytes_on_disk_after": after,
        },
        rows_key="removed",
        title=f"pruned before {format_time_ms(cutoff)}; disk {before:,} -> {after:,} bytes",
    )
    return 0


def _prune_rollups(args: argparse.Namespace, cutoff: int) -> int:
    with c.open_writer(args) as store:
        before = store.stats()["bytes_on_disk"]
        dropped = store.prune_rollups(cutoff)
        after = store.stats()["bytes_on_disk"]
    day = format_time_ms(cutoff - cutoff % 86_400_000)
    emit(
        args.format,
        [{"symbol": s} for s in dropped],
        fields=("symbol",),
        columns=[field("symbol")],
        document={
            "rollups_before": day,
            "bytes_on_disk_before": before,
            "bytes_on_disk_after": after,
        },
        rows_key="symbols",
        title=f"rollups of the days before {day} deleted; disk {before:,} -> {after:,} bytes",
    )
    return 0
