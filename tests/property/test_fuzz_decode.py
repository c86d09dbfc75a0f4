"""Fuzzing the v1 value decoders (both twins) and the profile accumulator's reader.

A value either decodes to exactly what ``msgpack.unpackb`` + ``Decimal`` read from it, or
raises a clean CorruptValue naming its key (FixedPointError for a well-formed value whose
decimals do not fit the columns). Never another exception, a crash, a hang or a read
outside the value: values are also handed over as memoryviews that end (or start) at a
PROT_NONE guard page, and as the truncated prefix of a longer buffer, where an over-read
would see the real continuation and "succeed".
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from decimal import Decimal

import msgpack
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.helpers.fuzz import (
    GuardedBuffer,
    MsgpackWriter,
    check_decoders,
    expected_columns,
)
from tests.helpers.trades import T0
from tradestore._errors import CorruptValue, FixedPointError
from tradestore.codec._twins import twins

DECODERS = twins("decode")
PROFILES = twins("profile")
SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
GUARD = GuardedBuffer()

decimal_texts = st.one_of(
    st.from_regex(r"\A[0-9]{1,11}\.[0-9]{8}\Z"),  # Binance's own form, the SWAR fast path
    st.from_regex(r"\A[0-9]{1,25}(\.[0-9]{1,25})?\Z"),
    st.from_regex(r"\A[-+]?[0-9]{0,6}(\.[0-9]{0,6})?([eE][-+]?[0-9]{1,4})?\Z"),
    st.sampled_from(
        [
            "0",
            "0.0",
            "1.",
            ".5",
            "-0",
            "NaN",
            "-Infinity",
            "sNaN",
            " 1.5 ",
            "1_0",
            "\u0661\u0662",
            "99999999999.99999999",  # the SWAR fast path's widest input
            "92233720368.54775807",  # INT64_MAX units
            "92233720368.54775808",
            "092233720368.547758070",
            "0.000000001",
            "0.000000010",
            "1E-8",
            "1E+10",
            "0E+99999",
        ]
    ),  # fmt: skip
    st.text(max_size=6),
)
ints = st.one_of(
    st.integers(T0 - 3, T0 + 103),
    st.integers(-(2**63), 2**64 - 1),
    st.sampled_from([0, -1, 2**63 - 1, 2**63, 2**64 - 1, -(2**63), 127, 128, -32, -33]),
)


@st.composite
def v1_values(draw):
    """A v1 value in any legal MessagePack encoding, with occasional type defects."""
    w = MsgpackWriter(lambda options: draw(st.sampled_from(options)))
    rows = draw(
        st.lists(st.tuples(decimal_texts, decimal_texts, ints, ints, st.booleans()), max_size=6)
    )
    out = [w.array(len(rows))]
    for price, qty, time_ms, agg_id, maker in rows:
        defect = draw(st.sampled_from([None] * 12 + ["bin", "width", "flag", "nil", "non_utf8"]))
        out.append(w.array(4 if defect == "width" else 5))
        out.append(w.str(price.encode(), binary=defect == "bin"))
        out.append(w.str(b"\xff\xfe" if defect == "non_utf8" else qty.encode()))
        out.append(w.int(time_ms))
        out.append(w.int(agg_id))
        if defect != "width":
            out.append(
                b"\xc0"
                if defect == "nil"
                else b"\x01"
                if defect == "flag"
                else b"\xc3"
                if maker
                else b"\xc2"
            )
    return b"".join(out)


@st.composite
def damaged(draw, value: bytes):
    op = draw(st.sampled_from(["none", "truncate", "flip", "set", "insert", "delete", "append"]))
    if op == "append":
        return value + draw(st.binary(min_size=1, max_size=5))
    if not value or op == "none":
        return value
    at = draw(st.integers(0, len(value) - 1))
    if op == "truncate":
        return value[:at]
    if op == "flip":
        return value[:at] + bytes([value[at] ^ (1 << draw(st.integers(0, 7)))]) + value[at + 1 :]
    if op == "set":
        return value[:at] + bytes([draw(st.integers(0, 255))]) + value[at + 1 :]
    if op == "insert":
        return value[:at] + draw(st.binary(min_size=1, max_size=3)) + value[at:]
    return value[:at] + value[at + draw(st.integers(1, 4)) :]


stored = st.one_of(
    v1_values().flatmap(damaged),
    v1_values(),
    st.binary(max_size=48),
    st.builds(msgpack.packb, st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), st.text(max_size=4),
                  st.binary(max_size=3), st.floats()),
        lambda inner: st.lists(inner, max_size=5), max_leaves=15)),
)  # fmt: skip
windows = st.tuples(st.integers(T0 - 5, T0 + 105), st.integers(0, 120)).map(
    lambda w: (w[0], w[0] + w[1])
)


def _pairs(values):
    return [(b"trades:FUZZ:%013d" % (T0 + i), v) for i, v in enumerate(values)]


@SETTINGS
@given(st.lists(stored, min_size=1, max_size=3), windows)
@example([b""], (T0, T0))
@example([b"\x91"], (T0, T0))
@example([b"\xdd\xff\xff\xff\xff"], (T0, T0))
@example([b"\x91\x95\xdb\xff\xff\xff\xff"], (T0, T0))
@example([msgpack.packb([["1E+99999", "1", T0, 1, True]])], (T0, T0))
@example([msgpack.packb([["1.5", "1", T0, 2**63, True]])], (T0, T0))
@example([msgpack.packb([["1E+999999999", "1", T0, 1, True]])], (T0, T0))
@example([msgpack.packb([["0E+999999999", "1e-999999999", T0, 1, True]])], (T0, T0))
@example([msgpack.packb([["1." + "0" * 5000, "9" * 5000, T0, 1, True]])], (T0, T0))
@pytest.mark.slow
def test_decoders_match_msgpack(values, window):
    check_decoders(_pairs(values), *window, DECODERS)


@SETTINGS
@given(v1_values(), st.data())
@pytest.mark.slow
def test_truncated_prefix_of_longer_buffer(value, data):
    """A prefix handed as a view into the whole value: reading on would find valid bytes."""
    cut = data.draw(st.integers(0, len(value)))
    view = memoryview(value)[:cut]
    check_decoders([(b"trades:FUZZ:0000000000001", view)], T0 - 5, T0 + 105, DECODERS)


@SETTINGS
@given(st.lists(stored, min_size=1, max_size=2), windows, st.booleans())
def test_guard_pages(values, window, at_end):
    """Values against a PROT_NONE page: an out-of-bounds read kills the process."""
    place = GUARD.at_end if at_end else GUARD.at_start
    for value in values:
        pairs = [(b"trades:FUZZ:0000000000001", place(value))]
        check_decoders(pairs, *window, DECODERS)
        for _label, impl in PROFILES:
            try:
                impl.accumulate(pairs, *window, True)
            except (CorruptValue, FixedPointError):
                pass


@SETTINGS
@given(st.lists(stored, min_size=1, max_size=3), windows, st.booleans())
def test_profile_accumulator_fails_cleanly(values, window, dedupe):
    """accumulate reads values with the same code: it fails exactly where decode_columns
    does, with the same exception type. (None means "ids out of order, run again with
    dedupe", which stops early: the rerun, as volume_profile does it, must then agree.)"""
    pairs = _pairs(values)
    want = expected_columns(pairs, *window)
    for label, impl in PROFILES:
        try:
            table = impl.accumulate(pairs, *window, dedupe)
            if table is None:
                table = impl.accumulate(pairs, *window, True)
        except (CorruptValue, FixedPointError) as exc:
            assert want[0] == "error" and type(exc) is want[1], (label, exc, want)
        else:
            assert want[0] == "ok", (label, "accumulated a bad value", want)
            assert table.trade_count <= len(want[1][0])


def test_huge_exponent_fails_fast():
    code = textwrap.dedent(
        """
        import msgpack
        from tradestore.codec._twins import decode_columns
        from tradestore._errors import FixedPointError
        value = msgpack.packb([["1E+999999999", "1", 5, 1, True]])
        try:
            decode_columns([(b"k", value)], 0, 10)
        except FixedPointError:
            print("clean")
        """
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=30
        )
    except subprocess.TimeoutExpired:
        pytest.fail("decode_columns did not answer within 30 s (it used to hang)")
    assert done.stdout.strip() == "clean", done.stderr


def test_decimal_cache_keeps_exact_text():
    n = 2**20 + 10  # A and B: same value (1), metas collide, different texts
    a = "0" * 2**20 + "1." + "0" * 8
    b = "1." + "0" * (n - 1)
    value = msgpack.packb([[a, "2.0", T0, 1, True], [b, "2.0", T0, 2, False]])
    for _label, impl in DECODERS:
        trades, _ = impl.decode_trades([(b"trades:FUZZ:0000000000001", value)], T0, T0)
        assert [t.price.as_tuple() for t in trades] == [
            Decimal(a).as_tuple(),
            Decimal(b).as_tuple(),
        ]


@pytest.mark.parametrize(
    ("price", "fixed"), [("1." + "0" * 4400, 10**8), ("1" + "0" * 4400, None)], ids=["one", "huge"]
)
def test_long_decimal_string_in_columns(price, fixed):
    value = msgpack.packb([[price, "2.0", T0, 1, True]])
    pairs = [(b"trades:FUZZ:0000000000001", value)]
    for label, impl in DECODERS:
        try:
            columns = impl.decode_columns(pairs, T0, T0)
        except FixedPointError:
            assert fixed is None, label
        else:
            assert columns[2].tolist() == [fixed], label
