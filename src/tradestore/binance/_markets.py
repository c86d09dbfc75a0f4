"""Where Binance's spot market data lives, and the limits it enforces.

One home for every URL, path and limit the recorder, the backfill and the fake exchange
share, so a second market means a second set of these values, not edits in nine files.
"""

from __future__ import annotations

DEFAULT_WS_URL = "wss://stream.binance.com:9443"  # the part before /ws/... or /stream?...
DEFAULT_REST_URL = "https://api.binance.com"  # the part before /api/v3/...

AGG_TRADES_PATH = "/api/v3/aggTrades"
# Streams one WebSocket connection may carry.
MAX_STREAMS_PER_CONNECTION = 1024
# Connection attempts one IP may make in CONNECT_WINDOW_S before Binance bans it.
MAX_CONNECTS_PER_WINDOW = 300
CONNECT_WINDOW_S = 300.0
# REST request weight per minute, and what one aggTrades page costs.
WEIGHT_PER_MINUTE = 6000
AGG_TRADES_WEIGHT = 4
AGG_TRADES_PAGE = 1000
# HTTP statuses of a rate limit (429) and of the IP ban that follows ignoring it (418);
# both carry a Retry-After header, REST answers and WebSocket handshake rejections alike.
RATE_LIMIT_STATUSES = frozenset({418, 429})
