"""open_fake_exchange / serve_fake_exchange: bind, serve and generate in one nursery."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import trio

from tradestore._addr import bind_listener
from tradestore.fake._config import FakeExchangeConfig
from tradestore.fake._exchange import FakeExchange
from tradestore.fake._rest import RestApi
from tradestore.fake._wire import serve_listener
from tradestore.fake._ws import upgrade

log = logging.getLogger(__name__)


@asynccontextmanager
async def open_fake_exchange(config: FakeExchangeConfig) -> AsyncIterator[FakeExchange]:
    """Serve the fake exchange for the body of the ``async with``; yields the exchange
    once its socket is bound (``.port``, ``.ws_url``, ``.rest_url`` are set).

    Bad settings, sources and a taken port raise plainly, before anything runs."""
    exchange = FakeExchange(config)
    try:
        with bind_listener(config.host, config.port) as sock:
            async with trio.open_nursery() as nursery:
                await nursery.start(serve_on_socket, exchange, sock)
                try:
                    yield exchange
                finally:
                    nursery.cancel_scope.cancel()
    finally:
        exchange.close()


async def serve_fake_exchange(
    config: FakeExchangeConfig,
    *,
    task_status: trio.TaskStatus[FakeExchange] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the fake exchange until cancelled; ``task_status.started(exchange)`` once bound."""
    exchange = FakeExchange(config)
    try:
        with bind_listener(config.host, config.port) as sock:
            await serve_on_socket(exchange, sock, task_status=task_status)
    finally:
        exchange.close()


async def serve_on_socket(
    exchange: FakeExchange,
    sock: socket.socket,
    *,
    task_status: trio.TaskStatus[FakeExchange] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``exchange`` (WebSocket and REST) on a bound, listening socket, TCP or Unix,
    and run its generators, until cancelled."""
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        exchange.port = sock.getsockname()[1]
    rest = RestApi(exchange)
    async with trio.open_nursery() as nursery:
        await nursery.start(partial(serve_listener, sock, rest.respond, partial(upgrade, exchange)))
        await nursery.start(exchange.serve_generators)
        log.info("fake exchange listening on %s", exchange.ws_url)
        task_status.started(exchange)
