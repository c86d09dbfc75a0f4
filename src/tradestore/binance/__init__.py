"""Everything Binance-specific: the markets (endpoints and limits), the symbols of
exchangeInfo, stream names and the connection plan, the REST client with its weight and
429/418 handling, gap backfill over REST, and the data.binance.vision CSV reader. Nothing
here knows about the recorder or the CLI."""

from tradestore.binance._backfill import FillResult, backfill_range, fill_gap, row_trade
from tradestore.binance._csv import CsvFormatError, open_text, read_trades, verify_checksum
from tradestore.binance._exchange_info import (
    ExchangeInfoError,
    SymbolInfo,
    parse_symbols,
    select_symbols,
)
from tradestore.binance._markets import (
    AGG_TRADES_PAGE,
    AGG_TRADES_PATH,
    AGG_TRADES_WEIGHT,
    COINM,
    DEFAULT_MARKET,
    DEFAULT_REST_URL,
    DEFAULT_WS_URL,
    MARKETS,
    MAX_STREAMS_PER_CONNECTION,
    RATE_LIMIT_STATUSES,
    SPOT,
    TRADING,
    USDM,
    WEIGHT_PER_MINUTE,
    Market,
    market,
)
from tradestore.binance._rest import BinanceRest, RestError, RestStats, parse_retry_after
from tradestore.binance._streams import (
    MAX_STREAMS_PER_CONTROL_MESSAGE,
    SUBSCRIBE,
    UNSUBSCRIBE,
    ControlReply,
    StreamSpec,
    combined_url,
    control_message,
    parse_control_reply,
    plan_streams,
    stream_name,
)

__all__ = [
    "AGG_TRADES_PAGE",
    "AGG_TRADES_PATH",
    "AGG_TRADES_WEIGHT",
    "COINM",
    "DEFAULT_MARKET",
    "DEFAULT_REST_URL",
    "DEFAULT_WS_URL",
    "MARKETS",
    "MAX_STREAMS_PER_CONNECTION",
    "MAX_STREAMS_PER_CONTROL_MESSAGE",
    "RATE_LIMIT_STATUSES",
    "SPOT",
    "SUBSCRIBE",
    "TRADING",
    "UNSUBSCRIBE",
    "USDM",
    "WEIGHT_PER_MINUTE",
    "BinanceRest",
    "ControlReply",
    "CsvFormatError",
    "ExchangeInfoError",
    "FillResult",
    "Market",
    "RestError",
    "RestStats",
    "StreamSpec",
    "SymbolInfo",
    "backfill_range",
    "combined_url",
    "control_message",
    "fill_gap",
    "market",
    "open_text",
    "parse_control_reply",
    "parse_retry_after",
    "parse_symbols",
    "plan_streams",
    "read_trades",
    "row_trade",
    "select_symbols",
    "stream_name",
    "verify_checksum",
]
