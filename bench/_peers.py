"""The peers of the benchmark: the same volume profile computed by DuckDB and polars over
the same trades written as Parquet, the way a user without this store would keep them.

The Parquet file holds the window's trades as columns ``price`` and ``qty``
(decimal(18,8)), ``time_ms``, ``agg_id`` (int64) and ``is_buyer_maker`` (bool), zstd
compressed, in row groups of 1M rows (pyarrow's default), cached beside the dataset.
Each peer answers per price bin: volume, taker-buy volume and trade count, with exact
decimal sums (DECIMAL(38,8) in both engines). The bin of a price is
``floor(price / width)`` as a user would write it, a DOUBLE division in both engines: the
exact integer form (``CAST(price AS DECIMAL(38,8)) * 1e8 // width``) made DuckDB about
10x and polars 1.5x slower on the bench data, so the fast form is timed and
``same_bins`` checks in every run that its answer equals the bins of our VolumeProfile.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import _dataset

# bin index -> (volume, taker-buy volume, trade count)
Bins = dict[int, tuple[Decimal, Decimal, int]]

SCALE = 100_000_000


def parquet_file(store, start_ms: int, end_ms: int, path: Path) -> Path:
    """The window's trades as a zstd Parquet file (written once, then reused)."""
    if path.is_file():
        return path
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = store.query_columns(_dataset.SYMBOL, start_ms, end_ms)
    decimal = pa.decimal128(18, 8)
    table = pa.table(
        {
            "price": _fixed_to_decimal(cols.price, decimal),
            "qty": _fixed_to_decimal(cols.qty, decimal),
            "time_ms": pa.array(cols.time_ms, pa.int64()),
            "agg_id": pa.array(cols.agg_id, pa.int64()),
            "is_buyer_maker": pa.array(cols.is_buyer_maker, pa.bool_()),
        }
    )
    tmp = path.with_suffix(".tmp")
    pq.write_table(table, tmp, compression="zstd")
    tmp.rename(path)
    return path


def _fixed_to_decimal(values, decimal_type):
    """int64 fixed-point values at 1e-8 as a decimal(18,8) array, exactly: the unscaled
    integers are the decimal's own representation (little-endian 128-bit)."""
    import numpy as np
    import pyarrow as pa

    v = np.ascontiguousarray(values, dtype=np.int64)
    words = np.empty((len(v), 2), dtype=np.int64)
    words[:, 0] = v
    words[:, 1] = np.where(v < 0, -1, 0)
    return pa.Array.from_buffers(decimal_type, len(v), [None, pa.py_buffer(words.tobytes())])


def duckdb_profile(path: Path, start_ms: int, end_ms: int, width: int, threads: int) -> Bins:
    import duckdb

    con = duckdb.connect(config={"threads": threads})
    try:
        rows = con.execute(
            f"""
            SELECT CAST(floor(price / {Decimal(width) / SCALE}) AS BIGINT) AS bin,
                   sum(qty), sum(qty) FILTER (WHERE NOT is_buyer_maker), count(*)
            FROM read_parquet('{path}')
            WHERE time_ms BETWEEN {start_ms} AND {end_ms}
            GROUP BY bin
            """
        ).fetchall()
    finally:
        con.close()
    return {b: (vol, buy or Decimal(0), n) for b, vol, buy, n in rows}


def polars_profile(path: Path, start_ms: int, end_ms: int, width: int) -> Bins:
    import polars as pl

    frame = (
        pl.scan_parquet(path)
        .filter(pl.col("time_ms").is_between(start_ms, end_ms))
        .group_by(
            (pl.col("price").cast(pl.Float64) / (width / SCALE)).floor().cast(pl.Int64).alias("bin")
        )
        .agg(
            pl.col("qty").sum().alias("volume"),
            pl.col("qty").filter(~pl.col("is_buyer_maker")).sum().alias("buy"),
            pl.len().alias("count"),
        )
        .collect()
    )
    return {b: (vol, buy, n) for b, vol, buy, n in frame.iter_rows()}


def our_bins(profile) -> Bins:
    """The non-empty bins of a VolumeProfile, keyed as the peers key them."""
    width = int(profile.bin_size * SCALE)
    return {
        int(b.price_low * SCALE) // width: (b.volume, b.buy_volume, b.trade_count)
        for b in profile.bins
        if b.trade_count
    }


def same_bins(ours: Bins, theirs: Bins) -> bool:
    return ours.keys() == theirs.keys() and all(
        ours[k][0] == theirs[k][0] and ours[k][1] == theirs[k][1] and ours[k][2] == theirs[k][2]
        for k in ours
    )
