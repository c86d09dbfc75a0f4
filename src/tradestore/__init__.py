"""tradestore: record Binance spot aggTrade streams into RocksDB and query them fast."""

from tradestore._columns import TradeColumns
from tradestore._compat import EXTENSIONS_LOADED
from tradestore._errors import CorruptValue, FixedPointError, InvalidMessage
from tradestore._gaps import Gap
from tradestore._model import AggTrade
from tradestore._parse import parse_agg_trade
from tradestore._store import StoreError, TradeStore

__version__ = "0.1.0"

__all__ = [
    "EXTENSIONS_LOADED",
    "AggTrade",
    "CorruptValue",
    "FixedPointError",
    "Gap",
    "InvalidMessage",
    "StoreError",
    "TradeColumns",
    "TradeStore",
    "parse_agg_trade",
]
