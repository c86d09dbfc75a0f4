"""One WebSocket client of the fake exchange: routing, subscriptions, sending, keepalive,
faults (on the connection layer of ``_wire``)."""

from __future__ import annotations

import json
import logging
from collections import deque
from urllib.parse import parse_qs, unquote

import trio

from tradestore._errors import TradestoreError
from tradestore.binance import stream_name
from tradestore.fake import _frames
from tradestore.fake._exchange import FakeExchange
from tradestore.fake._source import Record
from tradestore.fake._wire import Pong, Response, Session, WebSocket

log = logging.getLogger(__name__)

MAX_STREAMS = 1024  # Binance's limit per connection
MAX_BATCH = 512  # queued items sent in one socket write
_METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")


class BadStreams(TradestoreError, ValueError):
    pass


# What the sender queue holds: a trade (symbol, record, raw event) or a text (text, tag).
_Item = tuple[str, Record, str] | tuple[str, str]
# What the sender logs once a batch is written: ("trade", symbol, id), ("malformed", kind,
# 0), ("duplicate", "", 0), or a text frame's tag: ("reply", "", 0), ("shutdown", "", 0).
_Note = tuple[str, str, int]


def route(path: str, query_string: str) -> tuple[list[str], bool] | None:
    """(stream names from the URL, combined?) for a WebSocket path; None: no such path."""
    if path in ("/ws", "/ws/"):
        return [], False
    if path.startswith("/ws/"):
        return [s for s in path[4:].split("/") if s], False
    if path in ("/stream", "/stream/"):
        query = parse_qs(query_string)
        names = query.get("streams", [""])[0]
        return [s for s in names.split("/") if s], True
    return None


