"""screen: the whole market at a glance, one row per symbol over one window.

Each row holds what a trader scans a market for: the last price, the volume (in quote
terms and in base terms), the taker-buy share and the volume delta, the trade count, the
volume profile's point of control and value area (and whether the last price is inside
it), the nearest liquidity vacuum above and below the last price, the nearest point of
control of an earlier UTC day that price has not traded at since (a *naked* POC), and the
window's coverage. Every figure is the one the single-symbol analytics give for that
symbol and window (``volume_profile``, ``liquidity_vacuums``, ``candles``): the same
pyramid of rollups, the same bins, the same integer arithmetic. Symbols are read one at a
time, so memory holds the rows and one symbol's levels, never the market's trades.
docs/ANALYTICS.md defines every column.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from tradestore._timeparse import format_time_ms
from tradestore.analytics._heads import RollupHead
from tradestore.analytics._levels import WindowLevels, from_pieces, window_levels
from tradestore.analytics._many import check_symbols
from tradestore.analytics._profile import (
    MIN_TRADES,
    bin_grid,
    check_window,
    fraction,
    levels_coverage,
    nice_width,
    point_of_control,
    tick_to_fixed,
    value_area_bounds,
)
from tradestore.analytics._results import decimal_str, fixed_to_decimal
from tradestore.analytics._vacuums import MERGE_BINS, thin_ranges
from tradestore.codec._fixed import SCALE_DIGITS
from tradestore.codec._twins import Rollup
from tradestore.store import Coverage, TradeSource, day_pyramids

DAY_MS = 86_400_000
NAKED_DAYS = 20  # earlier UTC days whose POC the screen looks back at, by default
MAX_NAKED_DAYS = 400
PCT_DIGITS = 4  # percentages are floats rounded to this many decimals

# The row's columns, in order (a CSV's header, the JSON row's keys before ``coverage``).
COLUMNS = (
    "symbol",
    "last_price",
    "volume",
    "base_volume",
    "buy_volume",
    "sell_volume",
    "buy_share",
    "cvd",
    "trade_count",
    "first_trade_time",
    "last_trade_time",
    "bin_size",
    "poc",
    "value_area_low",
    "value_area_high",
    "in_value_area",
    "dist_poc_pct",
    "in_vacuum",
    "vacuum_above_low",
    "vacuum_above_high",
    "dist_vacuum_above_pct",
    "dist_vacuum_above_bins",
    "vacuum_below_low",
    "vacuum_below_high",
    "dist_vacuum_below_pct",
    "dist_vacuum_below_bins",
    "naked_poc",
    "naked_poc_day",
    "dist_naked_poc_pct",
    "naked_poc_count",
    "data_complete",
    "recorded",
    "note",
)
# Columns whose natural order is nearest first (the rest sort largest first).
ASCENDING = frozenset(
    {
        "symbol",
        "dist_poc_pct",
        "dist_vacuum_above_pct",
        "dist_vacuum_above_bins",
        "dist_vacuum_below_pct",
        "dist_vacuum_below_bins",
        "dist_naked_poc_pct",
    }
)
TEXT = frozenset(
    {"symbol", "first_trade_time", "last_trade_time", "naked_poc_day", "recorded", "note"}
)
DEFAULT_SORT = "volume"


@dataclass(frozen=True, slots=True)
class Vacuum:
    """A liquidity vacuum [price_low, price_high) near the last price and how far it is:
    ``distance_pct`` from the last price to its nearest edge, in % of the last price, and
    ``distance_bins`` from the last price's bin to its nearest bin (1: the next bin)."""

    price_low: Decimal
    price_high: Decimal
    distance_pct: float
    distance_bins: int


