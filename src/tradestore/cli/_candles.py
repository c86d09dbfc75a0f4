"""``candles``: OHLCV candles with taker-buy/sell volume and VWAP, for any interval."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from tradestore.cli import _common as c
from tradestore.cli import _many as many
from tradestore.cli._output import Column, field
from tradestore.cli._plot import add_plot, plot_request
from tradestore.cli._results import emit_by_interval

FIELDS = (
    "open_time",
    "open_time_ms",
    "close_time_ms",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "buy_volume",
    "sell_volume",
    "trade_count",
    "vwap",
    "first_agg_id",
    "last_agg_id",
)
COLUMNS = [
    field("open_time", "open time (UTC)"),
    field("open", right=True),
    field("high", right=True),
    field("low", right=True),
    field("close", right=True),
    field("volume", right=True),
    Column(
        "taker buy\n/ sell", lambda r: f"{r['buy_volume']}\n{r['sell_volume']}", right=True, drop=2
    ),
    Column("trades", lambda r: f"{r['trade_count']:,}", right=True, drop=1),
    field("vwap", right=True, drop=3),
]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "candles",
        help="OHLCV candles (taker buy/sell volume, VWAP) of a symbol for any interval",
        description="Candles of one symbol over a window: open, high, low, close, volume, "
        "taker-buy and taker-sell volume, trade count and VWAP per interval, exact. "
        "Intervals are aligned to the Unix epoch as the exchange's klines are (1d opens at "
        "00:00 UTC); an interval without a trade has no candle. Whole minutes come from the "
        "price-level rollups, so a day of 1m candles takes milliseconds; intervals shorter "
        "than a minute (or not a whole number of minutes) are summed from the trades. "
        "--plot also draws them, with volume and cumulative volume delta below and any "
        "hole in the record marked. --symbols A,B gives several symbols' candles at once, "
        "keyed by symbol.",
    )
    c.add_db(p)
    c.add_archive(p)
    many.add_symbols(p)
    c.add_window(p, default_hours=24.0)
    c.add_interval(p, "1m")
    c.add_limit(p, "candles")
    c.add_format(p)
    add_plot(p, "the candles, with volume and cumulative volume delta below them")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tradestore.analytics import candles

    symbols = many.symbols_arg(args)
    if symbols is not None:
        return run_many(args, symbols)
    symbol, interval, start, end = c.interval_window_args(args)
    picture = plot_request(args)  # checked before the work: a bad --plot loses nothing
    with c.open_reader(args, symbol=symbol) as store:
        series = candles(store, symbol, start, end, interval)
        holes = [] if picture is None else picture.holes(store, series)
        status = c.report_corrupt(store)
    emit_by_interval(
        args, series, rows_key="candles", fields=FIELDS, columns=COLUMNS, title=title(series)
    )
    if picture is not None:
        figure = picture.plot.candles_figure(series, holes=holes, size=picture.size)
        status = max(status, picture.save(figure))
    return status


def run_many(args: argparse.Namespace, symbols: list[str]) -> int:
    """--symbols: every symbol's candles from one snapshot, keyed by symbol."""
    from tradestore.analytics import candles

    interval = c.interval_arg(args)
    start, end = c.window_args(args)
    c.check_span(start, end, interval)
    many.refuse_plot(args)
    with many.open_reader(args, symbols) as store:
        many.emit_by_interval(
            args,
            store,
            symbols,
            lambda s: candles(store, s, start, end, interval),
            rows_key="candles",
            fields=FIELDS,
            columns=COLUMNS,
            title=title,
        )
        status = c.report_corrupt(store)
    return status


def title(series) -> Callable[[dict, int], str]:
    """The table's title for one symbol's candles: ``title(series)(document, rows)``."""
    from tradestore.analytics import interval_label

    return lambda doc, rows: (
        f"{series.symbol} {interval_label(series.interval_ms)} candles "
        f"{doc['time_period_start']} .. {doc['time_period_end']}: {rows} candles, "
        f"{series.trade_count:,} trades"
    )
