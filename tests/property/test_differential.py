"""Hypothesis: the compiled hot path and its pure twin agree on random and adversarial input.

Parser: random events, wrappers, whitespace and mutations (truncation, inserted and
replaced characters) -- same trade or same reject reason. Decoder and accumulator: random
batches, random MessagePack documents, truncated and random bytes -- same columns, trades
and bins, or the same exception and message.
"""

from __future__ import annotations

import json
from decimal import Decimal

import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.helpers.ext import outcome
from tests.helpers.trades import T0
from tradestore import AggTrade
from tradestore.codec import _twins as _compat
from tradestore.codec._pure.encode import encode_batch

TWINS = {name: dict(_compat.twins(name)) for name in _compat.REGISTRY}
if any("compiled" not in found for found in TWINS.values()):
    pytest.skip("the compiled modules are not built", allow_module_level=True)
pure_parse, ext_parse = TWINS["parse"]["pure"], TWINS["parse"]["compiled"]
pure_decode, ext_decode = TWINS["decode"]["pure"], TWINS["decode"]["compiled"]
pure_profile, ext_profile = TWINS["profile"]["pure"], TWINS["profile"]["compiled"]

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------- frames

decimals = st.one_of(
    st.from_regex(r"\A[0-9]{1,12}(\.[0-9]{1,12})?\Z"),
    st.sampled_from(["0", "1.", ".5", "1e5", "-1", "1.0E-7", " 1", "١", "0.00000000", ""]),
    st.text(max_size=6),
)
ints = st.one_of(
    st.integers(0, 2**63 + 5), st.integers(-5, -1), st.sampled_from([2**63 - 1, 2**64])
)
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.text(max_size=8),
    st.floats(allow_nan=False, allow_infinity=False),
)  # fmt: skip
values = st.one_of(ints, decimals, json_scalars, st.lists(json_scalars, max_size=2))


@st.composite
def events(draw):
    event = {
        "e": draw(st.sampled_from(["aggTrade", "aggTrade", "aggTrade", "trade", 5])),
        "E": draw(st.integers(0, 2**41)),
        "s": draw(st.sampled_from(["BTCUSDT", "ETHUSDT", None, 3, "BTC\u00e9"])),
        "a": draw(st.integers(0, 2**40)),
        "p": draw(st.from_regex(r"\A[0-9]{1,6}\.[0-9]{8}\Z")),
        "q": draw(st.from_regex(r"\A[0-9]{1,3}\.[0-9]{8}\Z")),
        "f": 1,
        "l": 2,
        "T": draw(st.integers(0, 2**41)),
        "m": draw(st.booleans()),
        "M": True,
    }
    for key in draw(st.lists(st.sampled_from(sorted(event)), max_size=2)):
        if draw(st.booleans()):
            event.pop(key, None)
        else:
            event[key] = draw(values)
    keys = draw(st.permutations(list(event)))
    event = {k: event[k] for k in keys}
    if draw(st.booleans()):
        event = {"stream": "btcusdt@aggTrade", "data": event}
    text = json.dumps(event, indent=draw(st.sampled_from([None, 0, 2])))
    return text


@st.composite
def mutated_frames(draw):
    text = draw(events())
    op = draw(st.sampled_from(["none", "truncate", "insert", "replace", "duplicate"]))
    if op == "truncate":
        text = text[: draw(st.integers(0, len(text)))]
    elif op in ("insert", "replace") and text:
        i = draw(st.integers(0, len(text) - 1))
        ch = draw(st.sampled_from(list(' \t"\\{}[],:0-.eE+\u00e9\x00\x7f') + ["\ud800"]))
        text = text[:i] + ch + text[i + (op == "replace") :]
    elif op == "duplicate":
        text = text[:-1] + ', "p": "7.5", "m": true}'
    return text


def _parse_outcomes(impl, frame):
    return (
        outcome(impl.parse_event, frame),
        outcome(impl.parse_agg_trade, frame),
        outcome(impl.parse_row, frame),
    )


