"""The recorder against a scripted WebSocket server on 127.0.0.1: storage, bad frames,
duplicates, gaps, restarts and flushing."""

from __future__ import annotations

import json

import pytest
import trio

from tests.helpers import wait_for
from tests.helpers.recorder import MiniExchange, agg_event, combined
from tests.helpers.store import stored_ids
from tradestore import TradeStore
from tradestore.recorder import DROP_REASONS, RecorderConfig, run


def config(url: str, db, **kw) -> RecorderConfig:
    kw.setdefault("backfill", False)  # no REST here: gaps stay open, as the tests expect
    kw.setdefault("symbols", ("BTCUSDT", "ETHUSDT"))
    return RecorderConfig(endpoint=url, db=str(db), **kw)


def script(frames_per_connection):
    """A handler sending the i-th list of frames on the i-th connection, then idling."""

    async def handler(ws, index):
        frames = frames_per_connection[index] if index < len(frames_per_connection) else []
        for frame in frames:
            await ws.send_message(frame)
        await trio.sleep_forever()

    return handler


async def test_records_two_symbols_exactly_once(tmp_path):
    frames = []
    for agg_id in range(1, 301):
        frames.append(combined(agg_event("BTCUSDT", agg_id)))
        frames.append(combined(agg_event("ETHUSDT", 5000 + agg_id)))
    async with trio.open_nursery() as nursery:
        fx = await MiniExchange(script([frames])).start(nursery)
        recorder = await nursery.start(run, config(fx.url, tmp_path / "db"))
        with trio.fail_after(20):
            await wait_for(lambda: recorder.statistics().symbols["ETHUSDT"].stored == 300)
        stats = recorder.statistics()
        nursery.cancel_scope.cancel()
    assert fx.accepted[0][1] == "/stream?streams=btcusdt@aggTrade/ethusdt@aggTrade"
    assert stored_ids(tmp_path / "db", "BTCUSDT") == list(range(1, 301))
    assert stored_ids(tmp_path / "db", "ETHUSDT") == list(range(5001, 5301))
    btc = stats.symbols["BTCUSDT"]
    assert (btc.received, btc.stored, btc.duplicates, btc.gaps) == (300, 300, 0, 0)
    assert btc.last_id == 300
    assert btc.last_trade_ms == agg_event("BTCUSDT", 300)["T"]
    assert stats.drops == {}


async def test_per_symbol_streams_and_sharding(tmp_path):
    symbols = ("BTCUSDT", "ETHUSDT", "BNBUSDT")

    async def handler(ws, index):
        symbol = ws.path.split("/ws/")[1].split("@")[0].upper()
        for agg_id in range(1, 21):
            await ws.send_message(json.dumps(agg_event(symbol, agg_id)))  # raw, unwrapped
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        fx = await MiniExchange(handler).start(nursery)
        cfg = config(fx.url, tmp_path / "db", symbols=symbols, per_symbol_streams=True)
        recorder = await nursery.start(run, cfg)
        with trio.fail_after(20):
            await wait_for(
                lambda: all(s.stored == 20 for s in recorder.statistics().symbols.values())
            )
        nursery.cancel_scope.cancel()
    assert sorted(path for _t, path in fx.accepted) == [
        "/ws/bnbusdt@aggTrade",
        "/ws/btcusdt@aggTrade",
        "/ws/ethusdt@aggTrade",
    ]
    for symbol in symbols:
        assert stored_ids(tmp_path / "db", symbol) == list(range(1, 21))


async def test_combined_streams_sharded_over_connections(tmp_path):
    symbols = ("BTCUSDT", "ETHUSDT", "BNBUSDT")

    async def handler(ws, index):
        streams = ws.path.split("streams=")[1].split("/")
        for agg_id in range(1, 11):
            for stream in streams:
                symbol = stream.split("@")[0].upper()
                await ws.send_message(combined(agg_event(symbol, agg_id)))
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        fx = await MiniExchange(handler).start(nursery)
        cfg = config(fx.url, tmp_path / "db", symbols=symbols, max_streams_per_connection=2)
        recorder = await nursery.start(run, cfg)
        with trio.fail_after(20):
            await wait_for(
                lambda: all(s.stored == 10 for s in recorder.statistics().symbols.values())
            )
        stats = recorder.statistics()
        nursery.cancel_scope.cancel()
    assert sorted(path for _t, path in fx.accepted) == [
        "/stream?streams=bnbusdt@aggTrade",
        "/stream?streams=btcusdt@aggTrade/ethusdt@aggTrade",
    ]
    assert [c.symbols for c in stats.connections] == [("BTCUSDT", "ETHUSDT"), ("BNBUSDT",)]
    for symbol in symbols:
        assert stored_ids(tmp_path / "db", symbol) == list(range(1, 11))


