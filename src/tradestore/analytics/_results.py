"""Result types of the analytics and their JSON form (the shape of the trading assistant's
``get_volume_profile`` / ``get_liquidity_vacuums`` tools, which these results replace).

Prices and volumes are exact Decimals; JSON carries them as strings, times as RFC 3339.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Context, Decimal, localcontext
from typing import Any

from tradestore._errors import BadInput
from tradestore._timeparse import format_time_ms
from tradestore.codec._fixed import SCALE_DIGITS
from tradestore.store import Coverage

_EXACT = Context(prec=80)


class InsufficientData(BadInput, ValueError):
    """Too few trades in the window for a meaningful profile."""

    def __init__(
        self,
        symbol: str,
        found: int,
        required: int,
        start_ms: int,
        end_ms: int,
        coverage: Coverage | None = None,
    ) -> None:
        self.symbol = symbol
        self.found = found
        self.required = required
        self.start_ms = start_ms
        self.end_ms = end_ms
        self.coverage = coverage  # why so few: was the window recorded at all?
        why = "" if coverage is None or coverage.complete else f" ({coverage.summary()})"
        super().__init__(
            f"insufficient data: {found} {symbol} trades between {format_time_ms(start_ms)} "
            f"and {format_time_ms(end_ms)}, at least {required} are needed{why}"
        )


def fixed_to_decimal(value: int) -> Decimal:
    """The exact Decimal of an integer count of 1e-8 units (any size)."""
    return Decimal(value).scaleb(-SCALE_DIGITS, context=_EXACT)


def decimal_str(value: Decimal) -> str:
    """Plain notation without exponent or trailing zeros: 90000, 0.5, 0.00000001."""
    if value == 0:
        return "0"
    text = format(value.normalize(_EXACT), "f")
    return text


@dataclass(frozen=True, slots=True)
class ProfileBin:
    """One price bin [price_low, price_high) of a volume profile."""

    price_low: Decimal
    price_high: Decimal
    volume: Decimal
    buy_volume: Decimal  # taker buys: the buyer was not the maker
    sell_volume: Decimal
    trade_count: int

    @property
    def price_level(self) -> Decimal:
        """The bin's centre (``price_level`` in the JSON)."""
        with localcontext(_EXACT):
            return (self.price_low + self.price_high) / 2

    def to_json(self) -> dict[str, Any]:
        return {
            "price_level": decimal_str(self.price_level),
            "price_low": decimal_str(self.price_low),
            "price_high": decimal_str(self.price_high),
            "volume": decimal_str(self.volume),
            "buy_volume": decimal_str(self.buy_volume),
            "sell_volume": decimal_str(self.sell_volume),
            "trade_count": self.trade_count,
        }


