"""What an aggTrade WebSocket frame must be, and the reason for every reject.

``json.loads`` plus the field rules: this is the specification of both parsers. The pure
twin (tradestore/codec/_pure/parse.py) is exactly this; the compiled one (src/tradestore/codec/_ext/parse.pyx) reads
the common shape itself and hands every other frame here, so the two agree by
construction.

Every reject carries a stable reason token, used as a metric label by the recorder:
``oversized``, ``not_utf8``, ``not_json``, ``not_object``, ``wrong_event``,
``missing_field``, ``bad_type``, ``bad_decimal``, ``bad_value``.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from tradestore._errors import InvalidMessage
from tradestore._model import AggTrade
from tradestore.codec._decimal import is_plain_decimal
from tradestore.codec._fixed import INT64_MAX

MAX_FRAME_BYTES = 64 * 1024


def read_event(frame: str | bytes) -> tuple[str | None, AggTrade]:
    """(symbol field ``s`` or None, AggTrade) of a raw ``aggTrade`` event or a
    combined-stream wrapper; InvalidMessage (a ValueError) naming the reason otherwise."""
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


def _load_event(frame: str | bytes) -> dict[str, Any]:
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


def _field(event: dict[str, Any], key: str) -> object:
    try:
        return event[key]
    except KeyError:
        raise InvalidMessage("missing_field", f"field {key!r}") from None


def _int_field(event: dict[str, Any], key: str) -> int:
    value = _field(event, key)
    if type(value) is not int:
        raise InvalidMessage("bad_type", f"field {key!r} is {_json_type(value)}, not an integer")
    if value < 0 or value > INT64_MAX:
        raise InvalidMessage("bad_value", f"field {key!r} out of range: {value}")
    return value


def _bool_field(event: dict[str, Any], key: str) -> bool:
    value = _field(event, key)
    if type(value) is not bool:
        raise InvalidMessage("bad_type", f"field {key!r} is {_json_type(value)}, not a boolean")
    return value


def _decimal_field(event: dict[str, Any], key: str) -> Decimal:
    value = _field(event, key)
    if type(value) is not str:
        raise InvalidMessage("bad_type", f"field {key!r} is {_json_type(value)}, not a string")
    if not is_plain_decimal(value):
        raise InvalidMessage("bad_decimal", f"field {key!r} is not a plain decimal: {value[:40]!r}")
    return Decimal(value)


def _json_type(value: object) -> str:
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
