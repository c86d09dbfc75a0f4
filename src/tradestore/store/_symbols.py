"""Whether a symbol is known to the store: the one answer every read surface gives.

A symbol is known once any trade of it was stored, even if every trade has since been
pruned away (its bookkeeping keeps the highest agg id ever stored), and a window of it
with no trades is an answer about the record, not a mistake. A symbol never stored is
a mistake (a typo, most likely): the command line exits 2, the HTTP API answers 404 and
MCP a tool error, all with the text of ``UnknownSymbol``.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from tradestore._errors import BadInput
from tradestore.store._keys import check_symbol

if TYPE_CHECKING:
    from tradestore.store._store import TradeStore

# The "(stored: ...)" part of the message names at most this many symbols.
LISTED = 10


class UnknownSymbol(BadInput, LookupError):
    """No trade of ``symbol`` was ever stored; ``stored`` are the symbols that are."""

    def __init__(self, symbol: str, stored: list[str]) -> None:
        self.symbol = symbol
        self.stored = stored
        super().__init__(unknown_symbol_text(symbol, stored))


def unknown_symbol_text(symbol: str, stored: list[str]) -> str:
    """``no trades were ever stored for ETHUSDX (stored: BTCUSDT, ETHUSDT; did you mean
    ETHUSDT?)``: the first symbols, then ``…``; a close match when there is one."""
    if not stored:
        return f"no trades were ever stored for {symbol} (the store holds no symbol yet)"
    listed = ", ".join(stored[:LISTED]) + (", …" if len(stored) > LISTED else "")
    close = difflib.get_close_matches(symbol, stored, n=1, cutoff=0.75)
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"no trades were ever stored for {symbol} (stored: {listed}{hint})"


def ever_stored(store: TradeStore, symbol: str) -> bool:
    """Whether any trade of ``symbol`` was ever stored (a few seeks)."""
    symbol = check_symbol(symbol)
    store.refresh()
    # The highest agg id ever stored outlives a prune; a recorded gap is a record too.
    return store.last_agg_id(symbol) is not None or bool(store.gaps(symbol))


def require_symbol(store: TradeStore, symbol: str) -> str:
    """``symbol`` in its normal form, or UnknownSymbol when no trade of it was ever stored."""
    symbol = check_symbol(symbol)
    if not ever_stored(store, symbol):
        raise UnknownSymbol(symbol, store.symbols())
    return symbol
