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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

import numpy as np

from tradestore._errors import CorruptValue
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
from tradestore.analytics._results import fixed_to_decimal
from tradestore.analytics._screenrows import ScreenResult, ScreenRow, Vacuum
from tradestore.analytics._vacuums import MERGE_BINS, thin_ranges
from tradestore.codec._binned import SAFE_SUM, binned_read
from tradestore.codec._fixed import SCALE_DIGITS
from tradestore.codec._twins import Rollup
from tradestore.store import (
    Coverage,
    Pyramid,
    TradeSource,
    add_binned_days,
    day_pyramids,
    pyramid,
)

DAY_MS = 86_400_000
NAKED_DAYS = 20  # earlier UTC days whose POC the screen looks back at, by default
MAX_NAKED_DAYS = 400
PCT_DIGITS = 4  # percentages are floats rounded to this many decimals


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


def names_symbols(symbols: str | Sequence[str] | None) -> bool:
    """Whether ``symbols`` names its symbols (a list), rather than asking for every stored
    one (None, ``"ALL"``) or those a pattern matches: a named symbol never stored is an
    error where the others are not."""
    if symbols is None:
        return False
    if isinstance(symbols, str):
        text = symbols.strip()
        return text.upper() != "ALL" and not any(ch in text for ch in "*?[")
    return True


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
        if not names_symbols(text):
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
    last_day = end_ms - end_ms % DAY_MS
    levels, known = _window(store, symbol, start_ms, end_ms, last_day if s.naked_days else None)
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
    naked = _naked_pocs(store, symbol, end_ms, s, known)
    near = min(naked, key=lambda p: (abs(p[1] - 2 * last), p[0]), default=None)
    common.update(
        naked_poc=None if near is None else _half(near[1]),
        naked_poc_day_ms=None if near is None else near[0],
        dist_naked_poc_pct=None if near is None else _pct(abs(near[1] - 2 * last), 2 * last),
        naked_poc_count=len(naked) if s.naked_days else None,
    )
    if head.trade_count < s.min_trades:
        note = f"{head.trade_count} trades: the profile needs {s.min_trades}"
        return ScreenRow(**common, **_NO_PROFILE, note=note)
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


def _window(
    store: TradeSource, symbol: str, start_ms: int, end_ms: int, cut: int | None
) -> tuple[WindowLevels, tuple[int, int | None, int | None] | None]:
    """The window's levels and, with ``cut`` (the midnight before end_ms), (from, lowest,
    highest price) of the window's part from max(start_ms, cut) to end_ms, read in the
    same pass: a window across ``cut`` is read as two pyramids, which together hold
    exactly the trades of one (None: not known from these reads)."""
    if cut is None or start_ms >= cut:
        levels = window_levels(store, symbol, start_ms, end_ms)
        known = None if cut is None else (start_ms, levels.min_price, levels.max_price)
        return levels, known
    before = pyramid(store, symbol, start_ms, cut - 1)
    after = pyramid(store, symbol, cut, end_ms)
    if before is None or after is None:
        return window_levels(store, symbol, start_ms, end_ms), None
    return from_pieces([before, after]), (cut, *_pieces_range(after))


def _naked_pocs(
    store: TradeSource,
    symbol: str,
    end_ms: int,
    s: _Settings,
    known: tuple[int, int | None, int | None] | None,
) -> list[tuple[int, int]]:
    """(day start, twice its POC in 1e-8 units) of each of the ``naked_days`` UTC days
    before the one holding ``end_ms`` whose POC no trade since (up to end_ms) has reached:
    a POC above every later trade or below every later one. A day with fewer than
    ``min_trades`` trades has no POC (as ``profile`` over that day). ``known``: (from,
    lowest, highest) price traded from ``from`` to end_ms, already read."""
    if not s.naked_days:
        return []
    last_day = end_ms - end_ms % DAY_MS
    first_day = last_day - s.naked_days * DAY_MS
    record = store.record(symbol)
    span = record.span if record is not None else None
    if span is None or span[1] < first_day:
        return []
    first_day = max(first_day, span[0] - span[0] % DAY_MS)
    closed = day_pyramids(store, symbol, first_day, last_day, binned=False) or {}
    heads = {day: RollupHead.read(*reversed(piece.days[0])) for day, piece in closed.items()}
    # The pre-binned levels only of the days with a POC to find (a quiet day has none).
    busy = {day: closed[day] for day, head in heads.items() if head.trade_count >= s.min_trades}
    add_binned_days(store, symbol, busy)
    state = store.rollup_state(symbol)
    days = []  # (day, twice its POC or None, lowest, highest price), newest first
    for day in range(last_day - DAY_MS, first_day - 1, -DAY_MS):
        if day in closed:
            found_day = _closed_day(closed[day], heads[day], day, s)
        elif (
            state is None
            or not state.kept
            or day in state.open_days
            or (state.rollups_from_ms is not None and day < state.rollups_from_ms)
        ):
            found_day = _day_poc(window_levels(store, symbol, day, day + DAY_MS - 1), s)
        else:
            continue  # summarised and absent: no trade that day
        if found_day is not None:
            days.append((day, *found_day))
    if all(poc2 is None for _day, poc2, _lo, _hi in days):
        return []  # no POC to test: the trades since need not be read
    if known is None:
        low, high = _price_range(store, symbol, last_day, end_ms)
    else:
        since, low, high = known
        if since > last_day:  # the window began after the midnight: the hours before it
            more = _price_range(store, symbol, last_day, since - 1)
            low = _lower(low, more[0])
            high = _higher(high, more[1])
    found = []
    for day, poc2, lo, hi in days:
        if poc2 is not None and (low is None or high is None or not 2 * low <= poc2 <= 2 * high):
            found.append((day, poc2))
        low = lo if low is None else min(low, lo)
        high = hi if high is None else max(high, hi)
    return found


