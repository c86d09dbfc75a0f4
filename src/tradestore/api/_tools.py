"""The read side as a table of tools: one row per question a client can ask.

Each ``Tool`` names its MCP tool and its HTTP endpoint, declares its arguments (named as
the command line's flags), checks them (``check``, on the event loop: a bad request never
waits for a worker) and answers from a read-only store (``answer``, in a worker thread)
with the document ``--format json`` prints for the same command. The MCP server, the HTTP
API and its OpenAPI document are all generated from ``TOOLS``; a new analytic is one more
row here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from tradestore._window import (
    ANALYTICS,
    API_ANSWER,
    FOOTPRINT,
    RAW_INTERVALS,
    TRADES_PAGE,
    WindowError,
    WindowLimit,
    duration_ms,
    resolve_window,
)
from tradestore.analytics import (
    MAX_NAKED_DAYS,
    MERGE_BINS,
    MIN_TRADES,
    NAKED_DAYS,
    SCREEN_COLUMNS,
    SCREEN_SORT,
)
from tradestore.api._documents import (
    Cursor,
    coverage_document,
    gap_records,
    gaps_document,
    require_symbol,
    stats_document,
    stats_records,
    trades_page,
)
from tradestore.api._errors import BadArgument, InsufficientTrades
from tradestore.api._params import Param, read_arguments
from tradestore.store import TradeStore, check_symbol

if TYPE_CHECKING:
    from tradestore.analytics import VolumeProfile

R = TypeVar("R")

# Result sizes: a response never holds more than these.
MAX_BINS = 10_000
MAX_PAGE = 10_000
DEFAULT_PAGE = 100
# The windows' limits are tradestore._window's (ANALYTICS, API_ANSWER, TRADES_PAGE,
# FOOTPRINT, RAW_INTERVALS). Candles, volume delta and footprints: at most this many
# intervals per answer (a day of 1m candles is 1,440, a week of 1h ones 168).
MAX_CANDLES = 10_000
# A footprint lists every traded price of every candle: at most this many (candle, price)
# levels in one answer.
MAX_LEVELS = 50_000
MINUTE_MS = 60_000


@dataclass(frozen=True, slots=True)
class Tool:
    """One question: its MCP name, its HTTP path (under /api/v1/), what it answers, its
    arguments, ``check(arguments) -> request`` and ``answer(store, request) -> document``."""

    name: str
    path: str
    command: str  # the command line's equivalent, for the docs
    summary: str
    description: str
    params: tuple[Param, ...]
    check: Callable[[dict[str, Any]], dict[str, Any]]
    answer: Callable[[TradeStore, dict[str, Any]], dict[str, Any]]

    def request(self, raw: dict[str, Any]) -> dict[str, Any]:
        """The checked request from raw arguments (JSON or query text); BadArgument."""
        return self.check(read_arguments(self.params, raw, self.name))

    def input_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {p.name: p.schema() for p in self.params},
            "required": [p.name for p in self.params if p.required],
            "additionalProperties": False,
        }


# ---------------------------------------------------------------------------- arguments

SYMBOL = Param("symbol", "string", "the trading pair, e.g. BTCUSDT", required=True)
ANY_SYMBOL = Param("symbol", "string", "only this trading pair (default: every symbol)")
TIME_FORMS = (
    "ISO-8601 (UTC unless an offset is given, e.g. 2026-01-01T09:30:00Z), epoch seconds "
    "(10 digits) or milliseconds (13 digits), now, or now-2h"
)
START = Param(
    "start",
    "time",
    f"window start: {TIME_FORMS}; or a duration such as 90m, 2h, 1d (that long before end)",
)
END = Param("end", "time", f"window end, inclusive: {TIME_FORMS} (default: now)")


def hours(default: float, limit: WindowLimit) -> Param:
    """The window's length; its bounds (any positive length up to ``limit``) are checked
    with the window, so the refusal is the same however the window was given."""
    return Param(
        "hours",
        "length",
        f"window length in hours: the hours from start (ending 1 ms before start + hours), "
        f"or up to end (default: {default:g}; at most {limit.max_hours:g}: {limit.reason}; "
        "any two of start, end and hours fix the window)",
        maximum=limit.max_hours,
        exclusive_minimum=0,
    )


TICK_SIZE = Param(
    "tick_size",
    "decimal",
    "bin width in price units, e.g. 0.01 or 10 (default: a round width giving about `bins` bins)",
)
BINS = Param(
    "bins",
    "integer",
    "about how many price bins (when no tick_size)",
    100,
    minimum=1,
    maximum=MAX_BINS,
)
VALUE_AREA = Param(
    "value_area",
    "number",
    "fraction of the volume the value area holds",
    0.70,
    maximum=1,
    exclusive_minimum=0,
)
ANALYTICS_WINDOW = (START, END, hours(24, ANALYTICS))


def _symbol(args: dict[str, Any]) -> str:
    try:
        return check_symbol(args["symbol"])
    except ValueError as exc:
        raise BadArgument(f"symbol: {exc}") from None


def _window(args: dict[str, Any], *, default_hours: float, limit: WindowLimit) -> tuple[int, int]:
    try:
        return resolve_window(
            args["start"], args["end"], args["hours"], default_hours=default_hours, limit=limit
        )
    except WindowError as exc:
        raise BadArgument(str(exc)) from None


def _check_analytics(args: dict[str, Any]) -> dict[str, Any]:
    from tradestore.analytics import tick_to_fixed

    start, end = _window(args, default_hours=24, limit=ANALYTICS)
    if args["tick_size"] is not None:
        try:
            tick_to_fixed(args["tick_size"])
        except ValueError as exc:
            raise BadArgument(f"tick_size: {exc}") from None
    return {**args, "symbol": _symbol(args), "start_ms": start, "end_ms": end}


@contextmanager
def _analysis() -> Iterator[None]:
    """The analytics' refusals as answers: too few trades (422), bad input (400)."""
    from tradestore.analytics import InsufficientData

    try:
        yield
    except InsufficientData as exc:
        raise InsufficientTrades(str(exc)) from None
    except ValueError as exc:
        raise BadArgument(str(exc)) from None