def test_combined_streams_are_sharded():
    from tradestore.recorder import plan_streams

    symbols = tuple(f"S{i:03d}USDT" for i in range(450))
    specs = plan_streams(RecorderConfig(symbols=symbols, max_streams_per_connection=200))
    assert [len(s.symbols) for s in specs] == [200, 200, 50]
    assert [x for s in specs for x in s.symbols] == list(symbols)
    assert specs[2].url.startswith(
        "wss://stream.binance.com:9443/stream?streams=s400usdt@aggTrade/"
    )


def bad_frames(symbol: str) -> dict[str, str | bytes]:
    """One frame per drop reason a WebSocket peer can produce."""
    good = agg_event(symbol, 999)
    return {
        "binary": combined(agg_event(symbol, 1001)).encode(),
        "oversized": combined(agg_event(symbol, 1002, pad="x" * 70_000)),
        "not_json": '{"e": "aggTrade", "a": ',
        "not_object": "[1, 2, 3]",
        "wrong_event": json.dumps({"e": "depthUpdate", "s": symbol, "E": 1}),
        "missing_field": combined({k: v for k, v in good.items() if k != "p"}),
        "bad_type": combined({**good, "a": "999"}),
        "bad_decimal": combined({**good, "q": "1e-3"}),
        "bad_value": combined({**good, "a": -5}),
        "wrong_symbol": combined(agg_event("XRPUSDT", 1003)),
    }


async def test_trade_under_another_symbols_stream_label_is_dropped(tmp_path):
    """On a combined connection carrying both, an ETHUSDT trade labelled as the btcusdt
    stream is inconsistent: dropped as wrong_symbol, the rest stored."""
    mislabelled = combined(agg_event("ETHUSDT", 7), stream="btcusdt@aggTrade")
    spaced = json.dumps({"stream": "ethusdt@aggTrade", "data": agg_event("ETHUSDT", 8)}, indent=1)
    frames = [combined(agg_event("ETHUSDT", 6)), mislabelled, spaced]
    async with trio.open_nursery() as nursery:
        fx = await MiniExchange(script([frames])).start(nursery)
        recorder = await nursery.start(run, config(fx.url, tmp_path / "db"))
        with trio.fail_after(20):
            await wait_for(lambda: recorder.statistics().symbols["ETHUSDT"].stored == 2)
        stats = recorder.statistics()
        nursery.cancel_scope.cancel()
    assert stats.drops == {"wrong_symbol": 1}
    assert stored_ids(tmp_path / "db", "ETHUSDT") == [6, 8]


async def test_every_bad_frame_is_counted_and_never_stored(tmp_path):
    bad = bad_frames("BTCUSDT")
    frames = [combined(agg_event("BTCUSDT", i)) for i in range(1, 6)]
    for reason in bad.values():
        frames.append(reason)
    frames += [combined(agg_event("BTCUSDT", i)) for i in range(6, 11)]
    async with trio.open_nursery() as nursery:
        fx = await MiniExchange(script([frames])).start(nursery)
        recorder = await nursery.start(run, config(fx.url, tmp_path / "db"))
        with trio.fail_after(20):
            await wait_for(lambda: recorder.statistics().symbols["BTCUSDT"].stored == 10)
        stats = recorder.statistics()
        nursery.cancel_scope.cancel()
    # Every reason once; the connection survived them all (one connection, 20 frames).
    assert stats.drops == dict.fromkeys(bad, 1)
    assert set(bad) <= set(DROP_REASONS)
    assert stats.connections[0].opens == 1
    assert stats.frames == 20
    assert stored_ids(tmp_path / "db", "BTCUSDT") == list(range(1, 11))
    with TradeStore(tmp_path / "db", read_only=True) as store:
        assert store.symbols() == ["BTCUSDT"]


