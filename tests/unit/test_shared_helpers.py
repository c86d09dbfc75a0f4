"""The small helpers several parts share: Retry-After values, exception-group leaves."""

from __future__ import annotations

import pytest

from tradestore._excgroup import first_leaf, leaves
from tradestore.binance import parse_retry_after


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("5", 5.0),
        (b"7", 7.0),  # trio-websocket hands over raw header bytes
        ("0.5", 0.5),
        ("-3", 0.0),
        ("", None),
        (None, None),
        ("soon", None),
        ("Wed, 21 Oct 2026 07:28:00 GMT", None),  # the HTTP-date form Binance never sends
        ("nan", None),
        ("inf", None),
    ],
)
def test_parse_retry_after(value, seconds):
    assert parse_retry_after(value) == seconds


def test_first_leaf_and_leaves_of_nested_groups():
    a, b, c = ValueError("a"), KeyError("b"), OSError("c")
    group = BaseExceptionGroup("outer", [ExceptionGroup("inner", [a, b]), c])
    assert first_leaf(group) is a
    assert list(leaves(group)) == [a, b, c]
    assert first_leaf(c) is c and list(leaves(c)) == [c]
