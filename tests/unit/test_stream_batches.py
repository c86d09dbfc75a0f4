"""The reader's batched hand-off: a real server on 127.0.0.1 sends a burst, and the frames
reach the dispatcher's channel complete, in order, and in far fewer batches than frames
(each batch is what one socket read brought, at most READ_BATCH)."""

from __future__ import annotations

from functools import partial

import trio
import trio_websocket

from tests.helpers import wait_for
from tradestore.binance import StreamSpec
from tradestore.recorder import RecorderConfig
from tradestore.recorder._backoff import ConnectionBudget
from tradestore.recorder._stream import (
    MAX_MESSAGE_BYTES,
    READ_BATCH,
    RECEIVE_BUFFER_BYTES,
    Connection,
    Handles,
    Session,
    _read,
)
from tradestore.recorder._wsconn import connect

BURST = 2000


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
    await _burst_through_the_reader(_no_write)


async def test_the_reader_reads_nothing_while_a_write_goes_first():
    """Before each read the reader awaits ``write_first``: while it holds, no batch."""
    writing = trio.Event()
    written = trio.Event()
    waits: list[int] = []

    async def write_first() -> None:
        waits.append(1)
        if len(waits) == 2:  # the write starts after the first batch
            writing.set()
            await written.wait()

    async def release_once_quiet(session: Session) -> None:
        await writing.wait()
        read = session.frames
        for _ in range(20):
            await trio.lowlevel.checkpoint()  # every other task runs meanwhile
        assert session.frames == read  # nothing read while the write went first
        written.set()

    await _burst_through_the_reader(write_first, release_once_quiet)


async def _no_write() -> None:
    pass


async def _burst_through_the_reader(write_first, beside=None) -> None:
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
            handles = Handles(
                nursery, send, ConnectionBudget(10, 1.0), lambda *a: None, None, write_first
            )
            session = Session(conn, handles)
            # The client as the recorder sizes it; the reader starts once the whole burst
            # is on its way, so frames are waiting when it looks.
            async with await trio.open_tcp_stream("127.0.0.1", server.port) as stream:
                ws = await connect(
                    stream,
                    f"127.0.0.1:{server.port}",
                    "/",
                    max_message_bytes=MAX_MESSAGE_BYTES,
                    receive_bytes=RECEIVE_BUFFER_BYTES,
                    max_batch=READ_BATCH,
                )
                await sent.wait()

                def all_there() -> bool:
                    while True:
                        try:
                            batches.append(receive.receive_nowait()[1])
                        except trio.WouldBlock:
                            return sum(map(len, batches)) >= BURST

                async with trio.open_nursery() as reader:
                    reader.start_soon(_read, ws, send, session)
                    if beside is not None:
                        reader.start_soon(beside, session)
                    await wait_for(all_there)
                    reader.cancel_scope.cancel()
                await ws.close()
            nursery.cancel_scope.cancel()
    assert [f for batch in batches for f in batch] == [f"frame {i}" for i in range(BURST)]
    assert session.frames == conn.counters.frames == BURST
    assert len(batches) < BURST / 4  # whole socket reads, not one frame at a time
    assert max(map(len, batches)) <= READ_BATCH