async def test_drops_are_attributed_to_the_symbol_of_a_single_stream(tmp_path):
    frames = ["not json", json.dumps(agg_event("ETHUSDT", 1)), json.dumps(agg_event("BTCUSDT", 1))]

    async def handler(ws, index):
        if "btcusdt" in ws.path:
            for frame in frames:
                await ws.send_message(frame)
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        fx = await MiniExchange(handler).start(nursery)
        cfg = config(fx.url, tmp_path / "db", per_symbol_streams=True)
        recorder = await nursery.start(run, cfg)
        with trio.fail_after(20):
            await wait_for(lambda: recorder.statistics().symbols["BTCUSDT"].stored == 1)
        stats = recorder.statistics()
        nursery.cancel_scope.cancel()
    assert stats.symbols["BTCUSDT"].drops == {"not_json": 1, "wrong_symbol": 1}
    assert stats.symbols["ETHUSDT"].drops == {}
    assert stored_ids(tmp_path / "db", "BTCUSDT") == [1]


async def test_duplicates_dropped_and_gaps_recorded_with_the_flush(tmp_path):
    ids = [*range(1, 11), 8, 9, 10, 11, 12, *range(15, 21), 20, 25]
    frames = [combined(agg_event("BTCUSDT", i)) for i in ids]
    async with trio.open_nursery() as nursery:
        fx = await MiniExchange(script([frames])).start(nursery)
        recorder = await nursery.start(run, config(fx.url, tmp_path / "db"))
        with trio.fail_after(20):
            await wait_for(lambda: recorder.statistics().symbols["BTCUSDT"].stored == 19)
        stats = recorder.statistics().symbols["BTCUSDT"]
        nursery.cancel_scope.cancel()
    assert stored_ids(tmp_path / "db", "BTCUSDT") == [*range(1, 13), *range(15, 21), 25]
    assert (stats.received, stats.duplicates, stats.gaps, stats.missing_ids) == (
        len(ids),
        4,
        2,
        6,
    )
    with TradeStore(tmp_path / "db", read_only=True) as store:
        gaps = store.gaps("BTCUSDT")
    assert [(g.first_id, g.last_id, g.status) for g in gaps] == [(13, 14, "open"), (21, 24, "open")]
    assert gaps[0].after_time_ms == agg_event("BTCUSDT", 12)["T"]
    assert gaps[0].before_time_ms == agg_event("BTCUSDT", 15)["T"]


async def test_restart_reads_back_the_last_id_and_records_the_hole(tmp_path):
    db = tmp_path / "db"
    first = [combined(agg_event("BTCUSDT", i)) for i in range(1, 11)]
    second = [combined(agg_event("BTCUSDT", i)) for i in [*range(5, 11), *range(14, 21)]]
    for frames, total in ((first, 10), (second, 7)):
        async with trio.open_nursery() as nursery:
            fx = await MiniExchange(script([frames])).start(nursery)
            recorder = await nursery.start(run, config(fx.url, db))
            with trio.fail_after(20):
                await wait_for(
                    lambda r=recorder, n=total: r.statistics().symbols["BTCUSDT"].stored == n
                )
            stats = recorder.statistics().symbols["BTCUSDT"]
            nursery.cancel_scope.cancel()
    assert stats.duplicates == 6  # 5..10 were stored by the first run
    assert stored_ids(db, "BTCUSDT") == [*range(1, 11), *range(14, 21)]
    with TradeStore(db, read_only=True) as store:
        (gap,) = store.gaps("BTCUSDT")
    assert (gap.first_id, gap.last_id) == (11, 13)
    assert gap.after_time_ms == agg_event("BTCUSDT", 10)["T"]


