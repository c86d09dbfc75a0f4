"""The cold archive: closed UTC days of the store as Hive-style Parquet partitions.

    market=spot/symbol=BTCUSDT/date=2026-11-27/BTCUSDT-2026-11-27.parquet

on a local disk or any S3-compatible store, read as one table by Spark, Trino, DuckDB,
polars or Athena. Each partition appears whole or not at all and carries its row count,
agg-id range, checksum and completeness in its footer; ``verify_archive`` compares the
archive with the store, and tells which stored days may be deleted::

    from tradestore.archive import Archiver, Destination
    with TradeStore("data", read_only=True) as store:
        for result in Archiver(store, Destination("s3://bucket/trades")).run():
            print(result.to_dict())
"""

from tradestore.archive._archiver import (
    COMPLETE,
    FAILED,
    REPLACED,
    UNCHANGED,
    WRITTEN,
    Archiver,
    ConflictError,
    DayResult,
    add_missing_rollups,
    merge,
    store_market,
)
from tradestore.archive._days import day_end_ms, day_of, day_start_ms, last_closed_day, parse_day
from tradestore.archive._dest import Destination, DestinationError, PartitionKey, redact
from tradestore.archive._history import History
from tradestore.archive._parquet import (
    METADATA_KEY,
    ArchiveValueError,
    TradeWriter,
    check_fits,
    checksum,
    from_table,
    schema,
    to_table,
)
from tradestore.archive._partition import GapNote, PartitionInfo
from tradestore.archive._read import read_day_columns, read_day_table, row_groups
from tradestore.archive._reader import ArchiveReader
from tradestore.archive._rollups import DayRollups, day_rollups, sidecar_path
from tradestore.archive._verify import DayCheck, verify_archive

__all__ = [
    "COMPLETE",
    "FAILED",
    "METADATA_KEY",
    "REPLACED",
    "UNCHANGED",
    "WRITTEN",
    "ArchiveValueError",
    "ArchiveReader",
    "Archiver",
    "ConflictError",
    "DayCheck",
    "DayResult",
    "DayRollups",
    "Destination",
    "DestinationError",
    "GapNote",
    "History",
    "PartitionInfo",
    "PartitionKey",
    "TradeWriter",
    "add_missing_rollups",
    "check_fits",
    "checksum",
    "day_end_ms",
    "day_of",
    "day_rollups",
    "day_start_ms",
    "from_table",
    "last_closed_day",
    "merge",
    "parse_day",
    "read_day_columns",
    "read_day_table",
    "redact",
    "row_groups",
    "schema",
    "sidecar_path",
    "store_market",
    "to_table",
    "verify_archive",
]
