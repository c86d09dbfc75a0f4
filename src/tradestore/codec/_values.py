"""Value format v1: the MessagePack bytes of one batch (see docs/FORMAT.md).

Byte-compatible with the Rust recorder's ``rmp_serde::to_vec(&Vec<AggTrade>)``: an array of
5-element arrays ``[price_str, qty_str, T_ms, agg_id, is_buyer_maker]``, integers in
msgpack's smallest encoding (non-negative as uint), strings as str (never bin).

Through msgpack, so exact on any value: the compiled decoders read the usual shape
themselves and hand every other value to ``decode_batch`` / ``decode_fixed_rows``.

Prices and quantities are non-negative finite decimals. A string in exponent form
(``1.0E-7``, as ``str(Decimal)`` prints) reads back exactly; a negative one, a negative
zero (``-0``, which ``rust_decimal`` can print) or ``NaN`` is legal MessagePack but not a
trade: every reader refuses the whole value alike, naming its key (they all end here),
and the encoder refuses to write one.
"""

from __future__ import annotations

from decimal import Decimal

import msgpack

from tradestore._errors import CorruptValue
from tradestore._model import AggTrade
from tradestore.codec._fixed import INT64_MAX, INT64_MIN, decimal_to_fixed

# (agg_id, time_ms, price, qty, is_buyer_maker), price and qty in int64 units of 1e-8
FixedRow = tuple[int, int, int, int, bool]


def decode_batch(value: bytes, key: bytes = b"?") -> list[AggTrade]:
    """Decode a v1 value into AggTrades; CorruptValue names the key on any defect."""
    try:
        rows = msgpack.unpackb(value, raw=False, use_list=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types for bad bytes
        raise CorruptValue(key, f"not MessagePack ({type(exc).__name__})") from None
    if not isinstance(rows, tuple):
        raise CorruptValue(key, "not an array of trades")
    try:
        return [
            AggTrade(agg_id=a, price=_amount(p), qty=_amount(q), time_ms=t, is_buyer_maker=m)
            for p, q, t, a, m in rows
            if _row_ok(p, q, t, a, m)
        ]
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise CorruptValue(key, f"malformed trade row ({exc})") from None


def decode_fixed_rows(value: bytes, key: bytes, start_ms: int, end_ms: int) -> list[FixedRow]:
    """(agg_id, time_ms, price, qty, is_buyer_maker) of the trades with start_ms <= T <=
    end_ms, price and qty in int64 units of 1e-8; FixedPointError when they do not fit."""
    rows: list[FixedRow] = []
    shown = key.decode("ascii", "replace")
    for t in decode_batch(value, key):
        if start_ms <= t.time_ms <= end_ms:
            if not INT64_MIN <= t.agg_id <= INT64_MAX or not INT64_MIN <= t.time_ms <= INT64_MAX:
                raise CorruptValue(key, f"agg id {t.agg_id} or time {t.time_ms} outside int64")
            rows.append(
                (
                    t.agg_id,
                    t.time_ms,
                    decimal_to_fixed(t.price, f"{shown}: price"),
                    decimal_to_fixed(t.qty, f"{shown}: qty"),
                    t.is_buyer_maker,
                )
            )
    return rows


def _row_ok(p: object, q: object, t: object, a: object, m: object) -> bool:
    if type(p) is not str or type(q) is not str:
        raise ValueError("price/qty not strings")
    if type(t) is not int or type(a) is not int or type(m) is not bool:
        raise ValueError("time/id/flag of wrong type")
    return True


def _amount(text: str) -> Decimal:
    value = Decimal(text)
    if not _amount_ok(value):
        raise ValueError(f"{text!r} is not a non-negative finite decimal")
    return value


def _amount_ok(value: object) -> bool:
    return isinstance(value, Decimal) and value.is_finite() and not value.is_signed()
