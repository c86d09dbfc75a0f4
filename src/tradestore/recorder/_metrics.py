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

import trio
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

log = logging.getLogger(__name__)

DEFAULT_STALE_AFTER_S = 120.0


class RecorderCollector:
    """Turns one statistics() snapshot into Prometheus metric families."""

    def __init__(
        self, statistics: Callable[[], dict], clock: Callable[[], float] = time.time
    ) -> None:
        self._statistics = statistics
        self._clock = clock

    def collect(self):
        stats = self._statistics()
        now = self._clock()
        per_symbol = {
            "received": ("trades_received", "Valid trades received from the exchange"),
            "stored": ("trades_stored", "Trades written to the store"),
            "duplicates": (
                "duplicates_dropped",
                "Trades dropped because their agg id was already seen",
            ),
            "gaps": ("gaps_detected", "Holes detected in the agg-id sequence"),
            "missing_ids": ("gap_missing_ids", "Agg ids inside detected holes"),
            "reconnects": ("reconnects", "Reconnections of the connection carrying the symbol"),
        }
        families = {
            key: CounterMetricFamily(f"tradestore_{name}", doc, labels=["symbol"])
            for key, (name, doc) in per_symbol.items()
        }
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
        for symbol, row in stats.get("symbols", {}).items():
            for key, family in families.items():
                family.add_metric([symbol], row.get(key) or 0)
            for reason, count in (row.get("drops") or {}).items():
                drops.add_metric([symbol, reason], count)
            if row.get("last_id") is not None:
                last_id.add_metric([symbol], row["last_id"])
            if row.get("last_trade_ms") is not None:
                last_time.add_metric([symbol], row["last_trade_ms"] / 1000)
                lag.add_metric([symbol], max(now - row["last_trade_ms"] / 1000, 0.0))
            buffered.add_metric([symbol], row.get("buffered") or 0)
        for reason, count in (stats.get("drops") or {}).items():
            drops.add_metric(["", reason], count)
        yield from families.values()
        yield from (last_id, last_time, lag, buffered, drops)

        gaps = stats.get("gaps") or {}
        gap_state = GaugeMetricFamily(
            "tradestore_gaps", "Gap records by status", labels=["symbol", "status"]
        )
        for symbol, by_status in gaps.items():
            for status, count in by_status.items():
                gap_state.add_metric([symbol, status], count)
        yield gap_state

        flush = stats.get("flush") or {}
        yield CounterMetricFamily(
            "tradestore_flushes", "Successful flushes", value=flush.get("flushes", 0)
        )
        yield CounterMetricFamily(
            "tradestore_flush_failures", "Failed flushes", value=flush.get("failed", 0)
        )
        yield GaugeMetricFamily(
            "tradestore_flush_latency_seconds",
            "Duration of the last flush",
            value=flush.get("last_latency") or 0.0,
        )
        yield GaugeMetricFamily(
            "tradestore_flush_latency_max_seconds",
            "Longest flush so far",
            value=flush.get("max_latency") or 0.0,
        )
        yield CounterMetricFamily(
            "tradestore_store_outages",
            "Runs of failed writes (disk full, I/O errors)",
            value=flush.get("outages", 0),
        )
        yield CounterMetricFamily(
            "tradestore_store_reopens",
            "Store reopened to clear a latched write error",
            value=flush.get("reopens", 0),
        )
        failing_since_ms = flush.get("failing_since_ms")
        yield GaugeMetricFamily(
            "tradestore_store_failing_seconds",
            "How long the store has refused every write (0 when it takes writes)",
            value=max(now - failing_since_ms / 1000, 0.0) if failing_since_ms else 0.0,
        )
        yield from _connection_families(stats.get("connections") or [])
        queue = stats.get("queue") or {}
        yield GaugeMetricFamily(
            "tradestore_frame_queue_used", "Frames waiting in the queue", value=queue.get("used", 0)
        )
        prune = stats.get("prune") or {}
        yield CounterMetricFamily("tradestore_prune_runs", "Prune runs", value=prune.get("runs", 0))
        yield CounterMetricFamily(
            "tradestore_pruned_trades",
            "Trades removed by pruning",
            value=prune.get("trades_removed", 0),
        )
        backfill = stats.get("backfill") or {}
        for key, doc in (
            ("calls", "REST calls"),
            ("rate_limited", "REST 429/418 answers"),
            ("trades_fetched", "Trades fetched by backfill"),
        ):
            yield CounterMetricFamily(f"tradestore_backfill_{key}", doc, value=backfill.get(key, 0))


CONNECTION_COUNTERS = {
    "opens": ("connection_opens", "WebSocket connections opened"),
    "reconnects": ("connection_reconnects", "Reconnections after a failure or a drop"),
    "rotations": ("connection_rotations", "Planned make-before-break replacements"),
    "rotation_failures": (
        "connection_rotation_failures",
        "Rotations whose successor failed (the old connection was kept)",
    ),
}


def _connection_families(connections: list[dict]):
    """Per-connection counters, labelled by the connection's name."""
    families = {
        key: CounterMetricFamily(f"tradestore_{name}", doc, labels=["connection"])
        for key, (name, doc) in CONNECTION_COUNTERS.items()
    }
    up = GaugeMetricFamily(
        "tradestore_connection_open", "1 while the connection is open", labels=["connection"]
    )
    for conn in connections:
        name = str(conn.get("name", ""))
        for key, family in families.items():
            family.add_metric([name], conn.get(key) or 0)
        up.add_metric([name], 1 if conn.get("state") == "open" else 0)
    yield from families.values()
    yield up


def health(
    statistics: dict, now_s: float, stale_after_s: float = DEFAULT_STALE_AFTER_S
) -> tuple[bool, dict]:
    """(healthy, document): healthy when every symbol had a trade within stale_after_s and
    the store takes writes."""
    started_s = (statistics.get("started_ms") or now_s * 1000) / 1000
    stale = {}
    symbols = {}
    for symbol, row in statistics.get("symbols", {}).items():
        last_ms = row.get("last_trade_ms")
        # A symbol with no trade yet is measured from the daemon's start.
        age = now_s - (last_ms / 1000 if last_ms is not None else started_s)
        symbols[symbol] = {"last_trade_ms": last_ms, "seconds_since_last_trade": round(age, 3)}
        if age > stale_after_s:
            stale[symbol] = round(age, 1)
    flush = statistics.get("flush") or {}
    failing_since_ms = flush.get("failing_since_ms")
    store = {"writable": failing_since_ms is None}
    if failing_since_ms is not None:
        store["failing_for_seconds"] = round(max(now_s - failing_since_ms / 1000, 0.0), 3)
        store["last_error"] = flush.get("last_error")
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
        self, statistics: Callable[[], dict], stale_after_s: float = DEFAULT_STALE_AFTER_S
    ) -> None:
        self._statistics = statistics
        self._stale_after = stale_after_s
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(RecorderCollector(statistics))

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
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
    statistics: Callable[[], dict],
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
