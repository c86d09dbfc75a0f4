"""The archive's Parquet layout: one schema, one set of encodings, one streaming writer.

Columns, sorted by ``agg_id``::

    agg_id          int64                      DELTA_BINARY_PACKED
    price           decimal(18, 8) on INT64    dictionary
    qty             decimal(18, 8) on INT64    dictionary
    time            timestamp(ms, UTC)         DELTA_BINARY_PACKED
    is_buyer_maker  bool                       PLAIN (bit-packed)

zstd level 3, row groups of 128Ki rows, column statistics and the sort order recorded.
The choice was measured on the benchmark's 24 h of BTCUSDT (8.64M trades; docs/SCALING.md
has the table): dictionary prices *and* quantities with delta-encoded ids and times cost
4.07 bytes per trade at zstd 3 (4.22 at zstd 1, 5.04 with plain quantities, 9.6 with
pyarrow's defaults); zstd 6 saves 1.6% more for 50% more time.

Columns arrive as int64 fixed point at 1e-8 (``TradeColumns``), which is exactly the
physical layout of decimal(18, 8) and of timestamp(ms): the Arrow arrays are views of the
numpy buffers, never a Python object per trade.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from tradestore._errors import BadInput
from tradestore.codec._fixed import SCALE_DIGITS
from tradestore.store import TradeColumns

COLUMNS = ("agg_id", "price", "qty", "time", "is_buyer_maker")
PRECISION = 18
# decimal(18, 8) holds |value| < 10**10: 10**18 units of 1e-8.
MAX_UNITS = 10**PRECISION - 1
ROW_GROUP_ROWS = 128 * 1024
COMPRESSION = "zstd"
COMPRESSION_LEVEL = 3
ENCODINGS = {
    "agg_id": "DELTA_BINARY_PACKED",
    "time": "DELTA_BINARY_PACKED",
    "is_buyer_maker": "PLAIN",
}
DICTIONARY_COLUMNS = ["price", "qty"]
# Tables of this many rows or more are turned into columns on every core.
PARALLEL_ROWS = 1 << 20
# The footer key holding the partition's facts (rows, id range, checksum, completeness).
METADATA_KEY = "tradestore.partition"


class ArchiveValueError(BadInput, ValueError):
    """A trade that decimal(18, 8) cannot hold exactly (10 or more integer digits)."""


def load_pyarrow() -> tuple[Any, Any]:
    """(pyarrow, pyarrow.parquet), or an ImportError that says which extra to install."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - the message is the point
        raise ImportError(
            "the Parquet archive needs pyarrow: pip install 'tradestore-trio[parquet]'"
        ) from None
    return pa, pq


def schema():
    pa, _pq = load_pyarrow()
    return pa.schema(
        [
            pa.field("agg_id", pa.int64(), nullable=False),
            pa.field("price", pa.decimal64(PRECISION, SCALE_DIGITS), nullable=False),
            pa.field("qty", pa.decimal64(PRECISION, SCALE_DIGITS), nullable=False),
            pa.field("time", pa.timestamp("ms", tz="UTC"), nullable=False),
            pa.field("is_buyer_maker", pa.bool_(), nullable=False),
        ]
    )


def check_fits(cols: TradeColumns, where: str) -> None:
    """Refuse values decimal(18, 8) cannot hold, rather than write a wrong number."""
    for name in ("price", "qty"):
        column = getattr(cols, name)
        if len(column) and int(column.max()) > MAX_UNITS:
            raise ArchiveValueError(
                f"{where}: a {name} of 10**10 or more does not fit the archive's decimal(18, 8)"
            )


def to_table(cols: TradeColumns):
    """The columns as an Arrow table of the archive schema (zero-copy views of numpy)."""
    pa, _pq = load_pyarrow()
    n = len(cols)
    sch = schema()

    def view(array: np.ndarray, field: str):
        data = np.ascontiguousarray(array, dtype=np.int64)
        return pa.Array.from_buffers(sch.field(field).type, n, [None, pa.py_buffer(data)])

    arrays = [
        view(cols.agg_id, "agg_id"),
        view(cols.price, "price"),
        view(cols.qty, "qty"),
        view(cols.time_ms, "time"),
        pa.array(np.asarray(cols.is_buyer_maker, dtype=np.bool_), pa.bool_()),
    ]
    return pa.Table.from_arrays(arrays, schema=sch)


