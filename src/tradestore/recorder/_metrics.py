"""Prometheus ``/metrics`` and JSON ``/healthz`` for the recorder, served by hypercorn.

The figures are read from ``Recorder.statistics()`` at scrape time by a custom collector
in a ``CollectorRegistry`` of this server's own, and written by prometheus_client's
``generate_latest``, so the hot path keeps plain integer counters and never touches a
metrics library. The requests go through ``tradestore._asgi.HttpApp``, as the API's do.

``/healthz`` judges liveness by what arrives, on the local clock: a connection by the
frames it receives, a symbol by the stalls the exchange confirmed -- never by a market that
is merely quiet, and never by the exchange's trade times (a replay of a past day, or a
skewed clock, is reported as event lag, not as ill health). It answers 503 when no line
of a connection has been open for ``stale_after`` seconds, when a confirmed stall stayed
unrepaired that long, or when the store refuses writes; 200 otherwise ("degraded" while
one line of an A/B pair is down or a stall is being repaired).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from typing import Any

import trio
import trio.lowlevel
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString

from tradestore._addr import parse_addr
from tradestore._asgi import HttpApp, Request, Response, json_response, open_http_server, text_error
from tradestore.recorder._statistics import (
    ArchiveStatistics,
    ConnectionStatistics,
    RecorderStatistics,
    SymbolStatistics,
)

log = logging.getLogger(__name__)

DEFAULT_STALE_AFTER_S = 120.0


# Per-symbol counters: (metric name, help, the figure).
SYMBOL_COUNTERS: tuple[tuple[str, str, Callable[[SymbolStatistics], int]], ...] = (
    ("trades_received", "Valid trades received from the exchange", lambda s: s.received),
    ("trades_stored", "Trades written to the store", lambda s: s.stored),
    (
        "duplicates_dropped",
        "Trades dropped because their agg id was already seen",
        lambda s: s.duplicates,
    ),
    (
        "redundant_copies",
        "Copies of agg ids another line (A/B) or REST delivered first, dropped",
        lambda s: s.redundant,
    ),
    ("gaps_detected", "Holes detected in the agg-id sequence", lambda s: s.gaps),
    ("gap_missing_ids", "Agg ids inside detected holes", lambda s: s.missing_ids),
    (
        "arbitration_holds",
        "Jumps in the agg ids held while another line could still deliver the missing ids",
        lambda s: s.holds,
    ),
    (
        "arbitration_holds_filled",
        "Held jumps another line filled (no gap recorded)",
        lambda s: s.holds_filled,
    ),
    (
        "stall_suspected",
        "Silences far beyond the symbol's trade rate, checked against the exchange",
        lambda s: s.stall_suspected,
    ),
    (
        "stall_confirmed",
        "Checks that found newer trades on the exchange (a stuck stream: filled, repaired)",
        lambda s: s.stall_confirmed,
    ),
    (
        "stall_quiet",
        "Checks that found no newer trade (a quiet market, not a stall)",
        lambda s: s.stall_quiet,
    ),
    (
        "reconnects",
        "Reconnections of the connection carrying the symbol",
        lambda s: s.reconnects,
    ),
)

# Per-connection counters: (metric name, help, the figure).
CONNECTION_COUNTERS: tuple[tuple[str, str, Callable[[ConnectionStatistics], int]], ...] = (
    ("connection_opens", "WebSocket connections opened", lambda c: c.opens),
    ("connection_reconnects", "Reconnections after a failure or a drop", lambda c: c.reconnects),
    ("connection_rotations", "Planned make-before-break replacements", lambda c: c.rotations),
    (
        "connection_rotation_failures",
        "Rotations whose successor failed (the old connection was kept)",
        lambda c: c.rotation_failures,
    ),
    ("connection_frames", "Frames received", lambda c: c.frames),
    (
        "connection_taken",
        "Agg ids this connection delivered first (A/B lines: the other's copies dropped)",
        lambda c: c.taken,
    ),
)


class RecorderCollector:
    """Turns one statistics() snapshot into metric families."""

    def __init__(
        self,
        statistics: Callable[[], RecorderStatistics],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._statistics = statistics
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        stats = self._statistics()
        now = self._clock()
        yield from _symbol_families(stats, now)

        gap_state = GaugeMetricFamily(
            "tradestore_gaps", "Gap records by status", labels=["symbol", "status"]
        )
        for symbol, by_status in stats.gaps.items():
            for status, count in by_status.items():
                gap_state.add_metric([symbol, status], count)
        yield gap_state

        flush = stats.flush
        yield CounterMetricFamily("tradestore_flushes", "Successful flushes", value=flush.flushes)
        yield CounterMetricFamily("tradestore_flush_failures", "Failed flushes", value=flush.failed)
        yield GaugeMetricFamily(
            "tradestore_flush_latency_seconds",
            "Duration of the last flush",
            value=flush.last_latency or 0.0,
        )
        yield GaugeMetricFamily(
            "tradestore_flush_latency_max_seconds",
            "Longest flush so far",
            value=flush.max_latency,
        )
        yield HistogramMetricFamily(
            "tradestore_flush_seconds",
            "Duration of successful flushes",
            buckets=[
                *((floatToGoString(edge), count) for edge, count in flush.latency_buckets),
                ("+Inf", flush.flushes),
            ],
            sum_value=flush.latency_sum,
        )
        yield CounterMetricFamily(
            "tradestore_store_outages",
            "Runs of failed writes (disk full, I/O errors)",
            value=flush.outages,
        )
        yield CounterMetricFamily(
            "tradestore_store_reopens",
            "Store reopened to clear a latched write error",
            value=flush.reopens,
        )
        yield GaugeMetricFamily(
            "tradestore_store_failing_seconds",
            "How long the store has refused every write (0 when it takes writes)",
            value=_failing_for(flush.failing_since_ms, now) or 0.0,
        )
        yield from _connection_families(stats.connections, now)
        yield from _symbol_set_families(stats)
        yield GaugeMetricFamily(
            "tradestore_frame_queue_used", "Frames waiting in the queue", value=stats.queue.used
        )
        yield CounterMetricFamily("tradestore_prune_runs", "Prune runs", value=stats.prune.runs)
        yield CounterMetricFamily(
            "tradestore_pruned_trades",
            "Trades removed by pruning",
            value=stats.prune.trades_removed,
        )
        if stats.archive is not None:
            yield from _archive_families(stats.archive, now)
        yield GaugeMetricFamily(
            "tradestore_held_trades",
            "Trades held back by the A/B arbitration, judged within a second or two",
            value=stats.held,
        )
        yield from _stall_families(stats)
        backfill = stats.backfill
        yield GaugeMetricFamily(
            "tradestore_backfill_active", "Gaps being filled now", value=len(backfill.active)
        )
        yield GaugeMetricFamily(
            "tradestore_backfill_queued", "Gaps queued or being filled", value=backfill.queued
        )
        yield CounterMetricFamily(
            "tradestore_backfill_requests_saved",
            "Gaps fetched in the same REST page as another gap of their symbol",
            value=backfill.requests_saved,
        )
        yield CounterMetricFamily("tradestore_backfill_calls", "REST calls", value=backfill.calls)
        yield CounterMetricFamily(
            "tradestore_backfill_rate_limited",
            "REST 429/418 answers",
            value=backfill.rate_limited,
        )
        yield CounterMetricFamily(
            "tradestore_backfill_trades_fetched",
            "Trades fetched by backfill",
            value=backfill.trades_fetched,
        )


def _symbol_set_families(stats: RecorderStatistics) -> Iterator[Metric]:
    """Which symbols are recorded and how the set changed (listings, control messages)."""
    ss = stats.symbol_set
    yield GaugeMetricFamily(
        "tradestore_symbols_subscribed",
        "Symbols the WebSocket connections carry now",
        value=ss.subscribed,
    )
    yield CounterMetricFamily(
        "tradestore_listings",
        "New listings subscribed while running (symbols = ALL)",
        value=ss.listings,
    )
    yield CounterMetricFamily(
        "tradestore_delistings",
        "Delisted symbols unsubscribed while running (symbols = ALL)",
        value=ss.delistings,
    )
    yield CounterMetricFamily(
        "tradestore_listing_catch_ups",
        "New listings recorded from their first trade (earlier ids backfilled)",
        value=ss.catch_ups,
    )
    yield CounterMetricFamily(
        "tradestore_exchange_info_refreshes",
        "exchangeInfo reads (symbols = ALL)",
        value=ss.refreshes,
    )
    yield CounterMetricFamily(
        "tradestore_exchange_info_failures",
        "exchangeInfo reads that failed (the symbol list stayed as it was)",
        value=ss.refresh_failures,
    )
    yield CounterMetricFamily(
        "tradestore_control_messages",
        "SUBSCRIBE/UNSUBSCRIBE messages sent on live connections",
        value=ss.control_messages,
    )
    yield CounterMetricFamily(
        "tradestore_control_failures",
        "Control messages refused or unanswered (the connection was replaced)",
        value=ss.control_failures,
    )


def _symbol_families(stats: RecorderStatistics, now: float) -> Iterator[Metric]:
    """Per-symbol counters and gauges, labelled by symbol; drops also by reason.

    Each family is filled in a pass of its own over the symbols and yielded at once, so
    a scrape that writes them one at a time (``exposition``) never holds the event loop
    for a whole market's worth of samples."""
    rows = list(stats.symbols.items())
    for name, doc, figure in SYMBOL_COUNTERS:
        counter = CounterMetricFamily(f"tradestore_{name}", doc, labels=["symbol"])
        yield _per_symbol(counter, ((symbol, figure(row)) for symbol, row in rows))

    def gauge(name: str, doc: str, samples: Iterable[tuple[str, float]]) -> Metric:
        return _per_symbol(GaugeMetricFamily(name, doc, labels=["symbol"]), samples)

    yield gauge(
        "tradestore_last_agg_id",
        "Highest agg id accepted",
        ((s, r.last_id) for s, r in rows if r.last_id is not None),
    )
    timed = [(s, r.last_trade_ms / 1000) for s, r in rows if r.last_trade_ms is not None]
    yield gauge("tradestore_last_trade_time_seconds", "Exchange time of the last trade", timed)
    yield gauge(
        "tradestore_lag_seconds",
        "Now minus the exchange time of the last trade",
        ((s, max(now - t, 0.0)) for s, t in timed),
    )
    yield gauge(
        "tradestore_buffered_trades",
        "Trades waiting for the next flush",
        ((s, r.buffered) for s, r in rows),
    )
    drops = CounterMetricFamily(
        "tradestore_frames_dropped",
        "Frames rejected, by symbol and reason",
        labels=["symbol", "reason"],
    )
    for symbol, row in rows:
        for reason, count in row.drops.items():
            drops.add_metric([symbol, reason], count)
    for reason, count in stats.drops.items():
        drops.add_metric(["", reason], count)
    yield drops
    yield gauge(
        "tradestore_event_lag_seconds",
        "Receive time minus the exchange time of the last live trade (clock skew, replay "
        "or network delay; never used for health)",
        ((s, r.event_lag) for s, r in rows if r.event_lag is not None),
    )
    yield gauge(
        "tradestore_seconds_since_trade",
        "Local time since the last live trade of the symbol arrived",
        (
            (s, _since(r.last_received_ms, now) or 0.0)
            for s, r in rows
            if r.last_received_ms is not None
        ),
    )
    yield gauge(
        "tradestore_stalled_seconds",
        "Seconds since a confirmed stall of the symbol, until trades flow again",
        ((s, _since(r.stalled_since_ms, now) or 0.0) for s, r in rows),
    )


