"""parse_agg_trade: real frames accepted exactly; every kind of bad frame named."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from tradestore import AggTrade, InvalidMessage, parse_agg_trade

RAW = {
    "e": "aggTrade",
    "E": 1788838909801,
    "s": "BTCUSDT",
    "a": 4057959730,
    "p": "78918.01000000",
    "q": "0.00204000",
    "f": 6663045937,
    "l": 6663045937,
    "T": 1788838909800,
    "m": False,
    "M": True,
}
EXPECTED = AggTrade(
    4057959730, Decimal("78918.01000000"), Decimal("0.00204000"), 1788838909800, False
)


def test_real_combined_frames(real_frames):
    trades = [parse_agg_trade(f) for f in real_frames]
    assert [t.agg_id for t in trades] == list(range(4057959730, 4057959745))
    assert trades[0] == EXPECTED
    assert str(trades[0].price) == "78918.01000000"
    assert parse_agg_trade(real_frames[3].encode()) == trades[3]


def test_raw_and_combined_forms():
    assert parse_agg_trade(json.dumps(RAW)) == EXPECTED
    assert parse_agg_trade(json.dumps({"stream": "btcusdt@aggTrade", "data": RAW})) == EXPECTED


def frame(**changes):
    doc = dict(RAW)
    for key, value in changes.items():
        if value is ...:
            del doc[key]
        else:
            doc[key] = value
    return json.dumps(doc)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not json", "not_json"),
        ("", "not_json"),
        ("[1, 2]", "not_object"),
        ('"aggTrade"', "not_object"),
        (json.dumps({"stream": "x", "data": [1]}), "not_object"),
        (frame(e="trade"), "wrong_event"),
        (json.dumps({"e": "serverShutdown", "E": 1}), "wrong_event"),
        (json.dumps({"result": None, "id": 1}), "wrong_event"),
        (frame(a=...), "missing_field"),
        (frame(p=...), "missing_field"),
        (frame(m=...), "missing_field"),
        (frame(T=...), "missing_field"),
        (frame(a="4057959730"), "bad_type"),
        (frame(a=4057959730.0), "bad_type"),
        (frame(T=True), "bad_type"),
        (frame(m=1), "bad_type"),
        (frame(m="true"), "bad_type"),
        (frame(p=78918.01), "bad_type"),
        (frame(q=None), "bad_type"),
        (frame(p="-1.0"), "bad_decimal"),
        (frame(p="+1.0"), "bad_decimal"),
        (frame(p="1e5"), "bad_decimal"),
        (frame(p="NaN"), "bad_decimal"),
        (frame(p="Infinity"), "bad_decimal"),
        (frame(q=""), "bad_decimal"),
        (frame(q=" 1.0"), "bad_decimal"),
        (frame(q="1.0 "), "bad_decimal"),
        (frame(q="1."), "bad_decimal"),
        (frame(q=".5"), "bad_decimal"),
        (frame(q="1,5"), "bad_decimal"),
        (frame(q="١٢"), "bad_decimal"),
        (frame(a=-1), "bad_value"),
        (frame(T=2**64), "bad_value"),
        ("x" * 70_000, "oversized"),
    ],
)
def test_rejects_with_reason(text, reason):
    with pytest.raises(InvalidMessage) as exc:
        parse_agg_trade(text)
    assert exc.value.reason == reason
    assert isinstance(exc.value, ValueError)


def test_rejects_bytes_that_are_not_utf8():
    with pytest.raises(InvalidMessage) as exc:
        parse_agg_trade(b"\xff\xfe{}")
    assert exc.value.reason == "not_utf8"


def test_extra_fields_and_key_order_are_fine():
    doc = {"zz": [1, {"x": None}], **{k: RAW[k] for k in reversed(list(RAW))}}
    assert parse_agg_trade(json.dumps(doc)) == EXPECTED
    assert parse_agg_trade(" \n" + json.dumps(RAW, indent=2) + "\n") == EXPECTED


def test_decimal_beyond_fixed_point_is_still_exact():
    """More than 8 places or huge quantities are valid decimals: kept exact as Decimal."""
    t = parse_agg_trade(frame(q="123456789012345.123456789"))
    assert t.qty == Decimal("123456789012345.123456789")
