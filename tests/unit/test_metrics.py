"""/metrics and /healthz over real HTTP on 127.0.0.1, from a statistics snapshot."""

from __future__ import annotations

import time

import httpx
import trio
from prometheus_client.parser import text_string_to_metric_families

from tradestore.recorder._metrics import serve_metrics


def snapshot(last_trade_ms: dict[str, int | None]) -> dict:
    return {
        "started_ms": int(time.time() * 1000) - 5_000,
        "symbols": {
            sym: {
                "received": 10,
                "stored": 9,
                "duplicates": 1,
                "gaps": 1,
                "missing_ids": 3,
                "drops": {"not_json": 2},
                "reconnects": 4,
                "last_id": 1009,
                "last_trade_ms": ms,
                "buffered": 1,
            }
            for sym, ms in last_trade_ms.items()
        },
        "drops": {"not_json": 2},
        "flush": {"flushes": 7, "failed": 0, "last_latency": 0.002, "max_latency": 0.01},
        "queue": {"used": 0, "size": 4096},
        "prune": {"runs": 1, "trades_removed": 0},
        "gaps": {"BTCUSDT": {"open": 1, "filled": 2}},
        "connections": [
            {"name": "ws-0", "state": "open", "opens": 3, "reconnects": 1, "rotations": 2},
            {"name": "ws-1", "state": "backoff", "opens": 1, "rotation_failures": 1},
        ],
    }


async def test_metrics_and_health():
    now_ms = int(time.time() * 1000)
    state = {"stats": snapshot({"BTCUSDT": now_ms - 1000, "ETHUSDT": now_ms - 2000})}
    async with trio.open_nursery() as nursery:
        url = await nursery.start(
            lambda task_status: serve_metrics(
                "127.0.0.1:0", lambda: state["stats"], stale_after_s=60, task_status=task_status
            )
        )
        async with httpx.AsyncClient(base_url=url) as client:
            r = await client.get("/metrics")
            assert r.status_code == 200
            metrics = {
                (s.name, tuple(sorted(s.labels.items()))): s.value
                for fam in text_string_to_metric_families(r.text)
                for s in fam.samples
            }
            assert metrics[("tradestore_trades_stored_total", (("symbol", "BTCUSDT"),))] == 9
            assert (
                metrics[
                    (
                        "tradestore_frames_dropped_total",
                        (("reason", "not_json"), ("symbol", "ETHUSDT")),
                    )
                ]
                == 2
            )
            assert metrics[("tradestore_last_agg_id", (("symbol", "ETHUSDT"),))] == 1009
            assert metrics[("tradestore_gaps", (("status", "open"), ("symbol", "BTCUSDT")))] == 1
            assert metrics[("tradestore_flushes_total", ())] == 7
            assert 0 < metrics[("tradestore_lag_seconds", (("symbol", "BTCUSDT"),))] < 30
            ws0, ws1 = (("connection", "ws-0"),), (("connection", "ws-1"),)
            assert metrics[("tradestore_connection_rotations_total", ws0)] == 2
            assert metrics[("tradestore_connection_rotations_total", ws1)] == 0
            assert metrics[("tradestore_connection_rotation_failures_total", ws1)] == 1
            assert metrics[("tradestore_connection_opens_total", ws0)] == 3
            assert metrics[("tradestore_connection_open", ws0)] == 1
            assert metrics[("tradestore_connection_open", ws1)] == 0
            assert metrics[("tradestore_store_failing_seconds", ())] == 0

            r = await client.get("/healthz")
            assert r.status_code == 200 and r.json()["status"] == "ok"

            state["stats"] = snapshot({"BTCUSDT": now_ms - 1000, "ETHUSDT": now_ms - 600_000})
            r = await client.get("/healthz")
            assert r.status_code == 503
            assert list(r.json()["stale"]) == ["ETHUSDT"]

            # A store refusing writes makes the daemon unhealthy even with fresh trades.
            state["stats"] = snapshot({"BTCUSDT": now_ms - 1000, "ETHUSDT": now_ms - 1000})
            state["stats"]["flush"].update(
                failing_since_ms=now_ms - 30_000, last_error="File too large", outages=1
            )
            r = await client.get("/healthz")
            assert r.status_code == 503 and r.json()["status"] == "store_failing"
            assert r.json()["store"]["last_error"] == "File too large"
            assert 29 < r.json()["store"]["failing_for_seconds"] < 60
            r = await client.get("/metrics")
            assert "tradestore_store_outages_total 1.0" in r.text
            assert (
                29
                < next(
                    s.value
                    for fam in text_string_to_metric_families(r.text)
                    for s in fam.samples
                    if s.name == "tradestore_store_failing_seconds"
                )
                < 60
            )

            assert (await client.get("/nothing")).status_code == 404
        nursery.cancel_scope.cancel()
