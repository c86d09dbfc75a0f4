"""A Binance-compatible market-data server on loopback, for tests, the demo and replay.

WebSocket (``/ws/<sym>@aggTrade``, ``/stream?streams=...``, bare ``/ws`` and ``/stream``
with SUBSCRIBE) and REST (``/api/v3/aggTrades``, ``/ping``, ``/time``) on one port, served
by hypercorn's Trio worker. See FakeExchangeConfig for the sources and the faults.
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
