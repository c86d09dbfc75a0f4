"""Validate one aggTrade WebSocket frame (pure-Python twin of src/tradestore/codec/_ext/parse.pyx).

The specification itself (tradestore/codec/_frame.py), with nothing taken as a shortcut.
"""

from __future__ import annotations

from tradestore._model import AggTrade, TradeRow
from tradestore.codec._frame import read_event


def parse_event(frame: str | bytes) -> tuple[str | None, AggTrade]:
    """(symbol field ``s`` or None, AggTrade) of a raw aggTrade event or combined wrapper.

    Raises InvalidMessage (a ValueError) naming the reason for anything else.
    """
    return read_event(frame)


def parse_agg_trade(frame: str | bytes) -> AggTrade:
    """The AggTrade of a raw aggTrade event or combined-stream wrapper (see parse_event)."""
    return read_event(frame)[1]


def parse_row(frame: str | bytes) -> tuple[str | None, TradeRow]:
    """(symbol field ``s`` or None, TradeRow) of a raw aggTrade event or combined wrapper:
    what parse_event gives, with the exact decimal strings instead of Decimals (the
    recorder's path: the store writes those strings as they are)."""
    symbol, trade = read_event(frame)
    return symbol, TradeRow.of(trade)