@dataclass(frozen=True, slots=True)
class ScreenRow:
    """One symbol over the screen's window (docs/ANALYTICS.md, "screen"). The profile's
    figures (POC, value area, vacuums) are None below ``min_trades`` trades, as the
    ``profile`` command refuses such a window; ``note`` then says why."""

    symbol: str
    trade_count: int
    first_trade_ms: int | None
    last_trade_ms: int | None
    last_price: Decimal | None
    volume: Decimal  # quote volume: the sum of price x quantity
    base_volume: Decimal
    buy_volume: Decimal  # taker buys, in base units
    buy_share: float | None  # buy_volume / base_volume
    bin_size: Decimal | None
    poc: Decimal | None
    value_area_low: Decimal | None
    value_area_high: Decimal | None
    in_value_area: bool | None
    dist_poc_pct: float | None  # |last - poc| / last, in %
    in_vacuum: bool | None
    vacuum_above: Vacuum | None
    vacuum_below: Vacuum | None
    naked_poc: Decimal | None  # the naked POC of an earlier day nearest the last price
    naked_poc_day_ms: int | None
    dist_naked_poc_pct: float | None
    naked_poc_count: int | None  # naked POCs found in the days looked back at
    coverage: Coverage
    note: str | None = None

    @property
    def sell_volume(self) -> Decimal:
        return self.base_volume - self.buy_volume

    @property
    def cvd(self) -> Decimal:
        """The window's volume delta: taker buys minus taker sells (base units), the last
        value of ``cvd`` over the same window."""
        return self.buy_volume - self.sell_volume

    @property
    def data_complete(self) -> bool:
        return self.coverage.complete

    def values(self) -> dict[str, Any]:
        """The row's columns as Python values (exact Decimals, floats, bools, None; times
        as RFC 3339 text), in ``COLUMNS`` order: what --where and --sort compare."""
        above, below = self.vacuum_above, self.vacuum_below
        return {
            "symbol": self.symbol,
            "last_price": self.last_price,
            "volume": self.volume,
            "base_volume": self.base_volume,
            "buy_volume": self.buy_volume,
            "sell_volume": self.sell_volume,
            "buy_share": self.buy_share,
            "cvd": self.cvd,
            "trade_count": self.trade_count,
            "first_trade_time": _time(self.first_trade_ms),
            "last_trade_time": _time(self.last_trade_ms),
            "bin_size": self.bin_size,
            "poc": self.poc,
            "value_area_low": self.value_area_low,
            "value_area_high": self.value_area_high,
            "in_value_area": self.in_value_area,
            "dist_poc_pct": self.dist_poc_pct,
            "in_vacuum": self.in_vacuum,
            "vacuum_above_low": above.price_low if above else None,
            "vacuum_above_high": above.price_high if above else None,
            "dist_vacuum_above_pct": above.distance_pct if above else None,
            "dist_vacuum_above_bins": above.distance_bins if above else None,
            "vacuum_below_low": below.price_low if below else None,
            "vacuum_below_high": below.price_high if below else None,
            "dist_vacuum_below_pct": below.distance_pct if below else None,
            "dist_vacuum_below_bins": below.distance_bins if below else None,
            "naked_poc": self.naked_poc,
            "naked_poc_day": _day(self.naked_poc_day_ms),
            "dist_naked_poc_pct": self.dist_naked_poc_pct,
            "naked_poc_count": self.naked_poc_count,
            "data_complete": self.data_complete,
            "recorded": self.coverage.recorded,
            "note": self.note,
        }

    def record(self) -> dict[str, Any]:
        """The row as JSON values (exact decimals as strings) without the coverage block:
        a CSV or JSONL line."""
        return {
            k: decimal_str(v) if isinstance(v, Decimal) else v for k, v in self.values().items()
        }

    def to_json(self) -> dict[str, Any]:
        return {**self.record(), "coverage": self.coverage.to_dict()}


