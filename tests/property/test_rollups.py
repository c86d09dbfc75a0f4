"""Hypothesis: every analytic read through the rollup pyramid equals the same analytic
computed from the raw trades, for any window, and the stored rollups always equal a
recomputation from the trades.

Each example writes a random record the way the write paths do: batches in order, some
held back and written later (a backfill landing in minutes and hours already
summarised), some sent twice (the duplicates are refused by the agg-id set), some never
sent (gaps), then maybe a retention-like delete of a key range at either end. Trade
times step across minute and hour boundaries on purpose.
"""

from __future__ import annotations

import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.trades import T0
from tradestore import AggTrade, TradeStore
from tradestore.analytics import (
    InsufficientData,
    candles,
    composite_profile,
    cumulative_volume_delta,
    footprint,
    volume_profile,
)
from tradestore.store import _rollups, verify
from tradestore.store._keys import MAX_MS
from tradestore.store._rollcheck import check

pytestmark = pytest.mark.slow

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SYMBOL = "BTCUSDT"
# Steps between trade times: many small ones, and jumps to and across the boundaries.
STEPS = st.sampled_from([0, 0, 1, 7, 250, 999, 1000, 20_000, 59_999, 60_000, 61_001, 3_599_999])


@st.composite
def records(draw):
    n = draw(st.integers(1, 160))
    t = T0 - draw(st.integers(0, 3_600_000))
    cents = 9_000_000
    trades = []
    agg_id = draw(st.integers(1, 10**9))
    for _ in range(n):
        t += draw(STEPS)
        agg_id += draw(st.sampled_from([1, 1, 1, 1, 2, 40]))  # jumps are gaps
        cents += draw(st.sampled_from([-300, -1, 0, 0, 1, 2, 250]))
        # the last: 92233720368.54775, near the int64 ceiling at 1e-8: sums need 128 bits
        lots = draw(st.sampled_from([1, 3, 10, 25_000, 10**9, 9_223_372_036_854_775]))
        trades.append(
            AggTrade(
                agg_id,
                Decimal(cents) / 100,
                Decimal(lots) / 10**5,
                t,
                draw(st.booleans()),
            )
        )
    sizes = draw(st.lists(st.integers(1, 40), min_size=1, max_size=60))
    batches, i = [], 0
    for size in sizes:
        if i >= n:
            break
        batches.append(trades[i : i + size])
        i += size
    if i < n:
        batches.append(trades[i:])
    order = list(range(len(batches)))
    # Hold some batches back to the end (a backfill), send some twice.
    held = draw(st.lists(st.sampled_from(order), max_size=3, unique=True))
    twice = draw(st.lists(st.sampled_from(order), max_size=3))
    plan = [b for b in order if b not in held] + held + twice
    cut = draw(st.one_of(st.none(), st.tuples(st.booleans(), st.integers(0, n - 1))))
    return trades, [batches[b] for b in plan], cut


# How the writer closes the minutes near the newest trade (_rollups.ops_for_trades):
# (grace ms, minutes per write, hours per write). A long grace opens every minute; a
# budget of 0 never closes one, so readers take the trades of all of them.
CLOSING = st.sampled_from(
    [
        (10_000, 200, 16),
        (0, 200, 16),
        (10_000, 1, 1),
        (7_200_000, 0, 0),
        (7_200_000, 2, 1),
        (61_000, 3, 0),
    ]
)


@st.composite
def windows(draw, trades):
    lo = trades[0].time_ms - 70_000
    hi = trades[-1].time_ms + 70_000
    anchors = [t.time_ms for t in trades]
    edge = st.one_of(
        st.integers(lo, hi),
        st.sampled_from(anchors),
        st.sampled_from(anchors).map(lambda a: a - a % 60_000),
        st.sampled_from(anchors).map(lambda a: a - a % 3_600_000),
        st.sampled_from(anchors).map(lambda a: a - a % 60_000 + 59_999),
        st.sampled_from(anchors).map(lambda a: a - a % 3_600_000 - 1),
    )
    a, b = sorted((draw(edge), draw(edge)))
    return a, b


def _write(path: Path, plan, cut, trades, reopen_at: int | None = None) -> None:
    """The plan written in order; ``reopen_at``: the store is closed and opened again
    before that batch (the sums of the open minutes are lost with the handle)."""
    store = TradeStore(path)
    try:
        for index, batch in enumerate(plan):
            if index == reopen_at:
                store.close()
                store = TradeStore(path)
            store.write_batches({SYMBOL: batch})
        if cut is not None:
            from_start, index = cut
            key_ms = trades[index].time_ms
            if from_start:
                store.delete_batches(SYMBOL, None, key_ms, keep_rollups=False)
            else:
                store.delete_batches(SYMBOL, key_ms, MAX_MS, keep_rollups=False)
            store.write_batches({SYMBOL: []})
    finally:
        store.close()


def _same(fn, *args, **kwargs):
    """fn(use_rollups=True) == fn(use_rollups=False), failing the same way or not at all."""
    outcomes = []
    for use in (True, False):
        try:
            outcomes.append(("ok", fn(*args, use_rollups=use, **kwargs)))
        except InsufficientData as exc:
            outcomes.append(("insufficient", str(exc)))
    assert outcomes[0] == outcomes[1]


@SETTINGS
@given(st.data())
def test_pyramid_equals_raw_for_every_window(data):
    trades, plan, cut = data.draw(records())
    grace, minutes, hours = data.draw(CLOSING)
    reopen_at = data.draw(st.one_of(st.none(), st.integers(0, len(plan))))
    with pytest.MonkeyPatch.context() as mp, tempfile.TemporaryDirectory() as tmp:
        mp.setattr(_rollups, "CLOSE_GRACE_MS", grace)
        mp.setattr(_rollups, "CLOSE_MINUTES_PER_WRITE", minutes)
        mp.setattr(_rollups, "CLOSE_HOURS_PER_WRITE", hours)
        db = Path(tmp) / "db"
        _write(db, plan, cut, trades, reopen_at)
        with TradeStore(db, read_only=True) as store:
            state = store.rollup_state(SYMBOL)
            assert state is not None and state.kept  # the pyramid is what gets compared
            assert check(store, SYMBOL, 0, MAX_MS) == []
            assert verify(store, SYMBOL).rollup_mismatches == []
            if not store.trade_count(SYMBOL):
                return
            for _ in range(4):
                a, b = data.draw(windows(trades))
                _same(volume_profile, store, SYMBOL, a, b, min_trades=1, bins=7)
                _same(volume_profile, store, SYMBOL, a, b, min_trades=1, tick_size="0.5")
                interval = data.draw(
                    st.sampled_from([1000, 60_000, 120_000, 3_600_000, 86_400_000])
                )
                _same(candles, store, SYMBOL, a, b, interval)
                _same(cumulative_volume_delta, store, SYMBOL, a, b, interval)
                if interval % 60_000 == 0:
                    _same(footprint, store, SYMBOL, a, b, interval, tick_size="0.02")
                _same(composite_profile, store, SYMBOL, a, b, session_ms=3_600_000, min_trades=1)
