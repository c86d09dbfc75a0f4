"""One WebSocket client of the fake exchange: routing, subscriptions, sending, faults."""

from __future__ import annotations

import json
import logging
from collections import deque
from urllib.parse import parse_qs

import trio

from tradestore._errors import TradestoreError
from tradestore.binance import stream_name
from tradestore.fake import _frames
from tradestore.fake._exchange import FakeExchange
from tradestore.fake._source import Record
from tradestore.fake._wsstream import CONTROL_KEY, WebSocketControl

log = logging.getLogger(__name__)

MAX_STREAMS = 1024  # Binance's limit per connection
MAX_BATCH = 512  # queued items sent in one socket write
_METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")


class BadStreams(TradestoreError, ValueError):
    pass


def route(path: str, query_string: bytes) -> tuple[list[str], bool] | None:
    """(stream names from the URL, combined?) for a WebSocket path; None: no such path."""
    if path in ("/ws", "/ws/"):
        return [], False
    if path.startswith("/ws/"):
        return [s for s in path[4:].split("/") if s], False
    if path in ("/stream", "/stream/"):
        query = parse_qs(query_string.decode("latin-1"))
        names = query.get("streams", [""])[0]
        return [s for s in names.split("/") if s], True
    return None


class Connection:
    """Frames for one client go through a bounded queue drained by one sender task, so a
    client that does not read can never stall the generators: when its queue is full it
    is disconnected, as Binance does."""

    def __init__(
        self, exchange: FakeExchange, send, control: WebSocketControl, combined: bool
    ) -> None:
        self.exchange = exchange
        self.config = exchange.config
        self._send = send
        self.control = control
        self.combined = combined
        self.streams: list[str] = []
        self.opened_at = trio.current_time()
        self._queue_in, self._queue_out = trio.open_memory_channel(self.config.queue_size)
        self._abort_requested = trio.Event()
        self._abort_reason: str | None = None
        self._frames = 0  # data, malformed and duplicate frames: the fault counters' clock
        control.on_drop = exchange.note_dropped
        control.on_pong = self._note_incoming
        self._previous: dict[str, str] = {}  # symbol -> its last raw event sent
        self.stuck: set[str] = set()  # symbols withheld from this connection (a test hook)
        self._close_code: int | None = None
        # Arrival times of the incoming messages (pongs too) of the last second.
        self._incoming: deque[float] = deque()
        self._message_limit = exchange.market.control_messages_per_second

    # ------------------------------------------------------------------ producers' side

    def offer_trade(self, symbol: str, record: Record, raw: str) -> None:
        if self._silent_now() or symbol in self.stuck or self._stuck_now(symbol):
            self.exchange.log.trades_withheld += 1
            return
        self._put(("trade", symbol, record, raw))

    def offer_text(self, text: str, tag: str = "reply") -> None:
        self._put(("text", text, tag))

    def _put(self, item) -> None:
        try:
            self._queue_in.send_nowait(item)
        except trio.WouldBlock:
            log.info("client %s fell %d frames behind: dropped", self.peer, self.config.queue_size)
            self.request_abort("slow_client")
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the connection is ending; it unsubscribes on its way out

    def request_abort(self, reason: str) -> None:
        if self._abort_reason is None:
            self._abort_reason = reason
            self._abort_requested.set()

    def _stuck_now(self, symbol: str) -> bool:
        cfg = self.config
        if symbol != cfg.stall_symbol:
            return False
        age = trio.current_time() - self.opened_at
        return age >= cfg.stall_after and (
            cfg.stall_for <= 0 or age < cfg.stall_after + cfg.stall_for
        )

    def _silent_now(self) -> bool:
        after = self.config.silent_after
        if after is None:
            return False
        age = trio.current_time() - self.opened_at
        duration = self.config.silent_for
        return age >= after and (duration <= 0 or age < after + duration)

    @property
    def peer(self) -> str:
        return self.control.peer

    # ------------------------------------------------------------------ lifecycle

    async def run(self, receive, initial_streams: list[str]) -> None:
        self.exchange.attach(self)
        try:
            for name in initial_streams:
                self._subscribe(name)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._sender)
                nursery.start_soon(self._lifetime, nursery.cancel_scope)
                nursery.start_soon(self._abort_watch)
                await self._reader(receive)
                nursery.cancel_scope.cancel()
        finally:
            self.exchange.detach(self)
            self._queue_in.close()
        if self._close_code is not None and not self.control.closed:
            self.exchange.note_dropped("lifetime")
            with trio.move_on_after(5, shield=True):
                await self._send({"type": "websocket.close", "code": self._close_code})

    async def _abort_watch(self) -> None:
        await self._abort_requested.wait()
        await self.control.abort(self._abort_reason)

    async def _lifetime(self, cancel_scope: trio.CancelScope) -> None:
        cfg = self.config
        await trio.sleep_until(self.opened_at + cfg.lifetime - cfg.notice)
        self.offer_text(_frames.shutdown_event(self.exchange.now_ms()), tag="shutdown")
        await trio.sleep_until(self.opened_at + cfg.lifetime)
        log.info("client %s reached its lifetime of %s s: closing", self.peer, cfg.lifetime)
        self._close_code = 1001
        cancel_scope.cancel()

    async def _reader(self, receive) -> None:
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "websocket.disconnect":
                return
            if kind != "websocket.receive":
                continue
            text = message.get("text")
            if text is None:
                text = (message.get("bytes") or b"").decode("utf-8", "replace")
            if not self._note_incoming():
                return
            self.offer_text(self._answer(text))

    def _note_incoming(self) -> bool:
        """Count one incoming message against the market's per-second limit; False (and
        the connection cut, as Binance does) when this one is over it."""
        now = trio.current_time()
        window = self._incoming
        window.append(now)
        while window and window[0] <= now - 1.0:
            window.popleft()
        log_ = self.exchange.log
        log_.max_messages_per_second = max(log_.max_messages_per_second, len(window))
        if len(window) <= self._message_limit or not self.config.enforce_message_limit:
            return True
        log.info(
            "client %s sent %d messages within a second (limit %d): dropped",
            self.peer,
            len(window),
            self._message_limit,
        )
        log_.message_limit_drops += 1
        self.request_abort("too_many_messages")
        return False

    # ------------------------------------------------------------------ sending

    async def _sender(self) -> None:
        """Drain the queue in batches: everything waiting goes out in one socket write,
        and is logged as sent only once the write has succeeded."""
        async with self._queue_out:
            async for item in self._queue_out:
                batch = [item]
                while len(batch) < MAX_BATCH:
                    try:
                        batch.append(self._queue_out.receive_nowait())
                    except trio.WouldBlock:
                        break
                frames: list[str | bytes] = []
                notes: list[tuple] = []
                for entry in batch:
                    self._render(entry, frames, notes)
                if not await self._deliver(frames):
                    return
                self._account(notes)

    def _render(self, item: tuple, frames: list, notes: list) -> None:
        """Append the frames for one queued item (faults first) and what to log for them.

        Frame k (counting from 1, per connection, data frames only) is malformed when
        malformed_every divides k, else a re-send of the symbol's previous trade when
        duplicate_every does; the trade itself takes the next free number."""
        if item[0] == "text":
            _kind, text, tag = item
            frames.append(text)
            notes.append((tag,))
            return
        _kind, symbol, record, raw = item
        cfg = self.config
        while True:
            k = self._frames + 1
            if cfg.malformed_every and k % cfg.malformed_every == 0:
                kinds = _frames.MALFORMED_KINDS
                kind = kinds[(k // cfg.malformed_every - 1) % len(kinds)]
                frames.append(self._malformed(kind, symbol, record))
                notes.append(("malformed", kind))
            elif cfg.duplicate_every and k % cfg.duplicate_every == 0 and symbol in self._previous:
                frames.append(self._wrap(symbol, self._previous[symbol]))
                notes.append(("duplicate",))
            else:
                break
            self._frames = k
        frames.append(self._wrap(symbol, raw))
        notes.append(("trade", symbol, record.trade.agg_id))
        self._frames += 1
        self._previous[symbol] = raw

    def _account(self, notes: list[tuple]) -> None:
        log_ = self.exchange.log
        for note in notes:
            kind = note[0]
            if kind == "trade":
                log_.note_sent(note[1], note[2])
                log_.frames_sent += 1
            elif kind == "duplicate":
                log_.duplicates_sent += 1
            elif kind == "malformed":
                log_.note_malformed(note[1])
            elif kind == "shutdown":
                log_.shutdown_events_sent += 1

    def _malformed(self, kind: str, symbol: str, record: Record) -> str | bytes:
        frame = _frames.malformed(kind, symbol, record, record.trade.time_ms)
        # Damage inside the event is wrapped like any event; damage to the frame itself
        # (not JSON, not an object, not UTF-8) is sent as it is.
        if self.combined and kind not in ("not_json", "not_object", "not_utf8"):
            frame = _frames.combined(stream_name(symbol), frame)
        return frame

    def _wrap(self, symbol: str, raw: str) -> str:
        if self.combined:
            return _frames.combined(stream_name(symbol), raw)
        return raw

    async def _deliver(self, frames: list[str | bytes]) -> bool:
        """Send frames; True when they reached the socket of a still-open connection."""
        # Shielded: frames handed to the socket must also be logged, even if the
        # connection is being cancelled meanwhile.
        with trio.CancelScope(shield=True):
            return await self.control.send_frames(frames)

    # ------------------------------------------------------------------ requests

    def _subscribe(self, name: str) -> None:
        symbol = self._symbol_of(name)
        if name not in self.streams:
            self.streams.append(name)
        self.exchange.subscribe(self, symbol)

    def _unsubscribe(self, name: str) -> None:
        if name in self.streams:
            self.streams.remove(name)
            self.exchange.unsubscribe(self, self._symbol_of(name))

    def _symbol_of(self, name: str) -> str:
        base, sep, kind = name.partition("@")
        symbol = base.upper()
        if sep != "@" or kind != "aggTrade" or base != base.lower() or not base:
            raise BadStreams(f"Invalid request: unsupported stream name {name!r}")
        if not self.exchange.serves(symbol):
            raise BadStreams(f"Invalid request: unknown stream {name!r}")
        return symbol

    def check_streams(self, names: list[str]) -> None:
        for name in names:
            self._symbol_of(name)
        if len(set(names) | set(self.streams)) > MAX_STREAMS:
            raise BadStreams(f"Invalid request: more than {MAX_STREAMS} streams")

    def _answer(self, text: str) -> str:
        """The reply to one client request, in Binance's shapes and error codes."""
        try:
            request = json.loads(text)
        except ValueError as exc:
            return _frames.error_reply(3, f"Invalid JSON: {exc}")
        if not isinstance(request, dict):
            return _frames.error_reply(2, "Invalid request: request must be an object")
        request_id = request.get("id")
        if request_id is not None and not (
            isinstance(request_id, str)
            or (
                isinstance(request_id, int) and not isinstance(request_id, bool) and request_id >= 0
            )
        ):
            return _frames.error_reply(
                2, "Invalid request: request ID must be an unsigned integer", None
            )
        unknown = set(request) - {"method", "params", "id"}
        if unknown:
            return _frames.error_reply(0, "Unknown property", request_id)
        method = request.get("method")
        if method is None:
            return _frames.error_reply(2, "Invalid request: missing field `method`", request_id)
        if method not in _METHODS:
            return _frames.error_reply(
                2,
                f"Invalid request: unknown variant `{method}`, expected one of "
                + ", ".join(f"`{m}`" for m in _METHODS),
                request_id,
            )
        params = request.get("params", [])
        if not isinstance(params, list):
            return _frames.error_reply(1, "Invalid value type: expected Array", request_id)
        try:
            return self._apply(method, params, request_id)
        except BadStreams as exc:
            return _frames.error_reply(2, str(exc), request_id)

    def _apply(self, method: str, params: list, request_id) -> str:
        self.exchange.log.note_control(method)
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not all(isinstance(p, str) for p in params):
                return _frames.error_reply(1, "Invalid value type: expected String", request_id)
            if method == "SUBSCRIBE":
                self.check_streams(params)
                for name in params:
                    self._subscribe(name)
            else:
                for name in params:
                    self._unsubscribe(name)
            return _frames.reply(request_id, None)
        if method == "LIST_SUBSCRIPTIONS":
            return _frames.reply(request_id, list(self.streams))
        if method == "SET_PROPERTY":
            if len(params) != 2 or params[0] != "combined" or not isinstance(params[1], bool):
                return _frames.error_reply(
                    2, 'Invalid request: SET_PROPERTY takes ["combined", bool]', request_id
                )
            self.combined = params[1]
            return _frames.reply(request_id, None)
        if params != ["combined"]:
            return _frames.error_reply(
                2, 'Invalid request: GET_PROPERTY takes ["combined"]', request_id
            )
        return _frames.reply(request_id, self.combined)


async def serve_websocket(exchange: FakeExchange, scope, receive, send) -> None:
    """The ASGI websocket handler: route, accept, run the connection until it ends."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    routed = route(scope["path"], scope.get("query_string", b""))
    control = scope.get("state", {}).get(CONTROL_KEY)
    if routed is None or control is None:
        await _reject(send, 404, {"code": -1, "msg": f"no WebSocket at {scope['path']}"})
        return
    names, combined = routed
    connection = Connection(exchange, send, control, combined)
    try:
        connection.check_streams(names)
    except BadStreams as exc:
        await _reject(send, 400, {"code": 2, "msg": str(exc)})
        return
    await send({"type": "websocket.accept"})
    await connection.run(receive, names)


async def _reject(send, status: int, body: dict) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "websocket.http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(data)),
            ],
        }
    )
    await send({"type": "websocket.http.response.body", "body": data})
