"""The exact bytes Binance sends: aggTrade events, combined wrappers, REST rows, and the
malformed frames of fault injection."""

from __future__ import annotations

import json

from tradestore._model import decimal_text
from tradestore.fake._source import Record

_EVENT = (
    '{"e":"aggTrade","E":%d,"s":"%s","a":%d,"p":"%s","q":"%s","f":%d,"l":%d,"T":%d,"m":%s,"M":true}'
)
# Futures events carry no "M" (best match) flag.
_FUTURES_EVENT = (
    '{"e":"aggTrade","E":%d,"s":"%s","a":%d,"p":"%s","q":"%s","f":%d,"l":%d,"T":%d,"m":%s}'
)


def event_json(symbol: str, record: Record, event_ms: int, best_match: bool = True) -> str:
    """A raw aggTrade event, field order and number format as Binance's (futures events
    have no ``M``: ``best_match=False``)."""
    t = record.trade
    return (_EVENT if best_match else _FUTURES_EVENT) % (
        event_ms,
        symbol,
        t.agg_id,
        decimal_text(t.price),
        decimal_text(t.qty),
        record.first_trade_id,
        record.last_trade_id,
        t.time_ms,
        "true" if t.is_buyer_maker else "false",
    )


def combined(stream: str, data: str) -> str:
    return f'{{"stream":"{stream}","data":{data}}}'


def rest_row(record: Record, invalid: bool = False, best_match: bool = True) -> dict:
    """A GET aggTrades row; ``invalid`` gives the shape Binance uses for rows it marks
    invalid (zero price and quantity, no trade ids); futures rows have no ``M``."""
    t = record.trade
    if invalid:
        row = {
            "a": t.agg_id,
            "p": "0",
            "q": "0",
            "f": -1,
            "l": -1,
            "T": t.time_ms,
            "m": t.is_buyer_maker,
        }
    else:
        row = {
            "a": t.agg_id,
            "p": decimal_text(t.price),
            "q": decimal_text(t.qty),
            "f": record.first_trade_id,
            "l": record.last_trade_id,
            "T": t.time_ms,
            "m": t.is_buyer_maker,
        }
    if best_match:
        row["M"] = True
    return row


def shutdown_event(event_ms: int) -> str:
    return f'{{"e":"serverShutdown","E":{event_ms}}}'


def reply(request_id, result=None) -> str:
    return json.dumps({"result": result, "id": request_id}, separators=(",", ":"))


def error_reply(code: int, msg: str, request_id=None) -> str:
    return json.dumps(
        {"error": {"code": code, "msg": msg}, "id": request_id}, separators=(",", ":")
    )


# Each kind breaks one rule a recorder must check; the names follow tradestore's
# InvalidMessage reasons so a test can compare counts per reason.
MALFORMED_KINDS = (
    "not_json",
    "missing_field",
    "bad_decimal",
    "bad_type",
    "bad_value",
    "wrong_event",
    "not_object",
    "not_utf8",
    "oversized",
)
# Binance frames are a few hundred bytes; the project's parser refuses more than 64 KiB.
OVERSIZED_BYTES = 70_000


def malformed(kind: str, symbol: str, record: Record, event_ms: int) -> str | bytes:
    """A frame built from a real trade but broken in one way; bytes for binary frames."""
    good = event_json(symbol, record, event_ms)
    t = record.trade
    if kind == "not_json":
        return good[: len(good) // 2]
    if kind == "missing_field":
        return good.replace(f',"p":"{decimal_text(t.price)}"', "")
    if kind == "bad_decimal":
        return good.replace(f'"p":"{decimal_text(t.price)}"', '"p":"1e5"')
    if kind == "bad_type":
        return good.replace(f'"a":{t.agg_id}', f'"a":"{t.agg_id}"')
    if kind == "bad_value":
        return good.replace(f'"a":{t.agg_id}', f'"a":-{t.agg_id}')
    if kind == "oversized":
        return good.replace('"M":true', '"M":true,"x":"' + "x" * OVERSIZED_BYTES + '"')
    if kind == "wrong_event":
        return good.replace('"e":"aggTrade"', '"e":"trade"')
    if kind == "not_object":
        return f"[{good}]"
    if kind == "not_utf8":
        return b"\xff\xfe" + good.encode("ascii")
    raise ValueError(f"unknown malformed kind {kind!r}")
