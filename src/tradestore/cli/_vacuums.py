"""``vacuums``: price ranges of a symbol that traded far below the median bin volume."""

from __future__ import annotations

import argparse

from tradestore._timeparse import format_time_ms
from tradestore.cli import _common as c
from tradestore.cli._output import Column, emit, field
from tradestore.cli._plot import plot_request
from tradestore.cli._profile import (
    add_analytics_args,
    add_vacuum_args,
    analyse,
    check_vacuum_args,
    dump_json,
)
from tradestore.cli._results import coverage_footer, note_coverage


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "vacuums",
        help="liquidity vacuums: price ranges with far less volume than the median bin",
        description="Find the price ranges of a symbol's volume profile whose bins traded "
        "less than --threshold x the median bin volume (empty bins included); thin runs close "
        "together merge into one range, never across a bin at or above the median. Such "
        "ranges offer little resistance: price tends to move fast through them. Needs at "
        "least 1000 trades in the window. --plot draws the volume profile with the vacuums "
        "shaded and any hole in the record marked, so a thin area that is missing data is "
        "not taken for a vacuum.",
    )
    add_analytics_args(p)
    add_vacuum_args(p, "thin")
    c.add_limit(p, "vacuums")
    p.set_defaults(func=run)


VACUUM_FIELDS = (
    "vacuum_id",
    "symbol",
    "price_range_low",
    "price_range_high",
    "volume_deficit_pct",
    "median_volume",
    "actual_volume",
    "expected_impact",
    "bin_count",
    "detection_timestamp",
)
COLUMNS = [
    Column("price range", lambda r: f"{r['price_range_low']} .. {r['price_range_high']}"),
    field("bin_count", "thin bins", right=True),
    field("actual_volume", "mean volume", right=True),
    Column("deficit", lambda r: f"{r['volume_deficit_pct']:.1f}%", right=True),
    field("expected_impact", "expected impact"),
    field("vacuum_id", "id", drop=1),
]


def run(args: argparse.Namespace) -> int:
    from tradestore.analytics import liquidity_vacuums

    check_vacuum_args(args)
    distance = args.merge_distance
    picture = plot_request(args)  # checked before the work: a bad --plot loses nothing
    report, status, holes = analyse(
        args,
        liquidity_vacuums,
        threshold=args.threshold,
        merge_bins=args.merge_bins,
        merge_distance=distance,
        then=None if picture is None else lambda store, r: picture.holes(store, r.profile),
    )
    print_report(args, report)
    if picture is not None:
        status = max(status, picture.draw(report, holes))
    return status


def print_report(args: argparse.Namespace, report) -> None:
    from tradestore.analytics import decimal_str

    if args.format == "json":
        dump_json(report.to_json())
        return
    # The records are the vacuums of the JSON document, lowest price first.
    records = report.to_json()["vacuums"]
    shown, more = c.limited(args, records)
    p = report.profile
    title = (
        f"{p.symbol} liquidity vacuums {format_time_ms(p.start_ms)} .. "
        f"{format_time_ms(p.end_ms)}: {len(records)} (median bin volume "
        f"{decimal_str(report.median_volume)}, bin {decimal_str(p.bin_size)})"
    )
    footer = coverage_footer(p)
    emit(
        args.format,
        shown,
        fields=VACUUM_FIELDS,
        columns=COLUMNS,
        title=title,
        footer=footer,
        more=more,
    )
    if args.format != "table":
        note_coverage(p)
