"""Validate one aggTrade WebSocket frame (pure-Python twin of ext/parse.pyx).

The specification itself (tradestore/_frame.py), with nothing taken as a shortcut.
"""

from __future__ import annotations

from tradestore._frame import read_event
from tradestore._model import AggTrade


def parse_event(frame: str | bytes) -> tuple[str | None, AggTrade]:
    """(symbol field ``s`` or None, AggTrade) of a raw aggTrade event or combined wrapper.

    Raises InvalidMessage (a ValueError) naming the reason for anything else.
    """
    return read_event(frame)


def parse_agg_trade(frame: str | bytes) -> AggTrade:
    """The AggTrade of a raw aggTrade event or combined-stream wrapper (see parse_event)."""
    return read_event(frame)[1]
