"""The trade record every part of the project passes around."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class AggTrade:
    """One Binance aggregate trade, exact as the exchange sent it.

    ``price`` and ``qty`` are Decimals built from the exchange's strings, so ``str(price)``
    gives back the exact text (trailing zeros included) that the v1 value format stores.
    ``is_buyer_maker`` true means the taker sold.
    """

    agg_id: int
    price: Decimal
    qty: Decimal
    time_ms: int
    is_buyer_maker: bool

    def to_row(self) -> list:
        """The v1 on-disk row: [price_str, qty_str, T_ms, agg_id, is_buyer_maker]."""
        return [str(self.price), str(self.qty), self.time_ms, self.agg_id, self.is_buyer_maker]
