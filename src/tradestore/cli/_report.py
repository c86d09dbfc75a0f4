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
from tradestore.cli._screen import COLOURS as MAP_COLOURS
from tradestore.cli._screen import screened_symbols

# More candles than this do not fit a picture (and are most likely a typo).
MAX_CANDLES = 2_000
# The screen's table, as tradestore.plot has it (that package loads matplotlib).
SCREEN_TOP = 50


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
        "matplotlib (pip install 'tradestore-trio[plot]'). With --screen it also screens "
        "a set of symbols over the window (a market map and the table of the largest); "
        "--screen without --symbol writes a report of the screen alone.",
    )
    c.add_db(p)
    c.add_archive(p)
    c.add_symbol(p, required=False)
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
    screen = p.add_argument_group("the market screen")
    screen.add_argument(
        "--screen",
        action="store_true",
        help="add the screen of --symbols over the window: a market map (one tile per symbol "
        "sized by quote volume) and a table of the symbols of the largest volume",
    )
    screen.add_argument(
        "--symbols",
        metavar="ALL|LIST|PATTERN",
        help="the symbols screened: ALL (default), a list (BTCUSDT,ETHUSDT) or a pattern ('*USDT')",
    )
    screen.add_argument(
        "--screen-top",
        type=int,
        metavar="N",
        help=f"symbols in the screen's table, largest volume first (default: {SCREEN_TOP})",
    )
    screen.add_argument(
        "--screen-colour",
        metavar="|".join(MAP_COLOURS),
        help="what colours the market map's tiles: the taker-buy share (default), the "
        "distance to the window's POC or to the nearest naked POC",
    )
    p.set_defaults(func=run)


def screen_args(args: argparse.Namespace) -> tuple[str | None, int, str]:
    """(symbols, top, colour) of the screen flags; symbols None without --screen. A usage
    error for a screen flag without --screen or a table of no rows."""
    given = [f for f, v in (("--symbols", args.symbols), ("--screen-top", args.screen_top),
                            ("--screen-colour", args.screen_colour)) if v is not None]  # fmt: skip
    if not args.screen:
        if given:
            raise c.UsageError(f"{given[0]} needs --screen")
        if args.symbol is None:
            raise c.UsageError("give --symbol S (or --screen for a report of the market's screen)")
        return None, SCREEN_TOP, MAP_COLOURS[0]
    top = SCREEN_TOP if args.screen_top is None else args.screen_top
    if top < 1:
        raise c.UsageError(f"--screen-top must be at least 1, not {top}")
    symbols = "ALL" if args.symbols is None else args.symbols.strip()
    if not symbols:
        raise c.UsageError("--symbols: no symbol given (ALL, a list or a pattern)")
    colour = args.screen_colour or MAP_COLOURS[0]
    if colour not in MAP_COLOURS:
        raise c.UsageError(f"--screen-colour {colour}: one of {', '.join(MAP_COLOURS)}")
    return symbols, top, colour


def run(args: argparse.Namespace) -> int:
    screen, top, colour = screen_args(args)
    symbol = None if args.symbol is None else c.symbol_arg(args)
    start, end = analytics_window(args)
    interval = None
    if args.interval is not None:
        interval = c.interval_arg(args)
        c.check_span(start, end, interval, limit=MAX_CANDLES)
    check_value_area(args)
    check_vacuum_args(args)
    distance = args.merge_distance
    default = f"{symbol}-report.html" if symbol is not None else "market-report.html"
    output = writable_target(args.output or default, "--output")
    plot = load_plot("report")
    began = time.perf_counter()
    what = " and ".join(
        part for part in (symbol, None if screen is None else f"the screen of {screen}") if part
    )
    with c.open_reader(args, symbol=symbol) as store:
        if screen is not None:
            screened_symbols(store, screen)
        print(
            f"report: {what} {format_time_ms(start)} .. {format_time_ms(end)} "
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
                screen_symbols=screen,
                screen_top=top,
                screen_colour=colour,
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
