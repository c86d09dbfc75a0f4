"""Reconnects, backoff, the connection budget, the data watchdog and pings under a slow
writer: the recorder against real sockets on 127.0.0.1."""

from __future__ import annotations

import random
import time
from functools import partial

import trio

from tests.helpers.recorder import MiniExchange, agg_event, combined, stored_ids, wait_for
from tradestore import TradeStore
from tradestore.fake import FakeExchangeConfig, open_fake_exchange
from tradestore.recorder import Backoff, ConnectionBudget, RecorderConfig, run


def config(url: str, db, **kw) -> RecorderConfig:
    kw.setdefault("backfill", False)  # no REST here: gaps stay open, as the tests expect
    kw.setdefault("symbols", ("BTCUSDT",))
    kw.setdefault("retention_days", 0)
    return RecorderConfig(endpoint=url, db=str(db), **kw)


def intervals(times: list[float]) -> list[float]:
    return [b - a for a, b in zip(times, times[1:], strict=False)]


async def test_backoff_schedule_on_the_mock_clock(tmp_path, autojump_clock):
    """A server that closes every connection at once: attempt k+1 follows attempt k by
    exactly the k-th full-jitter delay, whose ceiling doubles from 1 s up to 60 s."""

    async def close_at_once(ws, index):
        await ws.aclose()

    async with trio.open_nursery() as nursery:
        fx = await MiniExchange(close_at_once).start(nursery)
        recorder = await nursery.start(
            partial(run, rng=random.Random(7)), config(fx.url, tmp_path / "db")
        )
        with trio.fail_after(1000):
            await wait_for(lambda: len(fx.accepted) >= 10)
        stats = recorder.statistics()
        nursery.cancel_scope.cancel()
    expected = Backoff(1.0, 60.0, random.Random(7))
    ceilings, delays = [], []
    for _ in range(9):
        ceilings.append(expected.ceiling())
        delays.append(expected.next_delay())
    assert ceilings == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    observed = intervals([t for t, _path in fx.accepted[:10]])
    assert all(abs(o - d) < 1e-3 for o, d in zip(observed, delays, strict=True)), (observed, delays)
    assert all(0 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    conn = stats.connections[0]
    assert conn.failures >= 9
    assert conn.last_error.startswith("connection closed")


async def test_backoff_resets_after_a_connection_that_delivered_data(tmp_path, autojump_clock):
    async def one_trade_then_close(ws, index):
        await ws.send_message(combined(agg_event("BTCUSDT", index + 1)))
        await ws.aclose()

    async with trio.open_nursery() as nursery:
        fx = await MiniExchange(one_trade_then_close).start(nursery)
        recorder = await nursery.start(
            partial(run, rng=random.Random(3)), config(fx.url, tmp_path / "db")
        )
        with trio.fail_after(1000):
            await wait_for(lambda: len(fx.accepted) >= 8)
        nursery.cancel_scope.cancel()
    # Every connection was healthy, so every delay is a first one: uniform in [0, 1].
    rng = random.Random(3)
    expected = [rng.uniform(0, 1) for _ in range(7)]
    observed = intervals([t for t, _ in fx.accepted[:8]])
    assert all(abs(o - d) < 1e-3 for o, d in zip(observed, expected, strict=True))
    assert recorder.statistics().symbols["BTCUSDT"].reconnects >= 7
    assert stored_ids(tmp_path / "db", "BTCUSDT") == list(range(1, len(fx.accepted) + 1))


async def test_connection_budget_paces_attempts(autojump_clock):
    budget = ConnectionBudget(capacity=3, window=30.0)  # one token every 10 s
    times = []
    for _ in range(6):
        await budget.acquire()
        times.append(trio.current_time())
    start = times[0]
    assert [round(t - start, 6) for t in times] == [0, 0, 0, 10, 20, 30]
    assert budget.waited == 3


async def test_budget_caps_a_reconnect_storm(tmp_path, autojump_clock):
    """Healthy-but-short connections reset the backoff; the budget still bounds attempts."""

    async def one_trade_then_close(ws, index):
        await ws.send_message(combined(agg_event("BTCUSDT", index + 1)))
        await ws.aclose()

    async with trio.open_nursery() as nursery:
        fx = await MiniExchange(one_trade_then_close).start(nursery)
        cfg = config(
            fx.url,
            tmp_path / "db",
            connect_budget=5,
            connect_budget_window=50.0,
            backoff_initial=0.001,
            backoff_max=0.001,
        )
        recorder = await nursery.start(run, cfg)
        start = trio.current_time()
        await trio.sleep(100.0)
        nursery.cancel_scope.cancel()
    in_window = [t for t, _ in fx.accepted if t - start <= 100.0]
    # 5 at once, then one per 10 s: never more than capacity + window refills.
    assert 5 + 9 <= len(in_window) <= 5 + 10 + 1
    assert recorder.statistics().connect_budget_waits >= 9


async def test_seam_duplicates_dropped_and_missed_ids_become_gaps(tmp_path, autojump_clock):
    """Each new connection replays the last 3 ids of the previous one and then skips 2."""
    segments = [(1, 20), (18, 40), (38, 60)]
    missing = []

    async def handler(ws, index):
        if index >= len(segments):
            await trio.sleep_forever()
        first, last = segments[index]
        ids = list(range(first, last + 1))
        if index:
            ids = ids[:3] + ids[5:]  # 3 seam duplicates, then a hole of 2 ids
            missing.extend(range(first + 3, first + 5))
        for agg_id in ids:
            await ws.send_message(combined(agg_event("BTCUSDT", agg_id)))
            await trio.sleep(0.1)
        await ws.aclose()

    async with trio.open_nursery() as nursery:
        fx = await MiniExchange(handler).start(nursery)
        recorder = await nursery.start(run, config(fx.url, tmp_path / "db"))
        with trio.fail_after(1000):
            await wait_for(lambda: recorder.statistics().symbols["BTCUSDT"].last_id == 60)
            await wait_for(lambda: recorder.statistics().buffered == 0)
        stats = recorder.statistics().symbols["BTCUSDT"]
        nursery.cancel_scope.cancel()
    expected = sorted(set(range(1, 61)) - set(missing))
    assert stored_ids(tmp_path / "db", "BTCUSDT") == expected
    assert stats.duplicates == 6
    assert stats.reconnects >= 2
    with TradeStore(tmp_path / "db", read_only=True) as store:
        holes = [i for g in store.gaps("BTCUSDT") for i in range(g.first_id, g.last_id + 1)]
    assert holes == missing


async def test_fake_exchange_drops_and_lifetime_every_id_accounted(tmp_path, autojump_clock):
    """Drops every 7 s, a 4 s connection lifetime (serverShutdown first) and skipped ids:
    every id up to the last stored one is stored exactly once or recorded in a gap."""
    symbols = ("BTCUSDT", "ETHUSDT")
    fcfg = FakeExchangeConfig(
        symbols=symbols,
        rate=40.0,
        max_trades=1200,
        drop_every=7.0,
        lifetime=4.0,
        skip_every=50,
    )
    async with open_fake_exchange(fcfg) as fx, trio.open_nursery() as nursery:
        cfg = config(fx.ws_url, tmp_path / "db", symbols=symbols)
        recorder = await nursery.start(partial(run, rng=random.Random(1)), cfg)
        with trio.fail_after(1000):
            for symbol in symbols:
                await fx.wait_generated(symbol, 1200)
            await trio.sleep(2.0)  # let the last frames arrive and one flush pass
        stats = recorder.statistics()
        nursery.cancel_scope.cancel()
    fstats = fx.log.statistics()
    assert fstats["drops_by_reason"].get("drop_every", 0) >= 3
    assert fstats["shutdown_events_sent"] >= 1
    assert fstats["drops_by_reason"].get("pong_timeout", 0) == 0
    for symbol in symbols:
        sent = set(fx.log.sent_ids(symbol))
        stored = stored_ids(tmp_path / "db", symbol)
        with TradeStore(tmp_path / "db", read_only=True) as store:
            holes = {i for g in store.gaps(symbol) for i in range(g.first_id, g.last_id + 1)}
        top = stored[-1]
        generated = [i for i in fx.log.generated_ids(symbol) if i <= top]
        # Every id up to the last stored one is either stored (once) or inside a gap.
        assert set(stored) | holes == set(generated)
        assert not set(stored) & holes
        assert set(stored) <= sent
        # Ids never sent are exactly gaps; an id lost in an aborted socket is a gap too,
        # but those are at most one frame in flight per drop.
        assert {i for i in generated if i not in sent} <= holes
        lost_in_drops = (sent & set(generated)) - set(stored)
        assert len(lost_in_drops) <= fstats["connections_dropped"]
        assert set(fx.log.skipped_ids(symbol)) & set(generated) <= holes
        assert stats.symbols[symbol].reconnects >= 5
    assert stats.server_shutdowns >= 1


async def test_watchdog_recycles_a_silent_connection_while_pings_flow(tmp_path, autojump_clock):
    """Data stops after 5 s while the server keeps pinging (and we keep ponging): after the
    30 s floor of silence the recorder opens a fresh connection, and data flows again."""
    fcfg = FakeExchangeConfig(
        symbols=("BTCUSDT",),
        rate=20.0,
        silent_after=5.0,
        silent_for=0.0,  # silent until that connection ends
        ping_interval=2.0,
        pong_timeout=6.0,
    )
    async with open_fake_exchange(fcfg) as fx, trio.open_nursery() as nursery:
        recorder = await nursery.start(run, config(fx.ws_url, tmp_path / "db"))
        start = trio.current_time()
        with trio.fail_after(1000):
            await wait_for(lambda: recorder.statistics().connections[0].opens == 2)
        recycled_after = trio.current_time() - start
        received = recorder.statistics().symbols["BTCUSDT"].received
        await trio.sleep(3.0)
        stats = recorder.statistics()
        nursery.cancel_scope.cancel()
    fstats = fx.log.statistics()
    assert stats.connections[0].recycled == {"silent": 1}
    # The last frame came just before 5 s; the 30 s floor of silence counts from it.
    assert 4.5 + 30.0 <= recycled_after <= 5.0 + 30.0 + 1.0
    assert fstats["pongs_received"] >= 15  # pings were answered all through the silence
    assert fstats["drops_by_reason"].get("pong_timeout", 0) == 0
    assert stats.symbols["BTCUSDT"].received > received  # the new connection has data


async def test_watchdog_threshold_follows_the_recent_rate(tmp_path, autojump_clock):
    """A slow symbol (one trade per 10 s) is not recycled at the 30 s floor: its threshold
    is 10 x its mean interval, so only 100 s of silence recycles it."""
    frames_at = []

    async def slow_then_silent(ws, index):
        if index:
            await trio.sleep_forever()
        for agg_id in range(1, 7):
            await ws.send_message(combined(agg_event("BTCUSDT", agg_id)))
            frames_at.append(trio.current_time())
            await trio.sleep(10.0)
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        fx = await MiniExchange(slow_then_silent).start(nursery)
        recorder = await nursery.start(run, config(fx.url, tmp_path / "db"))
        with trio.fail_after(1000):
            await wait_for(lambda: len(fx.accepted) == 2)
        stats = recorder.statistics()
        nursery.cancel_scope.cancel()
    silence = fx.accepted[1][0] - frames_at[-1]
    assert 100.0 <= silence <= 101.0
    assert stats.connections[0].recycled == {"silent": 1}


async def test_pings_answered_while_the_writer_is_slow(tmp_path, monkeypatch):
    """Every DB write takes 1.5 s while the server streams 400 trades/s and pings every
    0.3 s with a 1 s pong deadline. The intake never waits for the DB, so no pong is late,
    the connection survives and every trade is stored in the end."""
    original = TradeStore.write_batches
    writes = []

    def slow_write(self, batches, gaps=()):
        writes.append(sum(len(b) for b in batches.values()))
        time.sleep(1.5)
        return original(self, batches, gaps)

    monkeypatch.setattr(TradeStore, "write_batches", slow_write)
    fcfg = FakeExchangeConfig(
        symbols=("BTCUSDT",), rate=400.0, max_trades=1200, ping_interval=0.3, pong_timeout=1.0
    )
    async with open_fake_exchange(fcfg) as fx, trio.open_nursery() as nursery:
        # A small frame queue: if the intake ever waited for a write, it would fill at once.
        cfg = config(fx.ws_url, tmp_path / "db", frame_queue_size=16, shutdown_grace=30.0)
        recorder = await nursery.start(run, cfg)
        with trio.fail_after(60):
            await wait_for(lambda: len(fx.log.sent_ids("BTCUSDT")) == 1200)
            last = fx.log.sent_ids("BTCUSDT")[-1]
            await wait_for(lambda: recorder.statistics().symbols["BTCUSDT"].last_id == last)
        stats = recorder.statistics()
        nursery.cancel_scope.cancel()
    fstats = fx.log.statistics()
    assert fstats["drops_by_reason"] == {}
    assert fstats["pongs_received"] >= 10
    assert stats.connections[0].opens == 1
    assert len(writes) >= 2 and max(writes) > 400  # writes were slow and batches piled up
    assert stored_ids(tmp_path / "db", "BTCUSDT") == fx.log.sent_ids("BTCUSDT")
    assert len(fx.log.sent_ids("BTCUSDT")) == 1200


def test_log_throttle_bursts_then_one_line_a_minute_with_counts():
    import logging

    from tradestore.recorder import LogThrottle

    now = [0.0]
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    logger = logging.getLogger("tradestore.test.throttle")
    logger.addHandler(Keep())
    logger.propagate = False
    throttle = LogThrottle(logger, burst=3, interval=60.0, clock=lambda: now[0])
    for i in range(10):
        now[0] = i
        throttle.log("conn-a", logging.ERROR, "boom %d", i, later_level=logging.WARNING)
    now[0] = 62.5  # a minute after the last line written (t=2)
    throttle.log("conn-a", logging.ERROR, "boom %d", 10, later_level=logging.WARNING)
    throttle.log("conn-b", logging.ERROR, "other")  # keys are independent
    lines = [(r.levelname, r.getMessage()) for r in records]
    assert lines == [
        ("ERROR", "boom 0"),
        ("ERROR", "boom 1"),
        ("ERROR", "boom 2"),
        ("WARNING", "boom 10 (11 in total, 7 similar suppressed since the last line)"),
        ("ERROR", "other"),
    ]


async def test_rejected_handshake_honours_retry_after(tmp_path, autojump_clock):
    """Binance answers 429 (or 418) with Retry-After when an IP connects too often: the
    next attempt waits at least that long, however small the backoff delay."""
    import trio_websocket

    attempts: list[float] = []

    async def reject(request):
        attempts.append(trio.current_time())
        await request.reject(429, extra_headers=[(b"Retry-After", b"30")], body=b"slow down")

    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            partial(trio_websocket.serve_websocket, reject, "127.0.0.1", 0, ssl_context=None)
        )
        cfg = config(f"ws://127.0.0.1:{server.port}", tmp_path / "db")
        recorder = await nursery.start(run, cfg)
        with trio.fail_after(1000):
            await wait_for(lambda: len(attempts) >= 3)
        error = recorder.statistics().connections[0].last_error
        nursery.cancel_scope.cancel()
    assert all(30.0 <= gap < 31.0 for gap in intervals(attempts[:3]))
    assert error.endswith("rejected with HTTP 429")
