"""Columnar query results: numpy arrays, prices and quantities as int64 fixed point."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from tradestore.codec._fixed import SCALE


@dataclass(frozen=True, slots=True, eq=False)
class TradeColumns:
    """Trades as parallel arrays, ascending by agg_id.

    ``price`` and ``qty`` are int64 holding value * ``scale`` (10**8) exactly; the
    ``*_float`` helpers are for plotting and statistics only, never for sums that must be
    exact.
    """

    agg_id: np.ndarray
    time_ms: np.ndarray
    price: np.ndarray
    qty: np.ndarray
    is_buyer_maker: np.ndarray
    scale: int = SCALE

    def __len__(self) -> int:
        return int(self.agg_id.shape[0])

    @property
    def price_float(self) -> np.ndarray:
        return self.price / self.scale

    @property
    def qty_float(self) -> np.ndarray:
        return self.qty / self.scale

    def total_qty(self) -> Decimal:
        """Exact sum of quantities (Python ints: cannot overflow)."""
        return Decimal(sum(self.qty.tolist())) / self.scale

    @classmethod
    def empty(cls) -> TradeColumns:
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z.copy(), z.copy(), z.copy(), np.zeros(0, dtype=np.bool_))
