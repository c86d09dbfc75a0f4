"""A Binance-compatible market-data server on loopback, for tests, the demo and replay.

WebSocket and REST share one port, served by the fake's own layer (``_wire``: h11 and
wsproto on Trio streams)::

    cfg = FakeExchangeConfig(symbols=("BTCUSDT", "ETHUSDT"), rate=10.0, max_trades=500)
    async with open_fake_exchange(cfg) as fx:
        url = f"{fx.ws_url}/stream?streams=btcusdt@aggTrade/ethusdt@aggTrade"
        ...                                  # or /ws/btcusdt@aggTrade, or bare /ws + SUBSCRIBE
        await fx.wait_generated("BTCUSDT", 500)
        fx.log.sent_ids("BTCUSDT")           # what went out over WebSocket, exactly
        fx.log.skipped_ids("BTCUSDT")        # ids that exist (REST has them) but were not sent
        fx.drop_all(); fx.set_silent(True)   # test hooks
        await fx.wait_until(lambda: fx.log.connections_dropped >= 1)

REST: ``GET {fx.rest_url}/api/v3/aggTrades`` (symbol, fromId, startTime, endTime, limit),
``/api/v3/ping``, ``/api/v3/time``, with Binance's errors, ``X-MBX-USED-WEIGHT-1M`` and
429/418 + ``Retry-After``. Trade times follow the Trio clock from ``start_time_ms``, so
tests under ``autojump_clock`` are deterministic. See FakeExchangeConfig for the sources
(synthetic walk, data.binance.vision CSV, an existing store) and the fault switches.
"""

from tradestore.fake._config import FakeExchangeConfig
from tradestore.fake._exchange import FakeExchange
from tradestore.fake._log import SentLog
from tradestore.fake._server import open_fake_exchange, serve_fake_exchange
from tradestore.fake._source import Record

__all__ = [
    "FakeExchange",
    "FakeExchangeConfig",
    "Record",
    "SentLog",
    "open_fake_exchange",
    "serve_fake_exchange",
]
