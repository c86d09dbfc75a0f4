"""``profile``: the volume profile of a symbol, drawn as horizontal bars or as JSON."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from decimal import Decimal

from tradestore._timeparse import format_time_ms
from tradestore._window import ANALYTICS
from tradestore.cli import _common as c
from tradestore.cli._output import emit, terminal_width, wrap
from tradestore.cli._plot import add_plot, plot_request
from tradestore.cli._results import note_coverage

BAR_WIDTH = 48


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "profile",
        help="volume profile (POC, value area) of a symbol over a window",
        description="Bin the traded volume of one symbol by price over a window and mark "
        "the point of control (POC, the bin with the most volume) and the value area (70% "
        "of the volume around the POC). Needs at least 1000 trades in the window. The table "
        "draws the bars; json is the whole profile, csv and jsonl a row per bin. --plot "
        "also draws it as a picture, with the liquidity vacuums (as `vacuums` finds them "
        "by default) shaded and any hole in the record marked.",
    )
    add_analytics_args(p)
    add_value_area(p)
    p.set_defaults(func=run)


def add_analytics_args(p: argparse.ArgumentParser) -> None:
    c.add_db(p)
    c.add_archive(p)
    c.add_symbol(p)
    c.add_window(p, default_hours=24.0, limit=ANALYTICS)
    p.add_argument(
        "--tick-size",
        metavar="PRICE",
        help="bin width, e.g. 0.01 (default: a round width giving about --bins bins)",
    )
    p.add_argument("--bins", type=int, default=100, metavar="N", help="bins wanted (default: 100)")
    c.add_format(p)
    add_plot(p)


def analytics_window(args: argparse.Namespace) -> tuple[int, int]:
    """(start, end) within the analytics' limit (``tradestore._window.ANALYTICS``)."""
    start, end = c.window_args(args, limit=ANALYTICS)
    if args.bins < 1:
        raise c.UsageError("--bins must be at least 1")
    c.check_tick_size(args)
    return start, end


def add_value_area(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--value-area",
        type=float,
        default=0.70,
        metavar="F",
        help="fraction of the volume the value area holds (default: 0.70)",
    )


def check_value_area(args: argparse.Namespace) -> None:
    if not 0 < args.value_area <= 1:
        raise c.UsageError("--value-area must be in (0, 1]")


def add_vacuum_args(p: argparse.ArgumentParser, thin: str) -> None:
    """--threshold (its help: a bin is ``thin`` below ...), --merge-bins, --merge-distance."""
    from tradestore.analytics import MERGE_BINS

    p.add_argument(
        "--threshold",
        type=float,
        default=0.20,
        metavar="F",
        help=f"a bin is {thin} below F x the median bin volume (default: 0.20)",
    )
    p.add_argument(
        "--merge-bins",
        type=int,
        default=MERGE_BINS,
        metavar="N",
        help="merge two thin runs separated by at most N bins, none of them at or above the "
        f"median volume (default: {MERGE_BINS}; 0 never merges)",
    )
    p.add_argument(
        "--merge-distance",
        type=float,
        default=None,
        metavar="F",
        help="also require the runs to be closer than F x the mid price (default: no such cap)",
    )


def check_vacuum_args(args: argparse.Namespace) -> None:
    distance = args.merge_distance
    if not (0 < args.threshold < math.inf and (distance is None or 0 <= distance < math.inf)):
        raise c.UsageError("--threshold must be positive and --merge-distance non-negative")
    if args.merge_bins < 0:
        raise c.UsageError("--merge-bins must be 0 or more")


def analyse(args: argparse.Namespace, analysis, *, then=None, **options):
    """(result, exit status, extra) of analysis(store, symbol, start, end, tick_size, bins,
    ...) over the window the flags give; bad input and too few trades are usage errors.
    ``extra`` is ``then(store, result)``, read before the store closes (None without it)."""
    symbol = c.symbol_arg(args)
    start, end = analytics_window(args)
    with c.open_reader(args, symbol=symbol) as store:
        try:
            result = analysis(
                store, symbol, start, end, tick_size=args.tick_size, bins=args.bins, **options
            )
        except ValueError as exc:  # InsufficientData is a ValueError too
            raise c.UsageError(str(exc)) from None
        extra = None if then is None else then(store, result)
        return result, c.report_corrupt(store), extra


def dump_json(doc: dict) -> None:
    json.dump(doc, sys.stdout, indent=2)
    sys.stdout.write("\n")


BIN_FIELDS = (
    "price_level",
    "price_low",
    "price_high",
    "volume",
    "buy_volume",
    "sell_volume",
    "trade_count",
)


