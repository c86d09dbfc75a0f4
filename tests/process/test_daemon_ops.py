"""Operating a real ``tradestore-trio run`` process: /metrics and /healthz, JSON logs,
and SIGHUP changing the symbol list on the live connection (SUBSCRIBE/UNSUBSCRIBE)."""

from __future__ import annotations

import json
import signal

import pytest
import trio

from tests.helpers import wait_for, wait_for_async
from tests.helpers.daemon import (
    get,
    kill_daemon,
    metric,
    metrics_url,
    start_daemon,
    stop_daemon,
    wait_for_log,
)
from tests.helpers.store import stored_ids
from tradestore.fake import FakeExchangeConfig, open_fake_exchange


@pytest.mark.slow
async def test_metrics_healthz_and_json_logs(tmp_path):
    db = tmp_path / "db"
    log_path = tmp_path / "daemon.log"
    config = tmp_path / "rec.toml"
    # Short timers: the data watchdog, the stall checks and /healthz act within seconds.
    config.write_text(
        "health_stale_after = 1.5\nwatchdog_floor = 1.0\nstall_floor = 1.0\nstall_max = 2.0\n"
    )
    # Every 10th trade skipped on WebSocket: gaps open and backfill fills them.
    fcfg = FakeExchangeConfig(symbols=("BTCUSDT",), rate=100.0, skip_every=10)
    async with open_fake_exchange(fcfg) as fx:
        argv = ["--db", str(db), "--endpoint", fx.ws_url, "--rest-endpoint", fx.rest_url]
        argv += ["--symbols", "BTCUSDT", "--retention-days", "0", "--config", str(config)]
        argv += ["--metrics-addr", "127.0.0.1:0", "--log-format", "json"]
        proc = await start_daemon(argv, log_path)
        try:
            with trio.fail_after(30):
                base = await metrics_url(log_path)

                async def scrape() -> str:
                    response = await get(f"{base}/metrics")
                    assert response.status_code == 200
                    return response.text

                scraped = []

                async def stored_and_filled() -> bool:
                    scraped.append(await scrape())
                    stored = metric(scraped[-1], "tradestore_trades_stored_total", symbol="BTCUSDT")
                    filled = metric(
                        scraped[-1], "tradestore_gaps", symbol="BTCUSDT", status="filled"
                    )
                    return (stored or 0) >= 200 and (filled or 0) >= 5

                await wait_for_async(stored_and_filled, step=0.2)
                text = scraped[-1]
                health = await get(f"{base}/healthz")
                assert health.status_code == 200, health.text
                assert health.json()["status"] == "ok"

                # Connection open, pings flowing, no trades: the watchdog recycles it and
                # reconnects under backoff (down past health_stale_after: disconnected),
                # or the new one stays silent while the exchange has newer trades (a
                # confirmed stall, unrepaired past health_stale_after). Never by the
                # trade times: the deadline of the fail_after above is what fails a
                # /healthz that never notices.
                fx.set_silent(True)
                answers = []

                async def healthz_is_not(status: int) -> bool:
                    answers.append(await get(f"{base}/healthz"))
                    return answers[-1].status_code != status

                await wait_for_async(lambda: healthz_is_not(200), step=0.1)
                health = answers[-1]
                assert health.status_code == 503, health.text
                doc = health.json()
                assert doc["status"] in ("stalled", "disconnected"), health.text
                assert list(doc["stalled"]) == ["BTCUSDT"] or list(doc["disconnected"]) == [
                    "stream-0"
                ]
                fx.set_silent(False)
                await wait_for_async(lambda: healthz_is_not(503), step=0.1)
                assert answers[-1].status_code == 200  # healthy again with the next trade
            await stop_daemon(proc, log_path)
        finally:
            await kill_daemon(proc)
    assert metric(text, "tradestore_trades_received_total", symbol="BTCUSDT") >= 200
    assert metric(text, "tradestore_gaps_detected_total", symbol="BTCUSDT") >= 5
    # Gaps of one symbol within one REST page share a request.
    calls = metric(text, "tradestore_backfill_calls_total")
    assert calls >= 1 and calls + metric(text, "tradestore_backfill_requests_saved_total") >= 5
    assert metric(text, "tradestore_backfill_trades_fetched_total") >= 5
    assert metric(text, "tradestore_last_agg_id", symbol="BTCUSDT") >= 1_000_200
    assert metric(text, "tradestore_flushes_total") >= 1
    # Every line of the log is one JSON object; the events we promise are there, once each.
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    messages = [line["msg"] for line in lines]
    assert {line["level"] for line in lines} <= {"debug", "info", "warning", "error"}
    assert any(m.startswith("BTCUSDT: agg ids") and "recorded as a gap" in m for m in messages)
    filled = [m for m in messages if m.startswith("gap BTCUSDT") and " filled " in m]
    assert len(filled) >= 5 and len(set(filled)) == len(filled)  # one line per fill
    assert "shutdown: all buffers flushed" in messages


