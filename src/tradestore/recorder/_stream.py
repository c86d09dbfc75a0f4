"""One reconnecting WebSocket connection per shard of symbols, and its data watchdog.

The task that reads a session's socket does nothing else: it takes the messages of each
read as one batch (``_wsconn``, our WebSocket client on wsproto), stamps their arrival and
hands them to a bounded channel. The same read answers the exchange's pings, so any stall
here (a slow parse, a DB write) would eventually get us dropped for a missed pong.

A combined connection changes its symbols in place: ``Connection.subscribe`` and
``unsubscribe`` change the set it should carry, and each open session reconciles with it
by SUBSCRIBE/UNSUBSCRIBE messages, one at a time and paced under the market's limit on
incoming messages per connection. A session that (re)connects asks for the current set
in its URL, so nothing is lost to a change made while it was down.
"""

from __future__ import annotations

import functools
import logging
import random
import ssl
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import trio

from tradestore._errors import TradestoreError
from tradestore._excgroup import first_leaf
from tradestore.binance import (
    MAX_STREAMS_PER_CONTROL_MESSAGE,
    RATE_LIMIT_STATUSES,
    SUBSCRIBE,
    UNSUBSCRIBE,
    ControlReply,
    StreamSpec,
    combined_url,
    control_message,
    parse_retry_after,
)
from tradestore.binance import plan_streams as binance_plan
from tradestore.recorder._backoff import Backoff, ConnectionBudget, LogThrottle
from tradestore.recorder._config import RecorderConfig
from tradestore.recorder._diagnose import explain
from tradestore.recorder._statistics import ConnectionStatistics, frozen
from tradestore.recorder._wsconn import (
    MESSAGE_TOO_BIG,
    CloseReason,
    ConnectionClosed,
    ConnectionRejected,
    HandshakeError,
    WebSocketClient,
    connect,
)

log = logging.getLogger(__name__)

# Big enough that an oversized-but-harmless frame reaches the parser (which rejects and
# counts it) instead of closing the connection; beyond it the client closes with 1009.
MAX_MESSAGE_BYTES = 4 * 2**20
# Frames handed to the dispatcher in one batch, at most: the frame channel holds
# frame_queue_size batches, so this bounds what it can hold (a 64 KiB read of aggTrades
# is ~250 frames; the rest follow in the next batches, without another read).
READ_BATCH = 65
DISCONNECT_TIMEOUT = 2.0
# One recv() takes a burst of frames (4 KiB would be ~15 frames).
RECEIVE_BUFFER_BYTES = 64 * 1024
EWMA_ALPHA = 0.1

# Reasons a connection is recycled on purpose.
SERVER_SHUTDOWN = "server_shutdown"  # the exchange's notice: rotate at once
MAX_AGE = "max_age"  # our rotate_after limit, ahead of the exchange's 24 h cut
STALLED = "stalled"  # a symbol on it confirmed stuck by the exchange: rotate
SILENT = "silent"  # the data watchdog: a failure, reconnected under backoff
OPENINGS_KEPT = 16  # session openings a connection remembers (Connection.opened_times)
# A control message the exchange refused or never answered: the session's subscriptions
# are unknown, so it is replaced (make-before-break) by one that asks for them in its URL.
CONTROL_FAILED = "control_failed"
PLANNED = frozenset({SERVER_SHUTDOWN, MAX_AGE, STALLED, CONTROL_FAILED})
# How long a control message may wait for its reply (a successor's replies are held
# back during a rotation, up to FIRST_FRAME_WAIT plus the overlap).
CONTROL_REPLY_TIMEOUT = 30.0
# A connection down this long without a healthy session is no blip the reconnect repairs
# (the gap it leaves is backfilled): its failures log at ERROR from then on, not WARNING.
DOWN_FOR_A_PERSON = 300.0
# How long a rotation's successor may stay without data before it is taken anyway (a
# quiet market); the old session then closes after rotation_overlap more seconds.
FIRST_FRAME_WAIT = 10.0


