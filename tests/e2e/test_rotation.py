"""Make-before-break rotation at compressed time: the fake exchange cuts every connection
after a few seconds (announcing it with serverShutdown); the recorder replaces each
connection before that. Nothing is lost, nothing is stored twice, no gap is recorded."""

from __future__ import annotations

import json

import pytest
import trio

from tests.helpers import wait_for
from tests.helpers.recorder import MiniExchange, agg_event, combined
from tests.helpers.store import stored_ids
from tradestore import TradeStore
from tradestore.fake import FakeExchangeConfig, open_fake_exchange
from tradestore.recorder import RecorderConfig, run

SYMBOLS = ("BTCUSDT", "ETHUSDT")


async def record_through_rotations(
    tmp_path, *, rotate_after: float, n: int = 600, lifetime: float = 3.0, notice: float = 1.0
):
    fcfg = FakeExchangeConfig(
        symbols=SYMBOLS, rate=100.0, max_trades=n, lifetime=lifetime, shutdown_notice=notice
    )
    db = tmp_path / "db"
    async with open_fake_exchange(fcfg) as fx, trio.open_nursery() as nursery:
        cfg = RecorderConfig(
            symbols=SYMBOLS,
            endpoint=fx.ws_url,
            rest_endpoint=fx.rest_url,
            db=str(db),
            retention_days=0,
            rotate_after=rotate_after,
            rotation_overlap=0.5,
        )
        recorder = await nursery.start(run, cfg)
        with trio.fail_after(30):
            for symbol in SYMBOLS:
                await fx.wait_generated(symbol, n)
            await wait_for(
                lambda: all(recorder.statistics().symbols[s].stored >= n for s in SYMBOLS),
                step=0.05,
            )
            # Rotations go on: a successor's handshake may be half done (the exchange has
            # counted it, the recorder not yet). Take both counts at a moment between two.
            await wait_for(
                lambda: fx.log.connections_opened == recorder.statistics().connections[0].opens
            )
            stats = recorder.statistics()
            opened = fx.log.connections_opened
        nursery.cancel_scope.cancel()
    return fx, db, stats, opened


def assert_complete(fx, db, stats) -> None:
    for symbol in SYMBOLS:
        generated = fx.log.generated_ids(symbol)
        # stored_ids also checks that no id is stored twice (raw rows == distinct ids).
        assert stored_ids(db, symbol) == generated
        assert stats.symbols[symbol].gaps == 0
        with TradeStore(db, read_only=True) as store:
            assert store.gaps(symbol) == []
    assert stats.gaps in ({}, {s: {} for s in SYMBOLS})


@pytest.mark.slow
async def test_rotation_before_the_age_limit_loses_nothing(tmp_path):
    """rotate_after (1.5 s) comes before the exchange's notice (2 s) and cut (3 s): the
    recorder replaces each connection itself and the exchange never has to cut one."""
    fx, db, stats, opened = await record_through_rotations(tmp_path, rotate_after=1.5)
    assert_complete(fx, db, stats)
    conn = stats.connections[0]
    assert conn.rotations >= 2
    assert conn.recycled.get("max_age", 0) == conn.rotations
    assert fx.log.drops_by_reason.get("lifetime", 0) == 0
    assert opened == conn.opens
    # The overlap delivered ids twice; the batcher dropped exactly those.
    assert sum(stats.symbols[s].duplicates for s in SYMBOLS) > 0


@pytest.mark.slow
async def test_server_shutdown_notice_rotates_make_before_break(tmp_path):
    """With the age limit out of reach, the exchange's serverShutdown notice (2.5 s before
    its cut: room for a loaded CI machine) triggers the rotation: the new connection is
    open before the old one goes."""
    fx, db, stats, _ = await record_through_rotations(
        tmp_path, rotate_after=3600.0, n=1000, lifetime=5.0, notice=2.5
    )
    assert_complete(fx, db, stats)
    conn = stats.connections[0]
    assert stats.server_shutdowns >= 2
    assert conn.rotations >= 2
    assert conn.recycled.get("server_shutdown", 0) == conn.rotations
    assert fx.log.drops_by_reason.get("lifetime", 0) == 0


