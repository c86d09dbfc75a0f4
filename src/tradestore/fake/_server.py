"""open_fake_exchange / serve_fake_exchange: bind, serve and generate in one nursery."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio
from hypercorn.trio import serve

from tradestore.fake._app import FakeExchangeApp
from tradestore.fake._config import FakeExchangeConfig
from tradestore.fake._exchange import FakeExchange
from tradestore.fake._wsstream import FakeHypercornConfig, install

log = logging.getLogger(__name__)


def _hypercorn_config(config: FakeExchangeConfig, exchange: FakeExchange) -> FakeHypercornConfig:
    hc = FakeHypercornConfig()
    host = f"[{config.host}]" if ":" in config.host else config.host
    hc.bind = [f"{host}:{config.port}"]
    hc.accesslog = None
    hc.errorlog = logging.getLogger("tradestore.fake.hypercorn")
    hc.graceful_timeout = 0.5
    hc.websocket_ping_interval = None  # the keepalive stream sends its own pings
    hc.fake_ping_interval = config.ping_interval
    hc.fake_pong_timeout = config.pong_timeout
    hc.fake_on_keepalive = exchange.count_keepalive
    return hc


@asynccontextmanager
async def open_fake_exchange(config: FakeExchangeConfig) -> AsyncIterator[FakeExchange]:
    """Serve the fake exchange for the body of the ``async with``; yields the exchange
    once its socket is bound (``.port``, ``.ws_url``, ``.rest_url`` are set)."""
    async with trio.open_nursery() as nursery:
        exchange = await nursery.start(serve_fake_exchange, config)
        try:
            yield exchange
        finally:
            nursery.cancel_scope.cancel()


async def serve_fake_exchange(
    config: FakeExchangeConfig, *, task_status=trio.TASK_STATUS_IGNORED
) -> None:
    """Run the fake exchange until cancelled; ``task_status.started(exchange)`` once bound."""
    install()
    exchange = FakeExchange(config)
    try:
        async with trio.open_nursery() as nursery:
            binds = await nursery.start(
                serve, FakeExchangeApp(exchange), _hypercorn_config(config, exchange)
            )
            exchange.port = int(binds[0].rsplit(":", 1)[1])
            await nursery.start(exchange.serve_generators)
            log.info("fake exchange listening on %s", exchange.ws_url)
            task_status.started(exchange)
    finally:
        exchange.close()