@dataclass(frozen=True, slots=True)
class ScreenResult:
    """The rows of a screen (in the order asked: ``select`` filters, sorts and cuts them),
    with the window and the settings they were computed with."""

    start_ms: int
    end_ms: int
    rows: tuple[ScreenRow, ...]
    bins: int
    tick_size: Decimal | None
    value_area: float
    threshold: float
    naked_days: int
    min_trades: int
    merge_bins: int = MERGE_BINS
    merge_distance: float | None = None
    screened: int | None = None  # symbols screened, when rows were filtered or cut

    def select(
        self,
        *,
        where: str | None = None,
        sort: str | None = None,
        order: str | None = None,
        top: int | None = None,
    ) -> ScreenResult:
        """The rows kept by ``where``, sorted by ``sort`` (``order``: asc/desc, default the
        column's natural order), the first ``top`` of them (see ``select_rows``)."""
        rows = select_rows(self.rows, where=where, sort=sort, order=order, top=top)
        screened = self.screened if self.screened is not None else len(self.rows)
        return ScreenResult(
            self.start_ms,
            self.end_ms,
            tuple(rows),
            self.bins,
            self.tick_size,
            self.value_area,
            self.threshold,
            self.naked_days,
            self.min_trades,
            self.merge_bins,
            self.merge_distance,
            screened,
        )

    def records(self) -> list[dict[str, Any]]:
        """A dict per row (Python values: exact Decimals), ``COLUMNS`` order."""
        return [row.values() for row in self.rows]

    def to_pandas(self) -> Any:
        """The rows as a pandas DataFrame: prices and volumes as float64 (the exact
        decimals are in ``records()`` and the JSON), flags as booleans (nullable)."""
        import pandas as pd

        frame = pd.DataFrame([_floats(r) for r in self.records()], columns=list(COLUMNS))
        return frame.convert_dtypes()

    def to_polars(self) -> Any:
        """The rows as a polars DataFrame, prices and volumes as Float64 (as to_pandas)."""
        import polars as pl

        return pl.DataFrame([_floats(r) for r in self.records()], infer_schema_length=None)

    def to_json(self) -> dict[str, Any]:
        return {
            "time_period_start": format_time_ms(self.start_ms),
            "time_period_end": format_time_ms(self.end_ms),
            "symbols_screened": self.screened if self.screened is not None else len(self.rows),
            "row_count": len(self.rows),
            "bins": self.bins,
            "tick_size": None if self.tick_size is None else decimal_str(self.tick_size),
            "value_area": self.value_area,
            "threshold": self.threshold,
            "merge_bins": self.merge_bins,
            "merge_distance": self.merge_distance,
            "naked_days": self.naked_days,
            "min_trades": self.min_trades,
            "rows": [row.to_json() for row in self.rows],
        }


def screen(
    store: TradeSource,
    symbols: str | Sequence[str] | None,
    start_ms: int,
    end_ms: int,
    *,
    tick_size: Decimal | str | None = None,
    bins: int = 100,
    value_area: float = 0.70,
    threshold: float = 0.20,
    merge_bins: int = MERGE_BINS,
    merge_distance: float | None = None,
    min_trades: int = MIN_TRADES,
    naked_days: int = NAKED_DAYS,
    progress: Callable[[int, int, str], None] | None = None,
) -> ScreenResult:
    """One row per symbol over start_ms <= T <= end_ms (inclusive), in the order of
    ``symbols``: ``None`` or ``"ALL"`` (every stored symbol), a pattern (``"*USDT"``,
    fnmatch rules, matched against the stored symbols), a comma-separated list or a
    sequence of names. ``tick_size``/``bins``/``value_area`` as ``volume_profile``,
    ``threshold``/``merge_bins``/``merge_distance`` as ``liquidity_vacuums``; ``naked_days``: how many UTC
    days before the window's last day to look back at for naked POCs (0: none).
    ``progress(done, total, symbol)`` is called after each symbol. Sort and filter with ``select``."""
    check_window(start_ms, end_ms)
    if not isinstance(bins, int) or isinstance(bins, bool) or bins < 1:
        raise ValueError("bins must be a positive integer")
    if not isinstance(naked_days, int) or not 0 <= naked_days <= MAX_NAKED_DAYS:
        raise ValueError(f"naked_days must be a whole number from 0 to {MAX_NAKED_DAYS}")
    va = fraction(value_area, "value_area")
    limit = fraction_threshold(threshold)
    if not isinstance(merge_bins, int) or isinstance(merge_bins, bool) or merge_bins < 0:
        raise ValueError("merge_bins must be a whole number of bins, 0 or more")
    merge = None
    if merge_distance is not None:
        merge = fraction_threshold(merge_distance, "merge_distance", zero=True)
    width = tick_to_fixed(tick_size) if tick_size is not None else None
    settings = _Settings(width, bins, va, limit, merge_bins, merge, max(min_trades, 1), naked_days)
    with store.reading():
        names = resolve_symbols(store, symbols)
        rows = []
        for i, symbol in enumerate(names):
            rows.append(_row(store, symbol, start_ms, end_ms, settings))
            if progress is not None:
                progress(i + 1, len(names), symbol)
    return ScreenResult(
        start_ms=start_ms,
        end_ms=end_ms,
        rows=tuple(rows),
        bins=bins,
        tick_size=None if width is None else fixed_to_decimal(width),
        value_area=value_area,
        threshold=threshold,
        naked_days=naked_days,
        min_trades=max(min_trades, 1),
        merge_bins=merge_bins,
        merge_distance=merge_distance,
    )


