"""liquidity_vacuums: price ranges that traded far less than the median bin.

Over the profile's bins from the lowest to the highest traded price (empty bins
included), a vacuum is a maximal run of bins with volume below ``threshold`` x the median
bin volume. Two runs separated by at most ``merge_bins`` bins are merged into one range,
but never across a bin at or above the median volume: a well-traded price between two
thin stretches is liquidity, and a range that swallowed it (or the POC) would mean
nothing. The distance counts bins, so it scales with the bin width of any window, short
or long; ``merge_distance`` (a share of the mid price, off by default) can cap it
further. ``actual_volume`` is the mean volume of the range's thin bins, so the deficit
says how thin they are. Exact arithmetic throughout; only the deficit percentage is a
float.
"""

from __future__ import annotations

import math
import time
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from fractions import Fraction

from tradestore.analytics._profile import MIN_TRADES, volume_profile
from tradestore.analytics._results import LiquidityVacuum, VacuumReport, VolumeProfile
from tradestore.codec._fixed import SCALE_DIGITS
from tradestore.store import TradeSource

FAST_MOVEMENT_PCT = 80.0
MODERATE_MOVEMENT_PCT = 50.0
MERGE_BINS = 2


def liquidity_vacuums(
    store: TradeSource,
    symbol: str,
    start_ms: int,
    end_ms: int,
    *,
    tick_size: Decimal | str | None = None,
    bins: int = 100,
    threshold: float = 0.20,
    merge_bins: int = MERGE_BINS,
    merge_distance: float | None = None,
    fast_movement_pct: float = FAST_MOVEMENT_PCT,
    moderate_movement_pct: float = MODERATE_MOVEMENT_PCT,
    min_trades: int = MIN_TRADES,
) -> VacuumReport:
    """The liquidity vacuums of the volume profile of ``symbol`` over [start_ms, end_ms]."""
    profile = volume_profile(
        store, symbol, start_ms, end_ms, tick_size=tick_size, bins=bins, min_trades=min_trades
    )
    return find_vacuums(
        profile,
        threshold=threshold,
        merge_bins=merge_bins,
        merge_distance=merge_distance,
        fast_movement_pct=fast_movement_pct,
        moderate_movement_pct=moderate_movement_pct,
    )


def find_vacuums(
    profile: VolumeProfile,
    *,
    threshold: float = 0.20,
    merge_bins: int = MERGE_BINS,
    merge_distance: float | None = None,
    fast_movement_pct: float = FAST_MOVEMENT_PCT,
    moderate_movement_pct: float = MODERATE_MOVEMENT_PCT,
) -> VacuumReport:
    """The vacuums of an already computed profile (see the module docstring)."""
    if not math.isfinite(threshold) or (
        merge_distance is not None and not math.isfinite(merge_distance)
    ):
        raise ValueError("threshold and merge_distance must be finite numbers")
    if not isinstance(merge_bins, int) or isinstance(merge_bins, bool) or merge_bins < 0:
        raise ValueError("merge_bins must be a whole number of bins, 0 or more")
    limit = Fraction(Decimal(str(threshold)))
    merge = None if merge_distance is None else Fraction(Decimal(str(merge_distance)))
    if limit <= 0 or (merge is not None and merge < 0):
        raise ValueError("threshold must be positive and merge_distance non-negative")
    # The volumes in 1e-8 units (exact: a profile's volumes are sums of 1e-8 amounts).
    volumes = [int(b.volume.scaleb(SCALE_DIGITS)) for b in profile.bins]
    width = int(profile.bin_size.scaleb(SCALE_DIGITS))
    mid2 = int((profile.price_low + profile.price_high).scaleb(SCALE_DIGITS))
    median2, merged = thin_ranges(volumes, limit, merge_bins, merge, width, mid2)
    scale = Fraction(1, 10**SCALE_DIGITS)
    median = median2 * scale
    cutoff = limit * median
    vacuums = []
    for parts in merged:
        lo, hi = parts[0][0], parts[-1][1]
        # The mean over the thin bins themselves: the bins between merged runs are not
        # thin (or they would be part of a run) and would hide the deficit.
        thin = [volumes[i] for a, b in parts for i in range(a, b + 1)]
        mean = Fraction(sum(thin), len(thin)) * scale
        deficit = float((median - mean) / median * 100) if median else 0.0
        if deficit > fast_movement_pct:
            impact = "FastMovement"
        elif deficit > moderate_movement_pct:
            impact = "ModerateMovement"
        else:
            impact = "Negligible"
        vacuums.append(
            LiquidityVacuum(
                price_low=profile.bins[lo].price_low,
                price_high=profile.bins[hi].price_high,
                actual_volume=_decimal(mean),
                median_volume=_decimal(median),
                volume_deficit_pct=round(deficit, 4),
                expected_impact=impact,
                bin_count=len(thin),
            )
        )
    return VacuumReport(
        profile=profile,
        median_volume=_decimal(median),
        threshold_volume=_decimal(cutoff),
        vacuums=tuple(vacuums),
        detected_ms=int(time.time() * 1000),
    )


def thin_ranges(
    volumes: list[int],
    limit: Fraction,
    merge_bins: int,
    merge: Fraction | None,
    width: int,
    mid2: int,
) -> tuple[Fraction, list[list[list[int]]]]:
    """(median bin volume, the vacuums) of bin volumes in 1e-8 units: each vacuum is the
    list of its thin runs [first bin, last bin], lowest first (the module docstring has
    the rule). ``width`` is the bin width and ``mid2`` twice the mid price, in 1e-8 units.
    Integer arithmetic only (cross-multiplied): screens run it over every symbol."""
    ordered = sorted(volumes)
    n = len(ordered)
    # median = m2 / 2 (m2: the middle value doubled, or the two middle values summed)
    m2 = 2 * ordered[n // 2] if n % 2 else ordered[n // 2 - 1] + ordered[n // 2]
    # thin: v < limit x median  <=>  2 v den < num m2
    num, den = limit.numerator * m2, 2 * limit.denominator
    runs: list[list[int]] = []
    for i, v in enumerate(volumes):
        if v * den < num:
            if runs and runs[-1][1] == i - 1:
                runs[-1][1] = i
            else:
                runs.append([i, i])
    merged: list[list[list[int]]] = []
    for run in runs:
        if merged:
            gap_from, gap_to = merged[-1][-1][1] + 1, run[0]  # the bins between
            gap = gap_to - gap_from
            if (
                gap <= merge_bins
                and all(2 * volumes[i] < m2 for i in range(gap_from, gap_to))
                and (merge is None or 2 * gap * width < merge * mid2)
            ):
                merged[-1].append(run)
                continue
        merged.append([run])
    return Fraction(m2, 2), merged


def _decimal(value: Fraction) -> Decimal:
    """value to 10 decimal places (exact for medians of 1e-8 amounts), half-even."""
    with localcontext() as ctx:
        ctx.prec = 80
        quotient = Decimal(value.numerator) / Decimal(value.denominator)
        return quotient.quantize(Decimal("1e-10"), rounding=ROUND_HALF_EVEN).normalize()
