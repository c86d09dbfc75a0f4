"""``adopt``: make a database another program wrote fully usable, in one pass."""

from __future__ import annotations

import argparse

from tradestore._timeparse import format_time_ms
from tradestore.cli import _common as c
from tradestore.cli._output import emit, field


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
    c.add_format(p)
    p.set_defaults(func=run)


FIELDS = (
    "symbol",
    "batches",
    "empty_batches",
    "trades",
    "distinct_ids",
    "id_ranges",
    "duplicates",
    "first_agg_id",
    "last_agg_id",
    "first_time_ms",
    "last_time_ms",
    "margin_before_ms",
    "margin_after_ms",
    "undecodable_keys",
)
COLUMNS = [
    field("symbol"),
    field("trades", right=True),
    field("batches", right=True, drop=3),
    field("empty_batches", "empty", right=True, drop=4),
    field("last_agg_id", "last agg id", right=True),
    field("last_trade", "last trade", drop=2),
    field("id_ranges", "id\nranges", right=True, drop=5),
    field("duplicates", "dupli-\ncates", right=True),
    field("margins", "key margins\n(ms)", right=True, drop=1),
]


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    if not (Path(args.db) / "CURRENT").is_file():
        raise c.UsageError(f"no trade store at {args.db} (use --db PATH)")
    with c.open_writer(args, progress=not args.no_progress) as store:
        report = store.adoption
        if args.rebuild:
            with c.adoption_progress(enabled=not args.no_progress) as on_adopt:
                report = store.adopt(rebuild=True, progress=on_adopt)
    symbols = report.symbols if report is not None else ()
    trades = report.trades if report is not None else 0
    seconds = report.seconds if report is not None else 0.0
    records = [s.as_dict() for s in symbols]
    if args.format == "table":
        if not records:
            print(f"{args.db}: nothing to adopt (every symbol has its bookkeeping)")
            return 0
        for record, s in zip(records, symbols, strict=True):
            record["last_trade"] = format_time_ms(s.last_time_ms)
            record["margins"] = f"-{s.before_ms}/+{s.after_ms}"
    if args.format == "csv":
        for record in records:
            record["undecodable_keys"] = " ".join(record["undecodable_keys"])
    emit(
        args.format,
        [{k: r[k] for k in FIELDS} for r in records] if args.format != "table" else records,
        fields=FIELDS,
        columns=COLUMNS,
        document={
            "trades": trades,
            "seconds": round(seconds, 3),
            "trades_per_s": round(report.trades_per_s) if report is not None else 0,
        },
        rows_key="symbols",
        title=f"adopted {args.db}: {trades:,} trades in {seconds:.1f} s "
        f"({report.trades_per_s if report is not None else 0:,.0f} trades/s)",
    )
    if args.format == "table" and any(s.duplicates or s.undecodable_keys for s in symbols):
        print(
            "Some agg ids are stored more than once, or some values cannot be decoded:\n"
            "queries read each id once and skip what they cannot decode;\n"
            "`tradestore-trio verify --symbol S` lists them."
        )
    return 0