@pytest.mark.slow
async def test_sighup_adds_and_removes_symbols_in_a_running_daemon(tmp_path):
    """SIGHUP re-reads the config file. Adding a symbol subscribes it on the running
    connection, removing one unsubscribes it there: the connection is never dropped.
    Every trade of a symbol, while it was recorded, is stored once."""
    db = tmp_path / "db"
    log_path = tmp_path / "daemon.log"
    config = tmp_path / "rec.toml"
    config.write_text('symbols = ["BTCUSDT", "ETHUSDT"]\n')
    fcfg = FakeExchangeConfig(symbols=("BTCUSDT", "ETHUSDT", "BNBUSDT"), rate=50.0)
    async with open_fake_exchange(fcfg) as fx:
        argv = ["--db", str(db), "--endpoint", fx.ws_url, "--rest-endpoint", fx.rest_url]
        argv += ["--retention-days", "0", "--config", str(config)]
        proc = await start_daemon(argv, log_path)
        try:
            with trio.fail_after(60):
                await fx.wait_until(lambda: fx.connections == 1)
                assert fx.subscriptions() == [("btcusdt@aggTrade", "ethusdt@aggTrade")]
                await fx.wait_generated("BTCUSDT", 50)

                config.write_text('symbols = ["BTCUSDT", "ETHUSDT", "BNBUSDT"]\n')
                proc.send_signal(signal.SIGHUP)
                await wait_for_log(log_path, r"symbols reloaded: 3 recorded; added BNBUSDT")
                await wait_for(
                    lambda: (
                        fx.subscriptions()
                        == [("btcusdt@aggTrade", "ethusdt@aggTrade", "bnbusdt@aggTrade")]
                    ),
                    step=0.05,
                )
                bnb_from = fx.generated("BNBUSDT")
                # BNBUSDT is recorded for a while (50 trades sent) before the next reload.
                await wait_for(lambda: len(fx.log.sent_ids("BNBUSDT")) >= 50, step=0.05)

                config.write_text('symbols = ["BTCUSDT", "BNBUSDT"]\n')
                proc.send_signal(signal.SIGHUP)
                await wait_for_log(log_path, r"removed ETHUSDT")
                await wait_for(
                    lambda: fx.subscriptions() == [("btcusdt@aggTrade", "bnbusdt@aggTrade")],
                    step=0.05,
                )
                eth_until = fx.generated("ETHUSDT")
                # The old shard is gone: what is sent from now on came over its replacement,
                # so the ids checked below run well past the seam.
                btc_sent = len(fx.log.sent_ids("BTCUSDT"))
                await wait_for(lambda: len(fx.log.sent_ids("BTCUSDT")) >= btc_sent + 50, step=0.05)
                generated = {s: fx.generated(s) for s in ("BTCUSDT", "BNBUSDT")}

                def recorded_up_to_here() -> bool:
                    # Flushed, and any hole at the replaced connection's seam backfilled.
                    for symbol, k in generated.items():
                        ids = fx.log.generated_ids(symbol)[:k]
                        if not set(ids[-1:]) <= set(stored_ids(db, symbol)):
                            return False
                    btc = stored_ids(db, "BTCUSDT")
                    return (
                        btc[: generated["BTCUSDT"]]
                        == fx.log.generated_ids("BTCUSDT")[: generated["BTCUSDT"]]
                    )

                await wait_for(recorded_up_to_here, step=0.25)
            await stop_daemon(proc, log_path)
        finally:
            await kill_daemon(proc)
    text = log_path.read_text()
    assert "Traceback" not in text
    assert fx.log.connections_opened == 1  # both changes on the one live connection
    assert dict(fx.log.control_by_method) == {"SUBSCRIBE": 1, "UNSUBSCRIBE": 1}
    # BTCUSDT was recorded throughout: every id up to the second reload's point, once.
    btc = stored_ids(db, "BTCUSDT")
    assert btc[: generated["BTCUSDT"]] == fx.log.generated_ids("BTCUSDT")[: generated["BTCUSDT"]]
    # BNBUSDT from its addition on, contiguous.
    bnb = stored_ids(db, "BNBUSDT")
    assert bnb and bnb == list(range(bnb[0], bnb[-1] + 1))
    assert bnb[0] <= fx.log.generated_ids("BNBUSDT")[bnb_from]
    assert bnb[-1] >= fx.log.generated_ids("BNBUSDT")[generated["BNBUSDT"] - 1]
    # ETHUSDT stopped at the removal: nothing recorded after it.
    eth = stored_ids(db, "ETHUSDT")
    assert eth == list(range(eth[0], eth[-1] + 1))
    assert eth[-1] <= fx.log.generated_ids("ETHUSDT")[eth_until - 1]


