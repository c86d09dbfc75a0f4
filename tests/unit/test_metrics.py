"""/metrics and /healthz over real HTTP on 127.0.0.1, from the statistics of a real
Recorder: frames go through its dispatcher and one flush through its batcher into a store.
What no frame can produce (connection states, a failing store, a stale symbol) is set with
``dataclasses.replace`` on the real snapshot, so a renamed field breaks this test."""

from __future__ import annotations

import json
import re
import time
from dataclasses import FrozenInstanceError, replace
from pathlib import Path

import httpx
import pytest
import trio
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers.recorder import agg_event
from tradestore import TradeStore
from tradestore.recorder import Recorder, RecorderConfig, RecorderStatistics
from tradestore.recorder._metrics import exposition, metrics_registry, serve_metrics
from tradestore.recorder._statistics import ArchiveStatistics


def samples(text: str) -> dict:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


async def recorded(tmp_path, now_ms: int) -> tuple[RecorderStatistics, TradeStore]:
    """A Recorder with one connection per symbol, fed through its dispatcher: BTCUSDT
    ids 1000..1009 with 1002 twice and 1005..1007 missing (stored 8 + one gap), ETHUSDT
    1000..1009 and two frames that are not JSON; then one flush."""
    config = RecorderConfig(
        symbols=("BTCUSDT", "ETHUSDT"),
        db=str(tmp_path / "db"),
        per_symbol_streams=True,
        backfill=False,
    )
    store = TradeStore(config.db_path)
    recorder = Recorder(config, store)
    btc, eth = recorder.connections
    frames = [
        (btc, i)
        for i in (1000, 1001, 1002, 1002, 1003, 1004, 1008, 1009)  # a duplicate, then a gap
    ] + [(eth, i) for i in range(1000, 1010)]
    for conn, agg_id in frames:
        symbol = next(iter(conn.symbols))
        event = agg_event(symbol, agg_id, time_ms=now_ms - 1000 - (1009 - agg_id))
        recorder.dispatcher.handle(conn, json.dumps(event))
    recorder.dispatcher.handle(eth, "not json")
    recorder.dispatcher.handle(eth, "{")
    assert await recorder.batcher.flush()
    return recorder.statistics(), store


