"""``screen``: one row per symbol over a window, for the whole market or a set of it."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from decimal import Decimal
from types import SimpleNamespace

from tradestore._timeparse import format_time_ms
from tradestore._window import ANALYTICS
from tradestore.cli import _common as c
from tradestore.cli._output import Column, emit, field
from tradestore.cli._plot import add_plot
from tradestore.cli._profile import add_vacuum_args, add_value_area, check_vacuum_args

COLOURS = ("buy_share", "dist_poc", "dist_naked_poc")


def register(subparsers) -> None:
    from tradestore.analytics import NAKED_DAYS
    from tradestore.analytics import SCREEN_COLUMNS as COLUMNS
    from tradestore.analytics import SCREEN_SORT as DEFAULT_SORT

    p = subparsers.add_parser(
        "screen",
        help="screen the market: one row per symbol (price, volume, taker-buy share, CVD, "
        "POC, value area, nearest vacuums, naked POCs)",
        description=textwrap.fill(
            "One row per symbol over a window: the last price, the volume in quote "
            "terms (volume) and in base terms (base_volume), the taker-buy share, the volume "
            "delta (cvd), the trade count, the volume profile's POC and value area and whether "
            "the last price is inside it, the nearest liquidity vacuum above and below the last "
            "price (distance in % and in bins), the nearest naked POC of an earlier UTC day "
            "(a day's POC no trade has reached since) and the window's coverage. Every figure is "
            "the one `profile`, `vacuums` and `candles` give for that symbol and window. Filter "
            "with --where, order with --sort, keep the first rows with --top. Symbols with fewer "
            "than --min-trades trades get their price and volume figures but no profile. "
            "docs/ANALYTICS.md defines every column.",
            width=88,
        ),
        epilog="examples:\n"
        "  tradestore-trio screen --symbols '*USDT' --where in_vacuum --sort volume\n"
        "  tradestore-trio screen --hours 1 --sort buy_share --top 20\n"
        "  tradestore-trio screen --days 7 --where 'dist_naked_poc_pct<0.5,volume>1e6'\n"
        "  tradestore-trio screen --format csv > market.csv\n"
        "  tradestore-trio screen --plot market.png --colour dist_poc",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.add_db(p)
    c.add_archive(p)
    p.add_argument(
        "--symbols",
        default="ALL",
        metavar="ALL|A,B|PATTERN",
        help="the symbols: ALL stored ones (default), a comma-separated list, or a pattern "
        "such as '*USDT' (quote it: * ? and [...] as in file names)",
    )
    c.add_window(p, default_hours=24.0, limit=ANALYTICS)
    p.add_argument(
        "--tick-size",
        metavar="PRICE",
        help="bin width for every symbol (default: each its own round width, about --bins bins)",
    )
    p.add_argument("--bins", type=int, default=100, metavar="N", help="bins wanted (default: 100)")
    add_value_area(p)
    add_vacuum_args(p, "thin")
    p.add_argument(
        "--min-trades",
        type=int,
        default=1000,
        metavar="N",
        help="the trades a symbol needs for its profile figures (default: 1000, as `profile`)",
    )
    p.add_argument(
        "--naked-days",
        type=int,
        default=NAKED_DAYS,
        metavar="N",
        help="UTC days before the window's last day whose POC is looked at for naked POCs "
        f"(default: {NAKED_DAYS}; 0: none)",
    )
    p.add_argument(
        "--where",
        metavar="CONDITIONS",
        help="keep the rows meeting every condition, joined by ',' or 'and': a flag column "
        "(in_vacuum, !in_value_area, not data_complete) or COLUMN OP NUMBER with < <= > >= == "
        "!= (dist_poc_pct<0.5, volume>1e6: volume is in quote terms)",
    )
    p.add_argument(
        "--sort",
        default=DEFAULT_SORT,
        choices=COLUMNS,
        metavar="COLUMN",
        help=f"order the rows by a column (default: {DEFAULT_SORT}); largest first, but the "
        "symbol and the distances nearest first; empty values last",
    )
    p.add_argument("--order", choices=("asc", "desc"), help="override --sort's direction")
    p.add_argument(
        "--top",
        dest="limit",
        type=c._limit,
        default=None,
        metavar="N|all",
        help="the first N rows (default: 100 in a table, all in json, jsonl and csv)",
    )
    c.add_format(p)
    add_plot(p, "a market map: a tile per symbol sized by volume, coloured by --colour")
    p.add_argument(
        "--colour",
        "--color",
        choices=COLOURS,
        default="buy_share",
        help="what colours the market map's tiles (default: buy_share)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tradestore.analytics import parse_where, screen

    start, end = c.window_args(args, limit=ANALYTICS)
    if args.bins < 1:
        raise c.UsageError("--bins must be at least 1")
    if args.naked_days < 0 or args.min_trades < 0:
        raise c.UsageError("--naked-days and --min-trades must be 0 or more")
    c.check_tick_size(args)
    check_vacuum_args(args)
    if not 0 < args.value_area <= 1:
        raise c.UsageError("--value-area must be in (0, 1]")
    if args.where:
        try:
            parse_where(args.where)
        except ValueError as exc:
            raise c.UsageError(str(exc)) from None
    picture = _plot_request(args)  # checked before the work: a bad --plot loses nothing
    with c.open_reader(args) as store:
        symbols = screened_symbols(store, args.symbols)
        with c.progress_bar("screening", enabled=len(symbols) > 50) as bar:

            def progress(done: int, total: int, symbol: str) -> None:
                bar(SimpleNamespace(symbol=symbol, fraction=done / total, trades=done))

            try:
                result = screen(
                    store,
                    symbols,
                    start,
                    end,
                    tick_size=args.tick_size,
                    bins=args.bins,
                    value_area=args.value_area,
                    threshold=args.threshold,
                    merge_bins=args.merge_bins,
                    merge_distance=args.merge_distance,
                    min_trades=args.min_trades,
                    naked_days=args.naked_days,
                    progress=progress,
                )
            except ValueError as exc:
                raise c.UsageError(str(exc)) from None
        status = c.report_corrupt(store)
    chosen = result.select(where=args.where, sort=args.sort, order=args.order)
    print_screen(args, chosen)
    if picture is not None:
        status = max(status, _draw(picture, chosen, args.colour))
    return status


def screened_symbols(store, text: str) -> list[str]:
    """The symbols --symbols names, each known to the store (a usage error otherwise)."""
    from tradestore.analytics import names_symbols, resolve_symbols

    try:
        names = resolve_symbols(store, text)
    except ValueError as exc:
        raise c.UsageError(f"--symbols: {exc}") from None
    if not names:
        raise c.UsageError("--symbols: the store holds no symbols yet")
    if names_symbols(text):
        c.require_known(store, *names)
    return names


def _plot_request(args: argparse.Namespace):
    if args.plot is None:
        return None
    from tradestore.cli._plot import PlotRequest

    request = PlotRequest(args)
    if not hasattr(request.plot, "market_map_figure"):  # pragma: no cover - a stale install
        raise c.UsageError("--plot: this install's plot package cannot draw a market map")
    return request


def _draw(picture, result, colour: str) -> int:
    figure = picture.plot.market_map_figure(result, colour=colour, size=picture.size)
    return picture.save(figure)


def _pct(value) -> str:
    return "" if value is None else f"{value:.2f}%"


def _flag(value) -> str:
    return "" if value is None else ("yes" if value else "no")


def _vacuum(r: dict, side: str) -> str:
    low = r[f"vacuum_{side}_low"]
    if low is None:
        return ""
    return f"{low} .. {r[f'vacuum_{side}_high']}\n{r[f'dist_vacuum_{side}_pct']:.2f}%"


COLUMNS = [
    field("symbol"),
    field("last_price", "last", right=True),
    Column("volume\n(quote)", lambda r: _compact(r["volume"]), right=True),
    Column("buy\nshare", lambda r: _pct(None if r["buy_share"] is None else r["buy_share"] * 100),
           right=True),
    Column("cvd", lambda r: _compact(r["cvd"]), right=True, drop=4),
    Column("trades", lambda r: f"{r['trade_count']:,}", right=True, drop=5),
    field("poc", "POC", right=True),
    Column("value area", lambda r: "" if r["value_area_low"] is None
           else f"{r['value_area_low']} ..\n{r['value_area_high']}", right=True, drop=3),
    Column("in\nVA", lambda r: _flag(r["in_value_area"]), drop=2),
    Column("in\nvac", lambda r: _flag(r["in_vacuum"]), drop=2),
    Column("vacuum above", lambda r: _vacuum(r, "above"), right=True, drop=1),
    Column("vacuum below", lambda r: _vacuum(r, "below"), right=True, drop=1),
    Column("naked POC", lambda r: "" if r["naked_poc"] is None
           else f"{r['naked_poc']}\n{r['dist_naked_poc_pct']:.2f}% {r['naked_poc_day']}",
           right=True, drop=1),
    Column("record", lambda r: _record(r), drop=2),
]  # fmt: skip


def _record(r: dict) -> str:
    if r["data_complete"]:
        return "complete"
    return {"none": "NOT RECORDED", "partial": "PARTIAL"}.get(r["recorded"], "INCOMPLETE")


def _compact(value) -> str:
    """A volume for a table: 1.23M, 456.7k, 12.5 (the exact figure is in csv and json)."""
    number = Decimal(value)
    for unit, scale in (("B", Decimal(10) ** 9), ("M", Decimal(10) ** 6), ("k", Decimal(1000))):
        if abs(number) >= scale:
            return f"{number / scale:.2f}{unit}"
    return f"{number:.4g}" if number else "0"


def print_screen(args: argparse.Namespace, result) -> None:
    """The screen in --format: json the whole document (rows as --top keeps them), csv and
    jsonl a line per row, a table the rows with a title and the coverage footer."""
    from tradestore.analytics import SCREEN_COLUMNS as FIELDS

    rows = list(result.rows)
    shown_rows, more = c.limited(args, rows)
    if args.format == "json":
        doc = result.to_json()
        doc["rows"] = doc["rows"][: len(shown_rows)]
        doc["row_count"] = len(shown_rows)
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    records = [row.record() for row in shown_rows]
    screened = result.screened if result.screened is not None else len(rows)
    incomplete = [row.symbol for row in rows if not row.data_complete]
    footer = []
    if more:
        footer.append(f"... {more:,} more rows (--top N, --top all or --format csv)")
    if incomplete:
        names = ", ".join(incomplete[:8]) + (" ..." if len(incomplete) > 8 else "")
        footer.append(
            f"{len(incomplete)} of these rows rest on an incomplete record ({names}): "
            "--format json has each row's coverage"
        )
    title = (
        f"screen {format_time_ms(result.start_ms)} .. {format_time_ms(result.end_ms)}: "
        f"{len(rows)} of {screened} symbols"
        + (f" where {args.where}" if args.where else "")
        + f", by {args.sort}"
    )
    emit(
        args.format,
        records,
        fields=FIELDS,
        columns=COLUMNS,
        title=title,
        footer=footer,
    )
    if args.format != "table" and incomplete:
        c.note(footer[-1])
