"""The fake exchange without loopback TCP, for tests on the autojump clock.

The mock clock jumps as soon as every task waits. Loopback TCP may hand bytes over later,
from the kernel's softirq thread on a busy machine, so a jump could land while a frame is
in flight. A Unix socket queues the bytes at the reader within the send call, and the
ASGI app can be called with no socket at all.
"""

from __future__ import annotations

import os
import socket
import tempfile
from contextlib import asynccontextmanager

import httpx
import trio

from tradestore.fake import FakeExchange, FakeExchangeConfig
from tradestore.fake import _server as fake_server
from tradestore.fake._app import FakeExchangeApp


@asynccontextmanager
async def open_on_unix_socket(config: FakeExchangeConfig):
    """The fake exchange served on a Unix socket (``fx.unix_path``); ``connect`` in
    tests/e2e/test_fake_exchange.py dials it."""
    with tempfile.TemporaryDirectory(prefix="fx") as folder:
        path = os.path.join(folder, "s")  # short: a Unix socket path has 107 bytes at most
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(path)
        sock.listen()
        sock.setblocking(False)
        exchange = FakeExchange(config)
        try:
            with sock:
                async with trio.open_nursery() as nursery:
                    await nursery.start(fake_server._serve, exchange, sock)
                    exchange.unix_path = path
                    try:
                        yield exchange
                    finally:
                        nursery.cancel_scope.cancel()
        finally:
            exchange.close()


def asgi_transport(fx: FakeExchange) -> httpx.ASGITransport:
    """An httpx transport calling the fake's ASGI app (REST) directly, with no socket."""
    return httpx.ASGITransport(app=FakeExchangeApp(fx))


def rest_in_memory(fx: FakeExchange) -> httpx.AsyncClient:
    """An HTTP client for the fake's REST API over ``asgi_transport``."""
    return httpx.AsyncClient(transport=asgi_transport(fx), base_url="http://fake-exchange")
