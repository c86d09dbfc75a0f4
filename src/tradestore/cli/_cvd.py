"""``cvd``: cumulative volume delta (taker buys minus taker sells) by interval."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from tradestore.cli import _common as c
from tradestore.cli import _many as many
from tradestore.cli._output import Column, field
from tradestore.cli._results import emit_by_interval

FIELDS = (
    "open_time",
    "open_time_ms",
    "buy_volume",
    "sell_volume",
    "delta",
    "cumulative_delta",
    "trade_count",
)
COLUMNS = [
    field("open_time", "open time (UTC)"),
    field("buy_volume", "taker buy", right=True, drop=2),
    field("sell_volume", "taker sell", right=True, drop=2),
    field("delta", right=True),
    field("cumulative_delta", "cumulative", right=True),
    Column("trades", lambda r: f"{r['trade_count']:,}", right=True, drop=1),
]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "cvd",
        help="cumulative volume delta (taker buys minus taker sells) by interval",
        description="Per interval of a window: taker-buy volume, taker-sell volume, their "
        "difference (the delta) and its running sum from the window's start (the cumulative "
        "volume delta), exact. Intervals as for `candles`. --symbols A,B gives several "
        "symbols' at once, keyed by symbol.",
    )
    c.add_db(p)
    c.add_archive(p)
    many.add_symbols(p)
    c.add_window(p, default_hours=24.0)
    c.add_interval(p, "1m")
    c.add_limit(p, "intervals")
    c.add_format(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tradestore.analytics import cumulative_volume_delta

    symbols = many.symbols_arg(args)
    if symbols is not None:
        return run_many(args, symbols)
    symbol, interval, start, end = c.interval_window_args(args)
    with c.open_reader(args, symbol=symbol) as store:
        result = cumulative_volume_delta(store, symbol, start, end, interval)
        status = c.report_corrupt(store)
    emit_by_interval(
        args, result, rows_key="points", fields=FIELDS, columns=COLUMNS, title=title(result)
    )
    return status


def run_many(args: argparse.Namespace, symbols: list[str]) -> int:
    """--symbols: every symbol's volume delta from one snapshot, keyed by symbol."""
    from tradestore.analytics import cumulative_volume_delta

    interval = c.interval_arg(args)
    start, end = c.window_args(args)
    c.check_span(start, end, interval)
    with many.open_reader(args, symbols) as store:
        many.emit_by_interval(
            args,
            store,
            symbols,
            lambda s: cumulative_volume_delta(store, s, start, end, interval),
            rows_key="points",
            fields=FIELDS,
            columns=COLUMNS,
            title=title,
        )
        status = c.report_corrupt(store)
    return status


def title(result) -> Callable[[dict, int], str]:
    """The table's title for one symbol's volume delta: ``title(result)(document, rows)``."""
    from tradestore.analytics import interval_label

    return lambda doc, _rows: (
        f"{result.symbol} cumulative volume delta by "
        f"{interval_label(result.interval_ms)}, {doc['time_period_start']} .. "
        f"{doc['time_period_end']}: delta {doc['delta']} (taker buy {doc['buy_volume']}, "
        f"sell {doc['sell_volume']})"
    )