def from_table(table) -> TradeColumns:
    """An archive table (as read back) as TradeColumns, int64 fixed point again.

    No Python object per trade: agg_id, time and decimal64 columns of one chunk are views
    of Arrow's buffers, several chunks are joined in one copy; decimal128 (16 bytes, little
    endian) is read as its low 8 bytes, checked to be the whole value.
    """
    pa, _pq = load_pyarrow()
    missing = [name for name in COLUMNS if name not in table.column_names]
    if missing:
        raise ArchiveValueError(f"not an archive table: no column {', '.join(missing)}")
    jobs = [
        lambda: _int64s(pa, table.column("agg_id"), "agg_id"),
        lambda: _int64s(pa, table.column("time"), "time"),
        lambda: _int64s(pa, table.column("price"), "price"),
        lambda: _int64s(pa, table.column("qty"), "qty"),
        lambda: _bools(table.column("is_buyer_maker")),
    ]
    if table.num_rows < PARALLEL_ROWS:
        agg_id, time_ms, price, qty, side = (job() for job in jobs)
    else:
        # Joining a column's chunks is a copy Arrow does without the GIL: one per core.
        with ThreadPoolExecutor(max_workers=min(len(jobs), os.cpu_count() or 1)) as pool:
            agg_id, time_ms, price, qty, side = pool.map(lambda job: job(), jobs)
    return TradeColumns(agg_id, time_ms, price, qty, side)


def _int64s(pa, column, name: str) -> np.ndarray:
    """One int64 column (ids, ms times, decimals at scale 8 as units) of a chunked array."""
    if column.null_count:
        raise ArchiveValueError(f"{column.null_count} null {name} value(s) in an archive table")
    chunks = [chunk for chunk in column.chunks if len(chunk)]
    if not chunks:
        return np.zeros(0, dtype=np.int64)
    kind = column.type
    if pa.types.is_decimal(kind):
        if kind.scale != SCALE_DIGITS or kind.byte_width not in (8, 16):
            # another writer's decimal: rescaled by Arrow, which refuses to lose a digit
            chunks = [chunk.cast(pa.decimal128(38, SCALE_DIGITS)) for chunk in chunks]
        if chunks[0].type.byte_width == 16:
            low = [_low_words(chunk, name) for chunk in chunks]
            return np.ascontiguousarray(low[0]) if len(low) == 1 else np.concatenate(low)
    elif pa.types.is_timestamp(kind):
        if kind.unit != "ms":  # a safe cast: it refuses to truncate
            chunks = [chunk.cast(pa.timestamp("ms", tz=kind.tz)) for chunk in chunks]
    elif kind != pa.int64():
        chunks = [chunk.cast(pa.int64()) for chunk in chunks]
    # Joined by Arrow, whose memory pool reuses its pages (numpy's fresh arrays fault in
    # every page: about twice the time for a day's columns).
    joined = chunks[0] if len(chunks) == 1 else pa.concat_arrays(chunks)
    count = joined.offset + len(joined)
    return np.frombuffer(joined.buffers()[1], dtype="<i8", count=count)[joined.offset :]


def _low_words(chunk, name: str) -> np.ndarray:
    """A decimal128 chunk's values as int64: the low word of each 16-byte little-endian
    value, a strided view; the high word must be the low word's sign extension."""
    words = np.frombuffer(chunk.buffers()[1], dtype="<i8", count=2 * (chunk.offset + len(chunk)))
    pairs = words.reshape(-1, 2)[chunk.offset :]
    low, high = pairs[:, 0], pairs[:, 1]
    if not np.array_equal(high, low >> 63):
        raise ArchiveValueError(f"a {name} value in the table does not fit int64 units of 1e-8")
    return low


def _bools(column) -> np.ndarray:
    if column.null_count:
        raise ArchiveValueError(f"{column.null_count} null is_buyer_maker value(s)")
    if not len(column):
        return np.zeros(0, dtype=np.bool_)
    return np.asarray(column.to_numpy(), dtype=np.bool_)


