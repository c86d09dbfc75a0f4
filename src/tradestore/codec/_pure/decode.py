"""Key-filtered decoding of v1 values (pure-Python twin of src/tradestore/codec/_ext/decode.pyx).

Both implementations take the raw ``(key, value)`` pairs of a seek window and keep only
the trades with ``start_ms <= T <= end_ms``. ``decode_columns`` yields int64 columns
(prices and quantities as fixed point at 1e-8); ``decode_trades`` yields AggTrades.
Both go through the v1 codec (tradestore/codec/_values.py) here; the compiled twin reads the
exact v1 shape itself and hands any other value to the same codec functions, so both
decide every odd value the same way.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from tradestore._model import AggTrade
from tradestore.codec._values import FixedRow, decode_batch, decode_fixed_rows


def decode_columns(
    pairs: Iterable[tuple[bytes, bytes]], start_ms: int, end_ms: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(agg_id, time_ms, price, qty, is_buyer_maker) arrays, in scan order."""
    rows: list[FixedRow] = []
    for key, value in pairs:
        rows.extend(decode_fixed_rows(bytes(value), key, start_ms, end_ms))
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
