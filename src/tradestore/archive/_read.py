"""Reading one archived day's trades fast: a partition file as numpy columns or Arrow.

::

    from tradestore.archive import read_day_columns
    cols = read_day_columns("market=spot/symbol=BTCUSDT/date=2026-11-27/BTCUSDT-2026-11-27.parquet")
    df = cols.to_polars()

A partition on disk in the archive's own layout is decoded by polars when it is installed
(in about 0.7x pyarrow's time for a day of 8.64M trades on two cores), anything else (a
binary file, a ``pyarrow.parquet.ParquetFile``, another writer's schema, no polars) by
pyarrow on all cores. Either way the columns reach numpy without a Python object per trade
and are the same int64 columns. A window [start_ms, end_ms] reads only the row groups whose
time statistics can hold it (a row group is 128Ki trades, about 22 minutes of a busy
symbol), then keeps the rows inside it.
"""

from __future__ import annotations

import importlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from tradestore.archive._parquet import (
    COLUMNS,
    PARALLEL_ROWS,
    PRECISION,
    from_table,
    load_pyarrow,
    schema,
)
from tradestore.store import TradeColumns

ENGINES = ("auto", "polars", "pyarrow")


def read_day_columns(
    source: Any,
    start_ms: int | None = None,
    end_ms: int | None = None,
    *,
    engine: str = "auto",
) -> TradeColumns:
    """The trades of one partition file (a path, a binary file or a
    ``pyarrow.parquet.ParquetFile``) with ``start_ms <= time <= end_ms`` (either bound may be
    left out), ascending by agg id, as int64 columns.

    ``engine`` picks the decoder: ``"auto"`` (polars for a path to a file in the archive's
    layout when polars is installed, pyarrow otherwise), ``"polars"`` (such a path only) or
    ``"pyarrow"`` (any source). The columns are the same whichever decodes them."""
    _check_bounds(start_ms, end_ms)
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if engine != "pyarrow":
        pl = _polars(required=engine == "polars")
        if pl is not None and _archive_layout(source):
            return _polars_columns(pl, source, start_ms, end_ms)
        if engine == "polars":
            raise ValueError(
                "engine='polars' reads a partition file in the archive's layout by its path"
            )
    table = read_day_table(source, start_ms, end_ms)
    return _inside(from_table(table), start_ms, end_ms)


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


def _inside(cols: TradeColumns, start_ms: int | None, end_ms: int | None) -> TradeColumns:
    """The rows of ``cols`` with start_ms <= time <= end_ms."""
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


# ---------------------------------------------------------------- the polars path


def _polars(*, required: bool) -> Any:
    """polars, or None when it is not installed (pyarrow then reads every file); with
    ``required``, an ImportError that names the extra instead of None."""
    try:
        return importlib.import_module("polars")
    except ImportError:
        if required:
            raise ImportError(
                "engine='polars' needs polars: pip install 'tradestore-trio[dataframe]'"
            ) from None
        return None


def _archive_layout(source: Any) -> bool:
    """Whether ``source`` is a path to a file in the archive writer's layout: its five
    columns, every one required (no nulls), the ids, times and decimal(18, 8) values stored
    as INT64 (read from the footer only; pyarrow versions differ in the Arrow type they
    give such a decimal, the Parquet schema does not)."""
    if not isinstance(source, (str, os.PathLike)):
        return False
    _pa, pq = load_pyarrow()
    parquet = pq.ParquetFile(source).schema
    decimal = schema().field("price").type
    wanted = {
        "agg_id": ("INT64", {"Type": "None"}),
        "price": ("INT64", {"Type": "Decimal", "precision": PRECISION, "scale": decimal.scale}),
        "qty": ("INT64", {"Type": "Decimal", "precision": PRECISION, "scale": decimal.scale}),
        "time": (
            "INT64",
            {"Type": "Timestamp", "isAdjustedToUTC": True, "timeUnit": "milliseconds"},
        ),
        "is_buyer_maker": ("BOOLEAN", {"Type": "None"}),
    }
    columns = [parquet.column(i) for i in range(len(parquet))]
    if [c.name for c in columns] != list(COLUMNS) or any(c.max_definition_level for c in columns):
        return False
    for column in columns:
        physical, logical = wanted[column.name]
        told = json.loads(column.logical_type.to_json())
        if column.physical_type != physical or any(told.get(k) != v for k, v in logical.items()):
            return False
    return True


def _polars_columns(pl: Any, path: Any, start_ms: int | None, end_ms: int | None) -> TradeColumns:
    """A partition in the archive's layout, decoded by polars (which prunes the row groups
    by their time statistics and keeps the rows inside the window), as TradeColumns."""
    frame = pl.scan_parquet(path, glob=False, hive_partitioning=False)
    when = pl.Datetime("ms", "UTC")
    if start_ms is not None:
        frame = frame.filter(pl.col("time") >= pl.lit(start_ms, dtype=pl.Int64).cast(when))
    if end_ms is not None:
        frame = frame.filter(pl.col("time") <= pl.lit(end_ms, dtype=pl.Int64).cast(when))
    got = frame.select(list(COLUMNS)).collect()
    table = got.to_arrow()  # the same buffers, one chunk per row group
    n = got.height
    jobs = [
        lambda: _joined(table.column("agg_id").chunks, n),
        lambda: _joined(table.column("time").chunks, n),
        lambda: _joined(table.column("price").chunks, n),
        lambda: _joined(table.column("qty").chunks, n),
        lambda: np.asarray(got.get_column("is_buyer_maker").to_numpy(), dtype=np.bool_),
    ]
    if n < PARALLEL_ROWS:
        agg_id, time_ms, price, qty, side = (job() for job in jobs)
    else:  # numpy copies without the GIL: one column per core
        with ThreadPoolExecutor(max_workers=min(len(jobs), os.cpu_count() or 1)) as pool:
            agg_id, time_ms, price, qty, side = pool.map(lambda job: job(), jobs)
    return TradeColumns(agg_id, time_ms, price, qty, side)


def _joined(chunks: list[Any], n: int) -> np.ndarray:
    """The int64 values of an Arrow column's chunks in one array: int64 and timestamp
    chunks as they are, polars' 128-bit decimals as their low words (a value read from an
    INT64 Parquet column is its low word, the high word only its sign).

    The array lives in Arrow's memory pool, which reuses its pages: a fresh numpy array
    faults in every page, most of a copy's time."""
    pa = load_pyarrow()[0]
    out = np.frombuffer(pa.allocate_buffer(n * 8), dtype=np.int64)
    at = 0
    for chunk in chunks:
        k = len(chunk)
        if not k:
            continue
        words = chunk.type.byte_width // 8  # 1, or 2 for a decimal128
        values = np.frombuffer(chunk.buffers()[1], dtype="<i8", count=words * (chunk.offset + k))
        out[at : at + k] = values.reshape(-1, words)[chunk.offset :, 0]
        at += k
    return out


def _check_bounds(start_ms: int | None, end_ms: int | None) -> None:
    for name, value in (("start_ms", start_ms), ("end_ms", end_ms)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise TypeError(f"{name} must be an integer (unix milliseconds) or None")
    if start_ms is not None and end_ms is not None and end_ms < start_ms:
        raise ValueError(f"end ({end_ms}) is before start ({start_ms})")