def _per_symbol(family: Metric, samples: Iterable[tuple[str, float]]) -> Metric:
    """``family`` with a sample per (symbol, figure), added as ``add_metric`` would add
    them but without its per-sample label zip: a whole market has some 40,000 of them."""
    name = family.name + "_total" if family.type == "counter" else family.name
    add = family.add_sample
    for symbol, value in samples:
        add(name, {"symbol": symbol}, value)
    return family


def _archive_families(archive: ArchiveStatistics, now: float) -> Iterator[Metric]:
    """The archive keeper: runs, partitions written, last success and lag per symbol."""
    yield CounterMetricFamily("tradestore_archive_runs", "Archive runs", value=archive.runs)
    yield CounterMetricFamily(
        "tradestore_archive_failed_runs",
        "Archive runs where a day failed or the run did not finish",
        value=archive.failed_runs,
    )
    yield CounterMetricFamily(
        "tradestore_archive_partitions_written",
        "Days written (or replaced) in the archive",
        value=archive.partitions_written,
    )
    yield GaugeMetricFamily(
        "tradestore_archive_failed_days",
        "Days that failed in the last run",
        value=archive.failed_days,
    )
    if archive.last_success_ms is not None:
        yield GaugeMetricFamily(
            "tradestore_archive_last_success_timestamp_seconds",
            "Wall time of the last archive run with no failure",
            value=archive.last_success_ms / 1000,
        )
    yield GaugeMetricFamily(
        "tradestore_archive_retention_held_days",
        "Days past retention kept because they are not archived and verified",
        value=archive.retention_held_days,
    )
    lag = GaugeMetricFamily(
        "tradestore_archive_lag_seconds",
        "Now minus the end of the newest UTC day archived, per symbol",
        labels=["symbol"],
    )
    for symbol, day in archive.archived_through.items():
        end = (date.fromisoformat(day) - date(1970, 1, 1)).days * 86_400 + 86_400
        lag.add_metric([symbol], max(now - end, 0.0))
    yield lag


