"""Validate each frame, route its trade to the batcher, count and drop everything else.

Bad input never crashes the daemon and never reaches the DB. Each rejected frame is
counted under a reason: the parser's (``oversized``, ``not_utf8``, ``not_json``,
``not_object``, ``wrong_event``, ``missing_field``, ``bad_type``, ``bad_decimal``,
``bad_value``) plus ``binary`` (Binance only sends text frames) and ``wrong_symbol``
(a trade for a symbol the connection did not subscribe to).
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable

import trio

from tradestore._errors import InvalidMessage
from tradestore.binance import parse_control_reply
from tradestore.codec._twins import parse_row
from tradestore.recorder._backoff import LogThrottle
from tradestore.recorder._batcher import Batcher
from tradestore.recorder._stream import SERVER_SHUTDOWN, Connection, Delivery, Frames, Session

log = logging.getLogger(__name__)

COALESCE_S = 0.002

DROP_REASONS = (
    "binary",
    "oversized",
    "not_utf8",
    "not_json",
    "not_object",
    "wrong_event",
    "missing_field",
    "bad_type",
    "bad_decimal",
    "bad_value",
    "wrong_symbol",
)


class Dispatcher:
    """Consumes (connection, frame) pairs from the bounded frame channel."""

    def __init__(
        self,
        batcher: Batcher,
        *,
        parse: Callable = parse_row,
        throttle: LogThrottle | None = None,
    ) -> None:
        self.batcher = batcher
        self.parse = parse
        self.throttle = throttle or LogThrottle(log)
        # Counters: read by statistics, written only here.
        self.frames = 0
        self.drops: Counter = Counter()
        self.symbol_drops: defaultdict[str, Counter] = defaultdict(Counter)
        self.shutdown_events = 0
        self.control_replies = 0
        # A batch taken from the channel and not yet handled whole (the buffers filled).
        self._rest: Delivery | None = None

    def forget(self, symbol: str) -> None:
        """Drop a removed symbol's counters (it starts from zero if it comes back)."""
        self.symbol_drops.pop(symbol, None)

    async def serve(
        self,
        receive_channel: trio.MemoryReceiveChannel[Delivery],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Handle batches of frames until cancelled. The channel stays open so shutdown
        can drain it."""
        task_status.started()
        batcher = self.batcher
        receive_nowait = receive_channel.receive_nowait
        while True:
            # A running write has the GIL to itself (Batcher.write_first); waited for
            # before a batch is taken, so a cancellation never leaves one taken and
            # not handled (drain handles what a full buffer left of one).
            await batcher.write_first()
            if self._rest is None:
                self._rest = await receive_channel.receive()
            # Take whatever else is queued without a trip through the scheduler per batch
            # (the queue is bounded, so this loop is too).
            try:
                while self._handle_rest():
                    self._rest = receive_nowait()
            except trio.WouldBlock:
                pass
            if batcher.full:
                await batcher.wait_for_room()
            else:
                # Let batches gather for a moment: one wake-up then handles several
                # connections' batches instead of one. The bounded queue absorbs the
                # pause; latency is irrelevant next to the 1 s flush.
                await trio.sleep(COALESCE_S)

    def _handle_rest(self) -> bool:
        """Handle the taken batch in order until the buffers are full (checked after
        each frame: at most one over the limit); what is left of it stays taken. True
        if it was handled whole and there is room for more."""
        assert self._rest is not None
        conn, frames = self._rest
        batcher = self.batcher
        batcher.received_batch(trio.current_time(), time.time())
        handle = self._handle
        limit = batcher.config.max_buffered_trades
        for i, frame in enumerate(frames):
            handle(conn, frame)
            if batcher.buffered >= limit:
                self._rest = (conn, frames[i + 1 :]) if i + 1 < len(frames) else None
                return False
        self._rest = None
        return True

    def drain(self, receive_channel: trio.MemoryReceiveChannel[Delivery]) -> int:
        """Handle every frame already taken or queued, without waiting (used at
        shutdown, when the buffers' limit no longer holds anything back)."""
        n = 0
        if self._rest is not None:
            conn, frames = self._rest
            self._rest = None
            self.handle_batch(conn, frames)
            n += len(frames)
        while True:
            try:
                conn, frames = receive_channel.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel):
                return n
            self.handle_batch(conn, frames)
            n += len(frames)

    def handle_batch(self, conn: Session | Connection, frames: Frames) -> None:
        """Handle the frames one connection delivered together, in order."""
        self.batcher.received_batch(trio.current_time(), time.time())
        handle = self._handle
        for frame in frames:
            handle(conn, frame)

    def handle(self, conn: Session | Connection, frame: str | bytes) -> None:
        """Handle one frame that arrived just now."""
        self.handle_batch(conn, [frame])

    def _handle(self, conn: Session | Connection, frame: str | bytes) -> None:
        self.frames += 1
        if not isinstance(frame, str):
            self.drop(conn, "binary", f"{len(frame)}-byte binary frame")
            return
        try:
            symbol, trade = self.parse(frame)
        except InvalidMessage as exc:
            if exc.reason == "wrong_event" and is_server_shutdown(frame):
                self.shutdown_events += 1
                conn.rotate(SERVER_SHUTDOWN)  # make-before-break, on this very socket
                return
            reply = parse_control_reply(frame)
            if reply is not None and isinstance(conn, Session):
                # The answer to a SUBSCRIBE/UNSUBSCRIBE: handled here, in frame order,
                # so every trade the exchange sent before it has been taken already.
                self.control_replies += 1
                conn.control_reply(reply)
                return
            self.drop(conn, exc.reason, exc.detail)
            return
        if symbol is None:
            self.drop(conn, "missing_field", "field 's' (symbol)")
            return
        if symbol not in conn.symbols:
            self.drop(conn, "wrong_symbol", f"{symbol[:40]!r} is not subscribed on this stream")
            return
        # One symbol per connection: the check above said it all. Several: the wrapper's
        # stream label must name the same symbol as the trade inside it.
        label = None if conn.single_symbol else stream_label(frame)
        if label is not None and label != symbol.lower():
            self.drop(conn, "wrong_symbol", f"{symbol[:40]!r} in the {label[:40]!r} stream")
            return
        self.batcher.accept(symbol, trade, conn.line)

    def drop(self, conn: Session | Connection, reason: str, detail: str = "") -> None:
        """Count a rejected frame (per symbol when the connection carries only one)."""
        self.drops[reason] += 1
        symbol = conn.single_symbol
        # Not counted per symbol: a symbol removed by a reload (its frames in flight).
        if symbol is not None and symbol in self.batcher.symbols:
            self.symbol_drops[symbol][reason] += 1
        self.throttle.log(
            f"drop:{reason}",
            logging.WARNING,
            "%s: dropped a frame (%s): %s",
            conn.name,
            reason,
            detail,
        )


def stream_label(frame: str) -> str | None:
    """The symbol part of a combined-stream wrapper's ``"stream": "<sym>@aggTrade"``, found
    by a substring search (the parser has already validated the frame as JSON)."""
    if frame.startswith('{"stream":"'):  # Binance's own layout: the cheap path
        return frame[11 : frame.find("@", 11)]
    i = frame.find('"stream"')
    if i < 0:
        return None
    start = frame.find('"', frame.find(":", i + 8)) + 1
    end = frame.find('"', start)
    return frame[start:end].partition("@")[0]


def is_server_shutdown(frame: str) -> bool:
    """Binance's ``{"e": "serverShutdown", "E": ...}`` notice: raw, in a combined-stream
    ``data`` wrapper, or in the ``{"event": {...}}`` wrapper of Binance's connection events."""
    if "serverShutdown" not in frame:
        return False
    try:
        doc = json.loads(frame)
    except ValueError:
        return False
    if isinstance(doc, dict) and "e" not in doc:
        inner = doc.get("data", doc.get("event"))
        if isinstance(inner, dict):
            doc = inner
    return isinstance(doc, dict) and doc.get("e") == "serverShutdown"