def run(args: argparse.Namespace) -> int:
    from tradestore.analytics import volume_profile

    check_value_area(args)
    picture = plot_request(args)  # checked before the work: a bad --plot loses nothing
    profile, status, holes = analyse(
        args,
        volume_profile,
        value_area=args.value_area,
        then=None if picture is None else picture.holes,
    )
    if args.format == "json":
        dump_json(profile.to_json())
    elif args.format == "table":
        print_profile(profile)
    else:
        # A row per bin, the same keys as the bins of the JSON histogram, lowest price first.
        emit(args.format, (b.to_json() for b in profile.bins), fields=BIN_FIELDS)
        note_coverage(profile)
    if picture is not None:
        from tradestore.analytics import find_vacuums

        status = max(status, picture.draw(find_vacuums(profile), holes))
    return status


# The bar's characters differ, so buy and sell stay apart without colour (piped, NO_COLOR).
BUY, SELL = "█", "▒"
_ANSI = {"buy": "32", "sell": "31", "poc": "1;33", "va": "36", "dim": "2", "bad": "1;31"}


def print_profile(profile, out=None) -> None:
    """The profile as horizontal bars, highest price on top, POC and value area marked.

    Each row is labelled with its bin's centre, the same number the POC is given as; the
    bars fit the terminal (48 cells when piped)."""
    from tradestore.analytics import decimal_str

    out = out or sys.stdout
    colour = _use_colour(out)

    def paint(text: str, style: str) -> str:
        return f"\x1b[{_ANSI[style]}m{text}\x1b[0m" if colour and text else text

    top = max((b.volume for b in profile.bins), default=Decimal(0)) or Decimal(1)
    labels = [decimal_str(b.price_level) for b in profile.bins]
    volumes = [decimal_str(b.volume) for b in profile.bins]
    counts = [f"{b.trade_count:,}" for b in profile.bins]
    lw = max(len("price"), *map(len, labels))
    vw = max(len("volume"), *map(len, volumes))
    cw = max(len("trades"), *map(len, counts))
    width = terminal_width(out)
    # label, mark (2), bar, "  POC" (5), volume, trades, with two-space gutters
    fixed = lw + 2 + 5 + vw + cw + 4 * len("  ")
    bar_width = BAR_WIDTH if width is None else max(10, min(BAR_WIDTH, width - fixed))
    lines = wrap(
        f"{profile.symbol} volume profile {format_time_ms(profile.start_ms)} .. "
        f"{format_time_ms(profile.end_ms)}, bin {decimal_str(profile.bin_size)}",
        width,
    )
    legend = f"volume ({BUY} taker buy, {SELL} taker sell)"
    if len(legend) > bar_width + 5:  # a narrow terminal: the legend gets its own line
        lines.append(legend)
        legend = "volume"
    lines.append(
        f"{'price':>{lw}}  {'':2}  {legend:<{bar_width + 5}}  {'volume':>{vw}}  {'trades':>{cw}}"
    )
    for i in range(len(profile.bins) - 1, -1, -1):
        b = profile.bins[i]
        in_va = profile.value_area_low_index <= i <= profile.value_area_high_index
        cells = round(b.volume / top * bar_width)
        buy_cells = min(round(b.buy_volume / top * bar_width), cells) if cells else 0
        bar = paint(BUY * buy_cells, "buy") + paint(SELL * (cells - buy_cells), "sell")
        pad = " " * (bar_width - cells)
        if i == profile.poc_index:
            mark, tail, style = "◀", "  POC", "poc"
        elif in_va:
            mark, tail, style = "│", "     ", "va"
        else:
            mark, tail, style = " ", "     ", "dim"
        label = f"{labels[i]:>{lw}}"
        lines.append(
            f"{paint(label, style) if style != 'va' else label}  {paint(mark, style)}   "
            f"{bar}{pad}{paint(tail, 'poc')}  {volumes[i]:>{vw}}  {counts[i]:>{cw}}".rstrip()
        )
    total = profile.total_volume
    va_pct = profile.value_area_volume / total * 100 if total else Decimal(100)
    poc = profile.bins[profile.poc_index]
    summary = [
        f"{profile.trade_count:,} trades, first {format_time_ms(profile.first_trade_ms)}, "
        f"last {format_time_ms(profile.last_trade_ms)}",
        f"total volume {decimal_str(total)} (taker buy {decimal_str(profile.buy_volume)}, "
        f"sell {decimal_str(profile.sell_volume)})",
        f"POC {decimal_str(profile.point_of_control)} (◀, the bin "
        f"{decimal_str(poc.price_low)} .. {decimal_str(poc.price_high)})",
        f"value area {decimal_str(profile.value_area_low)} .. "
        f"{decimal_str(profile.value_area_high)} ({va_pct:.1f}% of the volume, │ marks it)",
    ]
    for line in summary:
        lines += wrap(line, width)
    if profile.coverage is not None:
        cover = profile.coverage
        for line in wrap(cover.summary(), width):
            lines.append(line if cover.complete else paint(line, "bad"))
    out.write("\n".join(lines) + "\n")


def _use_colour(out) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    try:
        return bool(out.isatty())
    except (AttributeError, ValueError):
        return False
