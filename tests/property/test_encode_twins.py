"""Hypothesis: the compiled v1 encoder and its pure twin (the codec's own msgpack path)
write the same bytes for every batch, or refuse it alike; and both read the same shape
(id and time bounds, ascending or not) from it. The draws reach every MessagePack width
the fast path writes: short and long strings, and ints from negative int64 to past it."""

from __future__ import annotations

from decimal import Decimal

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.ext import outcome
from tradestore._model import AggTrade, TradeRow
from tradestore.codec import _twins as _compat
from tradestore.codec._values import decode_batch

TWINS = dict(_compat.twins("encode"))
if "compiled" not in TWINS:
    pytest.skip("the compiled modules are not built", allow_module_level=True)
pure, compiled = TWINS["pure"], TWINS["compiled"]

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Every width msgpack picks for an int, and both sides of each edge.
EDGES = [0, 1, 31, 32, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63 - 1]
EDGES += [-e for e in EDGES[1:]] + [-33, -129, -32769, -(2**31) - 1, -(2**63), 2**63, 2**64 - 1]
ints = st.one_of(st.sampled_from(EDGES), st.integers(-(2**64), 2**65))
digits = st.text("0123456789", min_size=1, max_size=40)
texts = st.one_of(
    st.builds(lambda a, b: f"{a}.{b}", digits, digits),
    digits,
    st.sampled_from(["-1.5", "NaN", "Infinity", "-0", "", ".5", "1e-7", "٣.5", "1.0E-7"]),
    st.text(min_size=0, max_size=300),
)
flags = st.one_of(st.booleans(), st.sampled_from([0, 1, None]))
rows = st.builds(TradeRow, texts, texts, ints, ints, flags)
clean_rows = st.builds(
    TradeRow,
    st.builds(lambda a, b: f"{a}.{b}", digits, digits),
    digits,
    st.integers(0, 2**63 - 1),
    st.integers(0, 2**63 - 1),
    st.booleans(),
)


@SETTINGS
@given(st.lists(st.one_of(clean_rows, rows), max_size=40))
def test_same_bytes_or_same_refusal(batch):
    assert outcome(compiled.encode_batch, batch) == outcome(pure.encode_batch, batch)


@SETTINGS
@given(st.lists(clean_rows, max_size=20))
def test_clean_rows_round_trip(batch):
    value = compiled.encode_batch(batch)
    assert value == msgpack.packb([list(r) for r in batch], use_bin_type=True)
    assert decode_batch(value) == [r.to_trade() for r in batch]


@pytest.mark.parametrize("n", [15, 16, 65535, 65536])
def test_array_header_widths(n):
    batch = [TradeRow("1.5", "2", 1_700_000_000_000, i, i % 2 == 0) for i in range(n)]
    assert compiled.encode_batch(batch) == pure.encode_batch(batch)
    assert compiled.encode_batch(iter(batch)) == pure.encode_batch(batch)


def test_aggtrades_and_mixed_batches_take_the_pure_path():
    trade = AggTrade(7, Decimal("0.00000089"), Decimal("3"), 1_700_000_000_000, True)
    row = TradeRow("1.5", "2", 1_700_000_000_001, 8, False)
    for batch in ([trade], [row, trade], [trade, row]):
        assert compiled.encode_batch(batch) == pure.encode_batch(batch)


def test_a_bad_row_after_good_ones_is_named():
    batch = [TradeRow("1.5", "2", 1, i, False) for i in range(100)]
    batch.append(TradeRow("-1.5", "2", 1, 100, False))
    kind, message = outcome(compiled.encode_batch, batch)
    assert kind == "ValueError" and "trade 100" in message


@SETTINGS
@given(st.lists(st.one_of(clean_rows, rows), max_size=30))
def test_same_shape(batch):
    assert outcome(compiled.trades_shape, batch) == outcome(pure.trades_shape, batch)
    assert outcome(compiled.trades_shape, tuple(batch)) == outcome(pure.trades_shape, batch)


def test_shape_of_a_live_batch_and_of_a_shuffled_one():
    live = [TradeRow("1", "1", 50 - i % 3, 10 + i, False) for i in range(10)]
    assert compiled.trades_shape(live) == (10, 19, 48, 50, True)
    shuffled = live[5:] + live[:5]
    assert compiled.trades_shape(shuffled) == (10, 19, 48, 50, False)
    repeated = live + live[-1:]
    assert compiled.trades_shape(repeated)[4] is False