class ConnectTimeout(TradestoreError):
    """TCP, TLS and the WebSocket handshake did not complete within connect_timeout."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where a ws:// or wss:// URL points: what to dial and what to ask for."""

    host: str
    port: int
    resource: str
    tls: bool

    @classmethod
    def from_url(cls, url: str) -> Target:
        parts = urlsplit(url)
        tls = parts.scheme == "wss"
        port = parts.port or (443 if tls else 80)
        resource = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if not parts.hostname:
            raise ValueError(f"no host in the stream URL {url!r}")
        return cls(parts.hostname, port, resource, tls)

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port in (80, 443) else f"{host}:{self.port}"

    async def open_stream(
        self, local_address: str | None = None
    ) -> trio.SocketStream | trio.SSLStream[trio.SocketStream]:
        tcp = await trio.open_tcp_stream(self.host, self.port, local_address=local_address)
        if not self.tls:
            return tcp
        # What trio.open_ssl_over_tcp_stream does (the handshake happens on first use),
        # with the local address it does not take.
        return trio.SSLStream(tcp, _ssl_context(), server_hostname=self.host, https_compatible=True)

    async def handshake(self, stream: trio.abc.Stream) -> WebSocketClient:
        """The WebSocket over an open stream, with the recorder's limits: its largest
        message, its socket read size and how many messages one read hands over."""
        return await connect(
            stream,
            self.host_header,
            self.resource,
            max_message_bytes=MAX_MESSAGE_BYTES,
            receive_bytes=RECEIVE_BUFFER_BYTES,
            max_batch=READ_BATCH,
        )


WriteFirst = Callable[[], Awaitable[None]]


async def _nothing_to_wait_for() -> None:
    pass


def _wall_ms() -> int:
    return int(time.time() * 1000)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def plan_streams(
    config: RecorderConfig, symbols: Sequence[str] | None = None, *, first_index: int = 0
) -> list[StreamSpec]:
    """The connection plan for ``symbols`` (default: all of the config's) under its settings."""
    return binance_plan(
        config.endpoint,
        config.symbols if symbols is None else symbols,
        per_symbol=config.per_symbol_streams,
        max_streams=config.max_streams_per_connection,
        first_index=first_index,
    )


LINE_A = "a"
LINE_B = "b"


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    """A connection's fixed part: its first streams, where it dials, the settings it
    obeys, and whether its streams can change in place (combined) or not (``/ws/<s>``)."""

    spec: StreamSpec
    config: RecorderConfig
    target: Target
    live: bool  # a combined /stream connection: SUBSCRIBE/UNSUBSCRIBE change its streams
    line: str = LINE_A  # a, or b: the second connection of the same streams (A/B lines)
    name: str = ""

    @classmethod
    def of(cls, spec: StreamSpec, config: RecorderConfig, line: str = LINE_A) -> ConnectionSettings:
        live = not config.per_symbol_streams
        name = spec.name if line == LINE_A else f"{spec.name}-{line}"
        return cls(spec, config, Target.from_url(spec.url), live, line, name)

    @property
    def start_delay(self) -> float:
        """Seconds before the first connection attempt: line B starts later than line A,
        so the two never reconnect or rotate in step."""
        return self.config.line_b_delay if self.line == LINE_B else 0.0

    @property
    def local_address(self) -> str | None:
        return self.config.line_b_local_address if self.line == LINE_B else None

    def target_for(self, symbols: frozenset[str]) -> Target:
        """Where a session carrying ``symbols`` dials (per-symbol streams: always the same)."""
        if not self.live or symbols == frozenset(self.spec.symbols):
            return self.target
        return Target.from_url(combined_url(self.config.endpoint, sorted(symbols)))


@dataclass(slots=True)
class ConnectionCounters:
    """What a connection did; ``Connection.statistics()`` copies them into a snapshot."""

    attempts: int = 0
    opens: int = 0
    failures: int = 0
    rotations: int = 0  # completed make-before-break handovers
    rotation_failures: int = 0  # successors that could not be opened
    recycled: Counter = field(default_factory=Counter)  # sessions closed on purpose
    frames: int = 0
    control_messages: int = 0  # SUBSCRIBE/UNSUBSCRIBE sent
    control_failures: int = 0  # refused or unanswered control messages
    last_error: str | None = None
    last_backoff: float | None = None

    @property
    def reconnects(self) -> int:
        return max(self.opens - 1, 0)


@dataclass(frozen=True, slots=True)
class Handles:
    """What a running connection works with, handed to each of its sessions; they exist
    only while ``Connection.serve`` runs."""

    nursery: trio.Nursery  # sessions and handovers run here
    send_channel: trio.MemorySendChannel[Delivery]  # (session, frames) to the dispatcher
    budget: ConnectionBudget  # the process-wide connection budget
    on_drop: DropHook  # counts a frame the connection itself rejected
    rng: random.Random | None  # the backoff's jitter (seeded in tests)
    write_first: WriteFirst  # waited on before each read (Batcher.write_first)


