"""The daemon on databases it did not write, and on imported history: the resume point is
exact whatever the last key holds, imported history survives retention, and a resume
point far in the past costs a bounded number of REST calls, never a backfill of millions
of ids."""

from __future__ import annotations

import itertools
import logging

import trio

from tests.helpers import wait_for
from tests.helpers.recorder import MiniExchange, agg_event, combined
from tests.helpers.seed import seed_key, seed_value, write_raw, write_seed_style
from tests.helpers.store import stored_ids
from tradestore import TradeStore
from tradestore.binance import BinanceRest, bound_gap, read_trades
from tradestore.binance._csv import open_text
from tradestore.cli import main
from tradestore.fake import FakeExchangeConfig, open_fake_exchange
from tradestore.recorder import RecorderConfig, run
from tradestore.store import FILLED, OPEN, UNFILLABLE, Gap
from tradestore.store._keys import MAX_MS

FIRST_ID, LAST_ID = 3800397495, 3800402494  # the real CSV sample's ids (2026-01-01)


def real_trades(path):
    with open_text(path) as (text, _size):
        return [t for _ln, t in read_trades(text)]


async def test_resume_point_is_exact_after_a_resent_last_batch(tmp_path, real_csv):
    """A Rust-recorder database whose highest key holds a re-sent old batch: the daemon
    resumes after the true last id, so the next live trades open no gap and nothing is
    stored twice."""
    trades = real_trades(real_csv)
    batches = [list(g) for _s, g in itertools.groupby(trades, key=lambda t: t.time_ms // 1000)]
    db = tmp_path / "seed"
    keys = write_seed_style(db, "BTCUSDT", batches + [[]])
    resent_at = int(keys[-1][-13:]) + 2000
    write_raw(db, [(seed_key("BTCUSDT", resent_at), seed_value(batches[3]))])
    frames = [
        combined(agg_event("BTCUSDT", LAST_ID + i, trades[-1].time_ms + i)) for i in range(1, 21)
    ]

    async def handler(ws, index):
        for frame in frames:
            await ws.send_message(frame)
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        fx = await MiniExchange(handler).start(nursery)
        cfg = RecorderConfig(
            endpoint=fx.url, db=str(db), symbols=("BTCUSDT",), backfill=False, retention_days=0
        )
        recorder = await nursery.start(run, cfg)
        with trio.fail_after(20):
            await wait_for(lambda: recorder.statistics().symbols["BTCUSDT"].stored == 20)
        stats = recorder.statistics()
        nursery.cancel_scope.cancel()
    btc = stats.symbols["BTCUSDT"]
    assert (btc.gaps, btc.duplicates, btc.last_id) == (0, 0, LAST_ID + 20)
    with TradeStore(db, read_only=True) as store:
        ids = [t.agg_id for t in store.query_trades("BTCUSDT", 0, MAX_MS)]
        assert ids == list(range(FIRST_ID, LAST_ID + 21))
        # Rows: the Rust recorder's copy of batch 3 stays; the daemon added none.
        assert store.trade_count("BTCUSDT") == 5020 + len(batches[3])
        assert store.gaps("BTCUSDT") == []


async def test_import_then_run_keeps_history_and_bounds_the_gap(tmp_path, real_csv, caplog):
    """The README's order: import a data.binance.vision day, then record live into the
    same folder, where the live ids are 5,000,000 past the imported ones. Retention keeps
    the imported day, the hole is recorded once, and resolving it takes a handful of
    REST calls."""
    db = tmp_path / "db"
    assert main(["import", "--create", "--db", str(db), "--symbol", "BTCUSDT", str(real_csv)]) == 0
    logging.getLogger().addHandler(caplog.handler)  # the command replaced the root handlers
    caplog.set_level(logging.INFO)
    start_id = LAST_ID + 5_000_001
    fcfg = FakeExchangeConfig(symbols=("BTCUSDT",), rate=200.0, start_id=start_id)
    async with open_fake_exchange(fcfg) as fx:
        cfg = RecorderConfig(
            endpoint=fx.ws_url,
            rest_endpoint=fx.rest_url,
            db=str(db),
            symbols=("BTCUSDT",),
            retention_days=7.0,
        )

        def settled(stats) -> bool:
            return (
                stats.prune.runs >= 1
                and stats.backfill.queued == 0
                and stats.gaps.get("BTCUSDT", {}).get(UNFILLABLE) == 1
                and stats.symbols["BTCUSDT"].stored >= 200
            )

        async with trio.open_nursery() as nursery:
            recorder = await nursery.start(run, cfg)
            with trio.fail_after(40):
                await wait_for(lambda: settled(recorder.statistics()), step=0.05)
            stats = recorder.statistics()
            nursery.cancel_scope.cancel()
    ids = stored_ids(db, "BTCUSDT")
    assert ids[:5000] == list(range(FIRST_ID, LAST_ID + 1))  # the imported day, all of it
    assert ids[5000] == start_id and ids[5000:] == list(range(start_id, start_id + len(ids) - 5000))
    assert stats.prune.trades_removed == 0
    with TradeStore(db, read_only=True) as store:
        (gap,) = store.gaps("BTCUSDT")
    assert (gap.first_id, gap.last_id, gap.status) == (LAST_ID + 1, start_id - 1, UNFILLABLE)
    assert stats.backfill.calls <= 30  # a bisection and one page, not 5,000 pages
    said = "\n".join(r.getMessage() for r in caplog.records)
    assert "retention: BTCUSDT: keeping the batches keyed 2026-01-01" in said


async def test_bound_gap_splits_at_the_horizon(tmp_path):
    """A hole reaching back past the horizon: the older part is recorded once as
    unfillable, the rest stays open for backfill, found in about log2(size) requests."""
    fcfg = FakeExchangeConfig(
        symbols=("BTCUSDT",),
        rate=500.0,
        start_id=1_000,
        max_trades=400,
        start_on_first_subscriber=False,
    )
    db = tmp_path / "db"
    async with open_fake_exchange(fcfg) as fx:
        with trio.fail_after(20):
            await fx.wait_generated("BTCUSDT", 400)
        history = fx.history("BTCUSDT")
        horizon_ms = history[250].time_ms
        split = next(t.agg_id for t in history if t.time_ms >= horizon_ms)
        gap = Gap(
            first_id=1,
            last_id=history[-1].agg_id,
            after_time_ms=history[0].time_ms - 86_400_000,
            before_time_ms=history[-1].time_ms + 1,
            detected_ms=history[-1].time_ms + 1,
        )
        with TradeStore(db) as store:
            async with BinanceRest(fx.rest_url) as rest:
                parts = await bound_gap(store, rest, "BTCUSDT", gap, horizon_ms)
                calls = rest.stats.calls
            stored = store.gaps("BTCUSDT")
    older, newer = parts
    assert (older.first_id, older.last_id, older.status) == (1, split - 1, UNFILLABLE)
    assert "older than the backfill horizon" in older.reason
    assert (newer.first_id, newer.last_id, newer.status) == (split, gap.last_id, OPEN)
    assert older.before_time_ms == newer.after_time_ms == horizon_ms
    assert stored == parts
    assert calls <= (gap.size).bit_length() + 1
    # Wholly after the horizon: unchanged, no request; wholly before: one record, none.
    async with open_fake_exchange(fcfg) as fx, BinanceRest(fx.rest_url) as rest:
        with TradeStore(db) as store:
            assert await bound_gap(store, rest, "BTCUSDT", gap, gap.after_time_ms) == [gap]
            (whole,) = await bound_gap(store, rest, "BTCUSDT", gap, gap.before_time_ms + 1)
        assert rest.stats.calls == 0
    assert (whole.first_id, whole.last_id, whole.status) == (1, gap.last_id, UNFILLABLE)
    assert FILLED not in {g.status for g in stored}