class Connection:
    """Frames for one client go through a bounded queue drained by one sender task, so a
    client that does not read can never stall the generators: when its queue is full it
    is disconnected, as Binance does."""

    def __init__(self, exchange: FakeExchange, ws: WebSocket, combined: bool) -> None:
        self.exchange = exchange
        self.config = exchange.config
        self.ws = ws
        self.combined = combined
        self.streams: list[str] = []
        self.opened_at = trio.current_time()
        self._queue_in, self._queue_out = trio.open_memory_channel[_Item](self.config.queue_size)
        self._abort_requested = trio.Event()
        self._abort_reason = ""  # why a cut was asked for ("": none was)
        self._dropped = False  # cut: counted once, by the first reason
        self._frames = 0  # data, malformed and duplicate frames: the fault counters' clock
        # Keepalive: pings sent and not answered yet, and since when one is outstanding.
        self._pings_unanswered = 0
        self._unanswered_since: float | None = None
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
        self._put((symbol, record, raw))

    def offer_text(self, text: str, tag: str = "reply") -> None:
        self._put((text, tag))

    def _put(self, item: _Item) -> None:
        try:
            self._queue_in.send_nowait(item)
        except trio.WouldBlock:
            log.info("client %s fell %d frames behind: dropped", self.peer, self.config.queue_size)
            self.request_abort("slow_client")
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the connection is ending; it unsubscribes on its way out

    def request_abort(self, reason: str) -> None:
        """Cut the connection soon (no close frame); for callers that cannot wait."""
        if not self._abort_reason:
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
        return self.ws.peer

    # ------------------------------------------------------------------ lifecycle

    async def run(self, initial_streams: list[str]) -> None:
        self.exchange.attach(self)
        try:
            for name in initial_streams:
                self._subscribe(name)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._sender)
                nursery.start_soon(self._lifetime, nursery.cancel_scope)
                nursery.start_soon(self._abort_watch)
                nursery.start_soon(self._keepalive)
                await self._reader()
                nursery.cancel_scope.cancel()
        finally:
            self.exchange.detach(self)
            self._queue_in.close()
        if self._close_code is not None and not self.ws.closed:
            self.exchange.note_dropped("lifetime")
            with trio.CancelScope(shield=True):  # the closing handshake bounds its own wait
                await self.ws.close(self._close_code)

    async def _abort(self, reason: str) -> None:
        """Cut the TCP connection now, with no close frame (like a crash); the first
        reason is the one counted."""
        if self._dropped or self.ws.closed:
            return
        self._dropped = True
        self.exchange.note_dropped(reason)
        await self.ws.abort()

    async def _abort_watch(self) -> None:
        await self._abort_requested.wait()
        await self._abort(self._abort_reason)

    async def _lifetime(self, cancel_scope: trio.CancelScope) -> None:
        cfg = self.config
        await trio.sleep_until(self.opened_at + cfg.lifetime - cfg.notice)
        self.offer_text(_frames.shutdown_event(self.exchange.now_ms()), tag="shutdown")
        await trio.sleep_until(self.opened_at + cfg.lifetime)
        log.info("client %s reached its lifetime of %s s: closing", self.peer, cfg.lifetime)
        self._close_code = 1001
        cancel_scope.cancel()

    async def _reader(self) -> None:
        while True:
            message = await self.ws.receive()
            if message is None:
                return
            if isinstance(message, Pong):
                # An answer to our own ping does not count against the limit (a test may
                # ping many times a second, Binance pings every 20 s or more).
                if self._pong_received() or self._note_incoming():
                    continue
            elif self._note_incoming():
                text = message if isinstance(message, str) else message.decode("utf-8", "replace")
                self.offer_text(self._answer(text))
                continue
            await self._abort("too_many_messages")  # as Binance does
            return

    def _pong_received(self) -> bool:
        """Note a pong; True when it answers a ping of ours. Binance: any pong counts,
        solicited or not, and answers every ping before it."""
        solicited = self._pings_unanswered > 0
        self._pings_unanswered = max(self._pings_unanswered - 1, 0)
        self._unanswered_since = None
        self.exchange.count_keepalive("pong")
        return solicited

    async def _keepalive(self) -> None:
        """A ping every ping_interval; a client that leaves one unanswered for
        pong_timeout is cut."""
        interval, timeout = self.config.ping_interval, self.config.pong_timeout
        next_ping = trio.current_time() + interval
        while True:
            deadline = next_ping
            if self._unanswered_since is not None:
                deadline = min(deadline, self._unanswered_since + timeout)
            await trio.sleep_until(deadline)
            now = trio.current_time()
            if self._unanswered_since is not None and now >= self._unanswered_since + timeout:
                log.info("client %s did not answer a ping in %.1f s: dropped", self.peer, timeout)
                await self._abort("pong_timeout")
                return
            if now >= next_ping:
                if not await self.ws.ping(b"%d" % int(now * 1000)):
                    return
                self.exchange.count_keepalive("ping")
                self._pings_unanswered += 1
                if self._unanswered_since is None:
                    self._unanswered_since = now
                next_ping += interval

    def _note_incoming(self) -> bool:
        """Count one incoming message against the market's per-second limit; False when
        this one is over it (and the limit is enforced)."""
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
                notes: list[_Note] = []
                for entry in batch:
                    self._render(entry, frames, notes)
                if not await self._deliver(frames):
                    return
                self._account(notes)

    def _render(self, item: _Item, frames: list[str | bytes], notes: list[_Note]) -> None:
        """Append the frames for one queued item (faults first) and what to log for them.

        Frame k (counting from 1, per connection, data frames only) is malformed when
        malformed_every divides k, else a re-send of the symbol's previous trade when
        duplicate_every does; the trade itself takes the next free number."""
        if len(item) == 2:
            text, tag = item
            frames.append(text)
            notes.append((tag, "", 0))
            return
        symbol, record, raw = item
        cfg = self.config
        while True:
            k = self._frames + 1
            if cfg.malformed_every and k % cfg.malformed_every == 0:
                kinds = _frames.MALFORMED_KINDS
                kind = kinds[(k // cfg.malformed_every - 1) % len(kinds)]
                frames.append(self._malformed(kind, symbol, record))
                notes.append(("malformed", kind, 0))
            elif cfg.duplicate_every and k % cfg.duplicate_every == 0 and symbol in self._previous:
                frames.append(self._wrap(symbol, self._previous[symbol]))
                notes.append(("duplicate", "", 0))
            else:
                break
            self._frames = k
        frames.append(self._wrap(symbol, raw))
        notes.append(("trade", symbol, record.trade.agg_id))
        self._frames += 1
        self._previous[symbol] = raw

    def _account(self, notes: list[_Note]) -> None:
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
        if self.combined and isinstance(frame, str) and kind not in ("not_json", "not_object"):
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
            sent = await self.ws.send_frames(frames)
        return sent

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
        return symbol_of(self.exchange, name)

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
                check_streams(self.exchange, params, tuple(self.streams))
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


def upgrade(exchange: FakeExchange, target: str) -> Response | Session:
    """The answer to a WebSocket request for ``target``: a 404 or 400 rejection (Binance's
    JSON error), or the session that runs the connection until it ends."""
    path, _sep, query = target.partition("?")
    path = unquote(path)
    routed = route(path, query)
    if routed is None:
        return _rejection(404, {"code": -1, "msg": f"no WebSocket at {path}"})
    names, combined = routed
    try:
        check_streams(exchange, names)
    except BadStreams as exc:
        return _rejection(400, {"code": 2, "msg": str(exc)})

    async def session(ws: WebSocket) -> None:
        await Connection(exchange, ws, combined).run(names)

    return session


def _rejection(status: int, body: dict[str, object]) -> Response:
    return Response(status, [("content-type", "application/json")], json.dumps(body).encode())


def symbol_of(exchange: FakeExchange, name: str) -> str:
    """The symbol of a stream name this exchange serves; BadStreams otherwise."""
    base, sep, kind = name.partition("@")
    symbol = base.upper()
    if sep != "@" or kind != "aggTrade" or base != base.lower() or not base:
        raise BadStreams(f"Invalid request: unsupported stream name {name!r}")
    if not exchange.serves(symbol):
        raise BadStreams(f"Invalid request: unknown stream {name!r}")
    return symbol


def check_streams(exchange: FakeExchange, names: list[str], current: tuple[str, ...] = ()) -> None:
    """BadStreams unless every name is served and ``current`` plus them stay within
    Binance's limit of streams per connection."""
    for name in names:
        symbol_of(exchange, name)
    if len(set(names) | set(current)) > MAX_STREAMS:
        raise BadStreams(f"Invalid request: more than {MAX_STREAMS} streams")
