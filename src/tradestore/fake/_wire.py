"""HTTP/1.1 and WebSocket (RFC 6455) on Trio streams: the fake exchange's own server layer.

A market-data server does things to its clients that an application behind ASGI cannot:
ping them and watch their pongs, cut a TCP connection with no close frame (as a crash or a
load balancer does), and write a burst of thousands of small frames in one system call.
So the fake exchange owns its connections, on the libraries built for this: h11 parses
the requests and writes the answers (REST, and the rejection of a bad WebSocket request),
and once a request asks for the upgrade, wsproto takes the same stream over.

``serve_listener(sock, respond, upgrade)`` accepts connections on a bound socket (TCP or
Unix); ``respond(method, target)`` answers a plain request, ``upgrade(target)`` either
rejects a WebSocket request (a ``Response``) or returns the coroutine that runs the
accepted ``WebSocket``. Only this module touches h11 and wsproto.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from functools import partial

import h11
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    TextMessage,
)
from wsproto.events import (
    Pong as PongEvent,
)
from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import CloseReason
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

log = logging.getLogger(__name__)

RECEIVE_BYTES = 65536
# As hypercorn served the fake before: an idle keep-alive connection is closed after
# 75 s, a WebSocket message over 16 MiB closes the connection with 1009.
KEEP_ALIVE_TIMEOUT = 75.0
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
CLOSE_TIMEOUT = 5.0  # seconds the closing handshake waits for the client's close frame
ABORT_LOCK_WAIT = 0.05  # seconds an abort lets a write in progress finish


@dataclass(frozen=True)
class Response:
    """A complete HTTP answer: status, headers, body (sent as it is; HEAD sends none)."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


Respond = Callable[[str, str], Response]  # (method, target) -> the answer
Session = Callable[["WebSocket"], Awaitable[None]]
Upgrade = Callable[[str], "Response | Session"]  # target -> a rejection, or the session


@dataclass(frozen=True)
class Pong:
    """A pong from the client: the answer to a ping, or unsolicited (a heartbeat)."""

    payload: bytes


