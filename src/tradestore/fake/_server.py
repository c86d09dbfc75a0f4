"""open_fake_exchange / serve_fake_exchange: bind, serve and generate in one nursery."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import trio
from hypercorn.config import Sockets
from hypercorn.trio.run import worker_serve
from hypercorn.utils import wrap_app

from tradestore.fake._app import FakeExchangeApp
from tradestore.fake._config import FakeExchangeConfig
from tradestore.fake._exchange import FakeExchange
from tradestore.fake._wsstream import FakeHypercornConfig, install

log = logging.getLogger(__name__)


def _hypercorn_config(config: FakeExchangeConfig, exchange: FakeExchange) -> FakeHypercornConfig:
    hc = FakeHypercornConfig()
    hc.accesslog = None
    hc.errorlog = logging.getLogger("tradestore.fake.hypercorn")
    hc.graceful_timeout = 0.5
    # REST clients keep connections alive between requests (backfill pages); a server that
    # closes them after hypercorn's 5 s races the client's next request on them.
    hc.keep_alive_timeout = 75.0
    hc.websocket_ping_interval = None  # the keepalive stream sends its own pings
    hc.fake_ping_interval = config.ping_interval
    hc.fake_pong_timeout = config.pong_timeout
    hc.fake_on_keepalive = exchange.count_keepalive
    return hc


def _bind(config: FakeExchangeConfig, backlog: int = 100) -> socket.socket:
    """The listening socket, bound here rather than by hypercorn so that a taken port
    fails at once with a plain OSError, and the socket is closed on every path."""
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((config.host, config.port))
        sock.setblocking(False)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


@asynccontextmanager
async def open_fake_exchange(config: FakeExchangeConfig) -> AsyncIterator[FakeExchange]:
    """Serve the fake exchange for the body of the ``async with``; yields the exchange
    once its socket is bound (``.port``, ``.ws_url``, ``.rest_url`` are set).

    Bad settings, sources and a taken port raise plainly, before anything runs."""
    exchange = FakeExchange(config)
    try:
        with _bind(config) as sock:
            async with trio.open_nursery() as nursery:
                await nursery.start(_serve, exchange, sock)
                try:
                    yield exchange
                finally:
                    nursery.cancel_scope.cancel()
    finally:
        exchange.close()


async def serve_fake_exchange(
    config: FakeExchangeConfig, *, task_status=trio.TASK_STATUS_IGNORED
) -> None:
    """Run the fake exchange until cancelled; ``task_status.started(exchange)`` once bound."""
    exchange = FakeExchange(config)
    try:
        with _bind(config) as sock:
            await _serve(exchange, sock, task_status=task_status)
    finally:
        exchange.close()


async def _serve(
    exchange: FakeExchange, sock: socket.socket, *, task_status=trio.TASK_STATUS_IGNORED
) -> None:
    install()
    hc = _hypercorn_config(exchange.config, exchange)
    exchange.port = sock.getsockname()[1]
    app = wrap_app(FakeExchangeApp(exchange), hc.wsgi_max_body_size, "asgi")
    sockets = Sockets(secure_sockets=[], insecure_sockets=[sock], quic_sockets=[])
    async with trio.open_nursery() as nursery:
        await nursery.start(partial(worker_serve, app, hc, sockets=sockets))
        await nursery.start(exchange.serve_generators)
        log.info("fake exchange listening on %s", exchange.ws_url)
        task_status.started(exchange)
