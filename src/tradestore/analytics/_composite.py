"""composite_profile: one volume profile over several sessions (days), with each
session's own point of control and value area on the same bins.

Traders read a multi-day composite for the levels where value built up over days; each
session's POC and value area beside it show how value migrated. Every session is read
as a pyramid of rollups (whole hours, whole minutes, raw edges), so a week costs about
what 168 hour rollups cost, not 60 million trades.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from tradestore._timeparse import format_time_ms
from tradestore.analytics._bars import interval_label
from tradestore.analytics._levels import WindowLevels, combine, levels_from_trades, window_levels
from tradestore.analytics._profile import (
    MIN_TRADES,
    bin_grid,
    build_profile,
    check_window,
    fraction,
    levels_coverage,
    nice_width,
    point_of_control,
    tick_to_fixed,
    value_area_bounds,
)
from tradestore.analytics._results import (
    InsufficientData,
    VolumeProfile,
    decimal_str,
    fixed_to_decimal,
)
from tradestore.store import Coverage, TradeSource, check_symbol

DAY_MS = 86_400_000
MAX_SESSIONS = 400


@dataclass(frozen=True, slots=True)
class SessionProfile:
    """One session of a composite: its trades and its own POC and value area, on the
    composite's bins (None when the session has no trade), and its record. A session
    outside the record (``coverage.recorded == "none"``) has no figures: nobody knows
    whether it traded, so its JSON gives null, never 0."""

    start_ms: int
    end_ms: int
    trade_count: int
    volume: Decimal
    buy_volume: Decimal
    sell_volume: Decimal
    point_of_control: Decimal | None
    value_area_low: Decimal | None
    value_area_high: Decimal | None
    coverage: Coverage

    @property
    def recorded(self) -> bool:
        """Some of the session lies in the record (False: not recorded at all)."""
        return self.coverage.recorded != "none"

    def to_json(self) -> dict[str, Any]:
        def opt(v: Decimal | None) -> str | None:
            return None if v is None or not self.recorded else decimal_str(v)

        return {
            "session_start": format_time_ms(self.start_ms),
            "session_end": format_time_ms(self.end_ms),
            "trade_count": self.trade_count if self.recorded else None,
            "volume": opt(self.volume),
            "buy_volume": opt(self.buy_volume),
            "sell_volume": opt(self.sell_volume),
            "point_of_control": opt(self.point_of_control),
            "value_area_low": opt(self.value_area_low),
            "value_area_high": opt(self.value_area_high),
            "data_complete": self.coverage.complete,
            "coverage": self.coverage.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class CompositeProfile:
    """The volume profile of the whole window and its sessions, oldest first."""

    profile: VolumeProfile
    session_ms: int
    sessions: tuple[SessionProfile, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            **self.profile.to_json(),
            "session_length": interval_label(self.session_ms),
            "sessions": [s.to_json() for s in self.sessions],
        }


def session_bounds(start_ms: int, end_ms: int, session_ms: int) -> list[tuple[int, int]]:
    """[start, end] cut at the multiples of session_ms (UTC midnights for days)."""
    out = []
    lo = start_ms
    while lo <= end_ms:
        hi = min(end_ms, lo - lo % session_ms + session_ms - 1)
        out.append((lo, hi))
        lo = hi + 1
    return out


def composite_profile(
    store: TradeSource,
    symbol: str,
    start_ms: int,
    end_ms: int,
    *,
    session_ms: int = DAY_MS,
    tick_size: Decimal | str | None = None,
    bins: int = 100,
    value_area: float = 0.70,
    min_trades: int = MIN_TRADES,
    use_rollups: bool = True,
) -> CompositeProfile:
    """The composite volume profile of start_ms <= T <= end_ms, in sessions of
    ``session_ms`` (default: UTC days), all on one grid of bins (as volume_profile)."""
    symbol = check_symbol(symbol)
    check_window(start_ms, end_ms)
    if not isinstance(session_ms, int) or session_ms < 60_000:
        raise ValueError("a session is at least a minute long")
    if not isinstance(bins, int) or bins < 1:
        raise ValueError("bins must be a positive integer")
    va_fraction = fraction(value_area, "value_area")
    width = tick_to_fixed(tick_size) if tick_size is not None else None
    bounds = session_bounds(start_ms, end_ms, session_ms)
    if len(bounds) > MAX_SESSIONS:
        raise ValueError(f"{len(bounds)} sessions: at most {MAX_SESSIONS}")
    read = window_levels if use_rollups else levels_from_trades
    with store.reading():
        parts = [read(store, symbol, lo, hi) for lo, hi in bounds]
        whole = combine(parts)
        coverage = levels_coverage(store, symbol, start_ms, end_ms, whole)
        covers = [
            levels_coverage(store, symbol, lo, hi, part)
            for (lo, hi), part in zip(bounds, parts, strict=True)
        ]
    if whole.trade_count < max(min_trades, 1):
        raise InsufficientData(
            symbol, whole.trade_count, max(min_trades, 1), start_ms, end_ms, coverage
        )
    assert whole.min_price is not None and whole.max_price is not None
    if width is None:
        width = nice_width(whole.max_price - whole.min_price, bins)
    origin, n_bins = bin_grid(whole.min_price, whole.max_price, width)
    per_session = [p.bins(origin, width, n_bins) if p.trade_count else None for p in parts]
    volume, buy, count = [0] * n_bins, [0] * n_bins, [0] * n_bins
    for got in per_session:
        if got is not None:
            volume = [a + b for a, b in zip(volume, got[0], strict=True)]
            buy = [a + b for a, b in zip(buy, got[1], strict=True)]
            count = [a + b for a, b in zip(count, got[2], strict=True)]
    summed = WindowLevels(
        whole.trade_count,
        whole.first_time_ms,
        whole.last_time_ms,
        whole.first_agg_id,
        whole.last_agg_id,
        whole.min_price,
        whole.max_price,
        lambda _o, _w, _n: (volume, buy, count),
        whole.from_rollups,
    )
    profile = build_profile(
        symbol, start_ms, end_ms, summed, origin, width, n_bins, va_fraction, coverage
    )
    sessions = tuple(
        session_profile(lo, hi, part.trade_count, got, profile, va_fraction, cover)
        for (lo, hi), part, got, cover in zip(bounds, parts, per_session, covers, strict=True)
    )
    return CompositeProfile(profile=profile, session_ms=session_ms, sessions=sessions)


def session_profile(
    lo: int,
    hi: int,
    trade_count: int,
    got: tuple[list[int], list[int], list[int]] | None,
    profile: VolumeProfile,
    va_fraction: Fraction,
    coverage: Coverage,
) -> SessionProfile:
    """A session's figures; its bins are the composite profile's bins."""
    if got is None or not trade_count:
        zero = Decimal(0)
        return SessionProfile(lo, hi, 0, zero, zero, zero, None, None, None, coverage)
    volume, buy, _count = got
    poc = point_of_control(volume)
    va_lo, va_hi = value_area_bounds(volume, poc, va_fraction)
    total, bought = sum(volume), sum(buy)
    return SessionProfile(
        start_ms=lo,
        end_ms=hi,
        trade_count=trade_count,
        volume=fixed_to_decimal(total),
        buy_volume=fixed_to_decimal(bought),
        sell_volume=fixed_to_decimal(total - bought),
        point_of_control=profile.bins[poc].price_level,
        value_area_low=profile.bins[va_lo].price_low,
        value_area_high=profile.bins[va_hi].price_high,
        coverage=coverage,
    )
