"""Prometheus ``/metrics`` and JSON ``/healthz`` for the recorder, served by hypercorn.

The figures are read from ``Recorder.statistics()`` at scrape time by a custom
collector, so the hot path keeps plain integer counters and never touches a metrics
library. ``/healthz`` answers 200 when every symbol has had a trade within its
threshold and 503 naming the stale ones otherwise.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import date

import trio
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from tradestore._asgi import serve_lifespan
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
    ("gaps_detected", "Holes detected in the agg-id sequence", lambda s: s.gaps),
    ("gap_missing_ids", "Agg ids inside detected holes", lambda s: s.missing_ids),
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
)


class RecorderCollector:
    """Turns one statistics() snapshot into Prometheus metric families."""

    def __init__(
        self,
        statistics: Callable[[], RecorderStatistics],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._statistics = statistics
        self._clock = clock

    def collect(self):
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
        yield from _connection_families(stats.connections)
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
        backfill = stats.backfill
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


def _symbol_families(stats: RecorderStatistics, now: float):
    """Per-symbol counters and gauges, labelled by symbol; drops also by reason."""
    counters = [
        (CounterMetricFamily(f"tradestore_{name}", doc, labels=["symbol"]), figure)
        for name, doc, figure in SYMBOL_COUNTERS
    ]
    last_id = GaugeMetricFamily(
        "tradestore_last_agg_id", "Highest agg id accepted", labels=["symbol"]
    )
    last_time = GaugeMetricFamily(
        "tradestore_last_trade_time_seconds",
        "Exchange time of the last trade",
        labels=["symbol"],
    )
    lag = GaugeMetricFamily(
        "tradestore_lag_seconds",
        "Now minus the exchange time of the last trade",
        labels=["symbol"],
    )
    buffered = GaugeMetricFamily(
        "tradestore_buffered_trades", "Trades waiting for the next flush", labels=["symbol"]
    )
    drops = CounterMetricFamily(
        "tradestore_frames_dropped",
        "Frames rejected, by symbol and reason",
        labels=["symbol", "reason"],
    )
    for symbol, row in stats.symbols.items():
        for family, figure in counters:
            family.add_metric([symbol], figure(row))
        for reason, count in row.drops.items():
            drops.add_metric([symbol, reason], count)
        if row.last_id is not None:
            last_id.add_metric([symbol], row.last_id)
        if row.last_trade_ms is not None:
            last_time.add_metric([symbol], row.last_trade_ms / 1000)
            lag.add_metric([symbol], max(now - row.last_trade_ms / 1000, 0.0))
        buffered.add_metric([symbol], row.buffered)
    for reason, count in stats.drops.items():
        drops.add_metric(["", reason], count)
    yield from (family for family, _ in counters)
    yield from (last_id, last_time, lag, buffered, drops)


def _archive_families(archive: ArchiveStatistics, now: float):
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


def _connection_families(connections: tuple[ConnectionStatistics, ...]):
    """Per-connection counters, labelled by the connection's name."""
    counters = [
        (CounterMetricFamily(f"tradestore_{name}", doc, labels=["connection"]), figure)
        for name, doc, figure in CONNECTION_COUNTERS
    ]
    up = GaugeMetricFamily(
        "tradestore_connection_open", "1 while the connection is open", labels=["connection"]
    )
    for conn in connections:
        for family, figure in counters:
            family.add_metric([conn.name], figure(conn))
        up.add_metric([conn.name], 1 if conn.state == "open" else 0)
    yield from (family for family, _ in counters)
    yield up


def _failing_for(failing_since_ms: int | None, now_s: float) -> float | None:
    """Seconds the store has refused every write; None while it takes writes."""
    if failing_since_ms is None:
        return None
    return max(now_s - failing_since_ms / 1000, 0.0)


def health(
    statistics: RecorderStatistics, now_s: float, stale_after_s: float = DEFAULT_STALE_AFTER_S
) -> tuple[bool, dict]:
    """(healthy, document): healthy when every symbol had a trade within stale_after_s and
    the store takes writes."""
    started_s = statistics.started_ms / 1000
    stale = {}
    symbols = {}
    for symbol, row in statistics.symbols.items():
        last_ms = row.last_trade_ms
        # A symbol with no trade yet is measured from the daemon's start.
        age = now_s - (last_ms / 1000 if last_ms is not None else started_s)
        symbols[symbol] = {"last_trade_ms": last_ms, "seconds_since_last_trade": round(age, 3)}
        if age > stale_after_s:
            stale[symbol] = round(age, 1)
    flush = statistics.flush
    failing_for = _failing_for(flush.failing_since_ms, now_s)
    store: dict = {"writable": failing_for is None}
    if failing_for is not None:
        store["failing_for_seconds"] = round(failing_for, 3)
        store["last_error"] = flush.last_error
    healthy = not stale and store["writable"]
    doc = {
        "status": "ok" if healthy else ("stale" if stale else "store_failing"),
        "stale": stale,
        "symbols": symbols,
        "stale_after_seconds": stale_after_s,
        "store": store,
    }
    return healthy, doc


class MetricsApp:
    """A minimal ASGI app: GET /metrics and GET /healthz."""

    def __init__(
        self,
        statistics: Callable[[], RecorderStatistics],
        stale_after_s: float = DEFAULT_STALE_AFTER_S,
    ) -> None:
        self._statistics = statistics
        self._stale_after = stale_after_s
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(RecorderCollector(statistics))

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path = scope["path"]
        if scope["method"] not in ("GET", "HEAD"):
            await _respond(send, 405, b"method not allowed\n", "text/plain")
        elif path == "/metrics":
            await _respond(send, 200, generate_latest(self._registry), CONTENT_TYPE_LATEST)
        elif path == "/healthz":
            ok, doc = health(self._statistics(), time.time(), self._stale_after)
            await _respond(send, 200 if ok else 503, json.dumps(doc).encode(), "application/json")
        else:
            await _respond(send, 404, b"try /metrics or /healthz\n", "text/plain")


async def _respond(send, status: int, body: bytes, content_type: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def serve_metrics(
    addr: str,
    statistics: Callable[[], RecorderStatistics],
    *,
    stale_after_s: float = DEFAULT_STALE_AFTER_S,
    task_status=trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve /metrics and /healthz on ``addr`` (HOST:PORT; port 0 picks a free one).

    ``task_status.started`` receives the bound ``http://host:port`` URL.
    """
    from hypercorn.config import Config
    from hypercorn.trio import serve

    config = Config()
    config.bind = [addr]
    config.accesslog = None
    config.errorlog = logging.getLogger("tradestore.metrics.http")
    config.graceful_timeout = 1.0

    class _Status:
        def started(self, binds=None):
            url = binds[0] if binds else f"http://{addr}"
            log.info("metrics on %s/metrics and %s/healthz", url, url)
            task_status.started(url)

    await serve(MetricsApp(statistics, stale_after_s), config, task_status=_Status(), mode="asgi")
