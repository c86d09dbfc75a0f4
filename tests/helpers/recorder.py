"""Scripted aggTrade WebSocket servers for the recorder tests, on 127.0.0.1 or in memory.

On the real clock a ``MiniExchange`` listens on a loopback port. On the autojump clock it
must not: the mock clock jumps as soon as every task is blocked, and a task waiting for
the kernel to hand over loopback bytes, or for a worker thread, counts as blocked, so
virtual time would move while data is in flight. ``MemoryNetwork`` replaces both there.
"""

from __future__ import annotations

import errno
import json
import time
from collections.abc import Awaitable, Callable
from functools import partial

import trio
import trio.testing
import trio_websocket

# Recent trade times, so the recorder's retention pruning never touches test data.
BASE_MS = (int(time.time()) // 3600 - 1) * 3_600_000


def agg_event(symbol: str, agg_id: int, time_ms: int | None = None, **overrides) -> dict:
    time_ms = BASE_MS + agg_id if time_ms is None else time_ms
    event = {
        "e": "aggTrade",
        "E": time_ms + 1,
        "s": symbol,
        "a": agg_id,
        "p": f"{100 + agg_id % 50}.{agg_id % 100:02d}",
        "q": f"0.{agg_id % 997 + 1:03d}",
        "f": agg_id * 2,
        "l": agg_id * 2 + 1,
        "T": time_ms,
        "m": agg_id % 3 == 0,
        "M": True,
    }
    event.update(overrides)
    return event


def combined(event: dict, stream: str | None = None) -> str:
    stream = stream or f"{str(event.get('s', 'x')).lower()}@aggTrade"
    return json.dumps({"stream": stream, "data": event})


async def run_sync_inline(fn, *args, **_options):
    """``trio.to_thread.run_sync`` without the thread: on the autojump clock a worker
    thread's real time would let virtual time jump, so the call blocks the loop instead
    (the daemon's threads are exercised by the real-clock tests)."""
    await trio.lowlevel.checkpoint()
    return fn(*args)


class MemoryNetwork:
    """``trio.open_tcp_stream`` to a listener in this process over in-memory streams: with
    no kernel in between, the autojump clock moves only when the whole test waits on a
    timer. (The daemon's sockets are exercised by the real-clock tests.)"""

    def __init__(self) -> None:
        self._listeners: dict[int, tuple[trio.Nursery, Callable]] = {}
        self._next_port = 40_000

    def listen(self, nursery: trio.Nursery, serve_stream: Callable) -> int:
        """A port whose connections run ``serve_stream(stream)`` in nursery."""
        port = self._next_port
        self._next_port += 1
        self._listeners[port] = (nursery, serve_stream)
        return port

    async def open_tcp_stream(self, host: str, port: int, **_options) -> trio.abc.Stream:
        await trio.lowlevel.checkpoint()
        if host not in ("127.0.0.1", "localhost") or port not in self._listeners:
            raise OSError(errno.ECONNREFUSED, f"nothing listens on {host}:{port} (in memory)")
        nursery, serve_stream = self._listeners[port]
        client, server = trio.testing.memory_stream_pair()
        nursery.start_soon(serve_stream, server)
        return client


Handler = Callable[[trio_websocket.WebSocketConnection, int], Awaitable[None]]


class MiniExchange:
    """Runs ``handler(ws, index)`` for each accepted connection; records what happened.

    With ``reject=(status, headers, body)`` every handshake is refused that way instead."""

    def __init__(self, handler: Handler | None = None, *, reject: tuple | None = None) -> None:
        self.handler = handler
        self.reject = reject
        self.accepted: list[tuple[float, str]] = []  # (trio time, path) per connection
        self.rejected: list[float] = []  # trio time of each refused handshake
        self.url = ""

    async def start(self, nursery: trio.Nursery, network: MemoryNetwork | None = None):
        if network is not None:
            port = network.listen(nursery, self._serve_memory_stream)
        else:
            server = await nursery.start(
                partial(
                    trio_websocket.serve_websocket, self._handle, "127.0.0.1", 0, ssl_context=None
                )
            )
            port = server.port
        self.url = f"ws://127.0.0.1:{port}"
        return self

    async def _serve_memory_stream(self, stream: trio.abc.Stream) -> None:
        # What trio_websocket.WebSocketServer does for each accepted TCP stream.
        async with stream, trio.open_nursery() as nursery:
            request = await trio_websocket.wrap_server_stream(nursery, stream)
            try:
                await self._handle(request)
            finally:
                with trio.move_on_after(1, shield=True):
                    await request._connection.aclose()
                nursery.cancel_scope.cancel()

    async def _handle(self, request: trio_websocket.WebSocketRequest) -> None:
        if self.reject is not None:
            self.rejected.append(trio.current_time())
            status, headers, body = self.reject
            await request.reject(status, extra_headers=headers, body=body)
            return
        index = len(self.accepted)
        self.accepted.append((trio.current_time(), request.path))
        ws = await request.accept()
        try:
            await self.handler(ws, index)
        except trio_websocket.ConnectionClosed:
            pass
