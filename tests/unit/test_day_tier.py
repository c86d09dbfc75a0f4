"""The day tier of the rollups and rollups that outlive their trades, on a real store:
a closed day is one value (and its pre-binned levels), a database from before the day
tier gets its days summed from its hours, a pruned day answers exactly from its
rollups, and the same trades written again are stored without being counted twice."""

from __future__ import annotations

import msgpack

from tests.helpers.archive import DAY_MS, FIRST_DAY, build_store, day_trades, write
from tradestore import TradeStore
from tradestore.analytics import volume_profile
from tradestore.archive import day_start_ms
from tradestore.store import MAX_MS, pyramid, rollup_counts
from tradestore.store._rollcheck import check

SYMBOL = "BTCUSDT"
DAY0 = day_start_ms(FIRST_DAY)


def _figures(p):
    return p.trade_count, p.bins, p.poc_index, p.value_area_low_index, p.value_area_high_index


def test_a_closed_day_is_one_value_and_its_binned_levels(tmp_path):
    db = tmp_path / "db"
    build_store(db, {SYMBOL: 1}, days=3, per_day=2000)
    with TradeStore(db) as store:
        counts = rollup_counts(store, SYMBOL)
        # Days 0..2 closed (the tail trades of day 3 passed them); day 3 still open.
        assert counts["d"] == counts["b"] == 3
        state = store.rollup_state(SYMBOL)
        assert state is not None and state.open_days == {DAY0 + 3 * DAY_MS}
        pieces = pyramid(store, SYMBOL, DAY0, DAY0 + 3 * DAY_MS - 1)
        assert pieces is not None and len(pieces.days) == 3 and not pieces.hours
        assert set(pieces.binned) == {DAY0, DAY0 + DAY_MS, DAY0 + 2 * DAY_MS}
        assert check(store, SYMBOL, 0, MAX_MS) == []
        got = volume_profile(store, SYMBOL, DAY0, DAY0 + 3 * DAY_MS - 1, tick_size="0.5")
        want = volume_profile(
            store, SYMBOL, DAY0, DAY0 + 3 * DAY_MS - 1, tick_size="0.5", use_rollups=False
        )
        assert _figures(got) == _figures(want)
        # A width the binned levels do not nest in reads the day values level by level.
        odd = volume_profile(store, SYMBOL, DAY0, DAY0 + DAY_MS - 1, tick_size="0.55")
        raw = volume_profile(
            store, SYMBOL, DAY0, DAY0 + DAY_MS - 1, tick_size="0.55", use_rollups=False
        )
        assert _figures(odd) == _figures(raw)
        # A backfill into a closed day updates its value (and binned levels) at once.
        late = day_trades(SYMBOL, FIRST_DAY, 50, 10**7)
        write(store, SYMBOL, late)
        assert check(store, SYMBOL, 0, MAX_MS) == []
        assert volume_profile(store, SYMBOL, DAY0, DAY0 + DAY_MS - 1).trade_count == 2050


def test_a_database_from_before_the_day_tier_gets_its_days(tmp_path):
    db = tmp_path / "db"
    build_store(db, {SYMBOL: 1}, days=2, per_day=1500)
    with TradeStore(db) as store:
        # As version 2 left it: no day keys, a state without the day tier.
        for tier in ("d", "b"):
            lower = f"rollup:{tier}:{SYMBOL}:".encode()
            store.db.delete_range(lower, lower[:-1] + b";")
        key = f"meta:rollups:{SYMBOL}".encode()
        doc = msgpack.unpackb(store.db.get(key))
        doc = {"v": 2, "open": doc["open"], "open_m": doc["open_m"]}
        store.db.put(key, msgpack.packb(doc))
    with TradeStore(db, read_only=True) as store:
        state = store.rollup_state(SYMBOL)
        assert state is not None and not state.days
        assert rollup_counts(store, SYMBOL)["d"] == 0
    with TradeStore(db) as store:  # the writable open sums them from the hours
        state = store.rollup_state(SYMBOL)
        assert state is not None and state.days
        assert rollup_counts(store, SYMBOL)["d"] == 2
        assert check(store, SYMBOL, 0, MAX_MS) == []


def test_pruned_trades_keep_their_rollups_and_are_never_counted_twice(tmp_path):
    db = tmp_path / "db"
    built = build_store(db, {SYMBOL: 1}, days=3, per_day=2000)
    window = (DAY0, DAY0 + 2 * DAY_MS - 1)
    with TradeStore(db) as store:
        before = volume_profile(store, SYMBOL, *window, tick_size="0.5")
        removed = store.prune(DAY0 + DAY_MS)[SYMBOL]
        assert removed > 1800  # the batches wholly before the cut
        state = store.rollup_state(SYMBOL)
        assert state is not None and state.held_from_ms is not None
        after = volume_profile(store, SYMBOL, *window, tick_size="0.5")
        assert _figures(after) == _figures(before)
        assert after.coverage.summarized
        assert after.coverage.recorded == before.coverage.recorded
        assert after.coverage.missing_ids == before.coverage.missing_ids == 0
        # The pruned day imported again: stored, counted once.
        write(store, SYMBOL, built.by_day()[(SYMBOL, FIRST_DAY)])
        assert store.trade_count(SYMBOL) == 3 * 2000 + 50  # the tail of day 3 too
        again = volume_profile(store, SYMBOL, *window, tick_size="0.5")
        assert _figures(again) == _figures(before)
        # With their rollups: the analytics forget them too.
        store.prune(DAY0 + DAY_MS, keep_rollups=False)
        cut = volume_profile(store, SYMBOL, *window, tick_size="0.5", min_trades=1)
        assert cut.trade_count == len(store.query_columns(SYMBOL, *window)) < 4000
        # The rollups' own retention: only where the trades are gone.
        assert store.prune_rollups(DAY0 + 3 * DAY_MS, only_summarized=True) == []
