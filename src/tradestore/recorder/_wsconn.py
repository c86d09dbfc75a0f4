"""A WebSocket client connection on wsproto over a Trio stream, for the recorder.

The recorder needs one thing a general client library does not offer: every message
that one socket read brings in, handed over at once. trio-websocket passes each message
through its own memory channel from a reader task, and under a flood that trip through
the scheduler, once per frame, cost more than parsing and storing the frame. Here there
is no reader task: ``receive_batch()`` reads the socket itself, feeds wsproto (the
sans-IO protocol library trio-websocket is built on) and returns the messages the read
completed, answering the peer's pings on the way. While nobody calls it nothing is
read, so the caller's own bounded queue is the only buffer, and a caller that stops
reading stops answering pings too (as trio-websocket does when its queue is full).

The stream (TCP, or TLS over TCP) belongs to the caller, who opens it before
``connect`` and closes it after ``close`` or any error: this module never closes it.
"""

from __future__ import annotations

from dataclasses import dataclass

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.frame_protocol import CloseReason as CloseCode
from wsproto.utilities import RemoteProtocolError

from tradestore._errors import TradestoreError

ABNORMAL_CLOSURE = CloseCode.ABNORMAL_CLOSURE  # 1006: the stream ended without a close frame
MESSAGE_TOO_BIG = CloseCode.MESSAGE_TOO_BIG  # 1009


@dataclass(frozen=True, slots=True)
class CloseReason:
    """Why a connection closed: the close frame's code and reason (1006 and None when
    the stream ended without one)."""

    code: int
    reason: str | None = None

    @property
    def name(self) -> str:
        """The code's name in RFC 6455 (or the range it falls in)."""
        try:
            return CloseCode(self.code).name
        except ValueError:
            if 1000 <= self.code <= 2999:
                return "RFC_RESERVED"
            if 3000 <= self.code <= 3999:
                return "IANA_RESERVED"
            if 4000 <= self.code <= 4999:
                return "PRIVATE_RESERVED"
            return "INVALID_CODE"


class ConnectionClosed(TradestoreError):
    """The connection is closed (by the peer, by us, or by the network): ``reason``."""

    def __init__(self, reason: CloseReason) -> None:
        super().__init__(reason)
        self.reason = reason


class HandshakeError(TradestoreError):
    """The opening handshake failed (the server hung up, or answered nonsense)."""


class ConnectionRejected(HandshakeError):
    """The server answered the opening handshake with an HTTP status other than 101."""

    def __init__(
        self, status_code: int, headers: tuple[tuple[bytes, bytes], ...], body: bytes | None
    ) -> None:
        super().__init__(status_code, headers, body)
        self.status_code = status_code
        self.headers = headers  # (lower-case name, value) pairs, as the server sent them
        self.body = body


async def connect(
    stream: trio.abc.Stream,
    host: str,
    resource: str,
    *,
    max_message_bytes: int,
    receive_bytes: int,
    max_batch: int,
) -> WebSocketClient:
    """The opening handshake on ``stream`` (``host`` for the Host header, ``resource``
    the path and query); the open connection, or HandshakeError/ConnectionRejected.
    Callers bound it in time (``trio.fail_after``)."""
    ws = WSConnection(ConnectionType.CLIENT)
    await stream.send_all(ws.send(Request(host=host, target=resource)))
    rejected: RejectConnection | None = None
    body = b""
    while True:
        data = await stream.receive_some(receive_bytes)
        try:
            ws.receive_data(bytes(data) if data else None)
            for event in ws.events():
                if isinstance(event, AcceptConnection):
                    # Frames sent right behind the 101 answer wait in wsproto for the
                    # first receive_batch (this loop leaves before asking for them).
                    return WebSocketClient(
                        stream,
                        ws,
                        max_message_bytes=max_message_bytes,
                        receive_bytes=receive_bytes,
                        max_batch=max_batch,
                    )
                if isinstance(event, RejectConnection):
                    rejected = event
                    if not event.has_body:
                        raise ConnectionRejected(event.status_code, tuple(event.headers), None)
                elif isinstance(event, RejectData) and rejected is not None:
                    body += event.data
                    if event.body_finished:
                        raise ConnectionRejected(
                            rejected.status_code, tuple(rejected.headers), body
                        )
        except RemoteProtocolError as exc:
            if data:
                raise HandshakeError(f"bad handshake answer: {exc}") from None
        if not data:  # the end of the stream (h11 calls an answer cut short an error)
            raise HandshakeError("the server closed the connection during the handshake")


