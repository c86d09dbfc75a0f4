"""Market-profile analytics over stored trades.

``volume_profile`` bins the traded volume of a window by price, with the point of
control and the value area; ``liquidity_vacuums`` finds the price ranges that traded far
below the median bin. Both read the stored bytes directly (compiled hot path).
"""

from tradestore.analytics._profile import (
    MIN_TRADES,
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
)
from tradestore.analytics._vacuums import find_vacuums, liquidity_vacuums

__all__ = [
    "MIN_TRADES",
    "InsufficientData",
    "LiquidityVacuum",
    "ProfileBin",
    "VacuumReport",
    "VolumeProfile",
    "decimal_str",
    "find_vacuums",
    "liquidity_vacuums",
    "nice_width",
    "point_of_control",
    "tick_to_fixed",
    "value_area_bounds",
    "volume_profile",
]
