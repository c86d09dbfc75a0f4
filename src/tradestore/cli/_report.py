"""``report``: one self-contained HTML file with the pictures, tables and the record."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from tradestore._timeparse import format_duration_ms, format_time_ms
from tradestore.cli import _common as c
from tradestore.cli._output import terminal_width, wrap
from tradestore.cli._plot import load_plot, writable_target
from tradestore.cli._profile import (
    add_vacuum_args,
    add_value_area,
    analytics_window,
    check_vacuum_args,
    check_value_area,
)

# More candles than this do not fit a picture (and are most likely a typo).
MAX_CANDLES = 2_000


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "report",
        help="write one self-contained HTML report: profile picture, vacuums, the record",
        description="Write one HTML file about a symbol over a window: the volume profile "
        "as a picture (POC, value area, liquidity vacuums shaded, holes in the record "
        "marked), the summary and vacuum tables, whether the window's record is complete "
        "and where not, and how the report was made. The file holds everything it shows "
        "(pictures embedded, no script, no font or image to fetch): it opens offline and "
        "can be mailed or archived. Needs at least 1000 trades in the window and "
        "matplotlib (pip install 'tradestore-trio[plot]').",
    )
    c.add_db(p)
    c.add_archive(p)
    c.add_symbol(p)
    c.add_window(p, default_hours=24.0)
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="the HTML file to write (default: SYMBOL-report.html here); replaced if it exists",
    )
    p.add_argument(
        "--tick-size",
        metavar="PRICE",
        help="bin width, e.g. 0.01 (default: a round width giving about --bins bins)",
    )
    p.add_argument("--bins", type=int, default=100, metavar="N", help="bins wanted (default: 100)")
    p.add_argument(
        "--interval",
        metavar="DURATION",
        help="length of each candle in the candles picture, e.g. 1m, 15m, 1h, at least 1s "
        f"and at most {MAX_CANDLES:,} candles (default: a round length giving 50 to 150)",
    )
    add_value_area(p)
    add_vacuum_args(p, "a vacuum")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    symbol = c.symbol_arg(args)
    start, end = analytics_window(args)
    interval = None
    if args.interval is not None:
        interval = c.interval_arg(args)
        c.check_span(start, end, interval, limit=MAX_CANDLES)
    check_value_area(args)
    check_vacuum_args(args)
    distance = args.merge_distance
    output = writable_target(args.output or f"{symbol}-report.html", "--output")
    plot = load_plot("report")
    began = time.perf_counter()
    with c.open_reader(args, symbol=symbol) as store:
        print(
            f"report: {symbol} {format_time_ms(start)} .. {format_time_ms(end)} "
            f"({format_duration_ms(end - start + 1)}) from {args.db} ...",
            file=sys.stderr,
        )
        try:
            report = plot.build_report(
                store,
                symbol,
                start,
                end,
                tick_size=args.tick_size,
                bins=args.bins,
                value_area=args.value_area,
                threshold=args.threshold,
                merge_bins=args.merge_bins,
                merge_distance=distance,
                interval_ms=interval,
                command=shlex.join(["tradestore-trio", *args.argv]),
                db=str(Path(args.db).resolve()),
            )
        except ValueError as exc:  # InsufficientData is a ValueError too
            raise c.UsageError(str(exc)) from None
        status = c.report_corrupt(store)
    try:
        size = report.write(output)
    except OSError as exc:
        print(
            f"tradestore-trio report: cannot write {output}: {exc.strerror or exc}", file=sys.stderr
        )
        return 1
    width = terminal_width(sys.stdout)
    lines = [f"wrote {output} ({size / 1024:,.0f} KiB) in {time.perf_counter() - began:.1f} s"]
    lines += wrap(f"{report.subtitle}; {report.status}", width)
    print("\n".join(lines))
    return status
