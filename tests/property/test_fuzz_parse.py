"""Fuzzing the frame parser: both twins against json.loads and the field rules.

Every input must either parse to the trade the oracle reads from ``json.loads`` (exact
decimals, same symbol) in both twins and both entry points, or raise InvalidMessage
with an allowed reason -- the same one in both twins. Anything else (another exception,
a crash) fails. Inputs: noise, near-JSON noise, and structural and byte-level mutations of
real Binance frames. tests/property/test_differential.py compares the twins on synthetic events;
this adds the independent oracle and the real frames.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.helpers.fuzz import check_frame
from tradestore.codec._twins import twins

PARSERS = twins("parse")
FAST = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# real_frames is a constant list read once per test: safe to share between examples
WITH_FRAMES = settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

JSON_NOISE = '{}[]":,0123456789.-+eEtrufalsnNIaTpqmsdy \t\n\r\\u/\x00\x7f\u00e9'

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**65), 2**65),
    st.sampled_from([0, -0, 2**63 - 1, 2**63, -1, 10**18, 10**19, 99999999999999999]),
    st.floats(),  # json.dumps writes NaN and Infinity, which json.loads accepts
    st.text(max_size=10),
    st.from_regex(r"\A-?[0-9]{0,22}(\.[0-9]{0,22})?([eE][-+]?[0-9]{1,3})?\Z"),
    st.sampled_from(["78918.01000000", "0.00000001", "1.", ".5", "١٢", "0x1F", " 1", "1 "]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=6,
)
FIELDS = ["e", "E", "s", "a", "p", "q", "f", "l", "T", "m", "M", "data", "stream"]


@st.composite
def mutated_real_frames(draw, frames: list[str]):
    """A real frame after 0..4 structural edits, re-serialised in a random style, as str
    or bytes, sometimes followed by byte-level damage."""
    doc = json.loads(draw(st.sampled_from(frames)))
    for _ in range(draw(st.integers(0, 4))):
        event = (
            doc.get("data") if isinstance(doc, dict) and isinstance(doc.get("data"), dict) else doc
        )
        if not isinstance(event, dict):
            break
        op = draw(st.sampled_from(["del", "set", "set", "add", "rename", "unwrap", "wrap",
                                   "event_name", "nest", "wrapper_e", "list"]))  # fmt: skip
        key = draw(st.sampled_from(FIELDS))
        if op == "del":
            event.pop(key, None)
        elif op == "set":
            event[key] = draw(json_values)
        elif op == "add":
            event[draw(st.text(max_size=4))] = draw(json_values)
        elif op == "rename" and key in event:
            event[draw(st.sampled_from([key.upper(), key.lower(), key + " ", "\u0430"]))] = (
                event.pop(key)
            )
        elif op == "unwrap":
            doc = event
        elif op == "wrap":
            doc = {"stream": "btcusdt@aggTrade", "data": doc}
        elif op == "event_name":
            event["e"] = draw(st.sampled_from(["aggtrade", "AggTrade", "trade", "aggTrade ", ""]))
        elif op == "nest":
            event["data"] = dict(event)
        elif op == "wrapper_e" and isinstance(doc, dict):
            doc["e"] = "aggTrade"
        elif op == "list":
            doc = [doc]
    text = json.dumps(
        doc,
        ensure_ascii=draw(st.booleans()),  # True turns non-ASCII into \\u escapes
        indent=draw(st.sampled_from([None, None, 0, 2, "\t"])),
        separators=draw(st.sampled_from([None, (",", ":"), (" , ", " : ")])),
        sort_keys=draw(st.booleans()),
    )
    form = draw(st.sampled_from(["str", "bytes", "bytes", "latin1-str", "bytearray"]))
    if form == "str":
        return _textual_damage(draw, text)
    raw = text.encode("utf-8", "surrogatepass")
    raw = _byte_damage(draw, raw)
    if form == "latin1-str":
        return raw.decode("latin-1")  # a one-byte-kind str holding characters 128..255
    return bytearray(raw) if form == "bytearray" else raw


def _textual_damage(draw, text: str) -> str:
    op = draw(st.sampled_from(["none", "none", "dup_key", "escape_key", "space", "truncate"]))
    if op == "dup_key" and text.startswith("{"):
        field = draw(
            st.sampled_from(['"p":"1.5"', '"a":7', '"m":false', '"e":"trade"', '"data":{}'])
        )
        at = draw(st.sampled_from([1, len(text) - 1]))
        text = text[:at] + (field + "," if at == 1 else "," + field) + text[at:]
    elif op == "escape_key":
        key = draw(st.sampled_from(["e", "p", "a", "data", "aggTrade"]))
        escaped = "".join(f"\\u{ord(c):04x}" for c in key)
        text = text.replace(f'"{key}"', f'"{escaped}"', 1)
    elif op == "space":
        at = draw(st.integers(0, len(text)))
        text = (
            text[:at]
            + draw(st.sampled_from([" ", "\t", "\n", "\r", "\x0b", "\u00a0", "\ufeff"]))
            + text[at:]
        )
    elif op == "truncate":
        text = text[: draw(st.integers(0, len(text)))]
    return text


def _byte_damage(draw, raw: bytes) -> bytes:
    op = draw(
        st.sampled_from(["none", "none", "flip", "set", "insert", "delete", "splice", "truncate"])
    )
    if not raw or op == "none":
        return raw
    at = draw(st.integers(0, len(raw) - 1))
    if op == "flip":
        return raw[:at] + bytes([raw[at] ^ (1 << draw(st.integers(0, 7)))]) + raw[at + 1 :]
    if op == "set":
        return raw[:at] + bytes([draw(st.integers(0, 255))]) + raw[at + 1 :]
    if op == "insert":
        return raw[:at] + draw(st.binary(min_size=1, max_size=4)) + raw[at:]
    if op == "delete":
        return raw[:at] + raw[at + draw(st.integers(1, 8)) :]
    if op == "splice":
        other = draw(st.integers(0, len(raw) - 1))
        return raw[:at] + raw[other:]
    return raw[:at]


@FAST
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200), st.text(JSON_NOISE, max_size=120)))
@example(b"")
@example("")
@example(b"\xef\xbb\xbf{}")
@example("\ufeff{}")
@example('{"e":"aggTrade","a":1,"p":"1","q":"1","T":1,"m":true}' + " " * (64 * 1024))
@example(b'{"e":"aggTrade","a":1,"p":"1","q":"1","T":1,"m":true}' + b" " * (64 * 1024))
@example("[" * 100_000)
@example("[" * 5000 + "]" * 5000)
def test_parser_on_noise(frame):
    check_frame(frame, PARSERS)


@WITH_FRAMES
@given(data=st.data())
def test_parser_on_mutated_real_frames(real_frames, data):
    check_frame(data.draw(mutated_real_frames(real_frames)), PARSERS)


def test_real_frames_parse_unchanged(real_frames):
    """The oracle and both twins accept every real frame as it arrived."""
    for line in real_frames:
        for frame in (line, line.encode()):
            check_frame(frame, PARSERS)


@pytest.mark.parametrize("as_bytes", [False, True], ids=["str", "bytes"])
def test_long_integer_in_ignored_field(as_bytes):
    frame = '{"e":"aggTrade","E":' + "1" * 4301 + ',"a":1,"p":"1.5","q":"2","T":5,"m":true}'
    check_frame(frame.encode() if as_bytes else frame, PARSERS)