def fraction_threshold(value: float, name: str = "threshold", *, zero: bool = False) -> Fraction:
    """``value`` as an exact fraction: positive (``zero``: or 0), finite; else ValueError."""
    want = "0 or more" if zero else "a positive number"
    try:
        exact = Fraction(Decimal(str(value)))
    except (InvalidOperation, ValueError, OverflowError):
        raise ValueError(f"{name} must be {want}, not {value!r}") from None
    if exact < 0 or (exact == 0 and not zero):
        raise ValueError(f"{name} must be {want}, not {value!r}")
    return exact


def resolve_symbols(store: TradeSource, symbols: str | Sequence[str] | None) -> list[str]:
    """The symbols a screen reads: every stored one (None, ``"ALL"``), the stored ones a
    pattern matches (``*``, ``?``, ``[...]``), or the names given (``check_symbols``: in
    order, none twice). ValueError for a bad name or list, or a pattern matching nothing."""
    if symbols is None:
        return store.symbols()
    if isinstance(symbols, str):
        text = symbols.strip()
        if text.upper() == "ALL":
            return store.symbols()
        if any(ch in text for ch in "*?["):
            pattern = text.upper()
            found = [s for s in store.symbols() if fnmatch.fnmatchcase(s, pattern)]
            if not found:
                raise ValueError(f"no stored symbol matches {text!r}")
            return found
        names = [part.strip() for part in text.split(",")]
        if not all(names):
            raise ValueError(f"{text!r}: an empty name between the commas")
        symbols = names
    return list(check_symbols(symbols))


# ---------------------------------------------------------------------- one symbol


@dataclass(frozen=True, slots=True)
class _Settings:
    width: int | None
    bins: int
    value_area: Fraction
    threshold: Fraction
    merge_bins: int
    merge_distance: Fraction | None
    min_trades: int
    naked_days: int


