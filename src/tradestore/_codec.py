"""Value format v1: the MessagePack bytes of one batch (see docs/FORMAT.md).

Byte-compatible with the Rust recorder's ``rmp_serde::to_vec(&Vec<AggTrade>)``: an array of
5-element arrays ``[price_str, qty_str, T_ms, agg_id, is_buyer_maker]``, integers in
msgpack's smallest encoding (non-negative as uint), strings as str (never bin).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

import msgpack

from tradestore._errors import CorruptValue
from tradestore._model import AggTrade

_packer = msgpack.Packer(use_bin_type=True, autoreset=True)


def encode_batch(trades: Iterable[AggTrade]) -> bytes:
    return _packer.pack([t.to_row() for t in trades])


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
            AggTrade(agg_id=a, price=Decimal(p), qty=Decimal(q), time_ms=t, is_buyer_maker=m)
            for p, q, t, a, m in rows
            if _row_ok(p, q, t, a, m)
        ]
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise CorruptValue(key, f"malformed trade row ({exc})") from None


def _row_ok(p, q, t, a, m) -> bool:
    if type(p) is not str or type(q) is not str:
        raise ValueError("price/qty not strings")
    if type(t) is not int or type(a) is not int or type(m) is not bool:
        raise ValueError("time/id/flag of wrong type")
    return True