@dataclass(frozen=True, slots=True)
class VolumeProfile:
    """Traded volume by price over [start_ms, end_ms] with POC and value area."""

    symbol: str
    start_ms: int
    end_ms: int
    first_trade_ms: int
    last_trade_ms: int
    trade_count: int
    price_low: Decimal  # lowest and highest traded price
    price_high: Decimal
    bin_size: Decimal
    bins: tuple[ProfileBin, ...]
    total_volume: Decimal
    poc_index: int
    value_area_low_index: int
    value_area_high_index: int
    value_area: float  # the fraction of volume the value area holds at least (0.70)
    # Whether the window's record is complete (contiguous agg ids, no unfilled gap in it):
    # tells "no trades at these prices" from "trades not recorded".
    coverage: Coverage | None = None

    @property
    def point_of_control(self) -> Decimal:
        """Centre of the bin with the most volume (the lower one on a tie)."""
        return self.bins[self.poc_index].price_level

    @property
    def value_area_low(self) -> Decimal:
        return self.bins[self.value_area_low_index].price_low

    @property
    def value_area_high(self) -> Decimal:
        return self.bins[self.value_area_high_index].price_high

    @property
    def value_area_volume(self) -> Decimal:
        lo, hi = self.value_area_low_index, self.value_area_high_index
        with localcontext(_EXACT):  # exact however large: 80 digits hold any 128-bit sum
            return sum((b.volume for b in self.bins[lo : hi + 1]), Decimal(0))

    @property
    def buy_volume(self) -> Decimal:
        with localcontext(_EXACT):
            return sum((b.buy_volume for b in self.bins), Decimal(0))

    @property
    def sell_volume(self) -> Decimal:
        with localcontext(_EXACT):
            return self.total_volume - self.buy_volume

    def to_json(self) -> dict[str, Any]:
        total = self.total_volume
        va_volume = self.value_area_volume
        return {
            "symbol": self.symbol,
            "time_period_start": format_time_ms(self.start_ms),
            "time_period_end": format_time_ms(self.end_ms),
            "first_trade_time": format_time_ms(self.first_trade_ms),
            "last_trade_time": format_time_ms(self.last_trade_ms),
            "trade_count": self.trade_count,
            "data_complete": self.coverage.complete if self.coverage else None,
            "coverage": self.coverage.to_dict() if self.coverage else None,
            "price_range_low": decimal_str(self.price_low),
            "price_range_high": decimal_str(self.price_high),
            "bin_size": decimal_str(self.bin_size),
            "bin_count": len(self.bins),
            "histogram": [b.to_json() for b in self.bins],
            "total_volume": decimal_str(total),
            "buy_volume": decimal_str(self.buy_volume),
            "sell_volume": decimal_str(self.sell_volume),
            "point_of_control": decimal_str(self.point_of_control),
            "value_area_high": decimal_str(self.value_area_high),
            "value_area_low": decimal_str(self.value_area_low),
            "value_area_volume": decimal_str(va_volume),
            "value_area_pct": round(float(va_volume / total * 100), 4) if total else 100.0,
        }


@dataclass(frozen=True, slots=True)
class LiquidityVacuum:
    """A price range whose bins traded far less than the median bin."""

    price_low: Decimal
    price_high: Decimal
    actual_volume: Decimal  # mean volume of the range's thin bins
    median_volume: Decimal  # median bin volume of the whole profile
    volume_deficit_pct: float
    expected_impact: str  # FastMovement | ModerateMovement | Negligible
    bin_count: int  # thin bins (a merged range also spans the bins between its runs)

    def to_json(self, symbol: str, detected_ms: int) -> dict[str, Any]:
        ident = uuid.uuid5(
            uuid.NAMESPACE_URL, f"tradestore:{symbol}:{self.price_low}:{self.price_high}"
        )
        return {
            "vacuum_id": str(ident),
            "symbol": symbol,
            "price_range_low": decimal_str(self.price_low),
            "price_range_high": decimal_str(self.price_high),
            "volume_deficit_pct": self.volume_deficit_pct,
            "median_volume": decimal_str(self.median_volume),
            "actual_volume": decimal_str(self.actual_volume),
            "expected_impact": self.expected_impact,
            "bin_count": self.bin_count,
            "detection_timestamp": format_time_ms(detected_ms),
        }


@dataclass(frozen=True, slots=True)
class VacuumReport:
    """The vacuums of one profile, lowest price first."""

    profile: VolumeProfile
    median_volume: Decimal
    threshold_volume: Decimal
    vacuums: tuple[LiquidityVacuum, ...]
    detected_ms: int

    def to_json(self) -> dict[str, Any]:
        p = self.profile
        return {
            "symbol": p.symbol,
            "time_period_start": format_time_ms(p.start_ms),
            "time_period_end": format_time_ms(p.end_ms),
            "trade_count": p.trade_count,
            "data_complete": p.coverage.complete if p.coverage else None,
            "coverage": p.coverage.to_dict() if p.coverage else None,
            "bin_size": decimal_str(p.bin_size),
            "bin_count": len(p.bins),
            "median_volume": decimal_str(self.median_volume),
            "threshold_volume": decimal_str(self.threshold_volume),
            "vacuums": [v.to_json(p.symbol, self.detected_ms) for v in self.vacuums],
        }
