"""Server pings, pong timeouts and abrupt closes on top of hypercorn's WebSocket stream.

ASGI gives an application no ping frames, no pongs and no way to cut a TCP connection
without a close frame, yet the fake exchange must do all three as Binance does. Hypercorn's
wsproto-based ``WSStream`` already parses every frame, so this subclass only watches the
``Pong`` events it otherwise ignores, runs the ping/pong-deadline loop, and hands the
application a ``WebSocketControl`` (through ``scope["state"]``) to drop the connection.

``install()`` makes hypercorn's HTTP/1.1 protocol build this class. The subclass behaves
exactly like hypercorn's own unless its config is a ``FakeHypercornConfig``, so another
hypercorn server in the same process (the daemon's metrics endpoint) is not affected.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

import trio
from hypercorn.config import Config
from hypercorn.events import Closed
from hypercorn.protocol import h11 as _h11
from hypercorn.protocol.events import Data, Request, StreamClosed
from hypercorn.protocol.ws_stream import ASGIWebsocketState, WSStream
from hypercorn.typing import ConnectionState, WebsocketAcceptEvent
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage
from wsproto.frame_protocol import CloseReason
from wsproto.utilities import LocalProtocolError

log = logging.getLogger(__name__)

CONTROL_KEY = "tradestore.fake.ws_control"
ABORT_LOCK_WAIT = 0.05  # seconds an abort waits for a write in progress


class FakeHypercornConfig(Config):
    """A hypercorn Config that also carries the keepalive settings of the fake exchange."""

    fake_ping_interval: float = 20.0
    fake_pong_timeout: float = 60.0
    # Called with "ping" / "pong" so the exchange's SentLog can count them.
    fake_on_keepalive: Callable[[str], None] | None = None


class WebSocketControl:
    """What the application may do to its connection beyond ASGI."""

    def __init__(self, stream: _KeepaliveWSStream) -> None:
        self._stream = stream
        self.drop_reason: str | None = None
        # Called once, with the reason, just before the server cuts the connection.
        self.on_drop: Callable[[str], None] | None = None
        # Called for each unsolicited pong: they count against the incoming-message limit.
        self.on_pong: Callable[[], None] | None = None

    @property
    def closed(self) -> bool:
        """True once the connection is gone (or going): frames sent now are lost."""
        return self._stream.closed or self._stream.aborted

    @property
    def peer(self) -> str:
        client = self._stream.client
        return f"{client[0]}:{client[1]}" if client else "?"

    async def send_frames(self, frames: list[str | bytes]) -> bool:
        """Send several messages in one socket write; False if the connection is gone.

        ASGI allows one message per ``websocket.send``, and hypercorn pays a lock, a
        cancel scope and a ``send_all`` for each: a market-data server that bursts
        thousands of small frames a second needs them batched."""
        return await self._stream.send_frames(frames)

    async def abort(self, reason: str) -> None:
        """Close the TCP connection at once, with no WebSocket close frame (like a crash)."""
        if self.drop_reason is not None or self.closed:
            return
        self.drop_reason = reason
        if self.on_drop is not None:
            self.on_drop(reason)
        await self._stream.abort()


class _PongWatch:
    """Wraps the wsproto connection: every Pong it yields is reported, all else passes."""

    def __init__(self, connection, on_pong: Callable[[], None]) -> None:
        self._connection = connection
        self._on_pong = on_pong

    def __getattr__(self, name: str):
        return getattr(self._connection, name)

    def events(self):
        for event in self._connection.events():
            if isinstance(event, Pong):
                self._on_pong()
            yield event


class _KeepaliveWSStream(WSStream):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._ours = isinstance(self.config, FakeHypercornConfig)
        self._unanswered_since: float | None = None
        self._pings_unanswered = 0
        self.aborted = False
        self.control = WebSocketControl(self)
        # Cancelled when the stream closes, so the keepalive task does not outlive it
        # (hypercorn's connection task group waits for every task it spawned).
        self._keepalive_scope = trio.CancelScope()
        # The ping task and the frame sender both write to the socket: one at a time, and
        # a frame batch is never split by a ping. (abort() deliberately does not take it:
        # it must be able to wake a sender blocked on a full socket buffer.)
        self._send_lock = trio.Lock()

    async def handle(self, event) -> None:
        if self._ours and isinstance(event, Request):
            state = ConnectionState({**event.state, CONTROL_KEY: self.control})
            event = dataclasses.replace(event, state=state)
        await super().handle(event)
        if self.closed:
            self._keepalive_scope.cancel()

    async def _accept(self, message: WebsocketAcceptEvent) -> None:
        await super()._accept(message)
        if self._ours:
            self.connection = _PongWatch(self.connection, self._pong_received)
            self.task_group.spawn(self._keepalive)

    def _pong_received(self) -> None:
        # Binance: any pong counts, solicited or not, and answers every ping before it.
        solicited = self._pings_unanswered > 0
        self._pings_unanswered = max(self._pings_unanswered - 1, 0)
        self._unanswered_since = None
        self._count("pong")
        # Unsolicited pongs count against the limit; an answer to our own ping does not
        # (a test may ping many times a second, Binance pings every 20 s or more).
        if not solicited and self.control.on_pong is not None:
            self.control.on_pong()

    def _count(self, what: str) -> None:
        hook = self.config.fake_on_keepalive
        if hook is not None:
            hook(what)

    async def _keepalive(self) -> None:
        with self._keepalive_scope:
            await self._ping_until_closed()

    async def _ping_until_closed(self) -> None:
        interval = self.config.fake_ping_interval
        timeout = self.config.fake_pong_timeout
        next_ping = trio.current_time() + interval
        while not self.closed:
            deadline = next_ping
            if self._unanswered_since is not None:
                deadline = min(deadline, self._unanswered_since + timeout)
            await trio.sleep_until(deadline)
            if self.closed:
                return
            now = trio.current_time()
            if self._unanswered_since is not None and now >= self._unanswered_since + timeout:
                log.info("client %s did not answer a ping in %.1f s: dropped", self.client, timeout)
                await self.control.abort("pong_timeout")
                return
            if now >= next_ping:
                async with self._send_lock:
                    if self.closed or self.aborted:
                        return
                    try:
                        await self._send_wsproto_event(Ping(payload=b"%d" % int(now * 1000)))
                    except (
                        trio.BusyResourceError,
                        trio.BrokenResourceError,
                        trio.ClosedResourceError,
                    ):
                        # Only hypercorn's unlocked close path (send_eof) can still collide
                        # with a write: the connection is going away.
                        return
                self._count("ping")
                self._pings_unanswered += 1
                if self._unanswered_since is None:
                    self._unanswered_since = now
                next_ping += interval

    async def _send_wsproto_event(self, event) -> None:
        # hypercorn answers a client's ping or close from its read task; while an abort is
        # closing the socket (send_eof, outside hypercorn's send lock) that write can find
        # the stream busy. The connection is going away: the answer does not matter.
        try:
            await super()._send_wsproto_event(event)
        except trio.BusyResourceError:
            if not (self.aborted or self.closed):
                raise

    async def send_frames(self, frames: list[str | bytes]) -> bool:
        async with self._send_lock:
            return await self._send_frames_locked(frames)

    async def _send_frames_locked(self, frames: list[str | bytes]) -> bool:
        if self.closed or self.aborted or self.state != ASGIWebsocketState.CONNECTED:
            return False
        data = bytearray()
        try:
            for frame in frames:
                if isinstance(frame, bytes):
                    data += self.connection.send(BytesMessage(data=frame))
                else:
                    data += self.connection.send(TextMessage(data=frame))
        except LocalProtocolError:  # the close handshake has begun
            return False
        try:
            await self.send(Data(stream_id=self.stream_id, data=bytes(data)))
        except trio.BusyResourceError:
            # hypercorn's close path shuts the socket down (send_eof) without its send
            # lock; a write that starts meanwhile finds the stream busy. It is closing.
            return False
        # hypercorn reports a failed write by closing the stream, not by raising. An abort
        # that began during this write does not undo it: abort() waits for our lock, so
        # the bytes precede its FIN and the client reads them; they count as sent.
        return not self.closed

    async def abort(self) -> None:
        if self.aborted or self.closed:
            return
        self.aborted = True
        self._keepalive_scope.cancel()
        protocol = getattr(self.send, "__self__", None)
        transport_send = getattr(protocol, "send", None)
        if transport_send is None:
            # Not hypercorn's HTTP/1.1 protocol: the best left is a close frame.
            await self._send_wsproto_event(CloseConnection(code=CloseReason.GOING_AWAY))
            await self.send(StreamClosed(stream_id=self.stream_id))
            return
        # The TCP server closes the socket (waking a send blocked on a full buffer) and
        # tells the protocol, which reports websocket.disconnect (1006) to the application.
        # Its close path shuts the socket down without hypercorn's send lock, so wait
        # briefly for our writers to finish their write (they see ``aborted`` and stop);
        # a writer stuck on a full socket buffer is not waited for: the close wakes it.
        with trio.CancelScope(shield=True):
            locked = False
            with trio.move_on_after(ABORT_LOCK_WAIT):
                await self._send_lock.acquire()
                locked = True
            try:
                await transport_send(Closed())
            finally:
                if locked:
                    self._send_lock.release()


def install() -> None:
    """Make hypercorn's HTTP/1.1 protocol create keepalive-aware WebSocket streams."""
    if _h11.WSStream is not _KeepaliveWSStream:
        if _h11.WSStream is not WSStream:
            raise RuntimeError("hypercorn.protocol.h11.WSStream was replaced by someone else")
        _h11.WSStream = _KeepaliveWSStream
