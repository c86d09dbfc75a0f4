"""The per-price level accumulator of the pure-Python twins (the compiled side's is
src/tradestore/codec/_ext/_levels.pxd).

Volume, taker-buy volume and trade count per exact price (int64 fixed point at 1e-8),
kept by both the volume profile straight from trades (``_pure/profile.py``) and the
rollups (``_pure/rollup.py``). Sums are Python ints: they cannot overflow.
"""

from __future__ import annotations

from collections.abc import Iterable


class Levels(dict[int, list[int]]):
    """price -> [volume, taker-buy volume, trade count]."""

    __slots__ = ()

    def add_trade(self, price: int, qty: int, taker_buy: bool) -> None:
        level = self.get(price)
        if level is None:
            level = self[price] = [0, 0, 0]
        level[0] += qty
        if taker_buy:
            level[1] += qty
        level[2] += 1

    def add_levels(self, other: Iterable[tuple[int, list[int]]]) -> None:
        """Add (price, [volume, taker-buy volume, count]) pairs: another table's items."""
        for price, (vol, buy, n) in other:
            level = self.get(price)
            if level is None:
                self[price] = [vol, buy, n]
            else:
                level[0] += vol
                level[1] += buy
                level[2] += n

    def grouped(self, width: int) -> list[tuple[int, int, int, int]]:
        """(price, volume, taker-buy volume, trade count) per price, ascending; with
        ``width`` > 1 per bin [k*width, (k+1)*width) that holds trades, keyed by its low."""
        if width < 1:
            raise ValueError("width must be positive")
        if width == 1:
            return [(p, v, b, n) for p, (v, b, n) in sorted(self.items())]
        grouped = Levels()
        grouped.add_levels((price - price % width, level) for price, level in self.items())
        return [(p, v, b, n) for p, (v, b, n) in sorted(grouped.items())]

    def bins(self, origin: int, width: int, nbins: int) -> tuple[list[int], list[int], list[int]]:
        """(volume, taker-buy volume, trade count) per bin [origin + i*width, +width);
        ValueError when a level lies outside the bins."""
        volume, buy, count = new_bins(width, nbins)
        self.add_to_bins(volume, buy, count, origin, width)
        return volume, buy, count

    def add_to_bins(
        self, volume: list[int], buy: list[int], count: list[int], origin: int, width: int
    ) -> None:
        """Add each level to its bin [origin + i*width, +width) of the three lists."""
        nbins = len(volume)
        for price, (vol, buy_vol, n) in self.items():
            index = (price - origin) // width
            if not 0 <= index < nbins:
                raise ValueError(f"price {price} lies outside the {nbins} bins")
            volume[index] += vol
            buy[index] += buy_vol
            count[index] += n


class HoldsLevels:
    """What the profile's table and a rollup both are: a table of levels with the count,
    the first and last trade time and the lowest and highest agg id of the trades in it,
    read the same way (the lowest and highest price, None when empty, and how many)."""

    # Slots put the counters on the class, as in the compiled twins: both show the same names.
    __slots__ = (
        "_levels",
        "trade_count",
        "first_time_ms",
        "last_time_ms",
        "first_agg_id",
        "last_agg_id",
    )

    def __init__(self) -> None:
        self._levels = Levels()  # price -> [volume, buy volume, count]
        self.trade_count = 0
        self.first_time_ms: int | None = None
        self.last_time_ms: int | None = None
        self.first_agg_id: int | None = None  # the lowest agg id
        self.last_agg_id: int | None = None

    @property
    def min_price(self) -> int | None:
        return min(self._levels) if self._levels else None

    @property
    def max_price(self) -> int | None:
        return max(self._levels) if self._levels else None

    @property
    def level_count(self) -> int:
        return len(self._levels)


def new_bins(width: int, nbins: int) -> tuple[list[int], list[int], list[int]]:
    """nbins empty bins of volume, taker-buy volume and count; ValueError for a width or
    count that makes none."""
    if width <= 0 or nbins < 0:
        raise ValueError("width must be positive and nbins non-negative")
    return [0] * nbins, [0] * nbins, [0] * nbins