@SETTINGS
@given(mutated_frames())
def test_parser_agrees_on_frames(text):
    assert _parse_outcomes(ext_parse, text) == _parse_outcomes(pure_parse, text)
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError:
        return
    assert _parse_outcomes(ext_parse, raw) == _parse_outcomes(pure_parse, raw)


@SETTINGS
@given(st.one_of(st.binary(max_size=64), st.text(max_size=64)))
def test_parser_agrees_on_noise(frame):
    assert _parse_outcomes(ext_parse, frame) == _parse_outcomes(pure_parse, frame)


# ---------------------------------------------------------------- values

trade_rows = st.builds(
    AggTrade,
    agg_id=st.integers(0, 2**63 - 1),
    price=st.one_of(
        st.decimals(min_value=0, max_value=10**11, places=8, allow_nan=False),
        st.sampled_from([Decimal("0.000000001"), Decimal("1E+12"), Decimal("9" * 25)]),
    ),
    qty=st.decimals(min_value=0, max_value=10**6, places=8, allow_nan=False),
    time_ms=st.integers(T0, T0 + 100),
    is_buyer_maker=st.booleans(),
)
msgpack_docs = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), st.text(max_size=6),
        st.binary(max_size=4), st.sampled_from(["1.5", "0.00000001", "1e3", "-2"]),
    ),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=2), inner),
    max_leaves=12,
)  # fmt: skip


@st.composite
def stored_values(draw):
    kind = draw(st.sampled_from(["batch", "batch", "doc", "bytes"]))
    if kind == "batch":
        value = encode_batch(draw(st.lists(trade_rows, max_size=6)))
    elif kind == "doc":
        value = msgpack.packb(draw(msgpack_docs))
    else:
        value = draw(st.binary(max_size=40))
    if draw(st.booleans()):
        value = value[: draw(st.integers(0, len(value)))]
    return value


def _columns(impl, pairs, start, end):
    result = outcome(impl.decode_columns, pairs, start, end)
    if result[0] == "ok":
        return "ok", [(c.dtype.str, c.tolist()) for c in result[1]]
    return result


def _levels(impl, pairs, start, end, dedupe):
    result = outcome(impl.accumulate, pairs, start, end, dedupe)
    if result[0] != "ok" or result[1] is None:
        return result
    table = result[1]
    summary = (table.trade_count, table.first_time_ms, table.last_time_ms, table.level_count)
    if not table.trade_count:
        return "ok", summary
    lo, hi = table.min_price, table.max_price
    width = max((hi - lo) // 7, 1)
    nbins = (hi - lo) // width + 1
    return "ok", (summary, lo, hi, table.bins(lo, width, nbins))


@SETTINGS
@given(
    st.lists(stored_values(), min_size=1, max_size=4),
    st.integers(T0 - 5, T0 + 105),
    st.integers(0, 60),
    st.booleans(),
)
def test_decoders_agree(values, start, length, dedupe):
    pairs = [(b"trades:X:%013d" % (T0 + i), v) for i, v in enumerate(values)]
    end = start + length
    assert _columns(ext_decode, pairs, start, end) == _columns(pure_decode, pairs, start, end)
    assert outcome(ext_decode.decode_trades, pairs, start, end) == outcome(
        pure_decode.decode_trades, pairs, start, end
    )
    assert _levels(ext_profile, pairs, start, end, dedupe) == _levels(
        pure_profile, pairs, start, end, dedupe
    )


@SETTINGS
@given(st.lists(trade_rows, min_size=1, max_size=30))
@pytest.mark.slow
def test_decoders_agree_on_valid_batches(trades):
    assume(all(t.price < 10**10 and t.price.as_tuple().exponent >= -8 for t in trades))
    pairs = [(b"k%d" % i, encode_batch(trades[i : i + 7])) for i in range(0, len(trades), 7)]
    cols = ext_decode.decode_columns(pairs, T0, T0 + 100)
    expected = pure_decode.decode_columns(pairs, T0, T0 + 100)
    for got, want in zip(cols, expected, strict=True):
        assert np.array_equal(got, want)
    assert ext_decode.decode_trades(pairs, T0, T0 + 100) == (
        pure_decode.decode_trades(pairs, T0, T0 + 100)
    )