def _analyse(
    store: TradeStore, r: dict[str, Any], analysis: Callable[..., R], *args: Any, **options: Any
) -> R:
    """analysis(store, symbol, start_ms, end_ms, *args, **options) over the request's
    symbol (one the store holds) and window, its refusals as answers."""
    require_symbol(store, r["symbol"])
    with _analysis():
        return analysis(store, r["symbol"], r["start_ms"], r["end_ms"], *args, **options)


def _bounded_bins(profile: VolumeProfile, args: dict[str, Any]) -> None:
    n = len(profile.bins)
    if n > MAX_BINS:
        raise BadArgument(
            f"tick_size {args['tick_size']} cuts the price range into {n} bins, more than "
            f"{MAX_BINS}: use a larger tick_size"
        )


# ---------------------------------------------------------------------------- answers


def _answer_profile(store: TradeStore, r: dict[str, Any]) -> dict[str, Any]:
    from tradestore.analytics import volume_profile

    profile = _analyse(
        store,
        r,
        volume_profile,
        tick_size=r["tick_size"],
        bins=r["bins"],
        value_area=r["value_area"],
    )
    _bounded_bins(profile, r)
    return profile.to_json()


def _answer_vacuums(store: TradeStore, r: dict[str, Any]) -> dict[str, Any]:
    from tradestore.analytics import find_vacuums, volume_profile

    profile = _analyse(store, r, volume_profile, tick_size=r["tick_size"], bins=r["bins"])
    _bounded_bins(profile, r)
    with _analysis():
        report = find_vacuums(
            profile,
            threshold=r["threshold"],
            merge_bins=r["merge_bins"],
            merge_distance=r["merge_distance"],
        )
    return report.to_json()


def _check_screen(args: dict[str, Any]) -> dict[str, Any]:
    from tradestore.analytics import check_sort, parse_where, tick_to_fixed

    start, end = _window(args, default_hours=24, limit=API_ANSWER)
    try:
        if args["tick_size"] is not None:
            tick_to_fixed(args["tick_size"])
        if args["where"] is not None:
            parse_where(args["where"])
        check_sort(args["sort"], args["order"])
    except ValueError as exc:
        raise BadArgument(str(exc)) from None
    return {**args, "start_ms": start, "end_ms": end}