async def test_metrics_and_health(tmp_path):
    now_ms = int(time.time() * 1000)
    real, store = await recorded(tmp_path, now_ms)
    btc, eth = real.connections
    stats = replace(
        real,
        connections=(
            replace(btc, state="open", opens=3, reconnects=2, rotations=2),
            replace(eth, state="backoff", opens=1, rotation_failures=1),
        ),
    )
    state = {"stats": stats}
    try:
        async with trio.open_nursery() as nursery:
            url = await nursery.start(
                lambda task_status: serve_metrics(
                    "127.0.0.1:0", lambda: state["stats"], stale_after_s=60, task_status=task_status
                )
            )
            async with httpx.AsyncClient(base_url=url) as client:
                r = await client.get("/metrics")
                assert r.status_code == 200
                metrics = samples(r.text)
                btc_label, eth_label = (("symbol", "BTCUSDT"),), (("symbol", "ETHUSDT"),)
                assert metrics[("tradestore_trades_received_total", btc_label)] == 8
                assert metrics[("tradestore_trades_stored_total", btc_label)] == 7
                assert metrics[("tradestore_duplicates_dropped_total", btc_label)] == 1
                assert metrics[("tradestore_gaps_detected_total", btc_label)] == 1
                assert metrics[("tradestore_gap_missing_ids_total", btc_label)] == 3
                assert metrics[("tradestore_trades_stored_total", eth_label)] == 10
                assert (
                    metrics[
                        (
                            "tradestore_frames_dropped_total",
                            (("reason", "not_json"), ("symbol", "ETHUSDT")),
                        )
                    ]
                    == 2
                )
                # The daemon-wide count carries an empty symbol label.
                everywhere = (("reason", "not_json"), ("symbol", ""))
                assert metrics[("tradestore_frames_dropped_total", everywhere)] == 2
                assert metrics[("tradestore_last_agg_id", eth_label)] == 1009
                assert metrics[("tradestore_buffered_trades", eth_label)] == 0
                assert (
                    metrics[("tradestore_gaps", (("status", "open"), ("symbol", "BTCUSDT")))] == 1
                )
                assert metrics[("tradestore_flushes_total", ())] == 1
                assert metrics[("tradestore_flush_seconds_count", ())] == 1
                assert metrics[("tradestore_flush_seconds_bucket", (("le", "+Inf"),))] == 1
                assert 0 < metrics[("tradestore_flush_seconds_sum", ())] < 10
                assert metrics[("tradestore_frame_queue_used", ())] == 0
                assert 0 < metrics[("tradestore_lag_seconds", btc_label)] < 30
                ws0, ws1 = (("connection", btc.name),), (("connection", eth.name),)
                assert metrics[("tradestore_connection_rotations_total", ws0)] == 2
                assert metrics[("tradestore_connection_rotations_total", ws1)] == 0
                assert metrics[("tradestore_connection_rotation_failures_total", ws1)] == 1
                assert metrics[("tradestore_connection_opens_total", ws0)] == 3
                assert metrics[("tradestore_connection_reconnects_total", ws0)] == 2
                assert metrics[("tradestore_connection_open", ws0)] == 1
                assert metrics[("tradestore_connection_open", ws1)] == 0
                assert metrics[("tradestore_store_failing_seconds", ())] == 0

                r = await client.get("/healthz")
                assert r.status_code == 200 and r.json()["status"] == "ok"

                # Trade times from a past day (a replay, a skewed clock) are event lag,
                # never ill health: liveness is judged by what arrives, on the local clock.
                old = replace(
                    stats.symbols["ETHUSDT"], last_trade_ms=now_ms - 86_400_000, event_lag=86400.0
                )
                state["stats"] = replace(stats, symbols={**stats.symbols, "ETHUSDT": old})
                r = await client.get("/healthz")
                assert r.status_code == 200 and r.json()["status"] == "ok"
                assert r.json()["symbols"]["ETHUSDT"]["event_lag_seconds"] == 86400.0
                assert samples((await client.get("/metrics")).text)[
                    ("tradestore_event_lag_seconds", eth_label)
                ] == pytest.approx(86400.0)

                # A connection down for longer than stale_after: 503, naming it.
                down = replace(eth, state="backoff", opens=1, down_since_ms=now_ms - 61_000)
                state["stats"] = replace(stats, connections=(stats.connections[0], down))
                r = await client.get("/healthz")
                assert r.status_code == 503 and r.json()["status"] == "disconnected"
                assert 61 <= r.json()["disconnected"][eth.shard] < 90

                # With A/B lines one line down is only degraded: the other carries on.
                line_b = replace(eth, name=f"{eth.name}-b", line="b", state="open")
                state["stats"] = replace(stats, connections=(stats.connections[0], down, line_b))
                r = await client.get("/healthz")
                assert r.status_code == 200 and r.json()["status"] == "degraded"
                assert r.json()["lines_down"] == [eth.name]

                # A confirmed stall unrepaired for longer than stale_after: 503.
                stuck = replace(
                    stats.symbols["BTCUSDT"], stall_confirmed=1, stalled_since_ms=now_ms - 75_000
                )
                state["stats"] = replace(stats, symbols={**stats.symbols, "BTCUSDT": stuck})
                r = await client.get("/healthz")
                assert r.status_code == 503 and r.json()["status"] == "stalled"
                assert list(r.json()["stalled"]) == ["BTCUSDT"]
                metrics = samples((await client.get("/metrics")).text)
                assert metrics[("tradestore_stall_confirmed_total", btc_label)] == 1
                assert 75 <= metrics[("tradestore_stalled_seconds", btc_label)] < 100

                # A store refusing writes makes the daemon unhealthy even with fresh trades.
                failing = replace(
                    stats.flush,
                    failing_since_ms=now_ms - 30_000,
                    last_error="File too large",
                    outages=1,
                )
                state["stats"] = replace(stats, flush=failing)
                r = await client.get("/healthz")
                assert r.status_code == 503 and r.json()["status"] == "store_failing"
                assert r.json()["store"]["last_error"] == "File too large"
                assert 29 < r.json()["store"]["failing_for_seconds"] < 60
                r = await client.get("/metrics")
                assert "tradestore_store_outages_total 1.0" in r.text
                assert 29 < samples(r.text)[("tradestore_store_failing_seconds", ())] < 60

                assert (await client.get("/nothing")).status_code == 404
            nursery.cancel_scope.cancel()
    finally:
        store.close()


