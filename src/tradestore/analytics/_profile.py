"""volume_profile: traded volume by price over any window, exact.

The window's volume per exact price comes from the price-level rollups where they are
kept (whole hours, whole minutes, raw trades only at the partial edge minutes) or else
from one compiled scan of its trades (analytics/_levels.py); both are exact 128-bit sums.
The bins are then cut from the distinct prices, so any width is exact.
docs/ANALYTICS.md defines every figure.
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

from tradestore._timeparse import check_epoch_ms
from tradestore.analytics._levels import WindowLevels, levels_from_trades, window_levels
from tradestore.analytics._results import (
    InsufficientData,
    ProfileBin,
    VolumeProfile,
    fixed_to_decimal,
)
from tradestore.codec._fixed import INT64_MAX, SCALE
from tradestore.store import (
    Coverage,
    TradeSource,
    check_symbol,
    coverage_in,
)

MIN_TRADES = 1000
MAX_BINS = 1_000_000


def volume_profile(
    store: TradeSource,
    symbol: str,
    start_ms: int,
    end_ms: int,
    *,
    tick_size: Decimal | str | None = None,
    bins: int = 100,
    value_area: float = 0.70,
    min_trades: int = MIN_TRADES,
    use_rollups: bool = True,
) -> VolumeProfile:
    """The volume profile of ``symbol`` over start_ms <= T <= end_ms (inclusive).

    Bin width is ``tick_size`` if given, else the round number (1, 2 or 5 x 10^k) nearest
    above range/bins; bins are aligned to multiples of the width. Raises InsufficientData
    below ``min_trades`` trades. ``use_rollups=False`` reads every trade of the window
    even where rollups are kept (slower, the same result: for checking).
    """
    symbol = check_symbol(symbol)
    check_window(start_ms, end_ms)
    if not isinstance(bins, int) or bins < 1:
        raise ValueError("bins must be a positive integer")
    va_fraction = fraction(value_area, "value_area")
    width = tick_to_fixed(tick_size) if tick_size is not None else None
    with store.reading():
        if use_rollups:
            levels = window_levels(store, symbol, start_ms, end_ms)
        else:
            levels = levels_from_trades(store, symbol, start_ms, end_ms)
        coverage = levels_coverage(store, symbol, start_ms, end_ms, levels)
    if levels.trade_count < max(min_trades, 1):
        raise InsufficientData(
            symbol, levels.trade_count, max(min_trades, 1), start_ms, end_ms, coverage
        )
    assert levels.min_price is not None and levels.max_price is not None
    if width is None:
        width = nice_width(levels.max_price - levels.min_price, bins)
    origin, n_bins = bin_grid(levels.min_price, levels.max_price, width)
    return build_profile(
        symbol, start_ms, end_ms, levels, origin, width, n_bins, va_fraction, coverage
    )


def check_window(start_ms: int, end_ms: int) -> None:
    check_epoch_ms(start_ms, "start_ms")
    check_epoch_ms(end_ms, "end_ms")
    if end_ms < start_ms:
        raise ValueError(f"end ({end_ms}) is before start ({start_ms})")


def levels_coverage(
    store: TradeSource, symbol: str, start_ms: int, end_ms: int, levels: WindowLevels
) -> Coverage:
    return coverage_in(
        store,
        symbol,
        levels.first_agg_id,
        levels.last_agg_id,
        levels.trade_count,
        start_ms,
        end_ms,
        answered=levels.answered,
    )


def bin_grid(lo: int, hi: int, width: int) -> tuple[int, int]:
    """(origin, number of bins) of the bins of ``width`` from price lo to price hi."""
    first, last = lo // width, hi // width
    n_bins = last - first + 1
    if n_bins > MAX_BINS:
        raise ValueError(
            f"{n_bins} bins of {fixed_to_decimal(width)} over {fixed_to_decimal(lo)}.."
            f"{fixed_to_decimal(hi)}: more than {MAX_BINS}; use a larger tick size"
        )
    return first * width, n_bins


def build_profile(
    symbol: str,
    start_ms: int,
    end_ms: int,
    levels: WindowLevels,
    origin: int,
    width: int,
    n_bins: int,
    va_fraction: Fraction,
    coverage: Coverage | None,
) -> VolumeProfile:
    """The profile of ``levels`` on the bins [origin + i*width, +width), i < n_bins."""
    assert levels.trade_count and levels.min_price is not None and levels.max_price is not None
    assert levels.first_time_ms is not None and levels.last_time_ms is not None
    lo, hi = levels.min_price, levels.max_price
    first = origin // width
    volume, buy, count = levels.bins(origin, width, n_bins)
    profile_bins = tuple(
        ProfileBin(
            price_low=fixed_to_decimal((first + i) * width),
            price_high=fixed_to_decimal((first + i + 1) * width),
            volume=fixed_to_decimal(volume[i]),
            buy_volume=fixed_to_decimal(buy[i]),
            sell_volume=fixed_to_decimal(volume[i] - buy[i]),
            trade_count=count[i],
        )
        for i in range(n_bins)
    )
    poc = point_of_control(volume)
    va_lo, va_hi = value_area_bounds(volume, poc, va_fraction)
    return VolumeProfile(
        symbol=symbol,
        start_ms=start_ms,
        end_ms=end_ms,
        first_trade_ms=levels.first_time_ms,
        last_trade_ms=levels.last_time_ms,
        trade_count=levels.trade_count,
        price_low=fixed_to_decimal(lo),
        price_high=fixed_to_decimal(hi),
        bin_size=fixed_to_decimal(width),
        bins=profile_bins,
        total_volume=fixed_to_decimal(sum(volume)),
        poc_index=poc,
        value_area_low_index=va_lo,
        value_area_high_index=va_hi,
        value_area=float(va_fraction),
        coverage=coverage,
    )


def nice_width(price_range: int, bins: int) -> int:
    """The smallest 1/2/5 x 10^k (in 1e-8 units, at least 1) with range/width <= bins."""
    target = -(-price_range // bins)  # ceil
    unit = 1
    while True:
        for step in (1, 2, 5):
            if step * unit >= target:
                return step * unit
        unit *= 10


def point_of_control(volume: list[int]) -> int:
    """Index of the largest volume; the lowest price wins a tie."""
    best = 0
    for i, v in enumerate(volume):
        if v > volume[best]:
            best = i
    return best


def value_area_bounds(volume: list[int], poc: int, fraction: Fraction) -> tuple[int, int]:
    """Grow [lo, hi] from the POC, one neighbour at a time toward the larger volume (ties
    go up), until it holds at least ``fraction`` of the total volume."""
    total = sum(volume)
    lo = hi = poc
    held = volume[poc]
    while held * fraction.denominator < fraction.numerator * total:
        up = volume[hi + 1] if hi + 1 < len(volume) else None
        down = volume[lo - 1] if lo > 0 else None
        if up is not None and (down is None or up >= down):
            hi += 1
            held += up
        elif down is not None:
            lo -= 1
            held += down
        else:
            break
    return lo, hi


def tick_to_fixed(tick_size: Decimal | str | int) -> int:
    """A positive tick size as an exact multiple of 1e-8."""
    try:
        tick = Decimal(str(tick_size))
    except ArithmeticError:
        raise ValueError(f"invalid tick size {tick_size!r}") from None
    if not tick.is_finite() or tick <= 0:
        raise ValueError(f"tick size must be a positive number, not {tick_size!r}")
    units = tick * SCALE
    if units != units.to_integral_value():
        raise ValueError(f"tick size {tick_size} is finer than 0.00000001")
    if units > INT64_MAX:
        raise ValueError(f"tick size {tick_size} is too large")
    return int(units)


def fraction(value: float, name: str) -> Fraction:
    if not math.isfinite(value):
        raise ValueError(f"{name} must be in (0, 1], not {value}")
    frac = Fraction(Decimal(str(value)))
    if not 0 < frac <= 1:
        raise ValueError(f"{name} must be in (0, 1], not {value}")
    return frac
