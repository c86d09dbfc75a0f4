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
# How long intake waits, at most, for a write running on the writer thread (see serve).
WRITE_FIRST_S = 0.25

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
        handle_batch = self.handle_batch
        receive_nowait = receive_channel.receive_nowait
        while True:
            conn, frames = await receive_channel.receive()
            handle_batch(conn, frames)
            # Take whatever else is queued without a trip through the scheduler per batch
            # (the queue is bounded, so this loop is too).
            try:
                while not batcher.full:
                    conn, frames = receive_nowait()
                    handle_batch(conn, frames)
            except trio.WouldBlock:
                pass
            if batcher.full:
                await batcher.wait_for_room()
            elif batcher.in_flight:
                # A write runs on the writer thread. It holds the interpreter lock for
                # all of its work (RocksDB's write included: rocksdict does not release
                # it), so parsing frames now would not run beside it, only interleave
                # with it and stretch it. The write goes first: intake waits until it
                # ends, WRITE_FIRST_S at most, while new frames wait in the bounded
                # frame channel and the kernel's socket buffers (the readers go on
                # reading and answering pings). The bound keeps a stalled disk from
                # stopping the intake: the buffers' own limit (max_buffered_trades)
                # decides that.
                with trio.move_on_after(WRITE_FIRST_S):
                    await batcher.wait_written()
            else:
                # Let batches gather for a moment: one wake-up then handles several
                # connections' batches instead of one. The bounded queue absorbs the
                # pause; latency is irrelevant next to the 1 s flush.
                await trio.sleep(COALESCE_S)

    def drain(self, receive_channel: trio.MemoryReceiveChannel[Delivery]) -> int:
        """Handle every frame already queued, without waiting (used at shutdown)."""
        n = 0
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