async def test_cancel_flushes_everything_received(tmp_path):
    """No timer flush ever runs (1 h interval): the trades reach the DB at shutdown."""
    frames = [combined(agg_event("BTCUSDT", i)) for i in range(1, 501)]
    async with trio.open_nursery() as nursery:
        fx = await MiniExchange(script([frames])).start(nursery)
        cfg = config(fx.url, tmp_path / "db", flush_interval=3600.0)
        recorder = await nursery.start(run, cfg)
        with trio.fail_after(20):
            await wait_for(lambda: recorder.statistics().symbols["BTCUSDT"].received == 500)
        assert recorder.statistics().flush.flushes == 0
        nursery.cancel_scope.cancel()
    assert recorder.statistics().flush.flushes == 1
    assert stored_ids(tmp_path / "db", "BTCUSDT") == list(range(1, 501))


async def test_safety_valve_flushes_early(tmp_path):
    frames = [combined(agg_event("BTCUSDT", i)) for i in range(1, 251)]
    async with trio.open_nursery() as nursery:
        fx = await MiniExchange(script([frames])).start(nursery)
        cfg = config(fx.url, tmp_path / "db", flush_interval=3600.0, flush_max_trades=100)
        recorder = await nursery.start(run, cfg)
        with trio.fail_after(20):
            await wait_for(lambda: recorder.statistics().symbols["BTCUSDT"].stored >= 200)
            await wait_for(lambda: recorder.statistics().symbols["BTCUSDT"].received == 250)
        flush = recorder.statistics().flush
        nursery.cancel_scope.cancel()
    assert flush.early >= 2
    assert stored_ids(tmp_path / "db", "BTCUSDT") == list(range(1, 251))


async def test_flushes_stay_on_a_fixed_grid_when_writes_are_slow(
    tmp_path, monkeypatch, autojump_clock, memory_network
):
    """Flush k starts at first + k * interval: a slow write does not push the next one back
    (sleeping the interval after each write would drift by the write time every flush)."""
    interval, write_time = 0.2, 0.08
    starts: list[float] = []
    original = TradeStore.write_batches

    def slow_write(self, batches, gaps=()):
        starts.append(trio.current_time())
        autojump_clock.jump(write_time)  # the write takes 80 ms of the test's clock
        return original(self, batches, gaps)

    monkeypatch.setattr(TradeStore, "write_batches", slow_write)

    async def handler(ws, index):
        for i in range(1, 100_000):
            await ws.send_message(combined(agg_event("BTCUSDT", i)))
            await trio.sleep(0.01)  # the scenario: a trade every 10 virtual ms

    async with trio.open_nursery() as nursery:
        fx = await MiniExchange(handler).start(nursery, memory_network)
        cfg = config(fx.url, tmp_path / "db", flush_interval=interval, retention_days=0)
        await nursery.start(run, cfg)
        with trio.fail_after(20):
            await wait_for(lambda: len(starts) >= 11)
        nursery.cancel_scope.cancel()
    offsets = [t - starts[0] for t in starts[:11]]
    for k, offset in enumerate(offsets):
        assert abs(offset - k * interval) < 1e-6, offsets


@pytest.mark.parametrize("wrapper", [None, "data", "event"])
async def test_server_shutdown_event_reconnects_at_once(
    tmp_path, autojump_clock, memory_network, wrapper
):
    shutdown = {"e": "serverShutdown", "E": 1}
    if wrapper == "data":
        shutdown = {"stream": "!shutdown", "data": shutdown}
    elif wrapper == "event":
        shutdown = {"event": shutdown}
    notice = json.dumps(shutdown)
    frames = [
        [combined(agg_event("BTCUSDT", i)) for i in range(1, 6)] + [notice],
        [combined(agg_event("BTCUSDT", i)) for i in range(4, 11)],
    ]
    async with trio.open_nursery() as nursery:
        fx = await MiniExchange(script(frames)).start(nursery, memory_network)
        recorder = await nursery.start(run, config(fx.url, tmp_path / "db"))
        with trio.fail_after(20):
            await wait_for(lambda: recorder.statistics().symbols["BTCUSDT"].stored == 10)
        stats = recorder.statistics()
        nursery.cancel_scope.cancel()
    assert len(fx.accepted) == 2
    assert fx.accepted[1][0] - fx.accepted[0][0] < 0.01  # no backoff after a planned recycle
    assert stats.server_shutdowns == 1
    assert stats.connections[0].recycled == {"server_shutdown": 1}
    assert stats.symbols["BTCUSDT"].duplicates == 2
    assert stats.drops == {}
    assert stored_ids(tmp_path / "db", "BTCUSDT") == list(range(1, 11))