async def test_statistics_are_a_frozen_snapshot_and_reading_them_changes_nothing(tmp_path):
    now_ms = int(time.time() * 1000)
    config = RecorderConfig(symbols=("BTCUSDT",), db=str(tmp_path / "db"), backfill=False)
    with TradeStore(config.db_path) as store:
        recorder = Recorder(config, store)
        (conn,) = recorder.connections
        recorder.dispatcher.handle(conn, json.dumps(agg_event("BTCUSDT", 1, time_ms=now_ms)))
        before = recorder.statistics()
        assert recorder.statistics() == before  # reading twice: the same figures
        assert before.symbols["BTCUSDT"].buffered == before.buffered == 1
        with pytest.raises(FrozenInstanceError):
            before.buffered = 0  # type: ignore[misc]
        with pytest.raises(TypeError):
            before.symbols["BTCUSDT"] = before.symbols["BTCUSDT"]  # type: ignore[index]
        recorder.dispatcher.handle(conn, json.dumps(agg_event("BTCUSDT", 2, time_ms=now_ms)))
        assert await recorder.batcher.flush()
        after = recorder.statistics()
        # The earlier snapshot kept its figures while the recorder moved on.
        assert (before.symbols["BTCUSDT"].received, before.flush.flushes) == (1, 0)
        assert (after.symbols["BTCUSDT"].received, after.flush.flushes) == (2, 1)
        assert after.symbols["BTCUSDT"].stored == 2 and after.buffered == 0
        assert json.loads(json.dumps(after.as_dict()))["symbols"]["BTCUSDT"]["stored"] == 2


async def test_the_exposition_is_prometheus_clients_and_every_family_is_documented(tmp_path):
    """/metrics is prometheus_client's generate_latest over the server's registry, written
    family by family (byte for byte the same text, escapes included); every family it
    can carry is listed in docs/OPERATIONS.md, and every metric listed there is served."""
    real, store = await recorded(tmp_path, int(time.time() * 1000))
    store.close()
    odd = replace(real.symbols["BTCUSDT"], drops={'q"x\\back\nslash': 2})
    archive = ArchiveStatistics(
        destination="file:///archive",
        runs=2,
        failed_runs=0,
        partitions_written=3,
        failed_days=0,
        last_run_ms=1_767_225_600_000,
        last_success_ms=1_767_225_600_000,
        archived_through={"BTCUSDT": "2026-01-01"},
        retention_held_days=0,
    )
    stats = replace(
        real,
        symbols={**real.symbols, 'ODD"\\SYMBOL\n': odd},
        archive=archive,
        stalls=replace(real.stalls, median_event_lag=0.25),
    )
    registry = metrics_registry(lambda: stats, clock=lambda: 1_767_300_000.0)
    text = (await exposition(registry)).decode()
    assert text == generate_latest(registry).decode()
    served = {family.name for family in text_string_to_metric_families(text)}
    assert len(served) > 60
    drops = samples(text)
    assert (
        drops[
            (
                "tradestore_frames_dropped_total",
                (("reason", 'q"x\\back\nslash'), ("symbol", 'ODD"\\SYMBOL\n')),
            )
        ]
        == 2
    )

    docs = (Path(__file__).parents[2] / "docs" / "OPERATIONS.md").read_text()
    prefixes = set(re.findall(r"`(tradestore_[a-z_]+_)\*`", docs))  # tradestore_backfill_*
    listed = set(re.findall(r"`(tradestore_[a-z_]+)", docs)) - prefixes

    def documented(family: str) -> bool:
        names = {family, f"{family}_total"}
        return bool(names & listed) or any(family.startswith(p) for p in prefixes)

    assert sorted(f for f in served if not documented(f)) == []
    exposed = {s.name for fam in text_string_to_metric_families(text) for s in fam.samples}
    assert sorted(n for n in listed - exposed if n.removesuffix("_total") not in served) == []
