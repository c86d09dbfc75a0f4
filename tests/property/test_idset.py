"""AggIdSet against a plain Python set: every operation, any order, any ids."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from tradestore import AggTrade
from tradestore.store import AggIdSet

ids_st = st.integers(0, 60)
run_st = st.tuples(ids_st, st.integers(0, 8)).map(lambda t: (t[0], t[0] + t[1]))
op_st = st.tuples(st.sampled_from(["add", "remove"]), run_st)


def trade(agg_id: int) -> AggTrade:
    return AggTrade(agg_id, Decimal("1.5"), Decimal("0.1"), 1_767_225_600_000 + agg_id, False)


def check_shape(s: AggIdSet, model: set[int]) -> None:
    intervals = s.intervals
    for (a, b), (c, _d) in zip(intervals, intervals[1:], strict=False):
        assert a <= b and b + 1 < c  # disjoint, sorted, never adjacent
    assert {i for a, b in intervals for i in range(a, b + 1)} == model
    assert s.count == len(model)
    assert (s.first, s.last) == ((min(model), max(model)) if model else (None, None))
    assert AggIdSet.from_bytes(s.to_bytes()) == s


@given(st.lists(op_st, max_size=40))
def test_runs_added_and_removed_match_a_set(ops):
    s, model = AggIdSet(), set()
    for op, (lo, hi) in ops:
        run = set(range(lo, hi + 1))
        if op == "add":
            assert s.add_run(lo, hi) == len(run & model)
            model |= run
        else:
            s.remove_run(lo, hi)
            model -= run
        check_shape(s, model)


@given(st.lists(ids_st, max_size=60), st.lists(ids_st, max_size=30))
def test_split_new_keeps_order_and_counts_each_id_once(stored, incoming):
    s = AggIdSet()
    assert s.add_ids(stored) == len(stored) - len(set(stored))
    trades = [trade(i) for i in incoming]
    new, already = s.split_new(trades)
    want, seen = [], set(stored)
    for i in incoming:
        if i not in seen:
            want.append(i)
            seen.add(i)
    assert [t.agg_id for t in new] == want
    assert already == len(incoming) - len(want)
    check_shape(s, set(stored))  # unchanged


def test_live_case_is_one_interval():
    s = AggIdSet()
    for start in range(1, 10_000, 100):
        assert s.add_ids(range(start, start + 100)) == 0
    assert s.intervals == [(1, 10_000)]
    new, already = s.split_new([trade(10_001), trade(10_002)])
    assert len(new) == 2 and already == 0
