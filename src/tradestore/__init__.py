"""tradestore: record Binance spot aggTrade streams into RocksDB and query them fast."""

from tradestore._errors import (
    BadInput,
    CorruptValue,
    FixedPointError,
    InvalidMessage,
    TradestoreError,
)
from tradestore._model import AggTrade
from tradestore.codec._twins import EXTENSIONS_LOADED, parse_agg_trade
from tradestore.store import Gap, StoreError, TradeColumns, TradeStore

__version__ = "0.2.0.dev0"  # the only place the version is written (pyproject reads it)

__all__ = [
    "BadInput",
    "EXTENSIONS_LOADED",
    "AggTrade",
    "CorruptValue",
    "FixedPointError",
    "Gap",
    "InvalidMessage",
    "StoreError",
    "TradeColumns",
    "TradeStore",
    "TradestoreError",
    "parse_agg_trade",
]
