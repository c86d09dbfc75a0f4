"""A day's price levels pre-binned at a coarse width: what a long window's profile reads.

A day of BTCUSDT at a 0.01 tick holds 10^5 to 10^6 distinct prices; a year of them
cannot be binned level by level within a few hundred milliseconds. Beside each day
rollup the store keeps the same levels summed into bins of 10^k x 1e-8 (``k`` the
smallest that leaves at most ``MAX_BINS`` bins), and a profile whose bin width is a
multiple of 10^k (every round width of at least 10^k is: 1, 2 or 5 x 10^m, m >= k)
reads those instead, exactly: each coarse bin lies wholly inside one of its bins.

The value (key ``rollup:b:{SYMBOL}:{day}``, docs/FORMAT.md) is one format byte, then:

- format 2 (the day's volume below 2^62 units, as every real day): the exponent ``k``
  (one byte), the number of bins ``n`` (uint32, little-endian), then four arrays of
  ``n`` little-endian int64: the ascending bin numbers (price // 10^k), the volumes,
  the taker-buy volumes and the trade counts per bin; read straight into numpy;
- format 1 (any sum too large): MessagePack ``[k, bins, volumes, buys, counts]``, a sum
  past 63 bits as its decimal text.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any, NamedTuple

import msgpack
import numpy as np

from tradestore._errors import CorruptValue

MAX_BINS = 1024
_BIG = 2**63
# Sums of the volumes of many days stay in int64 below this (each day's below it too).
SAFE_SUM = 2**62
_HEAD = struct.Struct("<BBI")


class Binned(NamedTuple):
    """A day's levels per coarse bin: bin low prices (int64 units of 1e-8) and, per bin,
    volume, taker-buy volume and trade count; ``volume`` the day's whole volume."""

    unit: int
    prices: np.ndarray
    volumes: np.ndarray | list[int]
    buys: np.ndarray | list[int]
    counts: np.ndarray
    volume: int


def binned_of(levels_at: Any, min_price: int, max_price: int) -> bytes:
    """The binned value of a rollup: ``levels_at(width)`` gives its (price, volume,
    taker-buy volume, count) per bin of ``width`` (``Rollup.levels``)."""
    k = 0
    while (max_price // 10**k) - (min_price // 10**k) + 1 > MAX_BINS:
        k += 1
    grouped = levels_at(10**k)
    unit = 10**k
    bins = [p // unit for p, _v, _b, _c in grouped]
    volumes = [v for _p, v, _b, _c in grouped]
    if sum(volumes) < SAFE_SUM:
        out = bytearray(_HEAD.pack(2, k, len(grouped)))
        for column in (bins, volumes, [b for _p, _v, b, _c in grouped], [c for *_r, c in grouped]):
            out += np.asarray(column, dtype="<i8").tobytes()
        return bytes(out)

    def fit(value: int) -> int | str:
        return value if -_BIG <= value < _BIG else str(value)

    doc = [k, bins, [fit(v) for v in volumes], [fit(b) for _p, _v, b, _c in grouped]]
    doc.append([c for *_r, c in grouped])
    return b"\x01" + bytes(msgpack.packb(doc))


def binned_read(value: bytes, key: bytes = b"?") -> Binned:
    """The bins of a binned value (CorruptValue, naming ``key``, if unreadable)."""
    try:
        if value[:1] == b"\x02":
            _fmt, k, n = _HEAD.unpack_from(value)
            body = np.frombuffer(value, dtype="<i8", offset=_HEAD.size)
            if body.shape[0] != 4 * n or k > 18:
                raise ValueError(f"{body.shape[0]} numbers for {n} bins, scale {k}")
            bins, volumes, buys, counts = (body[i * n : (i + 1) * n] for i in range(4))
            unit = 10**k
            return Binned(unit, bins * unit, volumes, buys, counts, int(volumes.sum()))
        if value[:1] == b"\x01":
            k, bins, vols, buys, counts = msgpack.unpackb(value[1:], strict_map_key=False)
            unit = 10**k
            big_volumes = [int(v) for v in vols]
            return Binned(
                unit,
                np.asarray(bins, dtype=np.int64) * unit,
                big_volumes,
                [int(b) for b in buys],
                np.asarray(counts, dtype=np.int64),
                sum(big_volumes),
            )
        raise ValueError(f"format {value[:1]!r}")
    except (ValueError, TypeError, struct.error, msgpack.UnpackException) as exc:
        raise CorruptValue(key, f"binned rollup: {exc}") from None


def add_binned(
    into: Sequence[list[int]],
    days: Sequence[Binned],
    origin: int,
    width: int,
) -> None:
    """Add the days' bins into (volume, buy, count) lists of bins [origin + i*width, ...):
    in int64 numpy sums while every total stays below 2^62, else exactly in Python."""
    volume, buy, count = into
    n = len(volume)
    fast = [d for d in days if isinstance(d.volumes, np.ndarray)]
    if sum(d.volume for d in fast) >= SAFE_SUM:
        fast = []
    slow = [d for d in days if not any(d is f for f in fast)]
    if fast:
        prices = np.concatenate([d.prices for d in fast])
        index = (prices - origin) // width
        keep = (index >= 0) & (index < n)
        index = index[keep]
        sums = []
        for column in ("volumes", "buys", "counts"):
            values = np.concatenate([getattr(d, column) for d in fast])[keep]
            total = np.zeros(n, dtype=np.int64)
            np.add.at(total, index, values)
            sums.append(total.tolist())
        for target, added in zip((volume, buy, count), sums, strict=True):
            for i, value in enumerate(added):
                if value:
                    target[i] += value
    for day in slow:
        for price, v, b, c in zip(
            day.prices.tolist(), day.volumes, day.buys, day.counts.tolist(), strict=True
        ):
            i = (price - origin) // width
            if 0 <= i < n:
                volume[i] += int(v)
                buy[i] += int(b)
                count[i] += c
