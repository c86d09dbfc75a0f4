"""``footprint``: per candle, per price, the taker-buy and taker-sell volume."""

from __future__ import annotations

import argparse

from tradestore.cli import _common as c
from tradestore.cli._output import Column, emit, field
from tradestore.cli._plot import add_plot, plot_request
from tradestore.cli._results import coverage_footer, note_coverage

# A row per (candle, price level): flat, so csv and jsonl carry the whole footprint.
FIELDS = (
    "open_time",
    "open_time_ms",
    "price",
    "buy_volume",
    "sell_volume",
    "delta",
    "trade_count",
)
COLUMNS = [
    field("open_time", "open time (UTC)"),
    field("price", right=True),
    field("buy_volume", "taker buy", right=True),
    field("sell_volume", "taker sell", right=True),
    field("delta", right=True, drop=1),
    Column("trades", lambda r: f"{r['trade_count']:,}", right=True, drop=2),
]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "footprint",
        help="per candle and price: taker-buy and taker-sell volume (a footprint chart)",
        description="For each candle of a window (intervals of whole minutes), the volume "
        "traded at each price, split into taker buys and taker sells, exact. Prices are "
        "grouped into bins of --tick-size (default: every traded price on its own). json "
        "gives the candles with their levels; csv, jsonl and the table a row per candle and "
        "price. --plot also draws the footprint as a grid (candles across, prices up), for "
        "short windows: at most 60 candles and 80 price rows (a --tick-size makes fewer rows).",
    )
    c.add_db(p)
    c.add_archive(p)
    c.add_symbol(p)
    c.add_window(p, default_hours=1.0)
    c.add_interval(p, "5m", minutes=True)
    p.add_argument(
        "--tick-size",
        metavar="PRICE",
        help="group prices into bins of this width, e.g. 10 (default: every traded price)",
    )
    c.add_limit(p, "rows")
    c.add_format(p)
    add_plot(p, "the footprint as a grid of taker sell | taker buy per candle and price")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tradestore.analytics import footprint

    symbol, interval, start, end = c.interval_window_args(args, minutes=True, limit=100_000)
    c.check_tick_size(args)
    picture = plot_request(args)  # checked before the work: a bad --plot loses nothing
    if picture is not None:
        columns = len(picture.plot.intervals(start, end, interval))
        try:
            picture.plot.check_grid(columns)
        except ValueError as exc:
            raise c.UsageError(f"--plot: {exc}") from None
    with c.open_reader(args, symbol=symbol) as store:
        result = footprint(store, symbol, start, end, interval, tick_size=args.tick_size)
        holes = [] if picture is None else picture.holes(store, result)
        status = c.report_corrupt(store)
    if picture is not None:
        try:  # before any output: a grid too large to read is a usage error
            picture.plot.check_grid(columns, len(picture.plot.price_rows(result)))
        except ValueError as exc:
            raise c.UsageError(f"--plot: {exc}") from None
    _emit(args, symbol, interval, result)
    if picture is not None:
        figure = picture.plot.footprint_figure(result, holes=holes, size=picture.size)
        status = max(status, picture.save(figure))
    return status


def _emit(args: argparse.Namespace, symbol: str, interval: int, result) -> None:
    """The footprint in --format: json as the result's document, else a row per level."""
    from tradestore.analytics import interval_label

    doc = result.to_json()
    if args.format == "json":
        emit("json", iter(doc.pop("candles")), fields=(), document=doc, rows_key="candles")
        return
    records = [
        {"open_time": candle["open_time"], "open_time_ms": candle["open_time_ms"], **level}
        for candle in doc["candles"]
        for level in candle["levels"]
    ]
    shown, more = c.limited(args, records)
    emit(
        args.format,
        ({k: r[k] for k in FIELDS} for r in shown),
        fields=FIELDS,
        columns=COLUMNS,
        title=f"{symbol} {interval_label(interval)} footprint {doc['time_period_start']} .. "
        f"{doc['time_period_end']}: {len(result.candles)} candles, {len(records)} price levels"
        + (f" (bins of {doc['tick_size']})" if doc["tick_size"] else ""),
        footer=coverage_footer(result),
        more=more,
    )
    if args.format in ("csv", "jsonl"):
        note_coverage(result)