class Checksum:
    """SHA-256 over the columns' little-endian bytes, fed chunk by chunk in row order.

    Each column is hashed on its own (so chunking does not change the result) and the
    five digests are hashed together: the value does not depend on how rows were
    grouped, only on the rows.
    """

    def __init__(self) -> None:
        self._parts = [hashlib.sha256() for _ in COLUMNS]

    def update(self, cols: TradeColumns) -> None:
        arrays = (cols.agg_id, cols.price, cols.qty, cols.time_ms, cols.is_buyer_maker)
        for part, array in zip(self._parts, arrays, strict=True):
            dtype = np.uint8 if array.dtype == np.bool_ else np.dtype("<i8")
            part.update(np.ascontiguousarray(array, dtype=dtype).data)

    def hexdigest(self) -> str:
        outer = hashlib.sha256()
        for part in self._parts:
            outer.update(part.digest())
        return "sha256:" + outer.hexdigest()


def checksum(cols: TradeColumns) -> str:
    c = Checksum()
    c.update(cols)
    return c.hexdigest()


def writer_options() -> dict[str, Any]:
    _pa_mod, pq = load_pyarrow()
    return {
        "compression": COMPRESSION,
        "compression_level": COMPRESSION_LEVEL,
        "use_dictionary": DICTIONARY_COLUMNS,
        "column_encoding": ENCODINGS,
        "write_statistics": True,
        "store_decimal_as_integer": True,
        "sorting_columns": [pq.SortingColumn(0)],
    }


class TradeWriter:
    """Streams TradeColumns chunks into one Parquet file in exact 128Ki-row groups.

    ``write`` takes chunks in ascending agg-id order (checked), keeps a running checksum
    and the id/time range; ``close(metadata)`` writes the last row group and the footer,
    with ``metadata`` (str -> str) as key-value metadata.
    """

    def __init__(self, sink) -> None:
        _pa_mod, pq = load_pyarrow()
        self._writer = pq.ParquetWriter(sink, schema(), **writer_options())
        self._pending: list = []  # Arrow tables not yet written
        self._pending_rows = 0
        self.checksum = Checksum()
        self.rows = 0
        self.first_id: int | None = None
        self.last_id: int | None = None
        self.first_time_ms: int | None = None
        self.last_time_ms: int | None = None

    def write(self, cols: TradeColumns) -> None:
        n = len(cols)
        if not n:
            return
        first = int(cols.agg_id[0])
        if self.last_id is not None and first <= self.last_id:
            raise ValueError(f"agg ids out of order: {first} after {self.last_id}")
        self.checksum.update(cols)
        self.rows += n
        if self.first_id is None:
            self.first_id = first
        self.last_id = int(cols.agg_id[-1])
        t_lo, t_hi = int(cols.time_ms.min()), int(cols.time_ms.max())
        self.first_time_ms = t_lo if self.first_time_ms is None else min(self.first_time_ms, t_lo)
        self.last_time_ms = t_hi if self.last_time_ms is None else max(self.last_time_ms, t_hi)
        self._pending.append(to_table(cols))  # a view of the numpy buffers, no copy
        self._pending_rows += n
        if self._pending_rows >= ROW_GROUP_ROWS:
            self._flush(final=False)

    def _flush(self, *, final: bool) -> None:
        """Write whole 128Ki-row groups (all that is pending when ``final``); Arrow slices
        and concatenations here are views, so no row is copied before encoding."""
        if not self._pending_rows:
            return
        pa, _pq = load_pyarrow()
        pending = pa.concat_tables(self._pending)
        whole = (
            self._pending_rows if final else self._pending_rows // ROW_GROUP_ROWS * ROW_GROUP_ROWS
        )
        if whole:
            self._writer.write_table(pending.slice(0, whole), ROW_GROUP_ROWS)
        rest = pending.slice(whole)
        self._pending = [rest] if rest.num_rows else []
        self._pending_rows = rest.num_rows

    def close(self, metadata: dict[str, str] | None = None) -> None:
        try:
            self._flush(final=True)
            if metadata:
                self._writer.add_key_value_metadata(metadata)
        finally:
            self._writer.close()
