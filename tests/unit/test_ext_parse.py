"""The frame parser, compiled and pure: same trades, same reasons, exact decimals."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from tests.helpers.ext import outcome, twin_params
from tests.unit.test_parse import EXPECTED, RAW
from tradestore import InvalidMessage
from tradestore.codec import _twins as _compat

pure = _compat.pure("parse")


@pytest.fixture(params=twin_params("parse"))
def impl(request):
    return request.param


def test_real_frames_str_and_bytes(impl, real_frames):
    for text in real_frames:
        expected = pure.parse_event(text)
        assert impl.parse_event(text) == expected
        assert impl.parse_event(text.encode()) == expected
        assert impl.parse_agg_trade(text) == expected[1]
    symbol, trade = impl.parse_event(real_frames[0])
    assert symbol == "BTCUSDT"
    assert str(trade.price) == "78918.01000000"  # the exchange's text, exactly


def test_rows_are_the_stored_rows_of_the_trades(impl, real_frames):
    """parse_row carries the exchange's strings to the store: the same v1 bytes as the
    AggTrade path, without a Decimal per trade."""
    from tradestore._model import TradeRow
    from tradestore.codec._pure.encode import encode_batch

    rows = [impl.parse_row(text) for text in real_frames]
    trades = [pure.parse_event(text) for text in real_frames]
    assert [s for s, _ in rows] == [s for s, _ in trades]
    assert all(type(r) is TradeRow for _, r in rows)
    assert [r.to_trade() for _, r in rows] == [t for _, t in trades]
    assert encode_batch([r for _, r in rows]) == encode_batch([t for _, t in trades])
    assert rows[0][1].price_text == "78918.01000000" and rows[0][1].price == trades[0][1].price


@pytest.mark.parametrize(
    "text",
    [
        json.dumps(RAW, indent=4),  # whitespace and newlines
        json.dumps(dict(reversed(list(RAW.items())))),  # key order
        json.dumps({"stream": "btcusdt@aggTrade", "data": RAW}),
        json.dumps({"data": RAW, "stream": "btc\\usdt@aggTrade"}),  # escape in a skipped value
        json.dumps({**RAW, "x": {"nested": [1, 2, {"y": None}]}}),  # nested unknown field
        json.dumps({**RAW, "E": 1.5e3, "z": -0.25, "n": None, "t": True}),
        json.dumps({**RAW, "s": "BTC\u00e9USDT"}),  # non-ASCII symbol
        json.dumps({**RAW, "s": "BTC\u00e9USDT"}, ensure_ascii=False),
        json.dumps({**RAW, "s": "BTC\u4e2dUSDT"}, ensure_ascii=False),
        json.dumps({**RAW, "s": None}),
        json.dumps(RAW)[:-1] + ', "p": "1.5"}',  # duplicate key: json.loads keeps the last
        json.dumps(RAW)[:-1] + ', "e": "trade"}',
        json.dumps({**RAW, "p": "0.000000001"}),  # more than 8 decimals: still exact
        json.dumps({**RAW, "q": "99999999999999999.5"}),  # does not fit int64 at 1e-8
        json.dumps({**RAW, "p": "00012.50"}),
        " \t\r\n" + json.dumps(RAW) + "\n ",
    ],
)
def test_unusual_but_valid_frames_agree(impl, text):
    expected = outcome(pure.parse_event, text)
    assert outcome(impl.parse_event, text) == expected
    assert outcome(impl.parse_event, text.encode()) == expected
    rows = outcome(pure.parse_row, text)
    assert outcome(impl.parse_row, text) == outcome(impl.parse_row, text.encode()) == rows


def test_values_beyond_int64_fixed_point_keep_their_decimal(impl):
    text = json.dumps({**RAW, "p": "0.000000001", "q": "99999999999999999.5"})
    _symbol, trade = impl.parse_event(text)
    assert trade.price == Decimal("0.000000001")
    assert trade.qty == Decimal("99999999999999999.5")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not json", "not_json"),
        ("", "not_json"),
        ("[1, 2]", "not_object"),
        (json.dumps({"stream": "x", "data": 5}), "not_object"),
        (json.dumps({**RAW, "e": "trade"}), "wrong_event"),
        (json.dumps({k: v for k, v in RAW.items() if k != "q"}), "missing_field"),
        (json.dumps({**RAW, "a": "1"}), "bad_type"),
        (json.dumps({**RAW, "a": 1.0}), "bad_type"),
        (json.dumps({**RAW, "m": 0}), "bad_type"),
        (json.dumps({**RAW, "s": 7}), "bad_type"),
        (json.dumps({**RAW, "p": "1e5"}), "bad_decimal"),
        (json.dumps({**RAW, "p": "-1.0"}), "bad_decimal"),
        (json.dumps({**RAW, "q": ".5"}), "bad_decimal"),
        (json.dumps({**RAW, "q": "5."}), "bad_decimal"),
        (json.dumps({**RAW, "q": "1" * 41}), "bad_decimal"),
        (json.dumps({**RAW, "a": -1}), "bad_value"),
        (json.dumps({**RAW, "T": 2**63}), "bad_value"),
        (json.dumps(RAW) + "x", "not_json"),
        (json.dumps(RAW).replace('"a": 4057959730', '"a": 04057959730'), "not_json"),
        (json.dumps(RAW).replace("false", "False"), "not_json"),
        (json.dumps({**RAW, "p": "1\u0000"}), "bad_decimal"),
        ('{"e": "aggTrade", "a": NaN}', "bad_type"),
        ("x" * (64 * 1024 + 1), "oversized"),
    ],
)
def test_bad_frames_same_reason(impl, text, reason):
    for frame in (text, text.encode()):
        with pytest.raises(InvalidMessage) as info:
            impl.parse_event(frame)
        assert info.value.reason == reason


def test_bad_utf8_and_wrong_types(impl):
    with pytest.raises(InvalidMessage) as info:
        impl.parse_event(b'{"e": "aggTrade", "s": "\xff"}')
    assert info.value.reason == "not_utf8"
    with pytest.raises(InvalidMessage) as info:
        impl.parse_event(12)
    assert info.value.reason == "bad_type"
    assert impl.parse_event(bytearray(json.dumps(RAW).encode()))[1] == EXPECTED