async def test_set_symbols_touches_only_the_connections_that_change(tmp_path):
    """Per-symbol streams: replacing ETHUSDT by BNBUSDT closes ETHUSDT's connection and
    opens one for BNBUSDT; BTCUSDT's connection is the same object, never reopened."""
    from tradestore.recorder import ConfigError, RecorderConfig, run

    fcfg = FakeExchangeConfig(symbols=("BTCUSDT", "ETHUSDT", "BNBUSDT"), rate=50.0)
    async with open_fake_exchange(fcfg) as fx, trio.open_nursery() as nursery:
        cfg = RecorderConfig(
            symbols=("BTCUSDT", "ETHUSDT"),
            endpoint=fx.ws_url,
            rest_endpoint=fx.rest_url,
            db=str(tmp_path / "db"),
            retention_days=0,
            per_symbol_streams=True,
        )
        recorder = await nursery.start(run, cfg)
        with trio.fail_after(20):
            await fx.wait_until(lambda: fx.connections == 2)
            btc = recorder.connections[0]
            assert btc.symbols == {"BTCUSDT"}
            change = await recorder.set_symbols(["BTCUSDT", "bnbusdt"])
            assert change == {
                "added": ["BNBUSDT"],
                "removed": ["ETHUSDT"],
                "reconnected": ["ws-ETHUSDT"],
                "opened": ["ws-BNBUSDT"],
                "closed": [],
                "subscribed": {},
                "unsubscribed": {},
            }
            await fx.wait_until(
                lambda: fx.subscriptions() == [("bnbusdt@aggTrade",), ("btcusdt@aggTrade",)]
            )
            await wait_for(lambda: recorder.statistics().symbols["BNBUSDT"].stored > 10)
            with pytest.raises(ConfigError):
                await recorder.set_symbols(["BTCUSDT", "not a symbol!"])
            stats = recorder.statistics()
        nursery.cancel_scope.cancel()
    assert recorder.connections[0] is btc and btc.statistics().opens == 1
    assert fx.log.connections_opened == 3
    assert set(stats.symbols) == {"BTCUSDT", "BNBUSDT"}
    assert [c.name for c in stats.connections] == ["ws-BTCUSDT", "ws-BNBUSDT"]
    assert stats.reloads == 1
    assert recorder.config.symbols == ("BTCUSDT", "BNBUSDT")