def _answer_screen(store: TradeStore, r: dict[str, Any]) -> dict[str, Any]:
    from tradestore.analytics import names_symbols, resolve_symbols, screen

    with _analysis():
        symbols = resolve_symbols(store, r["symbols"])
    if names_symbols(r["symbols"]):
        for symbol in symbols:
            require_symbol(store, symbol)
    with _analysis():
        result = screen(
            store,
            symbols,
            r["start_ms"],
            r["end_ms"],
            tick_size=r["tick_size"],
            bins=r["bins"],
            value_area=r["value_area"],
            threshold=r["threshold"],
            merge_bins=r["merge_bins"],
            min_trades=r["min_trades"],
            naked_days=r["naked_days"],
        ).select(where=r["where"], sort=r["sort"], order=r["order"], top=r["top"])
    return result.to_json()


def _check_trades(args: dict[str, Any]) -> dict[str, Any]:
    start, end = _window(args, default_hours=1, limit=TRADES_PAGE)
    cursor = None if args["cursor"] is None else Cursor.parse(args["cursor"])
    return {**args, "symbol": _symbol(args), "start_ms": start, "end_ms": end, "cursor": cursor}


def _answer_trades(store: TradeStore, r: dict[str, Any]) -> dict[str, Any]:
    require_symbol(store, r["symbol"])
    return trades_page(
        store, r["symbol"], r["start_ms"], r["end_ms"], limit=r["limit"], cursor=r["cursor"]
    )


def _check_optional_symbol(args: dict[str, Any]) -> dict[str, Any]:
    return {**args, "symbol": None if args["symbol"] is None else _symbol(args)}


def _answer_stats(store: TradeStore, r: dict[str, Any]) -> dict[str, Any]:
    return stats_document(*stats_records(store, r["symbol"]))


def _answer_gaps(store: TradeStore, r: dict[str, Any]) -> dict[str, Any]:
    symbol = r["symbol"]
    if symbol is None:
        symbols = store.symbols()
    else:
        require_symbol(store, symbol)
        symbols = [symbol]
    records = gap_records(store, symbols, open_only=r["open"])
    return gaps_document(records, open_only=r["open"], limit=r["limit"])


def _check_coverage(args: dict[str, Any]) -> dict[str, Any]:
    start, end = _window(args, default_hours=24, limit=API_ANSWER)
    return {**args, "symbol": _symbol(args), "start_ms": start, "end_ms": end}


def _answer_coverage(store: TradeStore, r: dict[str, Any]) -> dict[str, Any]:
    require_symbol(store, r["symbol"])
    return coverage_document(store, r["symbol"], r["start_ms"], r["end_ms"])


def _interval(args: dict[str, Any], *, minutes: bool) -> int:
    try:
        ms = duration_ms(args["interval"], "interval")
    except WindowError as exc:
        raise BadArgument(str(exc)) from None
    if ms < 1000:
        raise BadArgument("interval must be at least 1s")
    if minutes and ms % MINUTE_MS:
        raise BadArgument(f"interval must be a whole number of minutes, not {args['interval']}")
    return ms


def _check_intervals(
    args: dict[str, Any], *, default_hours: float, limit: WindowLimit, minutes: bool = False
) -> dict[str, Any]:
    """The window and the interval, within the bounds of one answer (MAX_CANDLES)."""
    from tradestore.analytics import interval_label

    interval = _interval(args, minutes=minutes)
    start, end = _window(args, default_hours=default_hours, limit=limit)
    if interval % MINUTE_MS:
        try:
            RAW_INTERVALS.check(start, end)
        except WindowError as exc:
            raise BadArgument(
                f"interval {args['interval']}: {exc} (or use whole minutes)"
            ) from None
    count = end // interval - start // interval + 1
    if count > MAX_CANDLES:
        raise BadArgument(
            f"{count:,} intervals of {interval_label(interval)} in the window, more than "
            f"{MAX_CANDLES:,} per answer: use a longer interval or a shorter window"
        )
    return {
        **args,
        "symbol": _symbol(args),
        "start_ms": start,
        "end_ms": end,
        "interval_ms": interval,
    }