def stored_and_gaps(db, symbol):
    with TradeStore(db, read_only=True) as store:
        return stored_ids(db, symbol), store.gaps(symbol)


def notice() -> str:
    return json.dumps({"e": "serverShutdown", "E": 1})


async def test_successor_frames_wait_behind_the_old_connection(
    tmp_path, autojump_clock, memory_network
):
    """The successor's first trades (8..) arrive while the old connection still delivers
    6, 7: accepted as they come, 8 would open a false gap 6..7. The successor holds its
    frames until the old connection's last one is queued, so the seam has no gap."""
    frames_old = [combined(agg_event("BTCUSDT", i)) for i in range(1, 6)] + [notice()]
    old_closed_at = []

    async def handler(ws, index):
        if index == 0:
            for frame in frames_old:
                await ws.send_message(frame)
            for i in range(6, 11):
                await trio.sleep(0.1)  # the scenario: the old connection trickles on
                await ws.send_message(combined(agg_event("BTCUSDT", i)))
            try:
                await ws.get_message()  # the recorder sends nothing: this waits for the close
            finally:
                old_closed_at.append(trio.current_time())
        else:
            for i in range(8, 21):
                await ws.send_message(combined(agg_event("BTCUSDT", i)))
            await trio.sleep_forever()

    db = tmp_path / "db"
    async with trio.open_nursery() as nursery:
        fx = await MiniExchange(handler).start(nursery, memory_network)
        cfg = RecorderConfig(
            symbols=("BTCUSDT",), endpoint=fx.url, db=str(db), retention_days=0, backfill=False
        )
        recorder = await nursery.start(run, cfg)
        with trio.fail_after(30):
            await wait_for(lambda: recorder.statistics().symbols["BTCUSDT"].stored == 20)
        stats = recorder.statistics()
        nursery.cancel_scope.cancel()
    ids, gaps = stored_and_gaps(db, "BTCUSDT")
    assert ids == list(range(1, 21))
    assert gaps == []
    assert stats.symbols["BTCUSDT"].duplicates == 3  # 8, 9, 10 came on both
    assert stats.connections[0].rotations == 1
    assert len(fx.accepted) == 2
    # Make-before-break: the successor was accepted at once (on the notice), the old
    # connection closed only after the overlap.
    assert fx.accepted[1][0] - fx.accepted[0][0] < 0.01
    # (Virtual times are sums of floats: 8.002 - 7.002 is 0.9999999999999991.)
    assert old_closed_at and old_closed_at[0] - fx.accepted[1][0] >= cfg.rotation_overlap - 1e-9


async def test_rotation_keeps_the_old_connection_when_no_successor_opens(
    tmp_path, autojump_clock, memory_network
):
    """A successor that cannot connect does not cost the running connection: the old one
    keeps recording, the rotation is retried under backoff and counted as failed."""
    attempts = []

    async def handler(ws, index):
        attempts.append(index)
        if index == 0:
            for i in range(1, 100_000):
                await ws.send_message(combined(agg_event("BTCUSDT", i)))
                await trio.sleep(0.5)  # the scenario: two trades a virtual second
        await ws.aclose()  # every successor is closed at once

    db = tmp_path / "db"
    async with trio.open_nursery() as nursery:
        fx = await MiniExchange(handler).start(nursery, memory_network)
        cfg = RecorderConfig(
            symbols=("BTCUSDT",),
            endpoint=fx.url,
            db=str(db),
            retention_days=0,
            backfill=False,
            rotate_after=10.0,
        )
        recorder = await nursery.start(run, cfg)
        with trio.fail_after(100):
            await wait_for(lambda: recorder.statistics().symbols["BTCUSDT"].stored >= 60)
        stats = recorder.statistics()
        nursery.cancel_scope.cancel()
    ids, gaps = stored_and_gaps(db, "BTCUSDT")
    assert ids == list(range(1, len(ids) + 1)) and gaps == []
    conn = stats.connections[0]
    assert conn.rotations == 0
    assert conn.rotation_failures >= 2
    assert conn.recycled == {}
    assert stats.symbols["BTCUSDT"].reconnects >= 1  # successors did open, briefly
    assert len(attempts) >= 2
