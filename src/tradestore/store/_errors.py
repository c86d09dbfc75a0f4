"""The store's errors, low in the package so every store module can raise them."""

from __future__ import annotations

from tradestore._errors import BadInput, TradestoreError


class StoreError(TradestoreError, RuntimeError):
    """The DB could not be opened or written."""


class MarketMismatch(BadInput, StoreError):
    """A database asked to take trades of a market other than the one it holds."""