def _row(store: TradeSource, symbol: str, start_ms: int, end_ms: int, s: _Settings) -> ScreenRow:
    levels = window_levels(store, symbol, start_ms, end_ms)
    coverage = levels_coverage(store, symbol, start_ms, end_ms, levels)
    head = _head(store, symbol, start_ms, end_ms, levels)
    if head is None:
        return _empty(symbol, coverage, "no trades in the window")
    last = head.close_price
    volume = _decimal_at(head.notional, 2 * SCALE_DIGITS)
    base = fixed_to_decimal(head.volume)
    buy = fixed_to_decimal(head.buy_volume)
    share = round(head.buy_volume / head.volume, 6) if head.volume else None
    common: dict[str, Any] = {
        "symbol": symbol,
        "trade_count": head.trade_count,
        "first_trade_ms": head.first_time_ms,
        "last_trade_ms": head.last_time_ms,
        "last_price": fixed_to_decimal(last),
        "volume": volume,
        "base_volume": base,
        "buy_volume": buy,
        "buy_share": share,
        "coverage": coverage,
    }
    naked = _naked_pocs(store, symbol, end_ms, s)
    near = min(naked, key=lambda p: (abs(p[1] - 2 * last), p[0]), default=None)
    common.update(
        naked_poc=None if near is None else _half(near[1]),
        naked_poc_day_ms=None if near is None else near[0],
        dist_naked_poc_pct=None if near is None else _pct(abs(near[1] - 2 * last), 2 * last),
        naked_poc_count=len(naked) if s.naked_days else None,
    )
    if head.trade_count < s.min_trades:
        return ScreenRow(
            **common,
            bin_size=None,
            poc=None,
            value_area_low=None,
            value_area_high=None,
            in_value_area=None,
            dist_poc_pct=None,
            in_vacuum=None,
            vacuum_above=None,
            vacuum_below=None,
            note=f"{head.trade_count} trades: the profile needs {s.min_trades}",
        )
    lo, hi = head.min_price, head.max_price
    width = s.width if s.width is not None else nice_width(hi - lo, s.bins)
    origin, n_bins = bin_grid(lo, hi, width)
    volume_bins, _buy, _count = levels.bins(origin, width, n_bins)
    poc = point_of_control(volume_bins)
    va_lo, va_hi = value_area_bounds(volume_bins, poc, s.value_area)
    at = (last - origin) // width  # the last price's bin
    poc2 = 2 * origin + (2 * poc + 1) * width  # twice the POC (a bin's centre)
    _median, vacuums = thin_ranges(
        volume_bins, s.threshold, s.merge_bins, s.merge_distance, width, lo + hi
    )
    in_vacuum = False
    above: Vacuum | None = None
    below: Vacuum | None = None
    for parts in vacuums:
        first, final = parts[0][0], parts[-1][1]
        v_low, v_high = origin + first * width, origin + (final + 1) * width
        if first <= at <= final:
            in_vacuum = True
        elif first > at and above is None:
            above = Vacuum(
                fixed_to_decimal(v_low),
                fixed_to_decimal(v_high),
                _pct(v_low - last, last),
                first - at,
            )
        elif final < at:
            below = Vacuum(
                fixed_to_decimal(v_low),
                fixed_to_decimal(v_high),
                _pct(last - v_high, last),
                at - final,
            )
    return ScreenRow(
        **common,
        bin_size=fixed_to_decimal(width),
        poc=_half(poc2),
        value_area_low=fixed_to_decimal(origin + va_lo * width),
        value_area_high=fixed_to_decimal(origin + (va_hi + 1) * width),
        in_value_area=va_lo <= at <= va_hi,
        dist_poc_pct=_pct(abs(poc2 - 2 * last), 2 * last),
        in_vacuum=in_vacuum,
        vacuum_above=above,
        vacuum_below=below,
    )


def _head(
    store: TradeSource, symbol: str, start_ms: int, end_ms: int, levels: WindowLevels
) -> RollupHead | None:
    """The window's head: from the rollups, or (rollups not kept) from its trades."""
    if not levels.trade_count:
        return None
    if levels.head is not None:
        return levels.head
    cols = store.query_columns(symbol, start_ms, end_ms)
    acc = Rollup()
    acc.add_columns(cols.agg_id, cols.time_ms, cols.price, cols.qty, cols.is_buyer_maker)
    return RollupHead.of(acc) if acc.trade_count else None