class WebSocket:
    """The server side of one accepted WebSocket connection.

    One task reads (``receive``); any task may write (``send_frames``, ``ping``,
    ``close``): writes take turns, and a batch of frames is never split by a ping.
    ``abort`` cuts the TCP connection even while a write is blocked on a full socket
    buffer, which is how a client that stopped reading is let go."""

    def __init__(self, stream: trio.SocketStream, connection: WSConnection, peer: str) -> None:
        self._stream = stream
        self._ws = connection
        self.peer = peer
        self._write_lock = trio.Lock()
        self._gone = False  # the TCP connection failed, was cut or closed
        self._text: list[str] = []  # the frames of a fragmented message so far
        self._bytes: list[bytes] = []
        self._size = 0

    @property
    def closed(self) -> bool:
        """True once the connection is gone or closing: frames sent now are lost."""
        return self._gone or self._ws.state is not ConnectionState.OPEN

    async def receive(self) -> str | bytes | Pong | None:
        """The next complete message (text or binary), or a ``Pong``; None once the
        connection has ended (close frame, EOF, reset, abort). Pings are answered here."""
        while True:
            for event in self._ws.events():
                if isinstance(event, TextMessage | BytesMessage):
                    message = self._assemble(event)
                    if message is not None:
                        return message
                    if self._size > MAX_MESSAGE_BYTES:
                        await self._send(CloseConnection(code=CloseReason.MESSAGE_TOO_BIG))
                        await self._shutdown()
                        return None
                elif isinstance(event, Ping):
                    await self._send(event.response())
                elif isinstance(event, PongEvent):
                    return Pong(bytes(event.payload))
                elif isinstance(event, CloseConnection):
                    # The client's close (answered), the answer to ours, or a frame wsproto
                    # could not parse (answered with the code it names).
                    if self._ws.state is ConnectionState.REMOTE_CLOSING:
                        await self._send(event.response())
                    elif self._ws.state is ConnectionState.OPEN:
                        await self._send(CloseConnection(code=event.code))
                    await self._shutdown()
                    return None
            if self._gone:
                return None
            try:
                data = await self._stream.receive_some(RECEIVE_BYTES)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            if not data:
                self._gone = True
                return None
            self._ws.receive_data(data)

    def _assemble(self, event: TextMessage | BytesMessage) -> str | bytes | None:
        """Collect a fragmented message; the whole message once its last frame is in."""
        if isinstance(event, TextMessage):
            if event.message_finished and not self._text:
                return event.data
            self._text.append(event.data)
        else:
            if event.message_finished and not self._bytes:
                return bytes(event.data)
            self._bytes.append(bytes(event.data))
        self._size += len(event.data)
        if not event.message_finished:
            return None
        self._size = 0
        if isinstance(event, TextMessage):
            text, self._text = "".join(self._text), []
            return text
        data, self._bytes = b"".join(self._bytes), []
        return data

    async def send_frames(self, frames: list[str | bytes]) -> bool:
        """Send several messages (text for str, binary for bytes) in one socket write;
        True once the bytes are with the kernel, False if the connection is gone."""
        async with self._write_lock:
            if self.closed:
                return False
            data = bytearray()
            send = self._ws.send
            for frame in frames:
                if isinstance(frame, bytes):
                    data += send(BytesMessage(data=frame))
                else:
                    data += send(TextMessage(data=frame))
            return await self._write(data)

    async def ping(self, payload: bytes) -> bool:
        """Send a ping; False if the connection is gone."""
        return await self._send(Ping(payload=payload))

    async def close(self, code: int) -> None:
        """The closing handshake: a close frame with ``code``, the client's answer (waited
        for at most CLOSE_TIMEOUT s), then the TCP connection is closed."""
        with trio.move_on_after(CLOSE_TIMEOUT):
            if await self._send(CloseConnection(code=code)):
                while await self.receive() is not None:
                    pass  # frames the client sent before it read our close
        await self._shutdown()

    async def abort(self) -> None:
        """Close the TCP connection at once, with no close frame (the client sees 1006).

        A write in progress may finish first (its bytes then precede the FIN and count as
        sent); one blocked on a full socket buffer is not waited for: the close wakes it."""
        if self._gone:
            await self._shutdown()
            return
        self._gone = True  # no new write starts
        with trio.CancelScope(shield=True):
            with trio.move_on_after(ABORT_LOCK_WAIT):
                async with self._write_lock:
                    pass
            await self._shutdown()

    async def _send(self, event: Ping | PongEvent | CloseConnection) -> bool:
        async with self._write_lock:
            if self._gone:
                return False
            try:
                data = self._ws.send(event)
            except LocalProtocolError:  # the closing handshake has begun
                return False
            return await self._write(data)

    async def _write(self, data: bytes | bytearray) -> bool:
        try:
            await self._stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self._gone = True
            return False
        return True

    async def _shutdown(self) -> None:
        """FIN after every byte written, then close (which wakes a write blocked meanwhile)."""
        self._gone = True
        if self._stream.socket.fileno() == -1:
            return
        try:
            self._stream.socket.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # reset by the client already
        await self._stream.aclose()


