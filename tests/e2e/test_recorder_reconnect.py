"""Reconnects, backoff, the connection budget, the data watchdog and pings under a slow
writer. Timing is asserted on the autojump clock, against scripted servers in memory; the
fake exchange's drops and the slow writer run on the real clock, over 127.0.0.1, and are
judged by what was sent and stored, not by how long it took."""

from __future__ import annotations

import logging
import random
import time
from functools import partial

import pytest
import trio
from trio_websocket import ConnectionClosed

from tests.helpers import wait_for
from tests.helpers.recorder import MiniExchange, agg_event, combined
from tests.helpers.store import stored_ids
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


async def test_backoff_schedule_on_the_mock_clock(tmp_path, autojump_clock, memory_network):
    """A server that closes every connection at once: attempt k+1 follows attempt k by
    exactly the k-th full-jitter delay, whose ceiling doubles from 1 s up to 60 s."""

    async def close_at_once(ws, index):
        await ws.aclose()

    async with trio.open_nursery() as nursery:
        fx = await MiniExchange(close_at_once).start(nursery, memory_network)
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


async def test_backoff_resets_after_a_connection_that_delivered_data(
    tmp_path, autojump_clock, memory_network
):
    async def one_trade_then_close(ws, index):
        await ws.send_message(combined(agg_event("BTCUSDT", index + 1)))
        await ws.aclose()

    async with trio.open_nursery() as nursery:
        fx = await MiniExchange(one_trade_then_close).start(nursery, memory_network)
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


async def test_budget_caps_a_reconnect_storm(tmp_path, autojump_clock, memory_network):
    """Healthy-but-short connections reset the backoff; the budget still bounds attempts."""

    async def one_trade_then_close(ws, index):
        await ws.send_message(combined(agg_event("BTCUSDT", index + 1)))
        await ws.aclose()

    async with trio.open_nursery() as nursery:
        fx = await MiniExchange(one_trade_then_close).start(nursery, memory_network)
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
        await trio.sleep(100.0)  # the scenario: 100 s of virtual time under the storm
        nursery.cancel_scope.cancel()
    in_window = [t for t, _ in fx.accepted if t - start <= 100.0]
    # 5 at once, then one per 10 s: never more than capacity + window refills.
    assert 5 + 9 <= len(in_window) <= 5 + 10 + 1
    assert recorder.statistics().connect_budget_waits >= 9


async def test_seam_duplicates_dropped_and_missed_ids_become_gaps(
    tmp_path, autojump_clock, memory_network
):
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
            await trio.sleep(0.1)  # the scenario's pace: ten trades a virtual second
        await ws.aclose()

    async with trio.open_nursery() as nursery:
        fx = await MiniExchange(handler).start(nursery, memory_network)
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


@pytest.mark.slow
async def test_fake_exchange_drops_and_lifetime_every_id_accounted(tmp_path):
    """Drops every 0.7 s, a 0.4 s connection lifetime (serverShutdown first) and skipped
    ids: every id up to the last stored one is stored exactly once or recorded in a gap.
    (Ids after the last stored one are outside the account by definition, so the test
    stops as soon as every fault has happened, not after a guess at the stragglers.)"""
    symbols = ("BTCUSDT", "ETHUSDT")
    fcfg = FakeExchangeConfig(
        symbols=symbols, rate=400.0, drop_every=0.7, lifetime=0.4, skip_every=50
    )
    async with open_fake_exchange(fcfg) as fx, trio.open_nursery() as nursery:
        cfg = config(
            fx.ws_url, tmp_path / "db", symbols=symbols, backoff_initial=0.05, backoff_max=0.2
        )
        recorder = await nursery.start(partial(run, rng=random.Random(1)), cfg)

        def every_fault_seen() -> bool:
            stats = recorder.statistics()
            return (
                all(fx.generated(s) >= 1200 for s in symbols)
                and fx.log.drops_by_reason.get("drop_every", 0) >= 3
                and fx.log.shutdown_events_sent >= 1
                and stats.server_shutdowns >= 1
                and all(stats.symbols[s].reconnects >= 5 for s in symbols)
            )

        with trio.fail_after(60):
            await wait_for(every_fault_seen, step=0.05)
        nursery.cancel_scope.cancel()
    stats = recorder.statistics()  # after the final flush
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


