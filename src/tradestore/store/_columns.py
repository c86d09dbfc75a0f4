"""Columnar query results: numpy arrays, prices and quantities as int64 fixed point."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from tradestore.codec._fixed import SCALE


@dataclass(frozen=True, slots=True, eq=False)
class TradeColumns:
    """Trades as parallel arrays, ascending by agg_id.

    ``price`` and ``qty`` are int64 holding value * ``scale`` (10**8) exactly.
    """

    agg_id: np.ndarray
    time_ms: np.ndarray
    price: np.ndarray
    qty: np.ndarray
    is_buyer_maker: np.ndarray
    scale: int = SCALE

    def __len__(self) -> int:
        return int(self.agg_id.shape[0])

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(agg_id, time_ms, price, qty, is_buyer_maker): the codec's argument order."""
        return self.agg_id, self.time_ms, self.price, self.qty, self.is_buyer_maker

    def rows(self, start: int, end: int) -> TradeColumns:
        """Rows [start, end) (views of the same arrays, not copies)."""
        return TradeColumns(
            self.agg_id[start:end],
            self.time_ms[start:end],
            self.price[start:end],
            self.qty[start:end],
            self.is_buyer_maker[start:end],
        )

    @classmethod
    def empty(cls) -> TradeColumns:
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z.copy(), z.copy(), z.copy(), np.zeros(0, dtype=np.bool_))

    @classmethod
    def distinct(cls, arrays: Sequence[np.ndarray]) -> TradeColumns:
        """Columns from a scan's (agg_id, time_ms, price, qty, is_buyer_maker) arrays, each
        agg id once: the first copy, ascending (a scan out of id order, or an id stored
        twice by an older writer, is put right)."""
        agg_id, time_ms, price, qty, side = arrays
        if agg_id.shape[0] > 1 and not bool(np.all(agg_id[1:] > agg_id[:-1])):
            _ids, first = np.unique(agg_id, return_index=True)
            agg_id, time_ms, price, qty, side = (
                a[first] for a in (agg_id, time_ms, price, qty, side)
            )
        return cls(agg_id, time_ms, price, qty, side)

    @classmethod
    def concat(cls, parts: Iterable[TradeColumns]) -> TradeColumns:
        """The rows of ``parts`` one after the other (one part: itself, not a copy)."""
        parts = list(parts)
        if len(parts) == 1:
            return parts[0]
        if not parts:
            return cls.empty()
        return cls(
            agg_id=np.concatenate([p.agg_id for p in parts]),
            time_ms=np.concatenate([p.time_ms for p in parts]),
            price=np.concatenate([p.price for p in parts]),
            qty=np.concatenate([p.qty for p in parts]),
            is_buyer_maker=np.concatenate([p.is_buyer_maker for p in parts]),
        )
