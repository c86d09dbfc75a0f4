"""``rollups``: the price-level rollups beside the trades: rebuild them, or see their state."""

from __future__ import annotations

import argparse

from tradestore._timeparse import format_time_ms
from tradestore.cli import _common as c
from tradestore.cli._output import emit, field

REBUILD_FIELDS = ("symbol", "hours", "minutes", "trades", "start_ms", "end_ms", "off")
STATUS_FIELDS = ("symbol", "rollups", "open_hours", "hours", "minutes")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "rollups",
        help="rebuild the price-level rollups, or show their state",
        description="Every symbol keeps exact per-price sums of its trades by minute and by "
        "hour beside them (volume, taker-buy volume, trade count, open/high/low/close): the "
        "analytics read those instead of every trade. They are written with the trades, "
        "removed with them, and built once for a database that has none the first time it "
        "is opened for writing. `rollups rebuild` recomputes them from the trades (after "
        "`verify` found one that disagrees, or when they were switched off); `rollups "
        "status` says which symbols have them.",
    )
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    rebuild = sub.add_parser(
        "rebuild",
        help="recompute the rollups from the trades",
        description="Recompute the rollups of every symbol (or --symbol) from the stored "
        "trades, an hour at a time, each hour in one atomic write. With --start/--end only "
        "the hours those touch are recomputed; a symbol without rollups (or with them "
        "switched off) is always built whole. Needs the database not to be held by a "
        "running daemon.",
    )
    c.add_db(rebuild)
    c.add_symbol(rebuild, required=False)
    rebuild.add_argument("--start", metavar="TIME", help="first hour to rebuild (default: all)")
    rebuild.add_argument("--end", metavar="TIME", help="last hour to rebuild (default: all)")
    rebuild.add_argument("--no-progress", action="store_true", help="no progress bar")
    c.add_format(rebuild)
    rebuild.set_defaults(func=run_rebuild)
    status = sub.add_parser(
        "status",
        help="which symbols keep rollups, and how many",
        description="Per symbol: whether its rollups are kept (kept, none, or off with the "
        "reason), the hours and minutes summarised, and the open hours (summarised by "
        "minute until a later hour arrives). Works while a daemon holds the database.",
    )
    c.add_db(status)
    c.add_symbol(status, required=False)
    c.add_format(status)
    status.set_defaults(func=run_status)


def run_rebuild(args: argparse.Namespace) -> int:
    from pathlib import Path

    if not (Path(args.db) / "CURRENT").is_file():
        raise c.UsageError(f"no trade store at {args.db} (use --db PATH)")
    start = c.time_arg(args.start, "--start") if args.start else None
    end = c.time_arg(args.end, "--end") if args.end else None
    if start is not None and end is not None and end < start:
        raise c.UsageError("--end is before --start")
    symbol = c.symbol_arg(args) if args.symbol else None
    if symbol is not None:
        # Asked of a reader first: opening for writing touches the store's files.
        with c.open_reader(args, symbol=symbol):
            pass
    with c.open_writer(args, progress=not args.no_progress) as store:
        symbols = [symbol] if symbol else store.symbols()
        with c.progress_bar("rollups", enabled=not args.no_progress) as on_progress:
            report = store.build_rollups(symbols, start_ms=start, end_ms=end, progress=on_progress)
    records = [s.as_dict() for s in report.symbols]
    title = (
        f"rebuilt the rollups of {len(records)} symbols from {report.trades:,} trades in "
        f"{report.seconds:.1f} s"
    )
    if args.format == "table":
        emit(
            "table",
            [_table_row(r) for r in records],
            fields=REBUILD_FIELDS,
            columns=[
                field("symbol"),
                field("hours", right=True),
                field("minutes", right=True),
                field("trades", right=True),
                field("from", "from (UTC)"),
                field("to", "to (UTC)"),
                field("off", "switched off", drop=1),
            ],
            title=title,
        )
    else:
        emit(
            args.format,
            records,
            fields=REBUILD_FIELDS,
            document={"trades": report.trades, "seconds": round(report.seconds, 3)},
            rows_key="symbols",
        )
    return 1 if any(s.off for s in report.symbols) else 0


def _table_row(record: dict) -> dict:
    return {
        **record,
        "from": "" if record["start_ms"] is None else format_time_ms(record["start_ms"]),
        "to": "" if record["end_ms"] is None else format_time_ms(record["end_ms"]),
        "off": record["off"] or "",
    }


def run_status(args: argparse.Namespace) -> int:
    from tradestore.store import rollup_counts

    symbol = c.symbol_arg(args) if args.symbol else None
    with c.open_reader(args, symbol=symbol) as store:
        symbols = [symbol] if symbol else store.symbols()
        records = []
        for symbol in symbols:
            state = store.rollup_state(symbol)
            counts = rollup_counts(store, symbol)
            hours = [] if state is None else [format_time_ms(h) for h in sorted(state.open_hours)]
            records.append(
                {
                    "symbol": symbol,
                    "rollups": "none"
                    if state is None
                    else "kept"
                    if state.kept
                    else f"off: {state.off}",
                    # A list in json and jsonl; one cell in csv and a table.
                    "open_hours": " ".join(hours) if args.format in ("csv", "table") else hours,
                    "hours": counts["h"],
                    "minutes": counts["m"],
                }
            )
    emit(
        args.format,
        records,
        fields=STATUS_FIELDS,
        columns=[
            field("symbol"),
            field("rollups"),
            field("hours", right=True),
            field("minutes", right=True),
            field("open_hours", "open hours", drop=1),
        ],
        rows_key="symbols",
        title=f"rollups of {args.db}",
    )
    return 0