async def test_watchdog_recycles_a_silent_connection_while_pings_flow(
    tmp_path, autojump_clock, memory_network
):
    """Data stops after 5 s while the server keeps pinging every 2 s (and we keep ponging):
    after the 30 s floor of silence the recorder opens a fresh connection, and data flows
    again."""
    next_id = [1]
    pongs: list[int] = []  # the connection index of each pong

    async def ping_every_2s(ws, index):
        while True:
            await trio.sleep(2.0)  # the scenario: a server ping every 2 virtual seconds
            try:
                await ws.ping()  # returns once the recorder's pong has arrived
            except ConnectionClosed:
                return  # the recorder recycled this connection: nothing left to ping
            pongs.append(index)

    async def trades_then_pings_only(ws, index):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ping_every_2s, ws, index)
            for _ in range(100):
                await ws.send_message(combined(agg_event("BTCUSDT", next_id[0])))
                next_id[0] += 1
                await trio.sleep(0.05)  # the scenario: 20 trades a virtual second for 5 s

    async with trio.open_nursery() as nursery:
        fx = await MiniExchange(trades_then_pings_only).start(nursery, memory_network)
        recorder = await nursery.start(run, config(fx.url, tmp_path / "db"))
        start = trio.current_time()
        with trio.fail_after(1000):
            await wait_for(lambda: recorder.statistics().connections[0].opens == 2)
            recycled_after = trio.current_time() - start
            received = recorder.statistics().symbols["BTCUSDT"].received
            # The new connection has data.
            await wait_for(lambda: recorder.statistics().symbols["BTCUSDT"].received > received)
        stats = recorder.statistics()
        nursery.cancel_scope.cancel()
    assert stats.connections[0].recycled == {"silent": 1}
    # The last frame came just before 5 s; the 30 s floor of silence counts from it.
    assert 4.5 + 30.0 <= recycled_after <= 5.0 + 30.0 + 1.0
    # Pings were answered all through the silence (each ping() waits for its pong).
    assert pongs.count(0) >= 15
    assert stats.symbols["BTCUSDT"].received > received


async def test_watchdog_threshold_follows_the_recent_rate(tmp_path, autojump_clock, memory_network):
    """A slow symbol (one trade per 10 s) is not recycled at the 30 s floor: its threshold
    is 10 x its mean interval, so only 100 s of silence recycles it."""
    frames_at = []

    async def slow_then_silent(ws, index):
        if index:
            await trio.sleep_forever()
        for agg_id in range(1, 7):
            await ws.send_message(combined(agg_event("BTCUSDT", agg_id)))
            frames_at.append(trio.current_time())
            await trio.sleep(10.0)  # the scenario: one trade per 10 virtual seconds
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        fx = await MiniExchange(slow_then_silent).start(nursery, memory_network)
        recorder = await nursery.start(run, config(fx.url, tmp_path / "db"))
        with trio.fail_after(1000):
            await wait_for(lambda: len(fx.accepted) == 2)
        stats = recorder.statistics()
        nursery.cancel_scope.cancel()
    silence = fx.accepted[1][0] - frames_at[-1]
    assert 100.0 <= silence <= 101.0
    assert stats.connections[0].recycled == {"silent": 1}


@pytest.mark.slow
async def test_pings_answered_while_the_writer_is_slow(tmp_path, monkeypatch):
    """Every DB write takes 1.5 s while the server streams 400 trades/s and pings every
    0.3 s with a 1 s pong deadline. The intake never waits for the DB: trades keep coming
    in and pings keep being answered while a write is in progress, no pong is late, the
    connection survives and every trade sent is stored in the end."""
    original = TradeStore.write_batches
    # Per write: (trades written, frames received meanwhile, pongs received meanwhile).
    writes: list[tuple[int, int, int]] = []

    def progress() -> tuple[int, int]:
        return recorder.statistics().frames, fx.log.pongs_received

    def slow_write(self, batches, gaps=()):
        frames, pongs = trio.from_thread.run_sync(progress)
        time.sleep(1.5)
        frames_after, pongs_after = trio.from_thread.run_sync(progress)
        writes.append(
            (sum(len(b) for b in batches.values()), frames_after - frames, pongs_after - pongs)
        )
        return original(self, batches, gaps)

    def pongs_during_writes() -> int:
        return sum(pongs for _written, _frames, pongs in writes)

    monkeypatch.setattr(TradeStore, "write_batches", slow_write)
    fcfg = FakeExchangeConfig(symbols=("BTCUSDT",), rate=400.0, ping_interval=0.3, pong_timeout=1.0)
    async with open_fake_exchange(fcfg) as fx, trio.open_nursery() as nursery:
        # A small frame queue: if the intake ever waited for a write, it would fill at once.
        cfg = config(fx.ws_url, tmp_path / "db", frame_queue_size=16, shutdown_grace=30.0)
        recorder = await nursery.start(run, cfg)
        with trio.fail_after(90):
            await wait_for(lambda: len(writes) >= 2 and pongs_during_writes() >= 10)
            fx.set_silent(True)
            last = fx.log.generated_ids("BTCUSDT")[-1]  # the last trade offered to the client
            await wait_for(lambda: recorder.statistics().symbols["BTCUSDT"].last_id == last)
        stats = recorder.statistics()
        nursery.cancel_scope.cancel()
    fstats = fx.log.statistics()
    assert fstats["drops_by_reason"] == {}
    assert pongs_during_writes() >= 10
    assert stats.connections[0].opens == 1
    # Trades received during a write wait in the buffer for the next one: batches pile up.
    for (_written, frames, _pongs), (written_next, _f, _p) in zip(writes, writes[1:], strict=False):
        assert written_next >= frames
    assert any(frames for _written, frames, _pongs in writes)
    assert stored_ids(tmp_path / "db", "BTCUSDT") == fx.log.sent_ids("BTCUSDT")
    assert fx.log.sent_ids("BTCUSDT")[-1] == last


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


