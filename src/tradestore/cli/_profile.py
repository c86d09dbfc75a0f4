"""``profile``: the volume profile of a symbol, drawn as horizontal bars or as JSON."""

from __future__ import annotations

import argparse
import json
import sys
from decimal import Decimal

from tradestore._timeparse import format_time_ms
from tradestore.cli import _common as c

MAX_HOURS = 168
BAR_WIDTH = 48


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "profile",
        help="volume profile (POC, value area) of a symbol over a window",
        description="Bin the traded volume of one symbol by price over a window and mark "
        "the point of control (POC, the bin with the most volume) and the value area (70%% "
        "of the volume around the POC). Needs at least 1000 trades in the window.",
    )
    add_analytics_args(p)
    p.add_argument(
        "--value-area",
        type=float,
        default=0.70,
        metavar="F",
        help="fraction of the volume the value area holds (default: 0.70)",
    )
    p.set_defaults(func=run)


def add_analytics_args(p: argparse.ArgumentParser) -> None:
    c.add_db(p)
    c.add_symbol(p)
    c.add_window(p, default_hours=24.0)
    p.add_argument(
        "--tick-size",
        metavar="PRICE",
        help="bin width, e.g. 0.01 (default: a round width giving about --bins bins)",
    )
    p.add_argument("--bins", type=int, default=100, metavar="N", help="bins wanted (default: 100)")
    c.add_format(p, ("table", "json"))


def analytics_window(args: argparse.Namespace) -> tuple[int, int]:
    """(start, end) within the analytics tools' limits: --hours 1..168, windows up to 168 h."""
    if args.hours is not None and not 1 <= args.hours <= MAX_HOURS:
        raise c.UsageError(f"--hours must be between 1 and {MAX_HOURS}")
    start, end = c.window_args(args)
    if end - start > MAX_HOURS * 3_600_000:
        raise c.UsageError(f"the window is longer than {MAX_HOURS} hours")
    if args.bins < 1:
        raise c.UsageError("--bins must be at least 1")
    if args.tick_size is not None:
        from tradestore.analytics import tick_to_fixed

        try:
            tick_to_fixed(args.tick_size)
        except ValueError as exc:
            raise c.UsageError(f"--tick-size: {exc}") from None
    return start, end


def analyse(args: argparse.Namespace, analysis, **options):
    """(result, exit status) of analysis(store, symbol, start, end, tick_size, bins, ...)
    over the window the flags give; bad input and too few trades are usage errors."""
    symbol = c.symbol_arg(args)
    start, end = analytics_window(args)
    with c.open_reader(args) as store:
        try:
            result = analysis(
                store, symbol, start, end, tick_size=args.tick_size, bins=args.bins, **options
            )
        except ValueError as exc:  # InsufficientData is a ValueError too
            raise c.UsageError(str(exc)) from None
        return result, c.report_corrupt(store)


def dump_json(doc: dict) -> None:
    json.dump(doc, sys.stdout, indent=2)
    sys.stdout.write("\n")


def run(args: argparse.Namespace) -> int:
    from tradestore.analytics import volume_profile

    if not 0 < args.value_area <= 1:
        raise c.UsageError("--value-area must be in (0, 1]")
    profile, status = analyse(args, volume_profile, value_area=args.value_area)
    if args.format == "json":
        dump_json(profile.to_json())
    else:
        print_profile(profile)
    return status


def print_profile(profile, out=None) -> None:
    """The profile as horizontal bars, highest price on top, POC and value area marked."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from tradestore.analytics import decimal_str

    out = out or sys.stdout
    console = Console(file=out, highlight=False, width=None if out.isatty() else 160)
    top = max((b.volume for b in profile.bins), default=Decimal(0)) or Decimal(1)
    title = (
        f"{profile.symbol} volume profile {format_time_ms(profile.start_ms)} .. "
        f"{format_time_ms(profile.end_ms)}"
    )
    table = Table(title=title, box=None, pad_edge=False, show_edge=False)
    table.add_column("price", justify="right")
    table.add_column("", justify="center", width=2)
    table.add_column(f"volume (buy ▇ / sell ▇), bin {decimal_str(profile.bin_size)}")
    table.add_column("volume", justify="right")
    table.add_column("trades", justify="right")
    for i in range(len(profile.bins) - 1, -1, -1):
        b = profile.bins[i]
        in_va = profile.value_area_low_index <= i <= profile.value_area_high_index
        cells = round(b.volume / top * BAR_WIDTH)
        buy_cells = round(b.buy_volume / top * BAR_WIDTH) if cells else 0
        bar = Text()
        bar.append("█" * buy_cells, style="green" if in_va else "dark_green")
        bar.append("█" * (cells - buy_cells), style="red" if in_va else "dark_red")
        if i == profile.poc_index:
            mark, style = "◀", "bold yellow"
            bar.append("  POC", style=style)
        elif in_va:
            mark, style = "│", "cyan"
        else:
            mark, style = "", "dim"
        table.add_row(
            Text(decimal_str(b.price_low), style=style if i == profile.poc_index else ""),
            Text(mark, style=style),
            bar,
            decimal_str(b.volume),
            str(b.trade_count),
        )
    console.print(table)
    total = profile.total_volume
    va_pct = profile.value_area_volume / total * 100 if total else Decimal(100)
    console.print(
        f"trades {profile.trade_count}  first {format_time_ms(profile.first_trade_ms)}  "
        f"last {format_time_ms(profile.last_trade_ms)}\n"
        f"total volume {decimal_str(total)} (taker buy {decimal_str(profile.buy_volume)}, "
        f"sell {decimal_str(profile.sell_volume)})\n"
        f"POC {decimal_str(profile.point_of_control)}  value area "
        f"{decimal_str(profile.value_area_low)} .. {decimal_str(profile.value_area_high)} "
        f"({va_pct:.1f}% of volume, │ marks it)"
    )
    if profile.coverage is not None:
        cover = profile.coverage
        style = "green" if cover.complete else "bold red"
        console.print(f"record: {cover.summary()}", style=style)
