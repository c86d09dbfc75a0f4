"""What ``Recorder.statistics()`` returns: frozen snapshots, one type per part.

Each part keeps its own mutable counters and copies them into these types when asked, so
a snapshot never changes after it is taken, and taking one changes nothing in the
recorder. ``as_dict()`` is the JSON form; its keys are the field names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any, cast


def frozen(mapping: Mapping) -> Mapping:
    """A read-only copy of ``mapping``, for the mapping fields of a snapshot."""
    return MappingProxyType(dict(mapping))


def _json(value: Any) -> Any:
    if isinstance(value, _Snapshot):
        return value.as_dict()
    if isinstance(value, Mapping):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_json(v) for v in value]
    return value


class _Snapshot:
    __slots__ = ()

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: nested snapshots and mappings as dicts, tuples as lists."""
        # Every subclass is a dataclass; the base is not one itself (slots stay on).
        return {f.name: _json(getattr(self, f.name)) for f in fields(cast(Any, self))}


@dataclass(frozen=True, slots=True)
class SymbolStatistics(_Snapshot):
    """What happened to one symbol's stream since the daemon started."""

    received: int  # valid trades for this symbol, duplicates included
    stored: int  # trades written to the store
    duplicates: int  # a line repeated an agg id it had delivered already: dropped
    redundant: int  # copies of ids another line (A/B) or REST delivered first: dropped
    gaps: int  # holes in the agg-id sequence recorded under gaps:
    missing_ids: int  # agg ids inside those holes
    holds: int  # jumps held back while another line could still deliver the ids before
    holds_filled: int  # ... that another line did deliver (no gap)
    drops: Mapping[str, int]  # rejected frames by reason (single-symbol connections only)
    reconnects: int  # reconnections of the connection carrying this symbol
    last_id: int | None  # highest agg id accepted (or read back from the store)
    last_trade_ms: int | None  # exchange time T of that trade
    buffered: int  # trades waiting for the next flush (held ones included)
    last_received_ms: int | None  # local wall time its last live trade arrived
    event_lag: float | None  # receive time minus trade time of that trade, seconds
    stall_suspected: int  # silences far beyond its trade rate, checked against REST
    stall_confirmed: int  # ... where the exchange had newer trades (filled, repaired)
    stall_quiet: int  # ... where it had none: merely a quiet market
    stalled_since_ms: int | None  # wall time of a confirmed stall, until trades flow again


@dataclass(frozen=True, slots=True)
class ConnectionStatistics(_Snapshot):
    """One connection (a shard of symbols kept connected for ever)."""

    name: str
    shard: str  # the streams it carries, by name (both lines of a shard share it)
    line: str  # a, or b: the second connection of the same streams (A/B lines)
    symbols: tuple[str, ...]
    state: str  # idle | connecting | open | backoff | closed | stopped
    attempts: int  # connection attempts, successors of rotations included
    opens: int  # handshakes that succeeded
    reconnects: int  # opens after the first
    rotations: int  # completed make-before-break handovers
    rotation_failures: int  # successors that could not be opened
    failures: int  # sessions that ended with an error
    recycled: Mapping[str, int]  # sessions closed on purpose, by reason
    frames: int  # frames received, on every session
    control_messages: int  # SUBSCRIBE/UNSUBSCRIBE messages sent
    control_failures: int  # control messages refused or never answered
    last_error: str | None
    last_backoff: float | None  # seconds waited before the latest reconnect
    watchdog_threshold: float  # seconds of silence that recycle the connection
    last_frame_ms: int | None  # local wall time its last frame arrived; None: none yet
    down_since_ms: int | None  # local wall time since which no session is open
    taken: int  # agg ids this connection delivered first (the others' copies were dropped)


@dataclass(frozen=True, slots=True)
class FlushStatistics(_Snapshot):
    """The batcher's writes to the store."""

    flushes: int  # successful writes
    failed: int  # failed writes (each retried: the trades stay buffered)
    early: int  # flushes triggered by the flush_max_trades safety valve
    trades: int  # trades written
    last_latency: float | None  # seconds the last write took
    max_latency: float
    # (upper edge in seconds, successful writes that took at most that long), ascending
    latency_buckets: tuple[tuple[float, int], ...]
    latency_sum: float  # seconds all successful writes took together
    last_flush_ms: int | None  # wall time of the last successful write
    outages: int  # runs of failed writes (each ends with a successful write)
    reopens: int  # store reopened to clear a latched write error
    failing_since_ms: int | None  # wall time the current outage began; None: writable
    last_error: str | None  # the last write error


@dataclass(frozen=True, slots=True)
class FrameQueueStatistics(_Snapshot):
    """The bounded channel between the stream readers and the dispatcher."""

    used: int  # frames waiting
    size: int  # its capacity (frame_queue_size)