def _naked_pocs(
    store: TradeSource, symbol: str, end_ms: int, s: _Settings
) -> list[tuple[int, int]]:
    """(day start, twice its POC in 1e-8 units) of each of the ``naked_days`` UTC days
    before the one holding ``end_ms`` whose POC no trade since (up to end_ms) has reached:
    a POC above every later trade or below every later one. A day with fewer than
    ``min_trades`` trades has no POC (as ``profile`` over that day)."""
    if not s.naked_days:
        return []
    last_day = end_ms - end_ms % DAY_MS
    first_day = last_day - s.naked_days * DAY_MS
    record = store.record(symbol)
    span = record.span if record is not None else None
    if span is None or span[1] < first_day:
        return []
    first_day = max(first_day, span[0] - span[0] % DAY_MS)
    closed = day_pyramids(store, symbol, first_day, last_day) or {}
    state = store.rollup_state(symbol)
    days = []  # (day, twice its POC or None, lowest, highest price), newest first
    for day in range(last_day - DAY_MS, first_day - 1, -DAY_MS):
        if day in closed:
            levels = from_pieces([closed[day]])
        elif (
            state is None
            or not state.kept
            or day in state.open_days
            or (state.rollups_from_ms is not None and day < state.rollups_from_ms)
        ):
            levels = window_levels(store, symbol, day, day + DAY_MS - 1)
        else:
            continue  # summarised and absent: no trade that day
        if not levels.trade_count:
            continue
        assert levels.min_price is not None and levels.max_price is not None
        lo, hi = levels.min_price, levels.max_price
        poc2 = None
        if levels.trade_count >= s.min_trades:
            width = s.width if s.width is not None else nice_width(hi - lo, s.bins)
            origin, n_bins = bin_grid(lo, hi, width)
            poc = point_of_control(levels.bins(origin, width, n_bins)[0])
            poc2 = 2 * origin + (2 * poc + 1) * width
        days.append((day, poc2, lo, hi))
    if all(poc2 is None for _day, poc2, _lo, _hi in days):
        return []  # no POC to test: the trades since need not be read
    tail = window_levels(store, symbol, last_day, end_ms)
    low = tail.min_price if tail.trade_count else None
    high = tail.max_price if tail.trade_count else None
    found = []
    for day, poc2, lo, hi in days:
        if poc2 is not None and (low is None or high is None or not 2 * low <= poc2 <= 2 * high):
            found.append((day, poc2))
        low = lo if low is None else min(low, lo)
        high = hi if high is None else max(high, hi)
    return found


def _empty(symbol: str, coverage: Coverage, note: str) -> ScreenRow:
    zero = Decimal(0)
    return ScreenRow(
        symbol=symbol,
        trade_count=0,
        first_trade_ms=None,
        last_trade_ms=None,
        last_price=None,
        volume=zero,
        base_volume=zero,
        buy_volume=zero,
        buy_share=None,
        bin_size=None,
        poc=None,
        value_area_low=None,
        value_area_high=None,
        in_value_area=None,
        dist_poc_pct=None,
        in_vacuum=None,
        vacuum_above=None,
        vacuum_below=None,
        naked_poc=None,
        naked_poc_day_ms=None,
        dist_naked_poc_pct=None,
        naked_poc_count=None,
        coverage=coverage,
        note=note,
    )


def _pct(distance: int, of: int) -> float:
    """distance / of in %, rounded (both in the same units, ``of`` > 0)."""
    return round(distance * 100 / of, PCT_DIGITS) if of > 0 else 0.0


def _half(twice: int) -> Decimal:
    """The price whose double is ``twice`` (1e-8 units), exactly (a bin's centre)."""
    return fixed_to_decimal(twice) * Decimal("0.5")


def _decimal_at(value: int, digits: int) -> Decimal:
    return Decimal(value).scaleb(-digits)


def _time(ms: int | None) -> str | None:
    return None if ms is None else format_time_ms(ms)


def _day(ms: int | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC).date().isoformat()


def _floats(record: dict[str, Any]) -> dict[str, Any]:
    return {k: float(v) if isinstance(v, Decimal) else v for k, v in record.items()}


# ---------------------------------------------------------------------- select


_CONDITION = re.compile(r"^\s*(!|not\s+)?([a-z_]+)\s*(?:(<=|>=|==|!=|<|>|=)\s*(\S+))?\s*$")
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