async def test_retention_deletes_what_aged_out_and_keeps_imported_history(tmp_path, caplog):
    """Retention deletes trades as they age past the window; what was already older than
    the window when stored (an imported day, ETHUSDT here) is kept, and the first pass
    says so plainly."""
    import logging
    import time as _time
    from decimal import Decimal

    from tradestore import AggTrade
    from tradestore.store import apply_retention, plan_retention

    now_ms = int(_time.time() * 1000)
    day = 86_400_000
    db = tmp_path / "db"

    def trade(agg_id: int, time_ms: int) -> AggTrade:
        return AggTrade(agg_id, Decimal("100.5"), Decimal("0.25"), time_ms, False)

    with TradeStore(db) as store:
        # The first retention pass, five days ago: id 1 was already older than its window.
        store.store_batch("BTCUSDT", [trade(1, now_ms - 13 * day)])
        apply_retention(store, plan_retention(store, days=7.0, now_ms=now_ms - 5 * day))
        store.store_batch("BTCUSDT", [trade(i, now_ms - 10 * day + i) for i in range(2, 6)])
        store.store_batch("BTCUSDT", [trade(i, now_ms - 3_600_000 + i) for i in range(6, 9)])
        # A day imported from data.binance.vision, a month old: history.
        store.store_batch("ETHUSDT", [trade(i, now_ms - 30 * day + i) for i in range(1, 4)])

    async def idle(ws, index):
        await trio.sleep_forever()

    caplog.set_level(logging.INFO, logger="tradestore.recorder")
    async with trio.open_nursery() as nursery:
        fx = await MiniExchange(idle).start(nursery)
        recorder = await nursery.start(run, config(fx.url, db, retention_days=7.0))
        with trio.fail_after(20):
            await wait_for(lambda: recorder.statistics().prune.runs == 1)
        stats = recorder.statistics()
        nursery.cancel_scope.cancel()
    assert stats.prune.trades_removed == 4
    assert stored_ids(db, "BTCUSDT") == [1, 6, 7, 8]  # id 1: older than the edge when stored
    assert stored_ids(db, "ETHUSDT") == [1, 2, 3]
    # The last id was read back at start, so the next live trade continues from 8.
    assert stats.symbols["BTCUSDT"].last_id == 8
    said = "\n".join(r.getMessage() for r in caplog.records)
    assert "retention: keeping 7 days" in said
    assert "retention: BTCUSDT: deleting 4 trades" in said
    assert "retention: ETHUSDT: keeping the batches keyed" in said


async def test_intake_pauses_at_the_buffer_limit_and_loses_nothing(tmp_path, monkeypatch):
    """The disk stalls (each write takes 0.3 s): buffering stops at max_buffered_trades
    instead of growing, and every trade is stored once the writes catch up."""
    import time as _time

    original = TradeStore.write_batches

    def stalled_write(self, batches, gaps=()):
        _time.sleep(0.3)  # the scenario: a disk that stalls every write for 0.3 s
        return original(self, batches, gaps)

    monkeypatch.setattr(TradeStore, "write_batches", stalled_write)
    frames = [combined(agg_event("BTCUSDT", i)) for i in range(1, 3001)]
    peak = 0
    async with trio.open_nursery() as nursery:
        fx = await MiniExchange(script([frames])).start(nursery)
        cfg = config(
            fx.url, tmp_path / "db", flush_max_trades=200, max_buffered_trades=500, retention_days=0
        )
        recorder = await nursery.start(run, cfg)
        with trio.fail_after(60):
            while recorder.statistics().symbols["BTCUSDT"].stored < 3000:
                stats = recorder.statistics()
                peak = max(peak, stats.buffered)
                await trio.sleep(0.005)  # samples the buffer depth until everything is stored
        nursery.cancel_scope.cancel()
    # The limit is checked after each frame: at most one over it.
    assert 0 < peak <= 500
    assert stored_ids(tmp_path / "db", "BTCUSDT") == list(range(1, 3001))


