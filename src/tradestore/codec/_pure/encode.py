"""Writing v1 values (pure-Python twin of _ext/encode.pyx).

``encode_batch`` is the v1 codec's encoder (the face of tradestore.codec exports the twin in use), through
msgpack; ``trades_shape`` reads what the store's write path needs to know of a batch
before it writes it. The compiled twin does both in one C loop over the recorder's
TradeRows and hands anything else to these functions, so both decide every odd batch
alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import msgpack

from tradestore._model import StorableTrade

__all__ = ["encode_batch", "trades_shape"]

_packer = msgpack.Packer(use_bin_type=True, autoreset=True)


def encode_batch(trades: Iterable[StorableTrade]) -> bytes:
    """The v1 value of trades; ValueError names a trade whose price or qty is not a
    non-negative finite Decimal (negative zero included: no reader would accept it)."""
    trades = list(trades)
    rows = [t.to_row() for t in trades]
    for trade, row in zip(trades, rows, strict=True):
        # Positional text of a non-negative finite Decimal starts with a digit; "-0",
        # "-1.5", "NaN" and "Infinity" do not (a cheap test on the flush path).
        if not (row[0][:1].isdigit() and row[1][:1].isdigit()):
            raise ValueError(
                f"trade {trade.agg_id}: price {row[0]} and qty {row[1]} must be non-negative "
                "finite decimals"
            )
    value: bytes = _packer.pack(rows)
    return value


def trades_shape(trades: Sequence[StorableTrade]) -> tuple[int, int, int, int, bool]:
    """(lowest agg id, highest agg id, earliest T, latest T, whether the agg ids are
    strictly ascending) of a non-empty batch; ValueError when it is empty."""
    if not trades:
        raise ValueError("an empty batch has no shape")
    ids = [t.agg_id for t in trades]
    times = [t.time_ms for t in trades]
    ascending = all(a < b for a, b in zip(ids, ids[1:], strict=False))
    return min(ids), max(ids), min(times), max(times), ascending
