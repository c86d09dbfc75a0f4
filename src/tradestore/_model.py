"""The trade record every part of the project passes around."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple, Protocol


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


class StorableTrade(Protocol):
    """What the store needs of a trade to write it: an AggTrade or a TradeRow."""

    @property
    def agg_id(self) -> int: ...

    @property
    def time_ms(self) -> int: ...

    @property
    def is_buyer_maker(self) -> bool: ...

    def to_row(self) -> list | TradeRow: ...


class TradeRow(NamedTuple):
    """One trade as the recorder carries it from the frame to the store: already the v1
    on-disk row ``[price_text, qty_text, T_ms, agg_id, is_buyer_maker]``.

    The exchange's decimal strings travel as they are (as ``decimal_text`` of their
    Decimal would give them back), so nothing builds a Decimal per trade only for the
    store to format it back into the same text; ``price`` and ``qty`` build one when
    asked. Anything that takes an AggTrade's ``agg_id``, ``time_ms``, ``is_buyer_maker``
    and ``to_row()`` takes a TradeRow.
    """

    price_text: str
    qty_text: str
    time_ms: int
    agg_id: int
    is_buyer_maker: bool

    @property
    def price(self) -> Decimal:
        return Decimal(self.price_text)

    @property
    def qty(self) -> Decimal:
        return Decimal(self.qty_text)

    def to_row(self) -> TradeRow:
        """The v1 on-disk row (this very tuple: MessagePack writes it as an array)."""
        return self

    def to_trade(self) -> AggTrade:
        return AggTrade(self.agg_id, self.price, self.qty, self.time_ms, self.is_buyer_maker)

    @classmethod
    def of(cls, trade: AggTrade) -> TradeRow:
        return cls(
            decimal_text(trade.price),
            decimal_text(trade.qty),
            trade.time_ms,
            trade.agg_id,
            trade.is_buyer_maker,
        )
