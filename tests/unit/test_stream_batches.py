"""The reader's batched hand-off relies on two private names of trio-websocket (its message
channel); this fails when a release renames them, instead of the batching silently
turning itself off. A real server on 127.0.0.1 sends a burst: the frames reach the
dispatcher's channel complete, in order, and in far fewer batches than frames."""

from __future__ import annotations

from functools import partial

import trio
import trio_websocket

from tests.helpers import wait_for
from tradestore.binance import StreamSpec
from tradestore.recorder import RecorderConfig
from tradestore.recorder._backoff import ConnectionBudget
from tradestore.recorder._stream import (
    LIBRARY_QUEUE,
    Connection,
    Handles,
    Session,
    _batch_library_reader,
    _read,
)

BURST = 2000


async def test_library_channel_names_are_there():
    send, receive = trio.open_memory_channel(1)
    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            partial(trio_websocket.serve_websocket, _idle, "127.0.0.1", 0, ssl_context=None)
        )
        async with trio_websocket.open_websocket(
            "127.0.0.1", server.port, "/", use_ssl=False
        ) as ws:
            assert isinstance(ws._send_channel, trio.MemorySendChannel)
            assert isinstance(ws._recv_channel, trio.MemoryReceiveChannel)
            assert _batch_library_reader(ws)
        nursery.cancel_scope.cancel()
    send.close()
    receive.close()


async def _idle(request: trio_websocket.WebSocketRequest) -> None:
    ws = await request.accept()
    try:
        await ws.get_message()
    except trio_websocket.ConnectionClosed:
        pass


async def _burst(sent: trio.Event, request: trio_websocket.WebSocketRequest) -> None:
    ws = await request.accept()
    for i in range(BURST):
        await ws.send_message(f"frame {i}")
    sent.set()
    try:
        await ws.get_message()
    except trio_websocket.ConnectionClosed:
        pass


async def test_a_burst_crosses_in_batches_complete_and_in_order():
    config = RecorderConfig(symbols=("BTCUSDT",))
    conn = Connection(StreamSpec("stream-0", ("BTCUSDT",), "ws://127.0.0.1:1/x"), config)
    send, receive = trio.open_memory_channel(10_000)
    batches: list[list[str]] = []
    sent = trio.Event()
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                partial(
                    trio_websocket.serve_websocket,
                    partial(_burst, sent),
                    "127.0.0.1",
                    0,
                    ssl_context=None,
                )
            )
            handles = Handles(nursery, send, ConnectionBudget(10, 1.0), lambda *a: None, None)
            session = Session(conn, handles)
            # The library's queue as the recorder sizes it; the reader starts once the
            # whole burst is on its way, so frames are waiting when it looks.
            async with trio_websocket.open_websocket(
                "127.0.0.1", server.port, "/", use_ssl=False, message_queue_size=LIBRARY_QUEUE
            ) as ws:
                await sent.wait()

                def all_there() -> bool:
                    while True:
                        try:
                            batches.append(receive.receive_nowait()[1])
                        except trio.WouldBlock:
                            return sum(map(len, batches)) >= BURST

                async with trio.open_nursery() as reader:
                    reader.start_soon(_read, ws, send, session)
                    await wait_for(all_there)
                    reader.cancel_scope.cancel()
            nursery.cancel_scope.cancel()
    assert [f for batch in batches for f in batch] == [f"frame {i}" for i in range(BURST)]
    assert session.frames == conn.counters.frames == BURST
    assert len(batches) < BURST / 4  # whole socket reads, not one frame at a time
