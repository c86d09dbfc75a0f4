"""Key-filtered decoding of v1 values (pure-Python twin of ext/decode.pyx).

Both implementations take the raw ``(key, value)`` pairs of a seek window and keep only
the trades with ``start_ms <= T <= end_ms``. ``decode_columns`` yields int64 columns
(prices and quantities as fixed point at 1e-8); ``decode_trades`` yields AggTrades.
The compiled twin reads the exact v1 shape itself and hands any other value to
``slow_rows`` / ``decode_batch`` here, so both decide every odd value the same way.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from tradestore._codec import decode_batch
from tradestore._errors import CorruptValue
from tradestore._fixed import INT64_MAX, INT64_MIN, decimal_to_fixed
from tradestore._model import AggTrade


def slow_rows(key: bytes, value: bytes, start_ms: int, end_ms: int) -> list[tuple]:
    """(agg_id, time_ms, price, qty, is_buyer_maker) of the in-window trades, via msgpack."""
    rows = []
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


def decode_columns(
    pairs: Iterable[tuple[bytes, bytes]], start_ms: int, end_ms: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(agg_id, time_ms, price, qty, is_buyer_maker) arrays, in scan order."""
    rows: list[tuple] = []
    for key, value in pairs:
        rows.extend(slow_rows(key, bytes(value), start_ms, end_ms))
    n = len(rows)
    columns = list(zip(*rows, strict=True)) if rows else [(), (), (), (), ()]
    return (
        np.fromiter(columns[0], np.int64, n),
        np.fromiter(columns[1], np.int64, n),
        np.fromiter(columns[2], np.int64, n),
        np.fromiter(columns[3], np.int64, n),
        np.fromiter(columns[4], np.bool_, n),
    )


def decode_trades(
    pairs: Iterable[tuple[bytes, bytes]], start_ms: int, end_ms: int
) -> tuple[list[AggTrade], bool]:
    """(in-window AggTrades in scan order, whether their agg ids strictly ascend)."""
    trades: list[AggTrade] = []
    for key, value in pairs:
        trades.extend(t for t in decode_batch(bytes(value), key) if start_ms <= t.time_ms <= end_ms)
    ascending = all(a.agg_id < b.agg_id for a, b in zip(trades, trades[1:], strict=False))
    return trades, ascending
