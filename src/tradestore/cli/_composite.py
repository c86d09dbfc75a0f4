"""``composite``: one volume profile over several days, with each day's POC and value area."""

from __future__ import annotations

import argparse

from tradestore._timeparse import now_ms
from tradestore.cli import _common as c
from tradestore.cli._output import emit, field
from tradestore.cli._profile import (
    BIN_FIELDS,
    add_value_area,
    check_value_area,
    dump_json,
    print_profile,
)
from tradestore.cli._results import note_coverage

DAY_MS = 86_400_000
MAX_DAYS = 400  # the analytics' MAX_SESSIONS: a day rollup per session
SESSION_FIELDS = (
    "session_start",
    "session_end",
    "trade_count",
    "volume",
    "buy_volume",
    "sell_volume",
    "point_of_control",
    "value_area_low",
    "value_area_high",
    "data_complete",
    "record",
)
SESSION_COLUMNS = [
    field("session_start", "day (UTC)"),
    field("trade_count", "trades", right=True),
    field("volume", right=True),
    field("point_of_control", "POC", right=True),
    field("value_area_low", "value area low", right=True),
    field("value_area_high", "value area high", right=True),
    field("record"),
]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "composite",
        help="composite volume profile over several days, with each day's POC and value area",
        description="Bin the traded volume of the last --days UTC days (the day of --end, "
        "default today, is the last: the whole day for a date, else up to --end) into one "
        "volume profile with its point "
        "of control and value area, and give each day's own POC and value area on the same "
        "bins: where value built up over days, and how it moved. Read from the price-level "
        "rollups: a week takes a fraction of a second. The table draws the composite and "
        "lists the days; json has both; csv and jsonl give the bins (--sessions: the days).",
    )
    c.add_db(p)
    c.add_archive(p)
    c.add_symbol(p)
    p.add_argument(
        "--days", type=int, default=7, metavar="N", help=f"days (1..{MAX_DAYS}, default: 7)"
    )
    p.add_argument(
        "--end",
        metavar="TIME",
        help="the composite's last day: a date (any midnight) takes that whole day, a later "
        "time ends the day there (default: now)",
    )
    p.add_argument(
        "--tick-size",
        metavar="PRICE",
        help="bin width, e.g. 10 (default: a round width giving about --bins bins)",
    )
    p.add_argument("--bins", type=int, default=100, metavar="N", help="bins wanted (default: 100)")
    add_value_area(p)
    p.add_argument(
        "--sessions", action="store_true", help="csv/jsonl: a row per day instead of per bin"
    )
    c.add_format(p)
    p.set_defaults(func=run)


def composite_window(args: argparse.Namespace) -> tuple[int, int]:
    """(start, end), inclusive: --days whole UTC days ending with the day of --end. A
    midnight (``--end 2026-01-07``) names its day, so that day is taken whole."""
    if not 1 <= args.days <= MAX_DAYS:
        raise c.UsageError(f"--days must be between 1 and {MAX_DAYS}")
    end = c.time_arg(args.end, "--end") if args.end else now_ms()
    day = end - end % DAY_MS
    if args.end and end == day:
        end = day + DAY_MS - 1
    start = day - (args.days - 1) * DAY_MS
    return max(start, 0), end


def session_row(session) -> dict:
    """A session as a table or csv row: its JSON with its record in one phrase
    (``record complete``, ``NOT RECORDED``, ...) instead of the coverage object."""
    row = session.to_json()
    row["record"] = row.pop("coverage")["summary"].split(":")[0]
    return row


def run(args: argparse.Namespace) -> int:
    from tradestore.analytics import composite_profile

    symbol = c.symbol_arg(args)
    start, end = composite_window(args)
    if args.bins < 1:
        raise c.UsageError("--bins must be at least 1")
    check_value_area(args)
    c.check_tick_size(args)
    with c.open_reader(args, symbol=symbol) as store:
        try:
            result = composite_profile(
                store,
                symbol,
                start,
                end,
                tick_size=args.tick_size,
                bins=args.bins,
                value_area=args.value_area,
            )
        except ValueError as exc:  # InsufficientData is a ValueError too
            raise c.UsageError(str(exc)) from None
        status = c.report_corrupt(store)
    sessions = [session_row(s) for s in result.sessions]
    if args.format == "json":
        dump_json(result.to_json())
    elif args.format == "table":
        print_profile(result.profile)
        print()
        emit("table", sessions, fields=SESSION_FIELDS, columns=SESSION_COLUMNS, title="days")
    elif args.sessions:
        emit(args.format, sessions, fields=SESSION_FIELDS)
        note_coverage(result.profile)
    else:
        emit(args.format, (b.to_json() for b in result.profile.bins), fields=BIN_FIELDS)
        note_coverage(result.profile)
    return status
