"""The recorder's WebSocket client (``recorder/_wsconn.py``) against a real server on
127.0.0.1: a small wsproto server scripted per test, so it can do what a stock server
library will not (fragment a message, ping, close with any code, vanish)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

import pytest
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)

from tradestore.recorder._wsconn import (
    ConnectionClosed,
    ConnectionRejected,
    HandshakeError,
    WebSocketClient,
    connect,
)

pytestmark = pytest.mark.timeout(30)
LIMIT = 10_000  # the client's max_message_bytes in these tests


class Peer:
    """The server's end of one connection: wsproto over the accepted TCP stream."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.ws = WSConnection(ConnectionType.SERVER)
        self.request: Request | None = None
        self._pending: list[Event] = []

    async def next_event(self) -> Event | None:
        """The client's next event; None once its stream ended."""
        while not self._pending:
            data = await self.stream.receive_some(65536)
            if not data:
                return None
            self.ws.receive_data(data)
            self._pending.extend(self.ws.events())
        return self._pending.pop(0)

    async def accept(self) -> None:
        event = await self.next_event()
        assert isinstance(event, Request)
        self.request = event
        await self.send(AcceptConnection())

    async def send(self, *events: Event) -> None:
        """All the events' bytes in one write (so the client reads them together)."""
        await self.stream.send_all(b"".join(self.ws.send(e) for e in events))

    async def until(self, kind: type[Event]) -> Event:
        while True:
            event = await self.next_event()
            assert event is not None, f"the client hung up before sending {kind.__name__}"
            if isinstance(event, kind):
                return event


Script = Callable[[Peer], Awaitable[None]]


async def _serve(script: Script, stream: trio.SocketStream) -> None:
    async with stream:
        try:
            await script(Peer(stream))
        except trio.BrokenResourceError:
            pass


async def open_client(
    nursery: trio.Nursery, script: Script, *, max_batch: int = 1000, resource: str = "/"
) -> tuple[WebSocketClient, trio.SocketStream]:
    listeners = await nursery.start(
        partial(trio.serve_tcp, partial(_serve, script), 0, host="127.0.0.1")
    )
    port = listeners[0].socket.getsockname()[1]
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    try:
        ws = await connect(
            stream,
            f"127.0.0.1:{port}",
            resource,
            max_message_bytes=LIMIT,
            receive_bytes=65536,
            max_batch=max_batch,
        )
    except BaseException:
        await stream.aclose()
        raise
    return ws, stream


async def receive_until_closed(ws: WebSocketClient) -> tuple[list[str | bytes], ConnectionClosed]:
    """Every message the client hands over, then the ConnectionClosed that ends them."""
    received: list[str | bytes] = []
    with pytest.raises(ConnectionClosed) as info:
        while True:
            received += await ws.receive_batch()
    return received, info.value


async def test_handshake_asks_for_the_resource_and_host():
    seen: list[Request] = []

    async def script(peer: Peer) -> None:
        await peer.accept()
        assert peer.request is not None
        seen.append(peer.request)
        await peer.send(TextMessage("hello"))
        await peer.until(CloseConnection)

    async with trio.open_nursery() as nursery:
        ws, stream = await open_client(nursery, script, resource="/stream?streams=a@aggTrade")
        assert await ws.receive_batch() == ["hello"]
        await ws.close()
        await stream.aclose()
        nursery.cancel_scope.cancel()
    assert seen[0].target == "/stream?streams=a@aggTrade"
    assert seen[0].host.startswith("127.0.0.1:")
    assert seen[0].extensions == []  # no compression is asked for


async def test_one_read_is_one_batch_in_order_fragments_joined():
    async def script(peer: Peer) -> None:
        await peer.accept()
        # One write: plain messages, a text message in three frames with a ping between
        # two of them, and a binary message in two frames.
        await peer.send(
            TextMessage("m0"),
            TextMessage("m1"),
            TextMessage("frag", message_finished=False),
            TextMessage("men", message_finished=False),
            Ping(b"p1"),
            TextMessage("ted"),
            BytesMessage(b"\x00\x01", message_finished=False),
            BytesMessage(b"\x02"),
            TextMessage("m2"),
        )
        await peer.until(CloseConnection)

    async with trio.open_nursery() as nursery:
        ws, stream = await open_client(nursery, script)
        received: list[str | bytes] = []
        batches = 0
        while len(received) < 5:
            received += await ws.receive_batch()
            batches += 1
        await ws.close()
        await stream.aclose()
        nursery.cancel_scope.cancel()
    assert received == ["m0", "m1", "fragmented", b"\x00\x01\x02", "m2"]
    assert batches <= 2  # one read brings them all, unless the kernel split the write


async def test_a_batch_holds_at_most_max_batch_the_rest_follows_without_a_read():
    async def script(peer: Peer) -> None:
        await peer.accept()
        await peer.send(*(TextMessage(f"m{i}") for i in range(10)))
        await peer.until(CloseConnection)

    async with trio.open_nursery() as nursery:
        ws, stream = await open_client(nursery, script, max_batch=4)
        received: list[str | bytes] = []
        while len(received) < 10:
            batch = await ws.receive_batch()
            assert 1 <= len(batch) <= 4
            received += batch
        await ws.close()
        await stream.aclose()
        nursery.cancel_scope.cancel()
    assert received == [f"m{i}" for i in range(10)]


