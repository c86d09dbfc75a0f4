"""Hypothesis: the compiled rollup module and its pure twin agree on everything: the
rollups of random trades (levels, summary, bins, canonical bytes) and the verdict on
random, truncated and mutated values (the same rollup, or the same refusal)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.ext import outcome
from tradestore.codec import _twins as _compat

TWINS = dict(_compat.twins("rollup"))
if "compiled" not in TWINS:
    pytest.skip("the compiled modules are not built", allow_module_level=True)
pure, compiled = TWINS["pure"], TWINS["compiled"]

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
INT64_MAX = 2**63 - 1
amounts = st.one_of(
    st.integers(0, 10**12),
    st.sampled_from([0, 1, 10**8, 12_345_000, INT64_MAX, INT64_MAX - 1, 10**18]),
)


@st.composite
def columns(draw):
    n = draw(st.integers(0, 60))
    ids = sorted(draw(st.lists(st.integers(0, 2**40), min_size=n, max_size=n, unique=True)))
    times = sorted(draw(st.lists(st.integers(0, 10**13), min_size=n, max_size=n)))
    prices = draw(st.lists(amounts, min_size=n, max_size=n))
    qtys = draw(st.lists(amounts, min_size=n, max_size=n))
    sides = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    return (
        np.array(ids, np.int64),
        np.array(times, np.int64),
        np.array(prices, np.int64),
        np.array(qtys, np.int64),
        np.array(sides, np.bool_),
    )


def _facts(r):
    return (
        r.trade_count,
        r.first_time_ms,
        r.last_time_ms,
        r.first_agg_id,
        r.last_agg_id,
        r.open_price,
        r.close_price,
        r.min_price,
        r.max_price,
        r.volume,
        r.buy_volume,
        r.notional,
        r.level_count,
        r.levels(),
        r.levels(7),
    )


@SETTINGS
@given(columns(), st.sampled_from([1000, 60_000]), st.data())
def test_split_segments_is_split_of_each_segment(cols, period, data):
    n = len(cols[0])
    cuts = sorted(data.draw(st.lists(st.integers(0, n), max_size=5)))
    bounds = list(zip([0, *cuts], [*cuts, n], strict=True))
    for module in (pure, compiled):
        got = module.split_segments(*cols, bounds, period)
        assert len(got) == len(bounds)
        for (lo, hi), parts in zip(bounds, got, strict=True):
            want = module.split(*(c[lo:hi] for c in cols), period)
            assert parts.keys() == want.keys()
            for start in want:
                assert _facts(parts[start]) == _facts(want[start])
                assert parts[start].encode() == want[start].encode()
    with pytest.raises(ValueError, match="outside"):
        compiled.split_segments(*cols, [(0, n + 1)], period)
    with pytest.raises(ValueError, match="outside"):
        pure.split_segments(*cols, [(0, n + 1)], period)


@SETTINGS
@given(columns(), st.sampled_from([1, 1000, 60_000, 3_600_000]))
def test_split_encode_and_read_agree(cols, period):
    a, b = pure.split(*cols, period), compiled.split(*cols, period)
    assert a.keys() == b.keys()
    for start in a:
        ra, rb = a[start], b[start]
        assert _facts(ra) == _facts(rb)
        value = ra.encode()
        assert value == rb.encode()
        assert ra.encode_summary() == rb.encode_summary() == value[: len(ra.encode_summary())]
        assert pure.summary(value) == compiled.summary(value)
        assert _facts(pure.decode(value)) == _facts(compiled.decode(value)) == _facts(ra)
        low, high = ra.min_price, ra.max_price
        width = max((high - low) // 5, 1)
        nbins = (high - low) // width + 1
        assert ra.bins(low, width, nbins) == rb.bins(low, width, nbins)
        assert pure.bin_values([(b"k", value)], low, width, nbins) == compiled.bin_values(
            [(b"k", value)], low, width, nbins
        )
    # Adding up: the parts make the whole, in any order.
    whole_a, whole_b = pure.Rollup(), compiled.Rollup()
    for start in sorted(a, reverse=True):
        whole_a.add_value(a[start].encode())
        whole_b.add(b[start])
    if len(cols[0]):
        direct = compiled.Rollup()
        direct.add_columns(*cols)
        assert whole_a.encode() == whole_b.encode() == direct.encode()


@st.composite
def values(draw):
    cols = draw(columns().filter(lambda c: len(c[0]) > 0))
    rollup = pure.Rollup()
    rollup.add_columns(*cols)
    value = bytearray(rollup.encode() if draw(st.booleans()) else rollup.encode_summary())
    op = draw(st.sampled_from(["none", "truncate", "flip", "insert", "delete", "append"]))
    if op == "truncate":
        value = value[: draw(st.integers(0, len(value)))]
    elif op == "flip" and value:
        i = draw(st.integers(0, len(value) - 1))
        value[i] ^= 1 << draw(st.integers(0, 7))
    elif op == "insert":
        i = draw(st.integers(0, len(value)))
        value[i:i] = bytes([draw(st.integers(0, 255))])
    elif op == "delete" and value:
        del value[draw(st.integers(0, len(value) - 1))]
    elif op == "append":
        value += draw(st.binary(min_size=1, max_size=4))
    return bytes(value)


def _read(module, value):
    rollup = module.decode(value, b"rollup:m:X:1")
    return _facts(rollup), rollup.encode()


@SETTINGS
@given(st.one_of(values(), st.binary(max_size=40)))
def test_values_are_judged_alike(value):
    assert outcome(_read, pure, value) == outcome(_read, compiled, value)
    assert outcome(pure.summary, value, b"k") == outcome(compiled.summary, value, b"k")
    got = outcome(_read, compiled, value)
    if got[0] == "ok":
        assert got[1][1] == value  # a value that reads is in its one canonical form