def parse_where(text: str) -> Callable[[dict[str, Any]], bool]:
    """A row filter from conditions joined by ``,`` or ``and`` (all must hold): a flag
    column (``in_vacuum``, ``!in_value_area``, ``not data_complete``), or a column, an
    operator (< <= > >= == !=) and a number (``dist_poc_pct<0.5``, ``volume>1e6``) or,
    for text columns, a word (``recorded==full``). A row whose column is empty (null)
    fails every condition on it. ValueError names an unknown column or bad condition."""
    parts = [p for p in re.split(r",|\s+and\s+", text.strip()) if p.strip()]
    if not parts:
        raise ValueError("--where: no condition given")
    tests = [_condition(part) for part in parts]

    def keep(values: dict[str, Any]) -> bool:
        return all(test(values) for test in tests)

    return keep


def _condition(part: str) -> Callable[[dict[str, Any]], bool]:
    found = _CONDITION.match(part)
    if found is None:
        raise ValueError(
            f"--where: cannot read {part.strip()!r}: give COLUMN, !COLUMN or COLUMN<NUMBER "
            "(operators < <= > >= == !=)"
        )
    negate, column, op, operand = found.groups()
    if column not in COLUMNS:
        raise ValueError(f"--where: unknown column {column!r}; columns: {', '.join(COLUMNS)}")
    if op is None:
        want = not negate

        def flag(values: dict[str, Any]) -> bool:
            value = values[column]
            return value is not None and bool(value) is want

        return flag
    if negate:
        raise ValueError(f"--where: {part.strip()!r}: negate a flag column only")
    compare = _OPS[op]
    if column in TEXT:
        word = operand
        if op not in ("=", "==", "!="):
            raise ValueError(f"--where: {column} is text: compare it with == or !=")

        def text(values: dict[str, Any]) -> bool:
            value = values[column]
            return value is not None and compare(str(value).upper(), word.upper())

        return text
    try:
        number = Decimal(operand)
    except InvalidOperation:
        if operand.lower() in ("true", "false"):
            number = Decimal(operand.lower() == "true")
        else:
            raise ValueError(f"--where: {operand!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"--where: {operand!r} is not a finite number")

    def numeric(values: dict[str, Any]) -> bool:
        value = values[column]
        if value is None:
            return False
        return compare(Decimal(value) if isinstance(value, float) else value, number)

    return numeric


def check_sort(column: str | None, order: str | None) -> tuple[str, bool]:
    """(column, descending) of a sort request; ValueError names a bad one."""
    column = column or DEFAULT_SORT
    if column not in COLUMNS:
        raise ValueError(f"unknown sort column {column!r}; columns: {', '.join(COLUMNS)}")
    if order not in (None, "asc", "desc"):
        raise ValueError(f"order must be asc or desc, not {order!r}")
    descending = column not in ASCENDING if order is None else order == "desc"
    return column, descending


def select_rows(
    rows: Iterable[ScreenRow],
    *,
    where: str | None = None,
    sort: str | None = None,
    order: str | None = None,
    top: int | None = None,
) -> list[ScreenRow]:
    """The rows ``where`` keeps (``parse_where``), sorted by the column ``sort`` (default
    volume; ``order`` asc/desc, default largest first but for the symbol and the
    distances, nearest first; empty values last, ties by symbol), at most ``top``."""
    keep = parse_where(where) if where else None
    column, descending = check_sort(sort, order)
    if top is not None and (not isinstance(top, int) or top < 0):
        raise ValueError("top must be a whole number, 0 or more")
    pairs = [(row, row.values()) for row in rows]
    if keep is not None:
        pairs = [(row, values) for row, values in pairs if keep(values)]
    filled = [(r, v) for r, v in pairs if v[column] is not None]
    empty = [(r, v) for r, v in pairs if v[column] is None]
    filled.sort(key=lambda rv: rv[0].symbol)
    filled.sort(key=lambda rv: _key(rv[1][column]), reverse=descending)
    ordered = [r for r, _ in filled] + sorted((r for r, _ in empty), key=lambda r: r.symbol)
    return ordered if top is None else ordered[:top]


def _key(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return Decimal(value)
    return value