def _stall_families(stats: RecorderStatistics) -> Iterator[Metric]:
    """The stall checker, the catch-up and the clock-skew watch."""
    stalls = stats.stalls
    checks = CounterMetricFamily(
        "tradestore_stall_checks",
        "REST checks of a symbol's latest trade (catch_up at start, stall on a silence)",
        labels=["kind"],
    )
    for kind, count in stalls.checks.items():
        checks.add_metric([kind], count)
    yield checks
    yield CounterMetricFamily(
        "tradestore_stall_check_failures",
        "Stall checks that got no usable answer",
        value=stalls.check_failures,
    )
    yield GaugeMetricFamily(
        "tradestore_catching_up",
        "Symbols whose catch-up at start is still to do",
        value=stalls.catching_up,
    )
    if stalls.median_event_lag is not None:
        yield GaugeMetricFamily(
            "tradestore_event_lag_median_seconds",
            "Median event lag over the symbols that traded in the last minute",
            value=stalls.median_event_lag,
        )
    yield GaugeMetricFamily(
        "tradestore_clock_skew_suspected",
        "1 when the median event lag is implausible (check the local clock)",
        value=1 if stalls.clock_skew_suspected else 0,
    )


def _connection_families(
    connections: tuple[ConnectionStatistics, ...], now: float
) -> Iterator[Metric]:
    """Per-connection counters, labelled by the connection's name."""
    counters = [
        (CounterMetricFamily(f"tradestore_{name}", doc, labels=["connection"]), figure)
        for name, doc, figure in CONNECTION_COUNTERS
    ]
    up = GaugeMetricFamily(
        "tradestore_connection_open", "1 while the connection is open", labels=["connection"]
    )
    since_frame = GaugeMetricFamily(
        "tradestore_connection_seconds_since_frame",
        "Local time since the connection's last frame",
        labels=["connection"],
    )
    down = GaugeMetricFamily(
        "tradestore_connection_down_seconds",
        "Seconds without an open session (0 while one is open)",
        labels=["connection"],
    )
    for conn in connections:
        for family, figure in counters:
            family.add_metric([conn.name], figure(conn))
        up.add_metric([conn.name], 1 if conn.state == "open" else 0)
        if conn.last_frame_ms is not None:
            since_frame.add_metric([conn.name], _since(conn.last_frame_ms, now) or 0.0)
        down.add_metric([conn.name], _since(conn.down_since_ms, now) or 0.0)
    yield from (family for family, _ in counters)
    yield from (up, since_frame, down)


