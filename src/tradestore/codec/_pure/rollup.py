"""Exact price-level rollups: accumulate, merge, encode (pure-Python twin of src/tradestore/codec/_ext/rollup.pyx).

A ``Rollup`` sums the trades of one period (a minute, an hour, or any window) per exact
price (int64 fixed point at 1e-8): volume, taker-buy volume and trade count, beside a
summary of the period: the trade count, the first and last trade time, the lowest and
highest agg id with their prices (a candle's open and close), the lowest and highest
price, and the sums of volume, taker-buy volume and notional (price x quantity, at
1e-16). Sums are Python ints here and 128-bit (notional 192-bit) in the compiled twin:
neither can overflow.

Rollups add up: the rollup of a window is the sum of the rollups of its parts, whatever
the order. ``encode`` writes the value format of the ``rollup:`` keys (docs/FORMAT.md),
one canonical byte string per content, so a stored rollup and one recomputed from the
trades compare byte for byte. The layout and its rules live in tradestore/codec/_rollupfmt.py,
which both twins follow. As in the compiled twin, the parts live beside this module: the
per-price levels (``_pure/_levels.py``, the profile's too) and the value format written
and read back (``_pure/_rollupvalue.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tradestore.codec._pure._levels import HoldsLevels, new_bins
from tradestore.codec._pure._rollupvalue import (
    Reader,
    read_head,
    read_value,
    write_head,
    write_levels,
)


class Rollup(HoldsLevels):
    """Per-price sums and the summary of a set of trades (see the module docstring)."""

    __slots__ = (
        "open_price",
        "close_price",
        "volume",
        "buy_volume",
        "notional",
    )

    def __init__(self) -> None:
        super().__init__()
        self.open_price: int | None = None
        self.close_price: int | None = None
        self.volume = 0
        self.buy_volume = 0
        self.notional = 0  # sum of price x qty, in units of 1e-16

    # ------------------------------------------------------------------ reading

    def levels(self, width: int = 1) -> list[tuple[int, int, int, int]]:
        """(price, volume, taker-buy volume, trade count) per price, ascending; with
        ``width`` > 1 per bin [k*width, (k+1)*width) that holds trades, keyed by its low."""
        return self._levels.grouped(width)

    def bins(self, origin: int, width: int, nbins: int) -> tuple[list[int], list[int], list[int]]:
        """(volume, taker-buy volume, trade count) per bin [origin + i*width, +width)."""
        return self._levels.bins(origin, width, nbins)

    # ------------------------------------------------------------------ adding

    def add_columns(
        self,
        agg_id: Sequence[int],
        time_ms: Sequence[int],
        price: Sequence[int],
        qty: Sequence[int],
        is_buyer_maker: Sequence[bool],
        lo: int = 0,
        hi: int | None = None,
    ) -> None:
        """Add the trades at positions lo..hi-1 of the columns (TradeColumns' arrays)."""
        n = len(agg_id)
        hi = n if hi is None else hi
        if not (len(time_ms) == len(price) == len(qty) == len(is_buyer_maker) == n):
            raise ValueError("columns of different lengths")
        if not 0 <= lo <= hi <= n:
            raise ValueError(f"positions {lo}..{hi} outside 0..{n}")
        levels = self._levels
        for i in range(lo, hi):
            p, q, a, t = int(price[i]), int(qty[i]), int(agg_id[i]), int(time_ms[i])
            if p < 0 or q < 0:
                raise ValueError(f"trade {a}: negative price or quantity")
            taker_buy = not is_buyer_maker[i]
            levels.add_trade(p, q, taker_buy)
            self.volume += q
            if taker_buy:
                self.buy_volume += q
            self.notional += p * q
            self._note(1, t, t, a, p, a, p)

    def add(self, other: Rollup) -> None:
        """Add another rollup's trades (they must be other trades than this one's)."""
        self._levels.add_levels(other._levels.items())
        if other.trade_count:
            assert other.first_time_ms is not None and other.last_time_ms is not None
            assert other.first_agg_id is not None and other.last_agg_id is not None
            assert other.open_price is not None and other.close_price is not None
            self.volume += other.volume
            self.buy_volume += other.buy_volume
            self.notional += other.notional
            self._note(
                other.trade_count,
                other.first_time_ms,
                other.last_time_ms,
                other.first_agg_id,
                other.open_price,
                other.last_agg_id,
                other.close_price,
            )

    def add_value(self, value: bytes, key: bytes = b"?") -> None:
        """Add the trades summarised by a stored rollup value."""
        self.add(decode(value, key))

    def _note(
        self,
        count: int,
        first_t: int,
        last_t: int,
        first_id: int,
        open_p: int,
        last_id: int,
        close_p: int,
    ) -> None:
        if self.trade_count == 0:
            self.first_time_ms, self.last_time_ms = first_t, last_t
            self.first_agg_id, self.open_price = first_id, open_p
            self.last_agg_id, self.close_price = last_id, close_p
        else:
            assert self.first_time_ms is not None and self.last_time_ms is not None
            assert self.first_agg_id is not None and self.last_agg_id is not None
            self.first_time_ms = min(self.first_time_ms, first_t)
            self.last_time_ms = max(self.last_time_ms, last_t)
            if first_id < self.first_agg_id:
                self.first_agg_id, self.open_price = first_id, open_p
            if last_id > self.last_agg_id:
                self.last_agg_id, self.close_price = last_id, close_p
        self.trade_count += count

    # ------------------------------------------------------------------ encoding

    def _head(self) -> bytearray:
        if not self.trade_count:
            raise ValueError("an empty rollup has no value")
        assert self.first_time_ms is not None and self.last_time_ms is not None
        assert self.first_agg_id is not None and self.last_agg_id is not None
        assert self.open_price is not None and self.close_price is not None
        head = (
            self.trade_count,
            self.first_time_ms,
            self.last_time_ms,
            self.first_agg_id,
            self.last_agg_id,
            self.open_price,
            self.close_price,
            min(self._levels),
            max(self._levels),
            self.volume,
            self.buy_volume,
            self.notional,
        )
        return write_head(head)

    def encode_summary(self) -> bytes:
        """The format byte and the summary alone: the head of ``encode()``, all a candle
        needs (``summary`` reads it); ValueError when empty."""
        return bytes(self._head())

    def encode(self) -> bytes:
        """The canonical value of this rollup (docs/FORMAT.md); ValueError when empty."""
        out = self._head()
        write_levels(out, self._levels)
        return bytes(out)


def summary(value: bytes, key: bytes = b"?") -> tuple[int, ...]:
    """(trades, first time, last time, first agg id, last agg id, open, close, low, high,
    volume, taker-buy volume, notional) of a stored rollup value, without its levels."""
    return tuple(read_head(Reader(bytes(value), key)))


def decode(value: bytes, key: bytes = b"?") -> Rollup:
    """The Rollup of a stored value; CorruptValue (naming ``key``) on any inconsistency."""
    head, levels = read_value(value, key)
    count, first_t, last_t, first_id, last_id, open_p, close_p, _low, _high, vol, buy, notional = (
        head
    )
    rollup = Rollup()
    rollup._levels = levels
    rollup.trade_count = count
    rollup.first_time_ms, rollup.last_time_ms = first_t, last_t
    rollup.first_agg_id, rollup.last_agg_id = first_id, last_id
    rollup.open_price, rollup.close_price = open_p, close_p
    rollup.volume, rollup.buy_volume, rollup.notional = vol, buy, notional
    return rollup


def split(
    agg_id: Sequence[int],
    time_ms: Sequence[int],
    price: Sequence[int],
    qty: Sequence[int],
    is_buyer_maker: Sequence[bool],
    period_ms: int,
) -> dict[int, Rollup]:
    """One Rollup per period [k*period_ms, (k+1)*period_ms) that holds trades, keyed by
    the period's start."""
    if period_ms < 1:
        raise ValueError("period_ms must be positive")
    out: dict[int, Rollup] = {}
    n = len(agg_id)
    i = 0
    while i < n:
        start = int(time_ms[i]) - int(time_ms[i]) % period_ms
        j = i + 1
        while j < n and start <= int(time_ms[j]) < start + period_ms:
            j += 1
        rollup = out.get(start)
        if rollup is None:
            rollup = out[start] = Rollup()
        rollup.add_columns(agg_id, time_ms, price, qty, is_buyer_maker, i, j)
        i = j
    return out


def split_segments(
    agg_id: Sequence[int],
    time_ms: Sequence[int],
    price: Sequence[int],
    qty: Sequence[int],
    is_buyer_maker: Sequence[bool],
    bounds: Iterable[tuple[int, int]],
    period_ms: int,
) -> list[dict[int, Rollup]]:
    """split() of each [lo, hi) of ``bounds`` within the columns: one dict per segment."""
    if period_ms < 1:
        raise ValueError("period_ms must be positive")
    n = len(agg_id)
    result = []
    for lo, hi in bounds:
        if not 0 <= lo <= hi <= n:
            raise ValueError(f"segment {lo}..{hi} outside the {n} rows")
        result.append(
            split(
                agg_id[lo:hi],
                time_ms[lo:hi],
                price[lo:hi],
                qty[lo:hi],
                is_buyer_maker[lo:hi],
                period_ms,
            )
        )
    return result


def bin_values(
    pairs: Iterable[tuple[bytes, bytes]], origin: int, width: int, nbins: int
) -> tuple[list[int], list[int], list[int]]:
    """(volume, taker-buy volume, trade count) per bin [origin + i*width, +width) of the
    price levels of stored rollup values, given as (key, value) pairs; each value is
    checked in full (CorruptValue names its key) before any of it is counted."""
    volume, buy, count = new_bins(width, nbins)
    for key, value in pairs:
        rollup = decode(value, key)
        low, high = rollup.min_price, rollup.max_price
        assert low is not None and high is not None
        if low < origin or (high - origin) // width >= nbins:
            raise ValueError(f"prices {low}..{high} lie outside the {nbins} bins")
        rollup._levels.add_to_bins(volume, buy, count, origin, width)
    return volume, buy, count