async def test_wss_endpoint_over_tls(tmp_path, monkeypatch):
    """The wss:// path (the default Binance endpoint): TLS with certificate and host name
    checks, against a local server whose self-signed certificate the test trusts."""
    import shutil
    import ssl
    from functools import partial

    import trio_websocket

    from tradestore.recorder import _stream

    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    await trio.run_process(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"]
        + ["-addext", "subjectAltName=DNS:localhost"],
        capture_stdout=True,
        capture_stderr=True,
    )
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    monkeypatch.setattr(_stream, "_ssl_context", lambda: ssl.create_default_context(cafile=cert))
    paths = []

    async def handler(request):
        paths.append(request.path)
        ws = await request.accept()
        for i in range(1, 11):
            await ws.send_message(combined(agg_event("BTCUSDT", i)))
        with trio.move_on_after(30):
            await ws.get_message()

    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            partial(trio_websocket.serve_websocket, handler, "127.0.0.1", 0, ssl_context=server_ctx)
        )
        url = f"wss://localhost:{server.port}"
        recorder = await nursery.start(run, config(url, tmp_path / "db", symbols=("BTCUSDT",)))
        with trio.fail_after(20):
            await wait_for(lambda: recorder.statistics().symbols["BTCUSDT"].stored == 10)
        nursery.cancel_scope.cancel()
    assert paths == ["/stream?streams=btcusdt@aggTrade"]
    assert stored_ids(tmp_path / "db", "BTCUSDT") == list(range(1, 11))


async def test_statistics_shape_is_stable(tmp_path):
    """Scripts read these JSON keys (``as_dict()``): keep them stable."""
    async with trio.open_nursery() as nursery:
        fx = await MiniExchange(script([[combined(agg_event("BTCUSDT", 1))]])).start(nursery)
        recorder = await nursery.start(run, config(fx.url, tmp_path / "db"))
        with trio.fail_after(20):
            await wait_for(lambda: recorder.statistics().symbols["BTCUSDT"].stored == 1)
        snapshot = recorder.statistics()
        nursery.cancel_scope.cancel()
    stats = snapshot.as_dict()
    json.dumps(stats)  # plain JSON all the way down
    assert set(stats) >= {
        "started_ms", "frames", "drops", "server_shutdowns", "buffered", "in_flight", "queue",
        "flush", "prune", "connect_budget_waits", "symbols", "connections", "held", "stalls",
    }  # fmt: skip
    assert set(stats["symbols"]["BTCUSDT"]) == {
        "received", "stored", "duplicates", "redundant", "gaps", "missing_ids", "holds",
        "holds_filled", "drops", "reconnects", "last_id", "last_trade_ms", "buffered",
        "last_received_ms", "event_lag", "stall_suspected", "stall_confirmed", "stall_quiet",
        "stalled_since_ms",
    }  # fmt: skip
    assert set(stats["flush"]) == {
        "flushes", "failed", "early", "trades", "last_latency", "max_latency", "last_flush_ms",
        "latency_buckets", "latency_sum", "outages", "reopens", "failing_since_ms", "last_error",
    }  # fmt: skip
    buckets = stats["flush"]["latency_buckets"]
    assert [edge for edge, _n in buckets][:3] == [0.01, 0.025, 0.05]
    assert buckets[-1][1] <= stats["flush"]["flushes"]
    conn = stats["connections"][0]
    assert conn["state"] == "open" and conn["opens"] == 1 and conn["watchdog_threshold"] == 30.0
    assert conn["line"] == "a" and conn["taken"] == 1 and conn["last_frame_ms"] is not None
    assert set(stats["stalls"]) == {
        "enabled", "checks", "check_failures", "catching_up", "caught_up", "checks_per_minute",
        "median_event_lag", "clock_skew_suspected",
    }  # fmt: skip
    assert stats["queue"]["size"] == 4096
    assert snapshot.connections[0].opens == 1 and snapshot.queue.size == 4096
