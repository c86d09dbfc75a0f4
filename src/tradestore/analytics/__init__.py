"""Market analytics over stored trades, exact, from the price-level rollups where they
are kept (whole hours, whole minutes, raw trades only at a window's edges).

``volume_profile`` bins the traded volume of a window by price, with the point of
control and the value area; ``composite_profile`` does so over several sessions (days)
with each session's own POC and value area; ``liquidity_vacuums`` finds the price ranges
that traded far below the median bin. ``candles`` gives OHLCV candles with taker-buy and
taker-sell volume and VWAP for any interval of 1 s or more, ``footprint`` the volume per
price inside each candle, ``cumulative_volume_delta`` the running taker-buy minus
taker-sell volume. ``screen`` gives one row of these figures per symbol, for the whole
market at once. ``candles_by_symbol``, ``cvd_by_symbol`` and ``trades_by_symbol`` ask
the same of several symbols from one snapshot, keyed by symbol. docs/ANALYTICS.md defines
every figure.
"""

from tradestore.analytics._bars import (
    Candle,
    CandleSeries,
    DeltaPoint,
    Footprint,
    FootprintCandle,
    FootprintLevel,
    VolumeDelta,
    interval_label,
)
from tradestore.analytics._candles import candles, cumulative_volume_delta, footprint
from tradestore.analytics._composite import (
    CompositeProfile,
    SessionProfile,
    composite_profile,
    session_bounds,
    session_profile,
)
from tradestore.analytics._levels import WindowLevels, window_levels
from tradestore.analytics._many import (
    candles_by_symbol,
    check_symbols,
    columns_by_symbol,
    cvd_by_symbol,
    trades_by_symbol,
)
from tradestore.analytics._profile import (
    MIN_TRADES,
    bin_grid,
    build_profile,
    check_window,
    fraction,
    nice_width,
    point_of_control,
    tick_to_fixed,
    value_area_bounds,
    volume_profile,
)
from tradestore.analytics._results import (
    InsufficientData,
    LiquidityVacuum,
    ProfileBin,
    VacuumReport,
    VolumeProfile,
    decimal_str,
    fixed_to_decimal,
)
from tradestore.analytics._screen import (
    MAX_NAKED_DAYS,
    NAKED_DAYS,
    names_symbols,
    resolve_symbols,
    screen,
)
from tradestore.analytics._screenrows import ScreenResult, ScreenRow
from tradestore.analytics._select import COLUMNS as SCREEN_COLUMNS
from tradestore.analytics._select import DEFAULT_SORT as SCREEN_SORT
from tradestore.analytics._select import check_sort, parse_where, select_rows
from tradestore.analytics._vacuums import MERGE_BINS, find_vacuums, liquidity_vacuums

__all__ = [
    "MERGE_BINS",
    "MIN_TRADES",
    "MAX_NAKED_DAYS",
    "NAKED_DAYS",
    "SCREEN_COLUMNS",
    "SCREEN_SORT",
    "Candle",
    "CandleSeries",
    "CompositeProfile",
    "DeltaPoint",
    "Footprint",
    "FootprintCandle",
    "FootprintLevel",
    "ScreenResult",
    "ScreenRow",
    "SessionProfile",
    "VolumeDelta",
    "WindowLevels",
    "window_levels",
    "bin_grid",
    "build_profile",
    "candles",
    "check_sort",
    "candles_by_symbol",
    "check_symbols",
    "columns_by_symbol",
    "cvd_by_symbol",
    "trades_by_symbol",
    "check_window",
    "composite_profile",
    "cumulative_volume_delta",
    "footprint",
    "interval_label",
    "session_bounds",
    "session_profile",
    "InsufficientData",
    "LiquidityVacuum",
    "ProfileBin",
    "VacuumReport",
    "VolumeProfile",
    "decimal_str",
    "fixed_to_decimal",
    "find_vacuums",
    "fraction",
    "liquidity_vacuums",
    "names_symbols",
    "nice_width",
    "parse_where",
    "point_of_control",
    "resolve_symbols",
    "screen",
    "select_rows",
    "tick_to_fixed",
    "value_area_bounds",
    "volume_profile",
]
