"""The trade record every part of the project passes around."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class AggTrade:
    """One Binance aggregate trade, exact as the exchange sent it.

    ``price`` and ``qty`` are Decimals built from the exchange's strings;
    ``decimal_text(price)`` gives back the exact text (trailing zeros included, never
    scientific notation: ``str(Decimal("0.00000089"))`` is ``"8.9E-7"``) that v1 stores.
    ``is_buyer_maker`` true means the taker sold.
    """

    agg_id: int
    price: Decimal
    qty: Decimal
    time_ms: int
    is_buyer_maker: bool

    def to_row(self) -> list:
        """The v1 on-disk row: [price_str, qty_str, T_ms, agg_id, is_buyer_maker]."""
        return [
            decimal_text(self.price),
            decimal_text(self.qty),
            self.time_ms,
            self.agg_id,
            self.is_buyer_maker,
        ]


def decimal_text(value: Decimal) -> str:
    """A Decimal as plain positional text, exactly as an exchange string it was built from."""
    return format(value, "f")
