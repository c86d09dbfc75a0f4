"""Read the symbols of a market from Binance's ``exchangeInfo`` document.

Every market lists its symbols with a status and their base and quote assets; only
``TRADING`` symbols publish trades. COIN-M futures name the status field
``contractStatus``; the ``Market`` says which field to read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tradestore._errors import TradestoreError
from tradestore.binance._markets import TRADING, Market
from tradestore.store import check_symbol


class ExchangeInfoError(TradestoreError, ValueError):
    """An exchangeInfo document that does not have the shape Binance gives it."""


@dataclass(frozen=True, slots=True)
class SymbolInfo:
    """What the recorder needs to know of one listed symbol."""

    symbol: str
    status: str
    base_asset: str
    quote_asset: str

    @property
    def trading(self) -> bool:
        return self.status == TRADING


def parse_symbols(doc: Mapping[str, Any], market: Market) -> list[SymbolInfo]:
    """Every symbol of an exchangeInfo document, in the document's order.

    A symbol whose name the store cannot key (never seen on Binance) is left out rather
    than failing the whole document; a document without a symbols list is an error."""
    rows = doc.get("symbols") if isinstance(doc, Mapping) else None
    if not isinstance(rows, list):
        raise ExchangeInfoError("exchangeInfo has no 'symbols' list")
    infos = []
    for row in rows:
        if not isinstance(row, Mapping):
            raise ExchangeInfoError(f"exchangeInfo symbol entry is not an object: {row!r:.100}")
        name = row.get("symbol")
        status = row.get(market.status_field, row.get("status"))
        base, quote = row.get("baseAsset"), row.get("quoteAsset")
        if not (
            isinstance(name, str)
            and isinstance(status, str)
            and isinstance(base, str)
            and isinstance(quote, str)
        ):
            raise ExchangeInfoError(f"exchangeInfo symbol entry lacks fields: {row!r:.200}")
        try:
            symbol = check_symbol(name)
        except ValueError:
            continue
        infos.append(SymbolInfo(symbol, status, base.upper(), quote.upper()))
    return infos


def select_symbols(infos: Iterable[SymbolInfo], quote: Sequence[str] = ()) -> list[str]:
    """The trading symbols, those quoted in one of ``quote`` if given, sorted by name."""
    wanted = {q.upper() for q in quote}
    return sorted(
        {i.symbol for i in infos if i.trading and (not wanted or i.quote_asset in wanted)}
    )
