"""The rows of a screen and their forms: Python values, JSON, pandas and polars."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tradestore._timeparse import format_time_ms
from tradestore.analytics._results import decimal_str
from tradestore.analytics._select import COLUMNS, select_rows
from tradestore.analytics._vacuums import MERGE_BINS
from tradestore.store import Coverage


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


def _time(ms: int | None) -> str | None:
    return None if ms is None else format_time_ms(ms)


def _day(ms: int | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC).date().isoformat()


def _floats(record: dict[str, Any]) -> dict[str, Any]:
    return {k: float(v) if isinstance(v, Decimal) else v for k, v in record.items()}