def _since(stamp_ms: int | None, now_s: float) -> float | None:
    """Seconds from a wall-time stamp to now (never negative); None for no stamp."""
    if stamp_ms is None:
        return None
    return max(now_s - stamp_ms / 1000, 0.0)


def _failing_for(failing_since_ms: int | None, now_s: float) -> float | None:
    """Seconds the store has refused every write; None while it takes writes."""
    if failing_since_ms is None:
        return None
    return max(now_s - failing_since_ms / 1000, 0.0)


def health(
    statistics: RecorderStatistics, now_s: float, stale_after_s: float = DEFAULT_STALE_AFTER_S
) -> tuple[bool, dict[str, Any]]:
    """(healthy, document): liveness by frames received and confirmed stalls, on the local
    clock. Unhealthy when every line of a connection has been down for stale_after_s, when
    a confirmed stall stayed unrepaired that long, or when the store refuses writes."""
    shards: dict[str, list[ConnectionStatistics]] = {}
    connections = {}
    down_for: dict[str, float] = {}
    for conn in statistics.connections:
        shards.setdefault(conn.shard, []).append(conn)
        down = _since(conn.down_since_ms, now_s)
        connections[conn.name] = {
            "line": conn.line,
            "state": conn.state,
            "seconds_since_frame": _rounded(_since(conn.last_frame_ms, now_s)),
            "down_for_seconds": _rounded(down),
        }
        if down is not None and down > stale_after_s:
            down_for[conn.name] = down
    disconnected = {}
    lines_down = []
    for shard, lines in shards.items():
        down_lines = [c.name for c in lines if c.name in down_for]
        lines_down.extend(down_lines)
        if len(down_lines) == len(lines):
            disconnected[shard] = round(min(down_for[n] for n in down_lines), 1)
    symbols = {}
    stalled = {}
    repairing = []
    for symbol, row in statistics.symbols.items():
        symbols[symbol] = {
            "last_trade_ms": row.last_trade_ms,
            "seconds_since_trade": _rounded(_since(row.last_received_ms, now_s)),
            "event_lag_seconds": _rounded(row.event_lag),
        }
        stalled_for = _since(row.stalled_since_ms, now_s)
        if stalled_for is not None:
            symbols[symbol]["stalled_for_seconds"] = _rounded(stalled_for)
            if stalled_for > stale_after_s:
                stalled[symbol] = round(stalled_for, 1)
            else:
                repairing.append(symbol)
    flush = statistics.flush
    failing_for = _failing_for(flush.failing_since_ms, now_s)
    store: dict[str, Any] = {"writable": failing_for is None}
    if failing_for is not None:
        store["failing_for_seconds"] = round(failing_for, 3)
        store["last_error"] = flush.last_error
    if not store["writable"]:
        status = "store_failing"
    elif disconnected:
        status = "disconnected"
    elif stalled:
        status = "stalled"
    elif lines_down or repairing:
        status = "degraded"
    else:
        status = "ok"
    stalls = statistics.stalls
    doc = {
        "status": status,
        "disconnected": disconnected,
        "stalled": stalled,
        "lines_down": lines_down,
        "connections": connections,
        "symbols": symbols,
        "stale_after_seconds": stale_after_s,
        "event_lag": {
            "median_seconds": _rounded(stalls.median_event_lag),
            "clock_skew_suspected": stalls.clock_skew_suspected,
        },
        "store": store,
    }
    return status in ("ok", "degraded"), doc


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def metrics_registry(
    statistics: Callable[[], RecorderStatistics], clock: Callable[[], float] = time.time
) -> CollectorRegistry:
    """A registry of its own (not prometheus_client's global one) holding the recorder's
    collector: what /metrics exposes."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RecorderCollector(statistics, clock))
    return registry


class _OneFamily:
    """A collector of one family, for ``generate_latest``."""

    def __init__(self, family: Metric) -> None:
        self._family = family

    def collect(self) -> Iterable[Metric]:
        return (self._family,)


async def exposition(registry: CollectorRegistry) -> bytes:
    """``generate_latest(registry)``, one family at a time with a checkpoint between: a
    whole market's scrape (2,000 symbols, some 40,000 samples, ~1.6 MB) takes prometheus_client
    a few tenths of a second to write, which must not hold up the flushes and the readers
    at once. The collector reads one snapshot, so the families agree with each other."""
    chunks = []
    for family in registry.collect():
        chunks.append(generate_latest(_OneFamily(family)))
        await trio.lowlevel.checkpoint()
    return b"".join(chunks)


def metrics_app(
    statistics: Callable[[], RecorderStatistics],
    stale_after_s: float = DEFAULT_STALE_AFTER_S,
) -> HttpApp:
    """GET /metrics and GET /healthz."""
    registry = metrics_registry(statistics)

    async def metrics(_request: Request) -> Response:
        return Response(200, await exposition(registry), CONTENT_TYPE_LATEST)

    async def healthz(_request: Request) -> Response:
        ok, document = health(statistics(), time.time(), stale_after_s)
        return json_response(document, 200 if ok else 503)

    return HttpApp(
        {"/metrics": metrics, "/healthz": healthz},
        not_found="try /metrics or /healthz",
        error_page=text_error,
        log=log,
    )


async def serve_metrics(
    addr: str,
    statistics: Callable[[], RecorderStatistics],
    *,
    stale_after_s: float = DEFAULT_STALE_AFTER_S,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve /metrics and /healthz on ``addr`` (HOST:PORT; port 0 picks a free one) until
    cancelled. ``task_status.started`` receives the bound ``http://host:port`` URL; an
    address that cannot be bound raises OSError."""
    host, port = parse_addr(addr)
    app = metrics_app(statistics, stale_after_s)
    async with open_http_server(
        app, host, port, errorlog="tradestore.metrics.http", graceful_timeout=1.0
    ) as url:
        log.info("metrics on %s/metrics and %s/healthz", url, url)
        task_status.started(url)
        await trio.sleep_forever()
