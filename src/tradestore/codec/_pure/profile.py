"""Per-price volume accumulation from v1 values (pure-Python twin of src/tradestore/codec/_ext/profile.pyx).

``accumulate`` reads the raw ``(key, value)`` pairs of a seek window and sums, per exact
price (int64 fixed point at 1e-8), the traded quantity, the taker-buy quantity and the
trade count of the trades with ``start_ms <= T <= end_ms``. Binning happens afterwards
(``LevelTable.bins``), so any bin width or tick size is exact. Sums are Python ints here
and 128-bit in the compiled twin: they cannot overflow.

Each agg id counts once, as in query_trades. Without ``dedupe`` the scan must see agg ids
strictly ascending (the normal case); otherwise ``accumulate`` returns None and the caller
runs it again with ``dedupe=True`` (a set of seen ids; first copy wins).
"""

from __future__ import annotations

from collections.abc import Iterable

from tradestore.codec._pure._levels import HoldsLevels
from tradestore.codec._values import decode_fixed_rows


class LevelTable(HoldsLevels):
    """Volume per exact price level over a window, in the level table the rollups use
    too (``_pure/_levels.py``)."""

    __slots__ = ()

    def _add(self, agg_id: int, time_ms: int, price: int, qty: int, is_buyer_maker: bool) -> None:
        self._levels.add_trade(price, qty, not is_buyer_maker)
        self.trade_count += 1
        if self.first_time_ms is None or time_ms < self.first_time_ms:
            self.first_time_ms = time_ms
        if self.last_time_ms is None or time_ms > self.last_time_ms:
            self.last_time_ms = time_ms
        if self.first_agg_id is None or agg_id < self.first_agg_id:
            self.first_agg_id = agg_id
        if self.last_agg_id is None or agg_id > self.last_agg_id:
            self.last_agg_id = agg_id

    def bins(self, origin: int, width: int, nbins: int) -> tuple[list[int], list[int], list[int]]:
        """(volume, taker-buy volume, trade count) per bin [origin + i*width, +width)."""
        return self._levels.bins(origin, width, nbins)


def accumulate(
    pairs: Iterable[tuple[bytes, bytes]], start_ms: int, end_ms: int, dedupe: bool = False
) -> LevelTable | None:
    table = LevelTable()
    seen: set[int] = set()
    last_id: int | None = None
    for key, value in pairs:
        for agg_id, time_ms, price, qty, is_buyer_maker in decode_fixed_rows(
            bytes(value), key, start_ms, end_ms
        ):
            if dedupe:
                if agg_id in seen:
                    continue
                seen.add(agg_id)
            elif last_id is not None and agg_id <= last_id:
                return None
            last_id = agg_id
            table._add(agg_id, time_ms, price, qty, is_buyer_maker)
    return table