class Connection:
    """One shard of symbols kept connected for ever: a chain of sessions.

    Normally one session is open. A rotation (the connection's age limit, or the
    exchange's ``serverShutdown`` notice) opens a successor *first* and closes the old
    session only once the successor carries data: make-before-break. During the overlap
    the successor holds its frames back and releases them after the old session's last
    frame is queued, so the dispatcher sees each symbol's ids in order and the batcher's
    ``id <= last`` rule drops the overlap; no false gap opens at the seam.

    Four kinds of data, kept apart: ``settings`` never change; ``counters`` only grow
    (``statistics()`` snapshots them); the live state (``state``, ``current``, the frame
    rate) follows the sessions; the ``Handles`` a running connection works with are made
    by ``serve`` and passed to each session it opens.
    """

    def __init__(self, spec: StreamSpec, config: RecorderConfig, line: str = LINE_A) -> None:
        self.settings = ConnectionSettings.of(spec, config, line)
        self.counters = ConnectionCounters()
        # The symbols this connection should carry now; sessions reconcile with it.
        self._wanted = frozenset(spec.symbols)
        self._wanted_changed = trio.Event()
        self.state = "idle"  # idle | connecting | open | backoff | closed | stopped
        self.current: Session | None = None
        self.mean_interval: float | None = None  # seconds between frames, smoothed
        self.last_frame_at: float | None = None  # trio time of the last frame, any session
        self.last_frame_ms: int | None = None  # ... and its local wall time (/healthz)
        self.down_since_ms: int | None = None  # wall time since no session is open
        # trio times of the latest session openings (a stall check after a reconnect)
        self.opened_times: deque[float] = deque(maxlen=OPENINGS_KEPT)
        # The highest agg id this connection delivered per symbol (the batcher keeps it):
        # tells a line that repeats itself from one that is behind another line.
        self.last_ids: dict[str, int] = {}
        self.taken = 0  # agg ids this connection delivered first (the batcher counts)
        self.line = self  # what the batcher's arbitration knows a delivering line by
        self.retry_after: float | None = None  # from a rejected handshake's Retry-After
        self._scope = trio.CancelScope()  # stop() ends serve(), even before it starts

    @property
    def name(self) -> str:
        return self.settings.name

    def first_open_after(self, t: float) -> float | None:
        """The trio time of the first session opened after ``t`` that is remembered (the
        latest OPENINGS_KEPT, the current session's included), or None: none was."""
        return next((opened for opened in self.opened_times if opened > t), None)

    @property
    def symbols(self) -> frozenset[str]:
        """The symbols this connection should carry (a change reaches the exchange
        through the open session's control messages, or the next session's URL)."""
        return self._wanted

    @property
    def is_open(self) -> bool:
        return self.state == "open"

    @property
    def single_symbol(self) -> str | None:
        return next(iter(self._wanted)) if len(self._wanted) == 1 else None

    @property
    def live(self) -> bool:
        return self.settings.live

    @property
    def room(self) -> int:
        """How many more streams this connection may carry."""
        return self.settings.config.max_streams_per_connection - len(self._wanted)

    def subscribe(self, symbols: Iterable[str]) -> None:
        """Carry ``symbols`` too (combined connections only)."""
        self._change(self._wanted | frozenset(symbols))

    def unsubscribe(self, symbols: Iterable[str]) -> None:
        """Stop carrying ``symbols``; frames of theirs already received are still handed
        on, and the dispatcher takes them until the exchange confirms the change."""
        self._change(self._wanted - frozenset(symbols))

    def _change(self, wanted: frozenset[str]) -> None:
        if not self.live:
            raise RuntimeError(f"{self.name}: a /ws/<symbol> connection cannot change streams")
        if wanted == self._wanted:
            return
        self._wanted = wanted
        self._wanted_changed.set()
        self._wanted_changed = trio.Event()

    async def wait_changed(self) -> None:
        await self._wanted_changed.wait()

    async def serve(
        self,
        send_channel: trio.MemorySendChannel[Delivery],
        budget: ConnectionBudget,
        *,
        on_drop: DropHook,
        rng: random.Random | None = None,
        throttle: LogThrottle | None = None,
        write_first: WriteFirst = _nothing_to_wait_for,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Keep connected until cancelled or stopped, handing every frame to
        ``send_channel``; ``on_drop`` counts what the connection rejects itself, and
        ``write_first`` is awaited before each socket read (a running write goes first)."""
        with self._scope:
            async with send_channel, trio.open_nursery() as nursery:
                handles = Handles(nursery, send_channel, budget, on_drop, rng, write_first)
                self.down_since_ms = _wall_ms()
                task_status.started()
                await trio.sleep(self.settings.start_delay)
                await _keep_connected(self, handles, throttle or LogThrottle(log))

    def stop(self) -> None:
        """End ``serve`` (the current session closes without a close handshake)."""
        self._scope.cancel()

    def note_frames(self, now: float, n: int, session: Session) -> None:
        """Count n frames that arrived together at ``now`` (one batch of the reader)."""
        # The arrival-rate estimate follows one session only: during a rotation's overlap
        # the same trades arrive twice, which would halve the apparent interval.
        if not session.holding and session.frames and session.last_frame_at is not None:
            gap = (now - session.last_frame_at) / n
            if self.mean_interval is None:
                self.mean_interval = gap
            else:
                self.mean_interval += EWMA_ALPHA * (gap - self.mean_interval)
        self.counters.frames += n
        self.last_frame_at = now
        self.last_frame_ms = _wall_ms()

    def watchdog_threshold(self) -> float:
        """Silence longer than this recycles the connection (pings do not count)."""
        cfg = self.settings.config
        if self.mean_interval is None:
            return cfg.watchdog_floor
        return min(
            cfg.watchdog_max, max(cfg.watchdog_floor, cfg.watchdog_factor * self.mean_interval)
        )

    def recycle(self, reason: str) -> None:
        """Close the current session at once (break-before-make) so the task reconnects."""
        if self.current is not None:
            self.current.recycle(reason)

    def rotate(self, reason: str) -> None:
        """Replace the current session make-before-break."""
        if self.current is not None:
            self.current.rotate(reason)

    def statistics(self) -> ConnectionStatistics:
        c = self.counters
        return ConnectionStatistics(
            name=self.name,
            shard=self.settings.spec.name,
            line=self.settings.line,
            symbols=tuple(sorted(self._wanted)),
            state=self.state,
            attempts=c.attempts,
            opens=c.opens,
            reconnects=c.reconnects,
            rotations=c.rotations,
            rotation_failures=c.rotation_failures,
            failures=c.failures,
            recycled=frozen(c.recycled),
            frames=c.frames,
            control_messages=c.control_messages,
            control_failures=c.control_failures,
            last_error=c.last_error,
            last_backoff=c.last_backoff,
            watchdog_threshold=self.watchdog_threshold(),
            last_frame_ms=self.last_frame_ms,
            down_since_ms=self.down_since_ms,
            taken=self.taken,
        )


class Session:
    """One WebSocket connection of a Connection, from handshake to close.

    The dispatcher receives ``(session, frame)`` pairs: a session answers the same
    questions as its Connection (name, symbols) and is the thing a ``serverShutdown``
    notice rotates, since it arrives on one particular socket.
    """

    def __init__(self, conn: Connection, handles: Handles, *, holding: bool = False) -> None:
        self.conn = conn
        self.handles = handles
        self.name = conn.name
        # What the exchange was asked for (the URL, then control messages) ...
        self.subscribed: frozenset[str] = conn.symbols
        self.target = conn.settings.target_for(self.subscribed)
        # ... and what the dispatcher takes from this session: the subscribed symbols plus
        # those whose UNSUBSCRIBE is not confirmed yet (their frames still arrive).
        self.symbols: frozenset[str] = self.subscribed
        self.single_symbol: str | None = None
        self._note_symbols()
        self.line = conn
        self.config = conn.settings.config
        self._control_id = 0
        self._awaiting: tuple[int, str, tuple[str, ...]] | None = None
        self._reply: ControlReply | None = None
        self._replied = trio.Event()
        self.frames = 0
        self.opened_at: float | None = None
        self.last_frame_at: float | None = None
        self.outcome: tuple[bool, bool, str | None] = (False, False, None)
        self.done = trio.Event()
        self.first_frame = trio.Event()
        # A successor holds its batches until its predecessor's last one is queued.
        self.holding = holding
        self.held: deque[Frames] = deque()
        self.successor: Session | None = None
        self.rotating = False
        self.handover_settled = trio.Event()  # set once a rotation chose its successor
        self._scope: trio.CancelScope | None = None
        self._recycle_reason: str | None = None

    def _note_symbols(self) -> None:
        # One symbol: the dispatcher's check of the symbol says it all (no stream label).
        self.single_symbol = next(iter(self.symbols)) if len(self.symbols) == 1 else None

    def control_reply(self, reply: ControlReply) -> None:
        """The exchange answered a control message (called by the dispatcher, in frame
        order: every frame the exchange sent before the answer has been handled)."""
        awaiting = self._awaiting
        if awaiting is None or reply.id != awaiting[0]:
            log.warning("%s: reply to an unknown control message id %s", self.name, reply.id)
            return
        request_id, method, symbols = awaiting
        self._awaiting = None
        if method == UNSUBSCRIBE and reply.error is None:
            self.symbols = self.symbols - frozenset(symbols)
            self._note_symbols()
        self._reply = reply
        self._replied.set()

    def begin_control(self, method: str, names: tuple[str, ...]) -> int:
        """Note a control message about to be sent and return its id. A SUBSCRIBE's
        symbols are taken from now on: the exchange may send their first trade right
        after its reply. An UNSUBSCRIBE's stay taken until the reply confirms it."""
        self._control_id += 1
        if method == SUBSCRIBE:
            self.symbols = self.symbols | frozenset(names)
            self.subscribed = self.subscribed | frozenset(names)
        else:
            self.subscribed = self.subscribed - frozenset(names)
        self._note_symbols()
        self._awaiting = (self._control_id, method, names)
        self._reply = None
        self._replied = trio.Event()
        return self._control_id

    async def control_answer(self) -> ControlReply | None:
        """The exchange's answer to the last control message; None when none came within
        CONTROL_REPLY_TIMEOUT."""
        with trio.move_on_after(CONTROL_REPLY_TIMEOUT):
            await self._replied.wait()
        return self._reply

    def attach(self, scope: trio.CancelScope) -> None:
        """The scope that ``recycle`` cancels while the session runs."""
        self._scope = scope

    def detach(self) -> None:
        self._scope = None

    @property
    def recycle_reason(self) -> str | None:
        """Why the recorder closed this session itself (None: it did not)."""
        return self._recycle_reason

    def note_frames(self, now: float, n: int) -> None:
        self.conn.note_frames(now, n, self)
        self.last_frame_at = now
        if not self.frames:
            self.first_frame.set()
        self.frames += n

    def recycle(self, reason: str) -> None:
        """Close this session now (the watchdog's and a completed handover's way out)."""
        if self._scope is not None and self._recycle_reason is None:
            self._recycle_reason = reason
            self._scope.cancel()

    def rotate(self, reason: str) -> None:
        """Open a successor, then close this session (once; later calls are ignored)."""
        if self.rotating or self.done.is_set():
            return
        try:
            self.handles.nursery.start_soon(_hand_over, self, reason)
        except RuntimeError:
            return  # the connection is shutting down (a notice drained at shutdown)
        self.rotating = True

    async def release(self) -> None:
        """Queue the held batches (in arrival order), then pass new ones straight through."""
        send = self.handles.send_channel.send
        while self.held:
            await send((self, self.held.popleft()))
        self.holding = False


DropHook = Callable[[Connection | Session, str], None]
# What a session hands the dispatcher: itself, and the frames of one read in order.
Frames = list[str | bytes]
Delivery = tuple[Session, Frames]


async def _keep_connected(conn: Connection, handles: Handles, throttle: LogThrottle) -> None:
    """The connection's reconnect loop: one chain of sessions after another."""
    cfg = conn.settings.config
    counters = conn.counters
    budget = handles.budget
    backoff = Backoff(cfg.backoff_initial, cfg.backoff_max, handles.rng)
    failing_since: float | None = None  # the first failure after the last healthy session
    try:
        while True:
            if budget.tokens < 1.0:
                throttle.log(
                    f"{conn.name}:budget",
                    logging.WARNING,
                    "%s: connection budget exhausted (%d attempts per %.0f s); waiting",
                    conn.name,
                    cfg.connect_budget,
                    cfg.connect_budget_window,
                )
            conn.state = "connecting"
            await budget.acquire()
            counters.attempts += 1
            session = Session(conn, handles)
            conn.current = session
            handles.nursery.start_soon(_run_session, session)
            session = await _follow(session)
            healthy, planned, error = session.outcome
            if error is not None:
                counters.failures += 1
                counters.last_error = error
            if healthy or planned:
                backoff.reset()
                failing_since = None
            # A planned recycle (server shutdown) reconnects at once; anything else
            # waits, at least as long as a 429/418 rejection's Retry-After asks.
            delay = 0.0 if planned else backoff.next_delay()
            if conn.retry_after is not None:
                delay = max(delay, conn.retry_after)
                conn.retry_after = None
            counters.last_backoff = delay
            if error is not None:
                now = trio.current_time()
                if failing_since is None:
                    failing_since = now
                # A drop that reconnects is repaired by the recorder: WARNING. Down for
                # minutes, it needs a person: ERROR.
                level = (
                    logging.ERROR if now - failing_since >= DOWN_FOR_A_PERSON else logging.WARNING
                )
                throttle.log(
                    conn.name,
                    level,
                    "%s: %s; reconnecting in %.1f s",
                    conn.name,
                    error,
                    delay,
                    later_level=level,
                )
            conn.state = "backoff"
            await trio.sleep(delay)
    finally:
        conn.state = "stopped"
        conn.current = None


async def _follow(session: Session) -> Session:
    """Wait for the end of a chain of sessions; returns the last one (whose outcome
    decides how to reconnect)."""
    conn = session.conn
    while True:
        await session.done.wait()
        if session.rotating:
            await session.handover_settled.wait()
        if session.successor is None:
            return session
        session = session.successor
        conn.current = session
        conn.state = "open"
        conn.down_since_ms = None


async def _hand_over(old: Session, reason: str) -> None:
    """Make-before-break: open a successor, let both run a moment, close the old one,
    then release the successor's held frames behind the old one's last.

    A successor counts once it carries data (or stayed up through FIRST_FRAME_WAIT on a
    quiet market); one that fails before that is discarded and the old session keeps
    recording while the rotation is retried under backoff."""
    conn = old.conn
    handles = old.handles
    cfg = conn.settings.config
    backoff = Backoff(cfg.backoff_initial, cfg.backoff_max, handles.rng)
    successor = None
    try:
        while not old.done.is_set():
            await handles.budget.acquire()
            conn.counters.attempts += 1
            candidate = Session(conn, handles, holding=True)
            if await handles.nursery.start(_run_session, candidate):
                with trio.move_on_after(FIRST_FRAME_WAIT):
                    await _first_of(candidate.first_frame, candidate.done, old.done)
                if not candidate.done.is_set():
                    successor = candidate
                    break
            conn.counters.rotation_failures += 1
            delay = backoff.next_delay()
            log.warning(
                "%s: no successor for the rotation (%s): %s; keeping the current "
                "connection, retrying in %.1f s",
                conn.name,
                reason.replace("_", " "),
                candidate.outcome[2] or "closed before any data",
                delay,
            )
            with trio.move_on_after(delay):
                await old.done.wait()
        old.successor = successor
    finally:
        old.handover_settled.set()
    if successor is None:
        return  # the old session ended first: an ordinary reconnect follows
    with trio.move_on_after(cfg.rotation_overlap):
        await old.done.wait()
    old.recycle(reason)
    await old.done.wait()
    conn.counters.rotations += 1
    log.info(
        "%s: rotated to a new connection (%s; make-before-break, %d frames overlapped)",
        conn.name,
        reason.replace("_", " "),
        sum(len(batch) for batch in successor.held),
    )
    await successor.release()


async def _first_of(*events: trio.Event) -> None:
    """Return as soon as any of the events is set."""
    async with trio.open_nursery() as nursery:

        async def wait(event: trio.Event) -> None:
            await event.wait()
            nursery.cancel_scope.cancel()

        for event in events:
            nursery.start_soon(wait, event)


async def _run_session(
    session: Session, *, task_status: trio.TaskStatus[bool] = trio.TASK_STATUS_IGNORED
) -> None:
    """Run one session; ``task_status.started(opened?)`` once the handshake is decided."""
    try:
        session.outcome = await _session(session, task_status)
    finally:
        session.done.set()


async def _session(
    session: Session, task_status: trio.TaskStatus[bool]
) -> tuple[bool, bool, str | None]:
    """One connection from handshake to close: (healthy, planned recycle, error text)."""
    conn = session.conn
    counters = conn.counters
    cfg = conn.settings.config
    opened_at = None
    error: str | None = None
    target = session.target
    started = False
    # The session owns the TCP/TLS stream: it opens it, the WebSocket client runs on it,
    # and it is closed below whatever happened.
    stream = None
    try:
        try:
            with trio.fail_after(cfg.connect_timeout):
                stream = await target.open_stream(conn.settings.local_address)
                ws = await target.handshake(stream)
        except trio.TooSlowError:
            raise ConnectTimeout(f"no handshake within {cfg.connect_timeout:g} s") from None
        opened_at = trio.current_time()
        session.opened_at = session.last_frame_at = opened_at
        conn.opened_times.append(opened_at)
        counters.opens += 1
        conn.state = "open"
        conn.down_since_ms = None
        if counters.opens == 1:
            log.info("%s: connected (%d streams)", conn.name, len(conn.symbols))
        elif session.holding:
            log.info(
                "%s: successor connection open (reconnect #%d)",
                conn.name,
                counters.reconnects,
            )
        else:
            log.info("%s: reconnected (reconnect #%d)", conn.name, counters.reconnects)
        started = True
        task_status.started(True)
        try:
            async with trio.open_nursery() as nursery:
                session.attach(nursery.cancel_scope)
                nursery.start_soon(_watchdog, session)
                nursery.start_soon(_rotation_timer, session)
                if conn.live:
                    nursery.start_soon(_reconcile, session, ws)
                await _read(ws, session.handles.send_channel, session)
        finally:
            session.detach()
            if session.recycle_reason is not None:
                # Our own decision to leave: a brief, polite close handshake. (On
                # shutdown we do not wait for the server; the flush comes first.)
                with trio.move_on_after(DISCONNECT_TIMEOUT, shield=True):
                    await ws.close()
    except* ConnectionClosed as group:
        closed = first_leaf(group)
        assert isinstance(closed, ConnectionClosed)
        if closed.reason.code == MESSAGE_TOO_BIG:
            session.handles.on_drop(session, "oversized")
        error = f"connection closed ({_close_text(closed.reason)})"
    except* (HandshakeError, ConnectTimeout) as group:
        exc = first_leaf(group)
        if isinstance(exc, ConnectionRejected):
            # None (no usable Retry-After): the backoff alone decides the wait.
            conn.retry_after = _retry_after(exc)
        why = explain(exc, target.host, target.port) or _exc_text(exc)
        error = f"connect to {_url_text(conn, target)} failed: {why}"
    except* (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as group:
        exc = first_leaf(group)
        if opened_at is None:  # before the handshake: say what failed, DNS, TCP or TLS
            why = explain(exc, target.host, target.port) or _exc_text(exc)
            error = f"connect to {_url_text(conn, target)} failed: {why}"
        else:
            error = f"network error: {_exc_text(exc)}"
    except* Exception as group:
        # A bug, not the network: keep recording the other streams, retry under backoff.
        log.error("%s: unexpected error", conn.name, exc_info=first_leaf(group))
        error = f"unexpected error: {first_leaf(group)!r}"
    finally:
        if stream is not None:
            with trio.CancelScope(shield=True):
                await stream.aclose()
        if not started:
            task_status.started(False)
    if conn.current is session and conn.state == "open":
        conn.state = "closed"
        conn.down_since_ms = _wall_ms()
    reason = session.recycle_reason
    handed_over = session.successor is not None
    if reason is not None:
        counters.recycled[reason] += 1
        if reason == SILENT:
            error = error or (
                f"no data for {conn.watchdog_threshold():.0f} s although the connection is "
                "open; recycling it"
            )
        elif not handed_over:
            log.info("%s: %s; reconnecting", conn.name, reason.replace("_", " "))
    if handed_over:
        error = None  # a planned close after the handover; the chain goes on
    lived = 0.0 if opened_at is None else trio.current_time() - opened_at
    healthy = opened_at is not None and (session.frames > 0 or lived >= cfg.healthy_after)
    return healthy, reason in PLANNED or handed_over, error


async def _read(
    ws: WebSocketClient, send_channel: trio.MemorySendChannel[Delivery], session: Session
) -> None:
    """Hand the frames to the dispatcher in batches: each ``receive_batch()`` returns the
    messages one socket read brought in (at most READ_BATCH of them).

    A trip through the scheduler per frame, not the parse, was the largest cost per
    frame under a flood; one list per read pays it once per batch. Before each read a
    running write goes first (``Handles.write_first``): reading and decoding frames
    beside it would only stretch it."""
    write_first = session.handles.write_first
    receive_batch = ws.receive_batch
    send_nowait = send_channel.send_nowait
    note_frames = session.note_frames
    current_time = trio.current_time
    held = session.held
    while True:
        await write_first()
        frames = await receive_batch()
        note_frames(current_time(), len(frames))
        if session.holding:
            held.append(frames)
            continue
        try:
            send_nowait((session, frames))
        except trio.WouldBlock:
            await send_channel.send((session, frames))


async def _reconcile(session: Session, ws: WebSocketClient) -> None:
    """Bring the session's subscriptions in line with its connection's wanted symbols:
    one SUBSCRIBE or UNSUBSCRIBE at a time, each answered before the next, spaced under
    the market's limit on incoming messages per connection (pongs count too)."""
    conn = session.conn
    counters = conn.counters
    interval = session.config.market_info.control_interval_s
    next_at = trio.current_time()
    while True:
        wanted = conn.symbols
        removed = session.subscribed - wanted
        added = wanted - session.subscribed
        if not removed and not added:
            await conn.wait_changed()
            continue
        # Removals first: they free room on the connection for the additions.
        method = UNSUBSCRIBE if removed else SUBSCRIBE
        names = tuple(sorted(removed or added)[:MAX_STREAMS_PER_CONTROL_MESSAGE])
        await trio.sleep_until(next_at)
        request_id = session.begin_control(method, names)
        await ws.send_message(control_message(method, names, request_id))
        counters.control_messages += 1
        next_at = trio.current_time() + interval
        reply = await session.control_answer()
        problem = (
            f"no answer within {CONTROL_REPLY_TIMEOUT:g} s"
            if reply is None
            else (f"refused: {reply.error}" if reply.error is not None else None)
        )
        if problem is not None:
            counters.control_failures += 1
            log.error(
                "%s: %s of %d streams %s; replacing the connection",
                conn.name,
                method,
                len(names),
                problem,
            )
            session.rotate(CONTROL_FAILED)
            return
        log.info(
            "%s: %s %s (%d streams on the connection)",
            conn.name,
            "subscribed" if method == SUBSCRIBE else "unsubscribed",
            ",".join(names) if len(names) <= 10 else f"{len(names)} symbols",
            len(session.subscribed),
        )


async def _watchdog(session: Session) -> None:
    conn = session.conn
    while True:
        last_frame_at = session.last_frame_at
        assert last_frame_at is not None, "the watchdog starts after the handshake"
        deadline = last_frame_at + conn.watchdog_threshold()
        if trio.current_time() >= deadline:
            session.recycle(SILENT)
            return
        await trio.sleep_until(deadline)


async def _rotation_timer(session: Session) -> None:
    """Rotate before the exchange's connection age limit (24 h on Binance)."""
    opened_at = session.opened_at
    assert opened_at is not None, "the rotation timer starts after the handshake"
    await trio.sleep_until(opened_at + session.config.rotate_after)
    session.rotate(MAX_AGE)


def _url_text(conn: Connection, target: Target) -> str:
    """The URL a connection dialled, shortened: a combined one names its stream count."""
    if conn.live:
        return f"{conn.settings.config.endpoint}/stream ({len(conn.symbols)} streams)"
    return conn.settings.spec.url


def _close_text(reason: CloseReason) -> str:
    text = f"code {reason.code} {reason.name}"
    return f"{text}: {reason.reason}" if reason.reason else text


def _retry_after(exc: ConnectionRejected) -> float | None:
    """The Retry-After of a rate-limited handshake rejection, in seconds."""
    if exc.status_code not in RATE_LIMIT_STATUSES:
        return None
    for name, value in exc.headers or ():
        if name.lower() == b"retry-after":
            return parse_retry_after(value)
    return None


def _exc_text(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRejected):
        return f"rejected with HTTP {exc.status_code}"
    cause = exc.__cause__ or exc.__context__
    text = str(exc) or type(exc).__name__
    if cause is not None and not str(exc):
        text = f"{type(exc).__name__}: {cause}"
    return text
