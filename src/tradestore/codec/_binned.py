"""A day's price levels pre-binned at a coarse width: what a long window's profile reads.

A day of BTCUSDT at a 0.01 tick holds 10^5 to 10^6 distinct prices; a year of them
cannot be binned level by level within a few hundred milliseconds. Beside each day
rollup the store keeps the same levels summed into bins of 10^k x 1e-8 (``k`` the
smallest that leaves at most ``MAX_BINS`` bins), and a profile whose bin width is a
multiple of 10^k (every round width of at least 10^k is: 1, 2 or 5 x 10^m, m >= k)
reads those instead, exactly: each coarse bin lies wholly inside one of its bins.

The value (key ``rollup:b:{SYMBOL}:{day}``, docs/FORMAT.md) is MessagePack:
``[1, k, bins, volumes, buys, counts]``, ``bins`` the ascending bin numbers (price // 10^k),
the others per bin; a sum too large for 63 bits is written as its decimal text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgpack

from tradestore._errors import CorruptValue

FORMAT = 1
MAX_BINS = 1024
_BIG = 2**63


def _int(value: int) -> int | str:
    return value if -_BIG <= value < _BIG else str(value)


def binned_of(levels_at: Any, min_price: int, max_price: int) -> bytes:
    """The binned value of a rollup: ``levels_at(width)`` gives its (price, volume,
    taker-buy volume, count) per bin of ``width`` (``Rollup.levels``)."""
    k = 0
    while (max_price // 10**k) - (min_price // 10**k) + 1 > MAX_BINS:
        k += 1
    grouped = levels_at(10**k)
    while len(grouped) > MAX_BINS:  # not reached: the span bounds the bins
        k += 1
        grouped = levels_at(10**k)
    unit = 10**k
    return bytes(
        msgpack.packb(
            [
                FORMAT,
                k,
                [p // unit for p, _v, _b, _c in grouped],
                [_int(v) for _p, v, _b, _c in grouped],
                [_int(b) for _p, _v, b, _c in grouped],
                [c for _p, _v, _b, c in grouped],
            ]
        )
    )


def binned_levels(value: bytes, key: bytes = b"?") -> tuple[int, list[tuple[int, int, int, int]]]:
    """(10^k, [(bin low price, volume, taker-buy volume, count), ...]) of a binned value."""
    try:
        fmt, k, bins, volumes, buys, counts = msgpack.unpackb(value, strict_map_key=False)
        if fmt != FORMAT or not 0 <= k <= 18:
            raise ValueError(f"format {fmt}, scale {k}")
        unit = 10**k
        return unit, [
            (b * unit, int(v), int(u), int(c))
            for b, v, u, c in zip(bins, volumes, buys, counts, strict=True)
        ]
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise CorruptValue(key, f"binned rollup: {exc}") from None


def add_binned(
    into: Sequence[list[int]],
    levels: Sequence[tuple[int, int, int, int]],
    origin: int,
    width: int,
) -> None:
    """Add binned levels into (volume, buy, count) lists of bins [origin + i*width, ...)."""
    volume, buy, count = into
    n = len(volume)
    for price, v, b, c in levels:
        i = (price - origin) // width
        if 0 <= i < n:
            volume[i] += v
            buy[i] += b
            count[i] += c