async def test_pings_are_answered_while_receiving():
    pongs: list[bytes] = []

    async def script(peer: Peer) -> None:
        await peer.accept()
        for payload in (b"one", b"two"):
            await peer.send(Ping(payload))
            pong = await peer.until(Pong)
            assert isinstance(pong, Pong)
            pongs.append(bytes(pong.payload))
        await peer.send(TextMessage("after the pongs"))
        await peer.until(CloseConnection)

    async with trio.open_nursery() as nursery:
        ws, stream = await open_client(nursery, script)
        assert await ws.receive_batch() == ["after the pongs"]
        await ws.close()
        await stream.aclose()
        nursery.cancel_scope.cancel()
    assert pongs == [b"one", b"two"]


async def test_the_peers_close_code_and_reason_after_its_last_messages():
    answered = trio.Event()

    async def script(peer: Peer) -> None:
        await peer.accept()
        await peer.send(TextMessage("last"), CloseConnection(code=4003, reason="going"))
        reply = await peer.until(CloseConnection)
        assert isinstance(reply, CloseConnection) and reply.code == 4003
        answered.set()

    async with trio.open_nursery() as nursery:
        ws, stream = await open_client(nursery, script)
        assert await ws.receive_batch() == ["last"]
        with pytest.raises(ConnectionClosed) as info:
            await ws.receive_batch()
        await answered.wait()  # the closing handshake was answered
        with pytest.raises(ConnectionClosed):
            await ws.send_message("too late")
        await stream.aclose()
        nursery.cancel_scope.cancel()
    reason = info.value.reason
    assert (reason.code, reason.name, reason.reason) == (4003, "PRIVATE_RESERVED", "going")
    assert ws.closed == reason


async def test_our_close_sends_code_and_reason_and_waits_for_the_answer():
    got: list[CloseConnection] = []

    async def script(peer: Peer) -> None:
        await peer.accept()
        await peer.send(TextMessage("x"))
        event = await peer.until(CloseConnection)
        assert isinstance(event, CloseConnection)
        got.append(event)
        await peer.send(TextMessage("still in flight"), event.response())

    async with trio.open_nursery() as nursery:
        ws, stream = await open_client(nursery, script)
        await ws.receive_batch()
        await ws.close(4000, "rotating")
        await stream.aclose()
        nursery.cancel_scope.cancel()
    assert (got[0].code, got[0].reason) == (4000, "rotating")
    assert ws.closed is not None and ws.closed.code == 4000


async def test_text_messages_are_sent_whole():
    got: list[str] = []

    async def script(peer: Peer) -> None:
        await peer.accept()
        for _ in range(2):
            event = await peer.until(TextMessage)
            assert isinstance(event, TextMessage) and event.message_finished
            got.append(event.data)
        await peer.send(TextMessage("ok"))
        await peer.until(CloseConnection)

    async with trio.open_nursery() as nursery:
        ws, stream = await open_client(nursery, script)
        await ws.send_message('{"method":"SUBSCRIBE","params":["a@aggTrade"],"id":1}')
        await ws.send_message("x" * 5000)
        assert await ws.receive_batch() == ["ok"]
        await ws.close()
        await stream.aclose()
        nursery.cancel_scope.cancel()
    assert got == ['{"method":"SUBSCRIBE","params":["a@aggTrade"],"id":1}', "x" * 5000]


async def test_a_server_that_vanishes_is_an_abnormal_close():
    async def script(peer: Peer) -> None:
        await peer.accept()
        await peer.send(TextMessage("before"))
        # Return: the stream closes without a close frame.

    async with trio.open_nursery() as nursery:
        ws, stream = await open_client(nursery, script)
        received, closed = await receive_until_closed(ws)
        await ws.close()  # nothing to answer: returns at once
        await stream.aclose()
        nursery.cancel_scope.cancel()
    assert received == ["before"]
    assert (closed.reason.code, closed.reason.name) == (1006, "ABNORMAL_CLOSURE")


async def test_a_message_over_the_limit_closes_with_1009():
    told: list[int] = []

    async def script(peer: Peer) -> None:
        await peer.accept()
        await peer.send(TextMessage("fits"))
        await peer.send(TextMessage("y" * (LIMIT // 2), message_finished=False))
        await peer.send(TextMessage("y" * LIMIT))
        event = await peer.until(CloseConnection)
        assert isinstance(event, CloseConnection)
        told.append(event.code)

    async with trio.open_nursery() as nursery:
        ws, stream = await open_client(nursery, script)
        received, closed = await receive_until_closed(ws)
        await stream.aclose()
        nursery.cancel_scope.cancel()
    assert received == ["fits"]
    assert closed.reason.code == 1009
    assert told == [1009]


async def test_a_rejected_handshake_names_status_headers_and_body():
    async def script(peer: Peer) -> None:
        await peer.next_event()
        await peer.send(
            RejectConnection(status_code=429, headers=[(b"retry-after", b"7")], has_body=True),
            RejectData(b"slow down"),
        )

    async with trio.open_nursery() as nursery:
        with pytest.raises(ConnectionRejected) as info:
            await open_client(nursery, script)
        nursery.cancel_scope.cancel()
    assert info.value.status_code == 429
    assert (b"retry-after", b"7") in info.value.headers
    assert info.value.body == b"slow down"


async def test_a_server_hanging_up_during_the_handshake():
    async def script(peer: Peer) -> None:
        await peer.next_event()  # the request; then hang up without an answer

    async with trio.open_nursery() as nursery:
        with pytest.raises(HandshakeError, match="closed the connection during the handshake"):
            await open_client(nursery, script)
        nursery.cancel_scope.cancel()
