"""Binance's markets: where each one's market data lives, and the limits it enforces.

One table, ``MARKETS``, holds a ``Market`` per market the recorder can follow: spot, USD-M
futures (``usdm``) and COIN-M futures (``coinm``). The recorder, the backfill, the REST
client and the fake exchange all read URLs, paths, weights and limits from it, so a
market is one entry here, not edits in nine files. The figures are Binance's published
ones (spot "General WebSocket Streams information" and "LIMITS"; the futures "Websocket
Market Streams" and market-data endpoint pages).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Market:
    """One Binance market: its hosts, REST paths, request weights and limits."""

    name: str  # spot | usdm | coinm: the --market value, and what a database records
    title: str
    ws_url: str  # the part before /ws/... or /stream?...
    rest_url: str  # the part before the REST prefix
    rest_prefix: str  # /api/v3, /fapi/v1, /dapi/v1
    # REST request weight: the per-minute budget of an IP, and what each call costs.
    weight_per_minute: int
    agg_trades_weight: int
    exchange_info_weight: int
    agg_trades_page: int  # rows per aggTrades page (the maximum ``limit``)
    # WebSocket limits, per connection and per IP.
    max_streams_per_connection: int
    # Incoming messages per second on one connection; pings, pongs and JSON control
    # messages (SUBSCRIBE, UNSUBSCRIBE, ...) all count. Beyond it the connection is cut.
    control_messages_per_second: int
    max_connects_per_window: int  # new connections per IP per connect_window_s
    connect_window_s: float
    ping_interval_s: float  # the server pings this often ...
    pong_timeout_s: float  # ... and drops a client that has not ponged for this long
    # The exchangeInfo field holding a symbol's status (COIN-M calls it contractStatus).
    status_field: str
    # Whether the aggTrade event carries the deprecated "M" (best match) flag.
    event_has_best_match: bool
    # A symbol's status once it no longer trades (how the fake exchange delists).
    delisted_status: str
    # What the recorder records when no symbols are given.
    default_symbols: tuple[str, ...]

    @property
    def agg_trades_path(self) -> str:
        return f"{self.rest_prefix}/aggTrades"

    @property
    def exchange_info_path(self) -> str:
        return f"{self.rest_prefix}/exchangeInfo"

    @property
    def ping_path(self) -> str:
        return f"{self.rest_prefix}/ping"

    @property
    def time_path(self) -> str:
        return f"{self.rest_prefix}/time"

    @property
    def weights(self) -> dict[str, int]:
        """Request weight by REST path."""
        return {
            self.agg_trades_path: self.agg_trades_weight,
            self.exchange_info_path: self.exchange_info_weight,
            self.ping_path: 1,
            self.time_path: 1,
        }

    @property
    def control_interval_s(self) -> float:
        """The spacing between two control messages on one connection that stays under
        the per-second limit with room for the pong the server's ping asks for."""
        return 1.0 / max(self.control_messages_per_second - 1, 1)


SPOT = Market(
    name="spot",
    title="Binance spot",
    ws_url="wss://stream.binance.com:9443",
    rest_url="https://api.binance.com",
    rest_prefix="/api/v3",
    weight_per_minute=6000,
    agg_trades_weight=4,
    exchange_info_weight=20,
    agg_trades_page=1000,
    max_streams_per_connection=1024,
    control_messages_per_second=5,
    max_connects_per_window=300,
    connect_window_s=300.0,
    ping_interval_s=20.0,
    pong_timeout_s=60.0,
    status_field="status",
    event_has_best_match=True,
    delisted_status="BREAK",
    default_symbols=("BTCUSDT", "ETHUSDT"),
)

# USD-M futures: aggTrade is "regular market data", served under /market since Binance
# split its futures WebSocket hosts (the bare host is retired).
USDM = Market(
    name="usdm",
    title="Binance USD-M futures",
    ws_url="wss://fstream.binance.com/market",
    rest_url="https://fapi.binance.com",
    rest_prefix="/fapi/v1",
    weight_per_minute=2400,
    agg_trades_weight=20,
    exchange_info_weight=1,
    agg_trades_page=1000,
    max_streams_per_connection=1024,
    control_messages_per_second=10,
    max_connects_per_window=300,
    connect_window_s=300.0,
    ping_interval_s=180.0,
    pong_timeout_s=600.0,
    status_field="status",
    event_has_best_match=False,
    delisted_status="SETTLING",
    default_symbols=("BTCUSDT", "ETHUSDT"),
)

COINM = Market(
    name="coinm",
    title="Binance COIN-M futures",
    ws_url="wss://dstream.binance.com",
    rest_url="https://dapi.binance.com",
    rest_prefix="/dapi/v1",
    weight_per_minute=2400,
    agg_trades_weight=20,
    exchange_info_weight=1,
    agg_trades_page=1000,
    max_streams_per_connection=1024,
    control_messages_per_second=10,
    max_connects_per_window=300,
    connect_window_s=300.0,
    ping_interval_s=180.0,
    pong_timeout_s=600.0,
    status_field="contractStatus",
    event_has_best_match=False,
    delisted_status="SETTLING",
    default_symbols=("BTCUSD_PERP", "ETHUSD_PERP"),
)

MARKETS: dict[str, Market] = {m.name: m for m in (SPOT, USDM, COINM)}
DEFAULT_MARKET = SPOT.name


def market(name: str) -> Market:
    """The market called ``name`` (spot, usdm or coinm); ValueError naming the choices."""
    try:
        return MARKETS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown market {name!r}: expected one of {', '.join(MARKETS)}") from None


# The spot figures under their historical names (the defaults everywhere).
DEFAULT_WS_URL = SPOT.ws_url
DEFAULT_REST_URL = SPOT.rest_url
AGG_TRADES_PATH = SPOT.agg_trades_path
AGG_TRADES_WEIGHT = SPOT.agg_trades_weight
AGG_TRADES_PAGE = SPOT.agg_trades_page
WEIGHT_PER_MINUTE = SPOT.weight_per_minute
# The largest stream count any market allows on one connection.
MAX_STREAMS_PER_CONNECTION = max(m.max_streams_per_connection for m in MARKETS.values())
MAX_CONNECTS_PER_WINDOW = SPOT.max_connects_per_window
CONNECT_WINDOW_S = SPOT.connect_window_s
# The trading status of a symbol in exchangeInfo.
TRADING = "TRADING"
# HTTP statuses of a rate limit (429) and of the IP ban that follows ignoring it (418);
# both carry a Retry-After header, REST answers and WebSocket handshake rejections alike.
RATE_LIMIT_STATUSES = frozenset({418, 429})