class WebSocketClient:
    """An open client connection (made by ``connect``).

    One task calls ``receive_batch``; any task may ``send_message`` (a lock keeps the
    frames whole). ``close`` runs the closing handshake; call it when no task is in
    ``receive_batch`` (it reads the peer's answer itself)."""

    def __init__(
        self,
        stream: trio.abc.Stream,
        ws: WSConnection,
        *,
        max_message_bytes: int,
        receive_bytes: int,
        max_batch: int,
    ) -> None:
        self._stream = stream
        self._ws = ws
        self._max_message = max_message_bytes
        self._receive_bytes = receive_bytes
        self._max_batch = max_batch
        self._send_lock = trio.Lock()
        self._ready: list[str | bytes] = []  # messages complete and not yet handed over
        # A message sent in fragments: its parts so far, and their size.
        self._text_parts: list[str] = []
        self._binary_parts = bytearray()
        self._part_size = 0
        self._closed: CloseReason | None = None
        # Frames that came in the same read as the handshake's answer wait in wsproto:
        # the first _receive takes them before it reads.
        self._unread = True

    @property
    def closed(self) -> CloseReason | None:
        """Why the connection closed, or None while it is open."""
        return self._closed

    async def receive_batch(self) -> list[str | bytes]:
        """The next messages in arrival order: all that one socket read completed (at
        most ``max_batch``; the rest come with the next call, without reading). Waits
        for data when none is complete. Raises ConnectionClosed once the connection is
        closed and every message received before the close has been handed over."""
        while not self._ready:
            if self._closed is not None:
                raise ConnectionClosed(self._closed)
            await self._receive()
        ready = self._ready
        if len(ready) <= self._max_batch:
            self._ready = []
            return ready
        batch = ready[: self._max_batch]
        del ready[: self._max_batch]
        return batch

    async def send_message(self, message: str | bytes) -> None:
        """Send one text (str) or binary (bytes) message."""
        if self._closed is not None or self._ws.state is not ConnectionState.OPEN:
            raise ConnectionClosed(self._closed or CloseReason(ABNORMAL_CLOSURE))
        event = TextMessage(data=message) if isinstance(message, str) else BytesMessage(message)
        await self._send(event)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        """The closing handshake: send a close frame, then read (and discard) what the
        peer still sends until its close frame or the end of the stream."""
        if self._ws.state is ConnectionState.OPEN:
            self._closed = CloseReason(code, reason)
            try:
                await self._send(CloseConnection(code=code, reason=reason))
            except ConnectionClosed:
                return
        while self._ws.state is ConnectionState.LOCAL_CLOSING:
            for _event in self._ws.events():
                pass  # the peer's close frame moves the state on; the rest is dropped
            if self._ws.state is not ConnectionState.LOCAL_CLOSING:
                return
            try:
                data = await self._stream.receive_some(self._receive_bytes)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return
            try:
                self._ws.receive_data(bytes(data) if data else None)
            except RemoteProtocolError:
                return

    async def _receive(self) -> None:
        """One socket read, and everything it brought: messages queued, pings answered,
        a close frame answered and noted."""
        ws = self._ws
        if self._unread:
            self._unread = False
        else:
            try:
                data = await self._stream.receive_some(self._receive_bytes)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                # The network cut the stream: a close without a close frame.
                self._closed = CloseReason(ABNORMAL_CLOSURE)
                raise ConnectionClosed(self._closed) from exc
            ws.receive_data(bytes(data) if data else None)  # b"": wsproto reports 1006
        ready = self._ready
        for event in ws.events():
            if isinstance(event, TextMessage | BytesMessage):
                if event.message_finished and not self._part_size:  # the usual: one frame
                    size = len(event.data)
                    message: str | bytes = (
                        event.data if isinstance(event.data, str) else bytes(event.data)
                    )
                else:
                    size = self._add_part(event)
                    message = self._join_parts(event) if event.message_finished else ""
                if size > self._max_message:
                    await self._too_big()
                    return
                if event.message_finished:
                    ready.append(message)
            elif isinstance(event, Ping):
                await self._send(event.response())
            elif isinstance(event, CloseConnection):
                await self._peer_closed(event)
                return

    def _add_part(self, event: TextMessage | BytesMessage) -> int:
        """Keep one fragment of a message sent in several frames (or of a frame split
        across reads); the message's size so far."""
        if isinstance(event, TextMessage):
            self._text_parts.append(event.data)
        else:
            self._binary_parts += event.data
        self._part_size += len(event.data)
        return self._part_size

    def _join_parts(self, last: TextMessage | BytesMessage) -> str | bytes:
        message = (
            "".join(self._text_parts)
            if isinstance(last, TextMessage)
            else bytes(self._binary_parts)
        )
        self._text_parts, self._binary_parts, self._part_size = [], bytearray(), 0
        return message

    async def _too_big(self) -> None:
        """A message past ``max_message_bytes``: close with 1009, as the peer is told."""
        self._closed = CloseReason(
            MESSAGE_TOO_BIG, f"message larger than {self._max_message} bytes"
        )
        try:
            await self._send(CloseConnection(code=MESSAGE_TOO_BIG, reason=self._closed.reason))
        except ConnectionClosed:
            pass

    async def _peer_closed(self, event: CloseConnection) -> None:
        """The peer's close frame (or wsproto's verdict on a broken stream or frame)."""
        if self._closed is None:
            self._closed = CloseReason(event.code, event.reason or None)
        state = self._ws.state
        if state is ConnectionState.REMOTE_CLOSING:
            reply: Event = event.response()  # the closing handshake's answer
        elif state is ConnectionState.OPEN:
            # wsproto could not parse a frame (it names the code, 1002 or 1007): tell the
            # peer before leaving.
            reply = CloseConnection(code=event.code, reason=event.reason)
        else:
            return
        try:
            await self._send(reply)
        except ConnectionClosed:
            pass

    async def _send(self, event: Event) -> None:
        async with self._send_lock:
            # Framed under the lock, so frames leave in the order wsproto framed them.
            data = self._ws.send(event)
            try:
                await self._stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                if self._closed is None:
                    self._closed = CloseReason(ABNORMAL_CLOSURE)
                raise ConnectionClosed(self._closed) from exc
