"""Everything Binance-specific: endpoints and limits, stream names and the connection
plan, the REST client with its weight and 429/418 handling, gap backfill over REST, and
the data.binance.vision CSV reader. Nothing here knows about the recorder or the CLI."""

from tradestore.binance._backfill import (
    FillResult,
    backfill_range,
    bound_gap,
    fill_gap,
    fill_gaps,
    row_trade,
)
from tradestore.binance._csv import CsvFormatError, open_text, read_trades, verify_checksum
from tradestore.binance._markets import (
    AGG_TRADES_PAGE,
    AGG_TRADES_PATH,
    AGG_TRADES_WEIGHT,
    DEFAULT_REST_URL,
    DEFAULT_WS_URL,
    MAX_STREAMS_PER_CONNECTION,
    RATE_LIMIT_STATUSES,
    WEIGHT_PER_MINUTE,
)
from tradestore.binance._rest import BinanceRest, RestError, RestStats, parse_retry_after
from tradestore.binance._streams import StreamSpec, plan_streams, stream_name

__all__ = [
    "AGG_TRADES_PAGE",
    "AGG_TRADES_PATH",
    "AGG_TRADES_WEIGHT",
    "DEFAULT_REST_URL",
    "DEFAULT_WS_URL",
    "MAX_STREAMS_PER_CONNECTION",
    "RATE_LIMIT_STATUSES",
    "WEIGHT_PER_MINUTE",
    "BinanceRest",
    "CsvFormatError",
    "FillResult",
    "RestError",
    "RestStats",
    "StreamSpec",
    "backfill_range",
    "bound_gap",
    "fill_gap",
    "fill_gaps",
    "open_text",
    "parse_retry_after",
    "plan_streams",
    "read_trades",
    "row_trade",
    "stream_name",
    "verify_checksum",
]