async def test_rejected_handshake_honours_retry_after(tmp_path, autojump_clock, memory_network):
    """Binance answers 429 (or 418) with Retry-After when an IP connects too often: the
    next attempt waits at least that long, however small the backoff delay."""
    reject = (429, [(b"Retry-After", b"30")], b"slow down")
    async with trio.open_nursery() as nursery:
        fx = await MiniExchange(reject=reject).start(nursery, memory_network)
        recorder = await nursery.start(run, config(fx.url, tmp_path / "db"))
        with trio.fail_after(1000):
            await wait_for(lambda: len(fx.rejected) >= 3)
        error = recorder.statistics().connections[0].last_error
        # The cheap accessor the offline watcher polls is that same part of a snapshot.
        assert recorder.connection_statistics() == recorder.statistics().connections
        nursery.cancel_scope.cancel()
    assert all(30.0 <= gap < 31.0 for gap in intervals(fx.rejected[:3]))
    assert error.endswith("rejected with HTTP 429")


async def test_a_repaired_reconnect_logs_warnings_not_errors(tmp_path, caplog):
    """The exchange cuts the connection once; the recorder reconnects at once and
    backfills the ids it missed from REST (every 50th id is never sent, so a gap to fill
    exists whatever the reconnect's timing). Nothing there needs a person: the cut and the
    gap log at WARNING, and no line says ERROR."""
    caplog.set_level(logging.INFO, logger="tradestore")
    fcfg = FakeExchangeConfig(symbols=("BTCUSDT",), rate=300.0, skip_every=50)
    async with open_fake_exchange(fcfg) as fx, trio.open_nursery() as nursery:
        cfg = config(fx.ws_url, tmp_path / "db", backfill=True, rest_endpoint=fx.rest_url)
        recorder = await nursery.start(partial(run, rng=random.Random(3)), cfg)
        with trio.fail_after(60):
            await wait_for(lambda: (recorder.statistics().symbols["BTCUSDT"].last_id or 0) > 0)
            assert fx.drop_all() == 1
            await wait_for(
                lambda: (
                    recorder.statistics().symbols["BTCUSDT"].reconnects >= 1
                    and recorder.statistics().backfill.filled >= 1
                ),
                step=0.02,
            )
        symbol = recorder.statistics().symbols["BTCUSDT"]
        nursery.cancel_scope.cancel()
    assert symbol.reconnects >= 1
    by_level: dict[str, list[str]] = {}
    for r in caplog.records:
        by_level.setdefault(r.levelname, []).append(r.getMessage())
    assert not by_level.get("ERROR") and not by_level.get("CRITICAL"), by_level
    warnings = by_level.get("WARNING", [])
    assert any("reconnecting in" in m for m in warnings), warnings
    assert any("recorded as a gap" in m for m in warnings), warnings


async def test_a_connection_down_for_minutes_logs_an_error(
    tmp_path, caplog, autojump_clock, memory_network
):
    """A server that closes every connection at once: the first failures are WARNINGs
    (a reconnect may repair them), and once the connection has been down for
    DOWN_FOR_A_PERSON seconds the line says ERROR."""
    from tradestore.recorder._stream import DOWN_FOR_A_PERSON

    caplog.set_level(logging.WARNING, logger="tradestore")

    async def close_at_once(ws, index):
        await ws.aclose()

    def reconnect_lines():
        return [r for r in caplog.records if "reconnecting in" in r.getMessage()]

    async with trio.open_nursery() as nursery:
        fx = await MiniExchange(close_at_once).start(nursery, memory_network)
        await nursery.start(partial(run, rng=random.Random(7)), config(fx.url, tmp_path / "db"))
        start = trio.current_time()
        with trio.fail_after(DOWN_FOR_A_PERSON * 3):
            await wait_for(lambda: any(r.levelname == "ERROR" for r in reconnect_lines()))
        took = trio.current_time() - start
        nursery.cancel_scope.cancel()
    lines = reconnect_lines()
    assert [r.levelname for r in lines[:3]] == ["WARNING"] * 3
    assert DOWN_FOR_A_PERSON <= took <= DOWN_FOR_A_PERSON + 120  # backoff 60 s + throttle 60 s
