"""Result types of the time-bucketed analytics: candles, footprints, volume delta.

Prices and volumes are exact Decimals (JSON: strings); each result carries the window's
coverage like the profile does. docs/ANALYTICS.md defines the figures and
docs/OUTPUT.md the JSON shapes; these fields are what plots and servers read.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tradestore._timeparse import format_time_ms
from tradestore.analytics._results import decimal_str
from tradestore.store import Coverage

_UNITS = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1))


def interval_label(ms: int) -> str:
    """An interval as exchanges name them, in the largest unit that divides it: 1m,
    15m, 4h, 1d, 90s."""
    for name, unit in _UNITS:
        if ms % unit == 0:
            return f"{ms // unit}{name}"
    raise AssertionError("every int is a number of ms")


def _opt(value: Decimal | None) -> str | None:
    return None if value is None else decimal_str(value)


@dataclass(frozen=True, slots=True)
class Candle:
    """The trades of one interval [open_time_ms, open_time_ms + interval) in the window.

    ``open`` and ``close`` are the prices of the interval's first and last trade (lowest
    and highest agg id); ``vwap`` is the volume-weighted average price rounded half-even
    to 8 decimals (None when the volume is 0). The first and last candle of a window that
    cuts an interval hold only the window's trades.
    """

    open_time_ms: int
    close_time_ms: int  # open_time_ms + interval - 1
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    buy_volume: Decimal  # taker buys: the buyer was not the maker
    sell_volume: Decimal
    trade_count: int
    vwap: Decimal | None
    first_agg_id: int
    last_agg_id: int

    @property
    def delta(self) -> Decimal:
        """Taker-buy minus taker-sell volume."""
        return self.buy_volume - self.sell_volume

    def to_json(self) -> dict[str, Any]:
        return {
            "open_time": format_time_ms(self.open_time_ms),
            "open_time_ms": self.open_time_ms,
            "close_time_ms": self.close_time_ms,
            "open": decimal_str(self.open),
            "high": decimal_str(self.high),
            "low": decimal_str(self.low),
            "close": decimal_str(self.close),
            "volume": decimal_str(self.volume),
            "buy_volume": decimal_str(self.buy_volume),
            "sell_volume": decimal_str(self.sell_volume),
            "trade_count": self.trade_count,
            "vwap": _opt(self.vwap),
            "first_agg_id": self.first_agg_id,
            "last_agg_id": self.last_agg_id,
        }


def _window_json(
    symbol: str, start_ms: int, end_ms: int, interval_ms: int, coverage: Coverage | None
) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "time_period_start": format_time_ms(start_ms),
        "time_period_end": format_time_ms(end_ms),
        "interval": interval_label(interval_ms),
        "interval_ms": interval_ms,
        "data_complete": coverage.complete if coverage else None,
        "coverage": coverage.to_dict() if coverage else None,
    }


@dataclass(frozen=True, slots=True)
class CandleSeries:
    """Candles of ``interval_ms`` over [start_ms, end_ms], oldest first; intervals
    without a trade have no candle."""

    symbol: str
    start_ms: int
    end_ms: int
    interval_ms: int
    candles: tuple[Candle, ...]
    trade_count: int
    coverage: Coverage | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            **_window_json(
                self.symbol, self.start_ms, self.end_ms, self.interval_ms, self.coverage
            ),
            "trade_count": self.trade_count,
            "candle_count": len(self.candles),
            "candles": [c.to_json() for c in self.candles],
        }


@dataclass(frozen=True, slots=True)
class FootprintLevel:
    """One price (or price bin [price, price + tick_size)) of a footprint candle."""

    price: Decimal
    buy_volume: Decimal
    sell_volume: Decimal
    trade_count: int

    @property
    def delta(self) -> Decimal:
        return self.buy_volume - self.sell_volume

    def to_json(self) -> dict[str, Any]:
        return {
            "price": decimal_str(self.price),
            "buy_volume": decimal_str(self.buy_volume),
            "sell_volume": decimal_str(self.sell_volume),
            "delta": decimal_str(self.delta),
            "trade_count": self.trade_count,
        }


@dataclass(frozen=True, slots=True)
class FootprintCandle:
    """A candle and its traded volume per price, lowest price first."""

    candle: Candle
    levels: tuple[FootprintLevel, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            **self.candle.to_json(),
            "delta": decimal_str(self.candle.delta),
            "levels": [level.to_json() for level in self.levels],
        }


@dataclass(frozen=True, slots=True)
class Footprint:
    """Per candle of ``interval_ms``, per price: taker-buy and taker-sell volume.
    ``tick_size`` None: every exact traded price is its own level."""

    symbol: str
    start_ms: int
    end_ms: int
    interval_ms: int
    tick_size: Decimal | None
    candles: tuple[FootprintCandle, ...]
    trade_count: int
    coverage: Coverage | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            **_window_json(
                self.symbol, self.start_ms, self.end_ms, self.interval_ms, self.coverage
            ),
            "tick_size": _opt(self.tick_size),
            "trade_count": self.trade_count,
            "candle_count": len(self.candles),
            "candles": [c.to_json() for c in self.candles],
        }


@dataclass(frozen=True, slots=True)
class DeltaPoint:
    """One interval of a cumulative volume delta series."""

    open_time_ms: int
    buy_volume: Decimal
    sell_volume: Decimal
    trade_count: int
    cumulative_delta: Decimal  # the sum of the deltas up to and including this interval

    @property
    def delta(self) -> Decimal:
        return self.buy_volume - self.sell_volume

    def to_json(self) -> dict[str, Any]:
        return {
            "open_time": format_time_ms(self.open_time_ms),
            "open_time_ms": self.open_time_ms,
            "buy_volume": decimal_str(self.buy_volume),
            "sell_volume": decimal_str(self.sell_volume),
            "delta": decimal_str(self.delta),
            "cumulative_delta": decimal_str(self.cumulative_delta),
            "trade_count": self.trade_count,
        }


@dataclass(frozen=True, slots=True)
class VolumeDelta:
    """Cumulative volume delta (taker buys minus taker sells) over [start_ms, end_ms],
    by interval, oldest first; intervals without a trade have no point."""

    symbol: str
    start_ms: int
    end_ms: int
    interval_ms: int
    points: tuple[DeltaPoint, ...]
    buy_volume: Decimal
    sell_volume: Decimal
    trade_count: int
    coverage: Coverage | None = None

    @property
    def delta(self) -> Decimal:
        """The window's whole delta (the last point's cumulative delta)."""
        return self.buy_volume - self.sell_volume

    def to_json(self) -> dict[str, Any]:
        return {
            **_window_json(
                self.symbol, self.start_ms, self.end_ms, self.interval_ms, self.coverage
            ),
            "trade_count": self.trade_count,
            "buy_volume": decimal_str(self.buy_volume),
            "sell_volume": decimal_str(self.sell_volume),
            "delta": decimal_str(self.delta),
            "points": [p.to_json() for p in self.points],
        }