@dataclass(frozen=True, slots=True)
class PruneStatistics(_Snapshot):
    """The retention timer."""

    runs: int
    trades_removed: int
    last_ms: int | None  # wall time of the last successful prune


@dataclass(frozen=True, slots=True)
class ArchiveStatistics(_Snapshot):
    """The archive keeper (present when ``archive_to`` is set)."""

    destination: str  # the archive's URL, secrets redacted
    runs: int
    failed_runs: int  # runs where a day failed or the child did not finish
    partitions_written: int  # days written or replaced
    failed_days: int  # days that failed in the last run
    last_run_ms: int | None
    last_success_ms: int | None  # wall time of the last run with no failure
    archived_through: Mapping[str, str]  # symbol -> newest day archived (YYYY-MM-DD)
    retention_held_days: int  # days past retention kept because not archived and verified


@dataclass(frozen=True, slots=True)
class ActiveFill(_Snapshot):
    """A gap the backfill workers are filling right now."""

    symbol: str
    first_id: int


@dataclass(frozen=True, slots=True)
class BackfillStatistics(_Snapshot):
    """The backfill worker and its REST client."""

    enabled: bool
    queued: int  # gaps queued or being filled
    active: tuple[ActiveFill, ...]  # the gaps being filled now
    filled: int
    unfillable: int  # the exchange no longer has those ids
    failed: int  # fills that failed and are retried later
    requests_saved: int  # gaps fetched in the same REST page as another of their symbol
    calls: int  # REST requests
    rate_limited: int  # 429 and 418 answers
    waited_s: float  # seconds spent waiting on rate limits and retries
    trades_fetched: int
    invalid_rows_skipped: int  # REST rows marked invalid by the exchange


@dataclass(frozen=True, slots=True)
class SymbolSetStatistics(_Snapshot):
    """Which symbols are recorded, and how the set changed (``symbols = ALL`` follows
    the market's exchangeInfo)."""

    market: str  # spot | usdm | coinm
    follow_all: bool  # symbols = ALL
    quote: tuple[str, ...]  # the quote-asset filter of ALL (empty: every quote asset)
    subscribed: int  # symbols the connections carry now
    listings: int  # new listings subscribed while running
    delistings: int  # delisted symbols unsubscribed while running
    catch_ups: int  # listings recorded from their first trade (earlier ids backfilled)
    refreshes: int  # exchangeInfo reads
    refresh_failures: int  # exchangeInfo reads that failed
    last_refresh_ms: int | None  # wall time of the last successful read
    last_error: str | None  # of the last failed read
    control_messages: int  # SUBSCRIBE/UNSUBSCRIBE sent, all connections
    control_failures: int  # control messages refused or never answered


@dataclass(frozen=True, slots=True)
class StallStatistics(_Snapshot):
    """The stall checker and the catch-up at start."""

    enabled: bool
    checks: Mapping[str, int]  # REST checks of a symbol's latest trade, by kind
    check_failures: int  # checks that got no answer (retried on the next silence)
    catching_up: int  # symbols whose catch-up at start is still to do
    caught_up: int  # symbols whose catch-up found trades to fetch
    checks_per_minute: float  # the budget of stall checks
    median_event_lag: float | None  # over the symbols that traded in the last minute
    clock_skew_suspected: bool  # that median is implausible (see clock_skew_tolerance)


@dataclass(frozen=True, slots=True)
class RecorderStatistics(_Snapshot):
    """The whole daemon at one moment."""

    started_ms: int  # wall time the recorder was created
    frames: int  # frames handled by the dispatcher, rejected ones included
    drops: Mapping[str, int]  # rejected frames by reason, all connections
    server_shutdowns: int  # serverShutdown notices received
    buffered: int  # trades waiting for the next flush, all symbols
    held: int  # trades held back by the A/B arbitration (judged within a second or two)
    in_flight: int  # trades in the write running now
    queue: FrameQueueStatistics
    flush: FlushStatistics
    prune: PruneStatistics
    archive: ArchiveStatistics | None  # None unless archive_to is set
    connect_budget_waits: int  # attempts that waited for the connection budget
    gaps: Mapping[str, Mapping[str, int]]  # gap records by symbol and status
    backfill: BackfillStatistics
    stalls: StallStatistics
    reloads: int  # symbol-list changes applied (SIGHUP, exchangeInfo)
    symbol_set: SymbolSetStatistics
    metrics_url: str | None  # where /metrics and /healthz are served, if they are
    symbols: Mapping[str, SymbolStatistics]
    connections: tuple[ConnectionStatistics, ...]