def _day_poc(levels: WindowLevels, s: _Settings) -> tuple[int | None, int, int] | None:
    """(twice the day's POC or None below min_trades, lowest, highest price) of a day's
    levels, as ``profile`` over that day bins them; None: no trade that day."""
    if not levels.trade_count:
        return None
    assert levels.min_price is not None and levels.max_price is not None
    lo, hi = levels.min_price, levels.max_price
    if levels.trade_count < s.min_trades:
        return None, lo, hi
    width = s.width if s.width is not None else nice_width(hi - lo, s.bins)
    origin, n_bins = bin_grid(lo, hi, width)
    poc = point_of_control(levels.bins(origin, width, n_bins)[0])
    return 2 * origin + (2 * poc + 1) * width, lo, hi


def _closed_day(
    piece: Pyramid, head: RollupHead, day: int, s: _Settings
) -> tuple[int | None, int, int] | None:
    """``_day_poc`` of a closed day (``head``: its day value's) from its day value alone:
    the POC straight from its pre-binned levels (numpy, a few hundred bins) where the
    profile's bins nest in them, which is what the levels would sum to; otherwise from
    the levels."""
    key = piece.days[0][0]
    lo, hi = head.min_price, head.max_price
    if head.trade_count < s.min_trades:
        return None, lo, hi
    binned = piece.binned.get(day)
    if binned is None:
        return _day_poc(from_pieces([piece]), s)
    width = s.width if s.width is not None else nice_width(hi - lo, s.bins)
    origin, n_bins = bin_grid(lo, hi, width)
    try:
        found = binned_read(binned, key)
    except CorruptValue:
        return _day_poc(from_pieces([piece]), s)  # the day value answers (verify names it)
    if (
        not isinstance(found.volumes, np.ndarray)
        or found.volume >= SAFE_SUM
        or width % found.unit
        or origin % found.unit
    ):
        return _day_poc(from_pieces([piece]), s)
    index = (found.prices - origin) // width
    keep = (index >= 0) & (index < n_bins)
    volume = np.zeros(n_bins, dtype=np.int64)
    np.add.at(volume, index[keep], found.volumes[keep])
    poc = int(np.argmax(volume))  # the first of equal maxima: the lowest price, as profile
    return 2 * origin + (2 * poc + 1) * width, lo, hi


def _price_range(
    store: TradeSource, symbol: str, start_ms: int, end_ms: int
) -> tuple[int | None, int | None]:
    """(lowest, highest) price traded in [start_ms, end_ms] (None, None: no trade), from
    the rollups' summaries where kept (no price levels read)."""
    pieces = pyramid(store, symbol, start_ms, end_ms, summaries=True)
    if pieces is None:
        levels = window_levels(store, symbol, start_ms, end_ms)
        return levels.min_price, levels.max_price
    return _pieces_range(pieces)


def _pieces_range(pieces: Pyramid) -> tuple[int | None, int | None]:
    """(lowest, highest) price of a pyramid's trades, from its rollups' heads and raw
    edges (None, None: no trade)."""
    heads = [RollupHead.read(value, key) for key, value in pieces.values]
    lows = [h.min_price for h in heads]
    highs = [h.max_price for h in heads]
    if pieces.raw is not None and len(pieces.raw):
        lows.append(int(pieces.raw.price.min()))
        highs.append(int(pieces.raw.price.max()))
    return (min(lows), max(highs)) if lows else (None, None)


def _lower(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _higher(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


# A row's profile figures when it has no profile (too few trades, or none).
_NO_PROFILE: dict[str, Any] = dict.fromkeys(
    (
        "bin_size",
        "poc",
        "value_area_low",
        "value_area_high",
        "in_value_area",
        "dist_poc_pct",
        "in_vacuum",
        "vacuum_above",
        "vacuum_below",
    )
)


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
        **_NO_PROFILE,
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
