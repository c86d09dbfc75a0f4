"""Validate one aggTrade WebSocket frame (pure-Python twin of ext/parse.pyx).

Every reject carries a stable reason token, used as a metric label by the recorder:
``oversized``, ``not_utf8``, ``not_json``, ``not_object``, ``wrong_event``,
``missing_field``, ``bad_type``, ``bad_decimal``, ``bad_value``.
"""

from __future__ import annotations

import json
from decimal import Decimal

from tradestore._errors import InvalidMessage
from tradestore._fixed import INT64_MAX
from tradestore._model import AggTrade

MAX_FRAME_BYTES = 64 * 1024
MAX_DECIMAL_CHARS = 40


def parse_agg_trade(frame: str | bytes) -> AggTrade:
    """Return the AggTrade in a raw ``aggTrade`` event or a combined-stream wrapper.

    Raises InvalidMessage (a ValueError) naming the reason for anything else.
    """
    return parse_event(frame)[1]


def parse_event(frame: str | bytes) -> tuple[str | None, AggTrade]:
    """Like parse_agg_trade, also returning the event's symbol field ``s`` (or None)."""
    event = _load_event(frame)
    trade = AggTrade(
        agg_id=_int_field(event, "a"),
        price=_decimal_field(event, "p"),
        qty=_decimal_field(event, "q"),
        time_ms=_int_field(event, "T"),
        is_buyer_maker=_bool_field(event, "m"),
    )
    symbol = event.get("s")
    if symbol is not None and not isinstance(symbol, str):
        raise InvalidMessage("bad_type", "field 's' (symbol) is not a string")
    return symbol, trade


def _load_event(frame: str | bytes) -> dict:
    if isinstance(frame, bytes | bytearray | memoryview):
        if len(frame) > MAX_FRAME_BYTES:
            raise InvalidMessage("oversized", f"{len(frame)} bytes")
        try:
            frame = bytes(frame).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidMessage("not_utf8", "frame is not UTF-8") from None
    elif not isinstance(frame, str):
        raise InvalidMessage("bad_type", f"frame is {type(frame).__name__}, not str or bytes")
    elif len(frame) > MAX_FRAME_BYTES:
        raise InvalidMessage("oversized", f"{len(frame)} characters")
    try:
        doc = json.loads(frame)
    except (ValueError, RecursionError) as exc:
        raise InvalidMessage("not_json", str(exc)[:80]) from None
    if not isinstance(doc, dict):
        raise InvalidMessage("not_object", f"top level is {_json_type(doc)}")
    if "data" in doc and "e" not in doc:
        doc = doc["data"]
        if not isinstance(doc, dict):
            raise InvalidMessage("not_object", f"'data' is {_json_type(doc)}")
    event_type = doc.get("e")
    if event_type != "aggTrade":
        shown = event_type if isinstance(event_type, str) else _json_type(event_type)
        raise InvalidMessage("wrong_event", f"event type {shown!s:.40}")
    return doc


def _field(event: dict, key: str):
    try:
        return event[key]
    except KeyError:
        raise InvalidMessage("missing_field", f"field {key!r}") from None


def _int_field(event: dict, key: str) -> int:
    value = _field(event, key)
    if type(value) is not int:
        raise InvalidMessage("bad_type", f"field {key!r} is {_json_type(value)}, not an integer")
    if value < 0 or value > INT64_MAX:
        raise InvalidMessage("bad_value", f"field {key!r} out of range: {value}")
    return value


def _bool_field(event: dict, key: str) -> bool:
    value = _field(event, key)
    if type(value) is not bool:
        raise InvalidMessage("bad_type", f"field {key!r} is {_json_type(value)}, not a boolean")
    return value


def _decimal_field(event: dict, key: str) -> Decimal:
    value = _field(event, key)
    if type(value) is not str:
        raise InvalidMessage("bad_type", f"field {key!r} is {_json_type(value)}, not a string")
    if not is_plain_decimal(value):
        raise InvalidMessage("bad_decimal", f"field {key!r} is not a plain decimal: {value[:40]!r}")
    return Decimal(value)


def is_plain_decimal(text: str) -> bool:
    """digits[.digits], ASCII only, at most MAX_DECIMAL_CHARS: no sign, exponent or blanks."""
    if not text or len(text) > MAX_DECIMAL_CHARS or not text.isascii():
        return False
    int_part, dot, frac_part = text.partition(".")
    if not int_part.isdigit():
        return False
    return not dot or frac_part.isdigit()


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
