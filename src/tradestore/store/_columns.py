"""Columnar query results: numpy arrays, prices and quantities as int64 fixed point,
and their hand-off to Arrow, pandas and polars."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from tradestore.codec._fixed import SCALE

# The columns of to_arrow/to_pandas/to_polars, in order. ``price_e8``/``qty_e8`` are the
# exact values in units of 1e-8; ``price``/``qty`` the nearest float64 of each.
FRAME_COLUMNS = ("agg_id", "time", "price", "qty", "is_buyer_maker", "price_e8", "qty_e8")
FRAME_EXTRA = "pip install 'tradestore-trio[dataframe]'"
# Frames of this many rows or more compute their columns on every core.
PARALLEL_ROWS = 1 << 20


def _optional(module: str) -> Any:
    """An optional dependency of the DataFrame hand-off, or an ImportError naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"TradeColumns needs {module} for this: {FRAME_EXTRA}") from None


@dataclass(frozen=True, slots=True, eq=False)
class TradeColumns:
    """Trades as parallel arrays, ascending by agg_id.

    ``price`` and ``qty`` are int64 holding value * ``scale`` (10**8) exactly.

    As a table: ``to_arrow()``, ``to_pandas()`` and ``to_polars()`` (``pd.DataFrame(cols)``
    does not know these arrays; ``cols.to_pandas()`` does). Their columns are ``agg_id``
    (int64), ``time`` (timestamp[ms, UTC] over the same int64 buffer as ``time_ms``),
    ``price`` and ``qty`` (float64, the nearest double of each value), ``is_buyer_maker``
    (bool) and ``price_e8``/``qty_e8`` (int64, the exact values in units of 1e-8). The
    integer columns are views of these arrays, not copies.
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

    def to_arrow(self) -> Any:
        """A ``pyarrow.Table`` of ``FRAME_COLUMNS``: the int64 columns are views of these
        arrays; the floats are computed, the booleans packed into Arrow's bitmap."""
        pa = _optional("pyarrow")
        n = len(self)

        def view(array: np.ndarray, arrow_type: Any) -> Any:
            data = np.ascontiguousarray(array, dtype=np.int64)
            return pa.Array.from_buffers(arrow_type, n, [None, pa.py_buffer(data)])

        def floats(units: np.ndarray) -> Any:
            # The double nearest each value below 2**53 units (about 9.0e7): one IEEE
            # division of the exact integer. Into Arrow's memory pool, which reuses its
            # pages: a fresh numpy array faults in every page, most of the division's time.
            buffer = pa.allocate_buffer(n * 8)
            np.divide(units, float(self.scale), out=np.frombuffer(buffer, dtype=np.float64))
            return pa.Array.from_buffers(pa.float64(), n, [None, buffer])

        jobs: list[Callable[[], Any]] = [
            lambda: floats(self.price),
            lambda: floats(self.qty),
            lambda: pa.array(np.asarray(self.is_buyer_maker, dtype=np.bool_), pa.bool_()),
        ]
        if n < PARALLEL_ROWS:
            price, qty, side = (job() for job in jobs)
        else:  # numpy and Arrow compute these without the GIL: one per core
            with ThreadPoolExecutor(max_workers=min(len(jobs), os.cpu_count() or 1)) as pool:
                price, qty, side = pool.map(lambda job: job(), jobs)
        arrays = [
            view(self.agg_id, pa.int64()),
            view(self.time_ms, pa.timestamp("ms", tz="UTC")),
            price,
            qty,
            side,
            view(self.price, pa.int64()),
            view(self.qty, pa.int64()),
        ]
        return pa.Table.from_arrays(arrays, names=list(FRAME_COLUMNS))

    def to_pandas(self) -> Any:
        """A ``pandas.DataFrame`` of ``FRAME_COLUMNS`` (``time`` as datetime64[ms, UTC]);
        its int64 and time columns share memory with these arrays."""
        _optional("pandas")
        return self.to_arrow().to_pandas(split_blocks=True)

    def to_polars(self) -> Any:
        """A ``polars.DataFrame`` of ``FRAME_COLUMNS`` (``time`` as Datetime("ms", "UTC")),
        built from ``to_arrow()`` without copying its columns."""
        pl = _optional("polars")
        return pl.from_arrow(self.to_arrow(), rechunk=False)

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
