"""Reading one archived day's trades fast: a partition file as numpy columns or Arrow.

::

    from tradestore.archive import read_day_columns
    cols = read_day_columns("market=spot/symbol=BTCUSDT/date=2026-11-27/BTCUSDT-2026-11-27.parquet")
    df = cols.to_polars()

pyarrow decodes the file on all cores; the columns then reach numpy without a Python
object per trade (``from_table``). A window [start_ms, end_ms] reads only the row groups
whose time statistics can hold it (a row group is 128Ki trades, about 22 minutes of a busy
symbol), then keeps the rows inside it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tradestore.archive._parquet import COLUMNS, from_table, load_pyarrow
from tradestore.store import TradeColumns


def read_day_columns(
    source: Any, start_ms: int | None = None, end_ms: int | None = None
) -> TradeColumns:
    """The trades of one partition file (a path, a binary file or a
    ``pyarrow.parquet.ParquetFile``) with ``start_ms <= time <= end_ms`` (either bound may be
    left out), ascending by agg id, as int64 columns."""
    _check_bounds(start_ms, end_ms)
    table = read_day_table(source, start_ms, end_ms)
    cols = from_table(table)
    if start_ms is None and end_ms is None:
        return cols
    inside = np.ones(len(cols), dtype=np.bool_)
    if start_ms is not None:
        inside &= cols.time_ms >= start_ms
    if end_ms is not None:
        inside &= cols.time_ms <= end_ms
    if inside.all():
        return cols
    agg_id, time_ms, price, qty, side = (array[inside] for array in cols.arrays())
    return TradeColumns(agg_id, time_ms, price, qty, side)


def read_day_table(source: Any, start_ms: int | None = None, end_ms: int | None = None) -> Any:
    """The partition's five archive columns as a ``pyarrow.Table`` of the archive schema,
    from the row groups that can hold [start_ms, end_ms] (all of them without bounds; rows
    outside the window may remain: ``read_day_columns`` drops them)."""
    _check_bounds(start_ms, end_ms)
    _pa, pq = load_pyarrow()
    if start_ms is None and end_ms is None and not isinstance(source, pq.ParquetFile):
        # The whole file: pyarrow's dataset reader decodes row groups on every core.
        return pq.read_table(source, columns=list(COLUMNS), use_threads=True)
    file = source if isinstance(source, pq.ParquetFile) else pq.ParquetFile(source)
    groups = row_groups(file.metadata, start_ms, end_ms)
    return file.read_row_groups(groups, columns=list(COLUMNS), use_threads=True)


def row_groups(metadata: Any, start_ms: int | None, end_ms: int | None) -> list[int]:
    """The row groups of a partition whose time range meets [start_ms, end_ms]: those whose
    time statistics say so, and any without statistics."""
    everything = list(range(metadata.num_row_groups))
    arrow = metadata.schema.to_arrow_schema()
    if "time" not in arrow.names or getattr(arrow.field("time").type, "unit", None) != "ms":
        return everything  # not the archive's time column: its statistics are not ms
    column = metadata.schema.names.index("time")
    lo = -(2**63) if start_ms is None else start_ms
    hi = 2**63 - 1 if end_ms is None else end_ms
    keep = []
    for g in everything:
        stats = metadata.row_group(g).column(column).statistics
        if stats is None or not stats.has_min_max or stats.physical_type != "INT64":
            keep.append(g)
        elif stats.max_raw >= lo and stats.min_raw <= hi:
            keep.append(g)
    return keep


def _check_bounds(start_ms: int | None, end_ms: int | None) -> None:
    for name, value in (("start_ms", start_ms), ("end_ms", end_ms)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise TypeError(f"{name} must be an integer (unix milliseconds) or None")
    if start_ms is not None and end_ms is not None and end_ms < start_ms:
        raise ValueError(f"end ({end_ms}) is before start ({start_ms})")