def _check_candles(args: dict[str, Any]) -> dict[str, Any]:
    return _check_intervals(args, default_hours=24, limit=API_ANSWER)


def _check_footprint(args: dict[str, Any]) -> dict[str, Any]:
    from tradestore.analytics import tick_to_fixed

    request = _check_intervals(args, default_hours=1, limit=FOOTPRINT, minutes=True)
    if args["tick_size"] is not None:
        try:
            tick_to_fixed(args["tick_size"])
        except ValueError as exc:
            raise BadArgument(f"tick_size: {exc}") from None
    return request


def _answer_candles(store: TradeStore, r: dict[str, Any]) -> dict[str, Any]:
    from tradestore.analytics import candles

    return _analyse(store, r, candles, r["interval_ms"]).to_json()


def _answer_cvd(store: TradeStore, r: dict[str, Any]) -> dict[str, Any]:
    from tradestore.analytics import cumulative_volume_delta

    return _analyse(store, r, cumulative_volume_delta, r["interval_ms"]).to_json()


def _answer_footprint(store: TradeStore, r: dict[str, Any]) -> dict[str, Any]:
    from tradestore.analytics import footprint

    result = _analyse(store, r, footprint, r["interval_ms"], tick_size=r["tick_size"])
    levels = sum(len(c.levels) for c in result.candles)
    if levels > MAX_LEVELS:
        raise BadArgument(
            f"the footprint has {levels:,} price levels, more than {MAX_LEVELS:,} per answer: "
            "use a larger tick_size, a longer interval or a shorter window"
        )
    return result.to_json()


def interval(default: str, *, minutes: bool = False) -> Param:
    return Param(
        "interval",
        "string",
        f"length of each candle, e.g. 1s, 15s, 1m, 15m, 1h, 4h, 1d (default: {default}; "
        + ("a whole number of minutes)" if minutes else "at least 1s)"),
        default,
    )


# ---------------------------------------------------------------------------- the table

WINDOW_NOTE = (
    "Times are UTC; both ends of a window are inclusive, and `hours` N from `start` end 1 ms "
    "before start + N h. The result says whether the window's record is complete (`coverage`): "
    "a window outside what was recorded is NOT RECORDED, which is not the same as no trades."
)

