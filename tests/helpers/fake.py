"""The fake exchange without loopback TCP, for tests on the autojump clock.

The mock clock jumps as soon as every task waits. Loopback TCP may hand bytes over later,
from the kernel's softirq thread on a busy machine, so a jump could land while a frame is
in flight. A Unix socket queues the bytes at the reader within the send call, and the
REST answers can be had with no socket at all.
"""

from __future__ import annotations

import os
import socket
import tempfile
from contextlib import asynccontextmanager

import httpx
import trio

from tradestore.fake import FakeExchange, FakeExchangeConfig
from tradestore.fake._rest import RestApi
from tradestore.fake._server import serve_on_socket


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
                    await nursery.start(serve_on_socket, exchange, sock)
                    exchange.unix_path = path
                    try:
                        yield exchange
                    finally:
                        nursery.cancel_scope.cancel()
        finally:
            exchange.close()


def rest_transport(fx: FakeExchange) -> httpx.MockTransport:
    """An httpx transport that asks the fake's REST API directly, with no socket: the
    answers the server would send for the same requests."""
    rest = RestApi(fx)

    def answer(request: httpx.Request) -> httpx.Response:
        response = rest.respond(request.method, request.url.raw_path.decode("ascii"))
        body = b"" if request.method == "HEAD" else response.body
        return httpx.Response(response.status, headers=response.headers, content=body)

    return httpx.MockTransport(answer)


def rest_in_memory(fx: FakeExchange) -> httpx.AsyncClient:
    """An HTTP client for the fake's REST API over ``rest_transport``."""
    return httpx.AsyncClient(transport=rest_transport(fx), base_url="http://fake-exchange")