async def serve_listener(
    sock: socket.socket,
    respond: Respond,
    upgrade: Upgrade,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Accept connections on the bound, listening ``sock`` until cancelled (then every
    connection is closed, without a close frame)."""
    listener = trio.SocketListener(trio.socket.from_stdlib_socket(sock))

    async def handle(stream: trio.SocketStream) -> None:
        await _serve_connection(stream, respond, upgrade)

    async with trio.open_nursery() as nursery:
        await nursery.start(partial(trio.serve_listeners, handle, [listener]))
        task_status.started()


async def _serve_connection(stream: trio.SocketStream, respond: Respond, upgrade: Upgrade) -> None:
    """HTTP/1.1 requests, kept alive, until the client closes, a request is malformed or
    one is upgraded to a WebSocket (whose session then owns the stream)."""
    http = h11.Connection(h11.SERVER)
    try:
        while True:
            with trio.move_on_after(KEEP_ALIVE_TIMEOUT) as idle:
                request = await _next_request(stream, http)
            if idle.cancelled_caught or request is None:
                return
            target = request.target.decode("latin-1")
            if _asks_for_websocket(request):
                answer = upgrade(target)
                if not isinstance(answer, Response):
                    await _accept_websocket(stream, http, request, answer)
                    return
            else:
                answer = respond(request.method.decode("latin-1"), target)
            await _send_response(stream, http, answer, head=request.method == b"HEAD")
            if http.our_state is h11.MUST_CLOSE:
                return
            http.start_next_cycle()
    except h11.RemoteProtocolError as exc:
        if http.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            answer = Response(exc.error_status_hint, [("connection", "close")])
            with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await _send_response(stream, http, answer)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass  # the client went away


async def _next_request(stream: trio.SocketStream, http: h11.Connection) -> h11.Request | None:
    """The next request, its body read and dropped (none of ours takes one); None when the
    client closed the connection."""
    request = None
    while True:
        event = http.next_event()
        if event is h11.NEED_DATA:
            http.receive_data(await stream.receive_some(RECEIVE_BYTES))
        elif isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.EndOfMessage) or event is h11.PAUSED:
            return request
        elif isinstance(event, h11.ConnectionClosed):
            return None


def _asks_for_websocket(request: h11.Request) -> bool:
    for name, value in request.headers:
        if name == b"upgrade":
            return value.lower() == b"websocket"
    return False


async def _send_response(
    stream: trio.SocketStream, http: h11.Connection, answer: Response, *, head: bool = False
) -> None:
    headers = [*answer.headers, ("content-length", str(len(answer.body)))]
    data = http.send(h11.Response(status_code=answer.status, headers=headers)) or b""
    if answer.body and not head:
        data += http.send(h11.Data(data=answer.body)) or b""
    data += http.send(h11.EndOfMessage()) or b""
    await stream.send_all(data)


async def _accept_websocket(
    stream: trio.SocketStream, http: h11.Connection, request: h11.Request, session: Session
) -> None:
    """Hand the stream from h11 to wsproto, answer 101 and run the session; a handshake
    wsproto refuses (no key, wrong version) is answered 400 (426 for the version)."""
    ws = WSConnection(ConnectionType.SERVER)
    try:
        ws.initiate_upgrade_connection(list(request.headers), request.target)
    except RemoteProtocolError as exc:
        hint = getattr(exc.event_hint, "status_code", 400)
        body = str(exc).encode()
        answer = Response(hint, [("content-type", "text/plain"), ("connection", "close")], body)
        await _send_response(stream, http, answer)
        return
    # permessage-deflate only when the client offers it (as hypercorn did).
    await stream.send_all(ws.send(AcceptConnection(extensions=[PerMessageDeflate()])))
    trailing, _closed = http.trailing_data
    if trailing:
        ws.receive_data(trailing)
    websocket = WebSocket(stream, ws, _peer(stream))
    async with trio.open_nursery() as nursery:
        # The session may be inside a shielded write that a client which does not read
        # keeps blocked: when the server stops, the cut wakes it.
        nursery.start_soon(_abort_when_cancelled, websocket)
        await session(websocket)
        nursery.cancel_scope.cancel()


async def _abort_when_cancelled(websocket: WebSocket) -> None:
    try:
        await trio.sleep_forever()
    finally:
        await websocket.abort()  # shielded inside


def _peer(stream: trio.SocketStream) -> str:
    try:
        address = stream.socket.getpeername()
    except OSError:
        return "?"
    if isinstance(address, tuple):
        return f"{address[0]}:{address[1]}"
    return str(address) or "unix"