TOOLS: tuple[Tool, ...] = (
    Tool(
        name="get_volume_profile",
        path="profile",
        command="profile --format json",
        summary="Volume profile: traded volume by price, point of control, value area",
        description="The volume profile of one symbol over a window of at most "
        f"{ANALYTICS.max_hours:g} hours (default: the last 24 h): traded volume per price "
        "bin split into taker buys and sells, the point of control (the bin with the most volume) and the value area "
        "(the bins around it holding `value_area` of the volume). Decimals are exact "
        "strings. Needs at least 1000 trades in the window. " + WINDOW_NOTE,
        params=(
            SYMBOL,
            *ANALYTICS_WINDOW,
            TICK_SIZE,
            BINS,
            VALUE_AREA,
        ),
        check=_check_analytics,
        answer=_answer_profile,
    ),
    Tool(
        name="get_liquidity_vacuums",
        path="vacuums",
        command="vacuums --format json",
        summary="Liquidity vacuums: price ranges that traded far below the median bin",
        description="The price ranges of a symbol's volume profile (window as for "
        "get_volume_profile) whose bins traded less than `threshold` x the median bin "
        "volume, empty bins included; thin runs at most `merge_bins` bins apart merge, never "
        "across a bin at or above the median. Price tends to move fast through such ranges: `expected_impact` is "
        "FastMovement (deficit > 80%), ModerateMovement (> 50%) or Negligible. " + WINDOW_NOTE,
        params=(
            SYMBOL,
            *ANALYTICS_WINDOW,
            TICK_SIZE,
            BINS,
            Param(
                "threshold",
                "number",
                "a bin is thin below threshold x the median bin volume",
                0.20,
                exclusive_minimum=0,
            ),
            Param(
                "merge_bins",
                "integer",
                "merge two thin runs separated by at most this many bins, none of them at or "
                "above the median volume (0 never merges)",
                MERGE_BINS,
                minimum=0,
            ),
            Param(
                "merge_distance",
                "number",
                "also require merged runs to be closer than this fraction of the mid price "
                "(default: no such cap)",
                minimum=0,
            ),
        ),
        check=_check_analytics,
        answer=_answer_vacuums,
    ),
    Tool(
        name="get_candles",
        path="candles",
        command="candles --format json",
        summary="OHLCV candles with taker-buy/sell volume and VWAP, for any interval",
        description="Candles of one symbol over a window (default: the last 24 h, at most "
        f"{API_ANSWER.max_hours:g} h): open, high, low, close, volume, taker-buy and taker-sell "
        "volume, trade count, VWAP and the first and last agg id per interval, exact. "
        "Intervals are aligned to the Unix epoch as the exchange's klines are; an interval "
        f"without a trade has no candle. At most {MAX_CANDLES:,} intervals per call; "
        "intervals that are not whole minutes are summed from the trades, over at most "
        f"{RAW_INTERVALS.max_hours:g} h. " + WINDOW_NOTE,
        params=(SYMBOL, START, END, hours(24, API_ANSWER), interval("1m")),
        check=_check_candles,
        answer=_answer_candles,
    ),
    Tool(
        name="get_footprint",
        path="footprint",
        command="footprint --format json",
        summary="Per candle and price: taker-buy and taker-sell volume (a footprint chart)",
        description="For each candle of a window (default: the last hour, at most "
        f"{FOOTPRINT.max_hours:g} h; intervals of whole minutes) the volume traded at each "
        "price, split into taker buys and sells, with the candle's OHLCV and delta, exact. "
        "Prices are grouped into bins of `tick_size` (default: every traded price on its "
        f"own). At most {MAX_CANDLES:,} candles and {MAX_LEVELS:,} (candle, price) levels "
        "per call: a larger tick_size makes fewer levels. " + WINDOW_NOTE,
        params=(
            SYMBOL,
            START,
            END,
            hours(1, FOOTPRINT),
            interval("5m", minutes=True),
            Param(
                "tick_size",
                "decimal",
                "group prices into bins of this width, e.g. 10 (default: every traded price)",
            ),
        ),
        check=_check_footprint,
        answer=_answer_footprint,
    ),
    Tool(
        name="get_cvd",
        path="cvd",
        command="cvd --format json",
        summary="Cumulative volume delta: taker buys minus taker sells, by interval",
        description="Per interval of a window (as for get_candles): taker-buy volume, "
        "taker-sell volume, their difference (the delta) and its running sum from the "
        "window's start (the cumulative volume delta), exact; and the whole window's "
        "totals. " + WINDOW_NOTE,
        params=(SYMBOL, START, END, hours(24, API_ANSWER), interval("1m")),
        check=_check_candles,
        answer=_answer_cvd,
    ),
    Tool(
        name="screen_market",
        path="screen",
        command="screen --format json",
        summary="Screen the market: one row per symbol (price, volume, POC, vacuums, naked POCs)",
        description="One row per symbol over a window (default: the last 24 h, at most "
        f"{API_ANSWER.max_hours:g} h): the last price, the volume in quote terms (`volume`) "
        "and base terms, the taker-buy share, the volume delta (`cvd`), the trade count, the "
        "volume profile's point of control and value area and whether the last price is "
        "inside it, the nearest liquidity vacuum above and below the last price (distance in "
        "% and in bins), the nearest naked POC (an earlier UTC day's POC no trade has "
        "reached since) and each row's coverage. Each figure equals the single-symbol "
        "tools' for that symbol. Filter with `where` (e.g. `in_vacuum`, "
        "`dist_poc_pct<0.5,volume>1e6`), order with `sort`/`order`, keep the first `top` "
        f"rows. Columns: {', '.join(SCREEN_COLUMNS)}. " + WINDOW_NOTE,
        params=(
            Param(
                "symbols",
                "string",
                "ALL (every stored symbol), a comma-separated list, or a pattern such as *USDT",
                "ALL",
            ),
            START,
            END,
            hours(24, API_ANSWER),
            TICK_SIZE,
            BINS,
            VALUE_AREA,
            Param(
                "threshold",
                "number",
                "a bin is thin (a vacuum) below threshold x the median bin volume",
                0.20,
                exclusive_minimum=0,
            ),
            Param(
                "merge_bins",
                "integer",
                "merge thin runs at most this many bins apart (as get_liquidity_vacuums)",
                MERGE_BINS,
                minimum=0,
            ),
            Param(
                "min_trades",
                "integer",
                "trades a symbol needs for its profile figures (POC, value area, vacuums)",
                MIN_TRADES,
                minimum=1,
            ),
            Param(
                "naked_days",
                "integer",
                "UTC days before the window's last day looked at for naked POCs (0: none)",
                NAKED_DAYS,
                minimum=0,
                maximum=MAX_NAKED_DAYS,
            ),
            Param(
                "where",
                "string",
                "conditions joined by ',' or 'and': a flag column (in_vacuum, !in_value_area) "
                "or COLUMN OP NUMBER with < <= > >= == != (volume is in quote terms)",
            ),
            Param("sort", "string", "the column to order by", SCREEN_SORT),
            Param(
                "order",
                "string",
                "asc or desc (default: largest first, but the symbol and distances nearest first)",
            ),
            Param("top", "integer", "rows returned at most", 100, minimum=0, maximum=MAX_PAGE),
        ),
        check=_check_screen,
        answer=_answer_screen,
    ),
    Tool(
        name="query_trades",
        path="trades",
        command="query --format json",
        summary="Trades of a symbol in a window, a page at a time",
        description="The stored aggregate trades of one symbol with start <= time <= end "
        f"(default: the last hour; at most {TRADES_PAGE.max_hours:g} h), ascending by agg id, at "
        f"most `limit` per call (default {DEFAULT_PAGE}, at most {MAX_PAGE}). When more "
        "remain, `next_cursor` is set: pass it back as `cursor` for the next page; `count` "
        "and `coverage` describe the trades of this page. " + WINDOW_NOTE,
        params=(
            SYMBOL,
            START,
            END,
            hours(1, TRADES_PAGE),
            Param(
                "limit",
                "integer",
                "trades per page",
                DEFAULT_PAGE,
                minimum=1,
                maximum=MAX_PAGE,
            ),
            Param(
                "cursor",
                "string",
                "next_cursor of the previous page (or an agg id: the trades after it)",
            ),
        ),
        check=_check_trades,
        answer=_answer_trades,
    ),
    Tool(
        name="get_stats",
        path="stats",
        command="stats --format json",
        summary="What the store holds, per symbol",
        description="Per symbol: the trade count, the span its record covers, first and "
        "last trade time and agg id, open/filled/unfillable gaps and an estimate of its "
        "size on disk; for the store: its path, format version and bytes on disk.",
        params=(ANY_SYMBOL,),
        check=_check_optional_symbol,
        answer=_answer_stats,
    ),
    Tool(
        name="get_gaps",
        path="gaps",
        command="gaps --format json",
        summary="Holes in the agg-id sequence and whether they were filled",
        description="The gaps the recorder (or an import) found in a symbol's agg-id "
        "sequence: the missing ids, the times of the trades on either side and their status "
        "(open, filled by backfill, or unfillable). `count` is every matching gap; at most "
        "`limit` are listed.",
        params=(
            ANY_SYMBOL,
            Param("open", "boolean", "only gaps that are still open", False),
            Param("limit", "integer", "gaps listed at most", 1000, minimum=1, maximum=MAX_PAGE),
        ),
        check=_check_optional_symbol,
        answer=_answer_gaps,
    ),
    Tool(
        name="get_coverage",
        path="coverage",
        command="query --format json (its coverage)",
        summary="Is a window recorded, and is its record whole?",
        description="Whether a window (default: the last 24 h, at most "
        f"{API_ANSWER.max_hours:g} h) of a symbol "
        "lies inside what was recorded and has no missing agg id or unfilled gap: "
        "`complete` true means every trade of the window is stored, so an empty result "
        "really means no trades happened. Reads only the window's agg ids.",
        params=(SYMBOL, START, END, hours(24, API_ANSWER)),
        check=_check_coverage,
        answer=_answer_coverage,
    ),
)

TOOLS_BY_NAME = {t.name: t for t in TOOLS}
TOOLS_BY_PATH = {t.path: t for t in TOOLS}
