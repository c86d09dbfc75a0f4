"""The live recorder's minutes: a minute near the newest trade is summed in memory and
written once, after the newest trade has left it behind, instead of being rewritten on
every 1 s flush. Readers take the trades of a minute that is still open, so every
analytic stays exact at any moment, across a restart that loses the in-memory sums,
and through a delete that reaches an open minute."""

from __future__ import annotations

import pytest

from tests.helpers.trades import T0, make_trades
from tradestore import TradeStore
from tradestore.analytics import candles, volume_profile
from tradestore.store import HOUR_MS, MINUTE_MS, _keys, _rollups
from tradestore.store._keys import MAX_MS
from tradestore.store._rollcheck import check
from tradestore.store._rollupops import tier_range

SYMBOL = "BTCUSDT"
# Two trades a second for 75 minutes: crosses an hour boundary at T0 + 1 h.
TRADES = make_trades(9_000, start_id=100, start_ms=T0 + 250, step_ms=500)


def _minute_keys(store: TradeStore) -> set[int]:
    lower, upper = tier_range(_keys.MINUTE, SYMBOL)
    return {_keys.key_ms(k) for k, _v in store.iter_range(lower, upper)}


def _same_as_raw(store: TradeStore, start: int, end: int) -> None:
    for interval in (60_000, 3_600_000):
        assert candles(store, SYMBOL, start, end, interval) == candles(
            store, SYMBOL, start, end, interval, use_rollups=False
        )
    kwargs = {"min_trades": 1, "tick_size": "1"}
    assert volume_profile(store, SYMBOL, start, end, **kwargs) == volume_profile(
        store, SYMBOL, start, end, use_rollups=False, **kwargs
    )


def _write_live(store: TradeStore, trades) -> None:
    """As the recorder does: one WriteBatch per second of trades."""
    for i in range(0, len(trades), 2):
        store.write_batches({SYMBOL: trades[i : i + 2]})


def test_the_live_minute_is_written_once_the_newest_trade_has_left_it(tmp_path):
    db = tmp_path / "db"
    with TradeStore(db) as store:
        _write_live(store, TRADES[:130])  # 65 s: the first minute and 5 s of the second
        state = store.rollup_state(SYMBOL)
        assert state is not None
        assert state.open_minutes == {T0, T0 + MINUTE_MS}
        assert _minute_keys(store) == set()  # nothing rewritten every second
        _same_as_raw(store, T0, T0 + 3 * MINUTE_MS)
        assert check(store, SYMBOL, 0, MAX_MS) == []

        _write_live(store, TRADES[130:])
        newest = TRADES[-1].time_ms
        state = store.rollup_state(SYMBOL)
        assert state is not None
        # Only the minutes within the grace of the newest trade are still open.
        assert state.open_minutes == {
            m
            for m in range(T0, newest + 1, MINUTE_MS)
            if m + MINUTE_MS + _rollups.CLOSE_GRACE_MS > newest
        }
        assert _minute_keys(store) == set(range(T0, newest + 1, MINUTE_MS)) - state.open_minutes
        assert state.open_hours == {T0 + HOUR_MS}  # the first hour is summarised
        assert check(store, SYMBOL, 0, MAX_MS) == []
        _same_as_raw(store, T0, newest)
        _same_as_raw(store, T0 + 17_000, newest - 3_000)


def test_a_restart_sums_the_open_minutes_from_their_trades(tmp_path):
    db = tmp_path / "db"
    with TradeStore(db) as store:
        _write_live(store, TRADES[:150])
        open_before = store.rollup_state(SYMBOL).open_minutes  # type: ignore[union-attr]
    assert open_before  # the in-memory sums go with the handle
    with TradeStore(db, read_only=True) as reader:
        assert reader.rollup_state(SYMBOL).open_minutes == open_before  # type: ignore[union-attr]
        _same_as_raw(reader, T0, TRADES[149].time_ms)
    with TradeStore(db) as store:
        _write_live(store, TRADES[150:600])
        state = store.rollup_state(SYMBOL)
        assert state is not None and not open_before & state.open_minutes
        assert check(store, SYMBOL, 0, MAX_MS) == []
        _same_as_raw(store, T0, TRADES[599].time_ms)


@pytest.mark.parametrize("from_start", [True, False])
def test_a_delete_reaching_an_open_minute_keeps_every_read_exact(tmp_path, from_start):
    db = tmp_path / "db"
    with TradeStore(db) as store:
        _write_live(store, TRADES[:400])  # 200 s: the last two minutes are open
        middle = TRADES[330].time_ms  # inside an open minute
        if from_start:
            store.delete_batches(SYMBOL, None, middle, keep_rollups=False)
        else:
            store.delete_batches(SYMBOL, middle, MAX_MS, keep_rollups=False)
        assert check(store, SYMBOL, 0, MAX_MS) == []
        _same_as_raw(store, T0, TRADES[399].time_ms)
        _write_live(store, TRADES[400:700])
        assert check(store, SYMBOL, 0, MAX_MS) == []
        _same_as_raw(store, T0, TRADES[699].time_ms)


def test_closing_is_spread_over_the_writes(tmp_path, monkeypatch):
    """Every symbol leaves a minute behind at the same moment: at most the budget of
    them is written per WriteBatch, the oldest first, and none is lost."""
    monkeypatch.setattr(_rollups, "CLOSE_MINUTES_PER_WRITE", 3)
    symbols = [f"S{i:02d}USDT" for i in range(10)]
    db = tmp_path / "db"
    with TradeStore(db) as store:
        closed_after = []
        for second in range(0, 80):
            t = T0 + second * 1000
            store.write_batches(
                {s: make_trades(1, start_id=1 + second, start_ms=t) for s in symbols}
            )
            closed_after.append(
                sum(T0 not in store.rollup_state(s).open_minutes for s in symbols)  # type: ignore[union-attr]
            )
        # The first minute is due once the newest trade is 10 s past its end (second 70).
        assert closed_after[69] == 0
        assert closed_after[70:75] == [3, 6, 9, 10, 10]
        for s in symbols:
            assert check(store, s, 0, MAX_MS) == []
