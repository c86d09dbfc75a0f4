"""volume_profile: traded volume by price, computed straight from the stored bytes.

One scan of the window's values accumulates volume per exact price (compiled: no Python
object per trade, 128-bit sums); the bins are then cut from the distinct prices, so any
width is exact. docs/ANALYTICS.md defines every figure.
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

from tradestore._compat import accumulate_levels
from tradestore._fixed import INT64_MAX, SCALE
from tradestore._timeparse import check_epoch_ms
from tradestore.analytics._results import (
    InsufficientData,
    ProfileBin,
    VolumeProfile,
    fixed_to_decimal,
)
from tradestore.store import check_symbol, coverage_from_range, recorded_span

MIN_TRADES = 1000
MAX_BINS = 1_000_000


def volume_profile(
    store,
    symbol: str,
    start_ms: int,
    end_ms: int,
    *,
    tick_size: Decimal | str | None = None,
    bins: int = 100,
    value_area: float = 0.70,
    min_trades: int = MIN_TRADES,
) -> VolumeProfile:
    """The volume profile of ``symbol`` over start_ms <= T <= end_ms (inclusive).

    Bin width is ``tick_size`` if given, else the round number (1, 2 or 5 x 10^k) nearest
    above range/bins; bins are aligned to multiples of the width. Raises InsufficientData
    below ``min_trades`` trades.
    """
    symbol = check_symbol(symbol)
    check_epoch_ms(start_ms, "start_ms")
    check_epoch_ms(end_ms, "end_ms")
    if end_ms < start_ms:
        raise ValueError(f"end ({end_ms}) is before start ({start_ms})")
    if not isinstance(bins, int) or bins < 1:
        raise ValueError("bins must be a positive integer")
    va_fraction = _fraction(value_area, "value_area")
    width = tick_to_fixed(tick_size) if tick_size is not None else None

    table = store.decode_window(accumulate_levels, symbol, start_ms, end_ms)
    if table is None:  # agg ids out of scan order: count each id once, first copy wins
        table = store.decode_window(
            lambda pairs, lo, hi: accumulate_levels(pairs, lo, hi, True), symbol, start_ms, end_ms
        )
    coverage = coverage_from_range(
        table.first_agg_id,
        table.last_agg_id,
        table.trade_count,
        store.gaps(symbol),
        start_ms,
        end_ms,
        record=recorded_span(store, symbol),
    )
    if table.trade_count < max(min_trades, 1):
        raise InsufficientData(
            symbol, table.trade_count, max(min_trades, 1), start_ms, end_ms, coverage
        )

    lo, hi = table.min_price, table.max_price
    if width is None:
        width = nice_width(hi - lo, bins)
    first, last = lo // width, hi // width
    n_bins = last - first + 1
    if n_bins > MAX_BINS:
        raise ValueError(
            f"{n_bins} bins of {fixed_to_decimal(width)} over {fixed_to_decimal(lo)}.."
            f"{fixed_to_decimal(hi)}: more than {MAX_BINS}; use a larger tick size"
        )
    volume, buy, count = table.bins(first * width, width, n_bins)
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
        first_trade_ms=table.first_time_ms,
        last_trade_ms=table.last_time_ms,
        trade_count=table.trade_count,
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


def _fraction(value: float, name: str) -> Fraction:
    if not math.isfinite(value):
        raise ValueError(f"{name} must be in (0, 1], not {value}")
    frac = Fraction(Decimal(str(value)))
    if not 0 < frac <= 1:
        raise ValueError(f"{name} must be in (0, 1], not {value}")
    return frac
