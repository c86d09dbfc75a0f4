"""The rollups of an archived day, in a sidecar file beside the day's trades.

    market=spot/symbol=BTCUSDT/date=2026-11-27/_BTCUSDT-2026-11-27.rollups

The name starts with ``_`` and does not end in ``.parquet``, so Spark, pyarrow datasets,
Trino and ``*.parquet`` globs (DuckDB's ``read_parquet('.../date=*/*.parquet')``) never
take it for trades. Its content is a Parquet file of three columns::

    tier      dictionary<string>   "d" day, "b" the day pre-binned, "h" hour, "m" minute,
                                   "c" a minute's candle
    start_ms  int64                the period's first millisecond (UTC)
    value     binary               the store's rollup value (``rollup:`` keys, FORMAT.md)

in three row groups: 0 the day (one row, then its levels pre-binned at a coarse width,
``codec/_binned.py``), 1 its hours, 2 its candles then its minutes,
each ascending by ``start_ms``; so the day's value is read alone (one small range of the
file). The footer entry ``tradestore.rollups`` names the partition the rollups were
computed from (its row count, checksum and size in bytes): a sidecar that does not name
its partition is not used.

The rollups are computed from exactly the trades written to the partition, minute by
minute (``DayBuilder``), then summed into hours and the day: exact by construction,
whatever the state of the store's own rollups.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tradestore.archive._dest import Destination, PartitionKey
from tradestore.archive._parquet import load_pyarrow
from tradestore.codec._binned import binned_of
from tradestore.codec._twins import Rollup, rollup_split
from tradestore.store import DAY_MS, HOUR_MS, MINUTE_MS, TradeColumns, rollup_key

SUFFIX = ".rollups"
FORMAT = 1
# The footer entry: {"format", "rows", "checksum", "bytes"} of the partition summarised.
METADATA_KEY = "tradestore.rollups"
DAY, BINNED, HOUR, MINUTE, CANDLE = "d", "b", "h", "m", "c"
# zstd 3 on the benchmark's 24 h: 1.24 B/trade (zstd 9: 1.23, zstd 19: 1.22); the
# minutes are 95% of it (docs/SCALING.md).
COMPRESSION = "zstd"
COMPRESSION_LEVEL = 3
ROW_GROUP_DAY, ROW_GROUP_HOURS, ROW_GROUP_MINUTES = 0, 1, 2

Pair = tuple[bytes, bytes]  # (store key, rollup value)


def sidecar_name(key: PartitionKey) -> str:
    return f"_{key.symbol}-{key.day.isoformat()}{SUFFIX}"


def sidecar_path(key: PartitionKey) -> str:
    """The sidecar's path under the archive root."""
    return f"{key.directory}/{sidecar_name(key)}"


@dataclass(frozen=True)
class DayRollups:
    """A day's rollups as (store key, value) pairs, each list ascending."""

    day: Pair | None
    hours: list[Pair] = field(default_factory=list)
    minutes: list[Pair] = field(default_factory=list)
    candles: list[Pair] = field(default_factory=list)
    binned: Pair | None = None  # the day's levels pre-binned (None: an older sidecar)

    @property
    def nbytes(self) -> int:
        pairs = [*self.hours, *self.minutes, *self.candles, *([self.day] if self.day else [])]
        pairs += [self.binned] if self.binned else []
        return sum(len(k) + len(v) for k, v in pairs)


@dataclass(frozen=True)
class SidecarStamp:
    """What a sidecar says it summarises: the partition's row count, checksum and size.

    The size lets a reader that knows the partition only from a listing (its size)
    check the sidecar without reading the partition's footer."""

    rows: int
    checksum: str
    bytes: int
    format: int = FORMAT

    def to_json(self) -> str:
        doc = {"format": self.format, "rows": self.rows, "checksum": self.checksum}
        doc["bytes"] = self.bytes
        return json.dumps(doc, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> SidecarStamp:
        doc = json.loads(text)
        return cls(
            int(doc["rows"]),
            str(doc["checksum"]),
            int(doc.get("bytes", -1)),
            int(doc.get("format", FORMAT)),
        )

    def names(self, rows: int, checksum: str) -> bool:
        """Whether this sidecar summarises the partition of these rows (its footer's)."""
        return self.rows == rows and self.checksum == checksum


class DayBuilder:
    """Sums a day's trades, fed in chunks of ascending agg id, into minute rollups (a
    minute may span two chunks); ``finish`` sums the minutes into hours and the day."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self._minutes: dict[int, Any] = {}

    def add(self, cols: TradeColumns) -> None:
        if not len(cols):
            return
        for minute, rollup in rollup_split(*cols.arrays(), MINUTE_MS).items():
            known = self._minutes.get(minute)
            if known is None:
                self._minutes[minute] = rollup
            else:
                known.add(rollup)

    def finish(self) -> DayRollups:
        symbol = self.symbol
        minutes, candles = [], []
        hours: dict[int, Any] = {}
        day = Rollup()
        for minute in sorted(self._minutes):
            rollup = self._minutes[minute]
            minutes.append((rollup_key(MINUTE, symbol, minute), rollup.encode()))
            candles.append((rollup_key(CANDLE, symbol, minute), rollup.encode_summary()))
            hour = minute - minute % HOUR_MS
            total = hours.get(hour)
            if total is None:
                total = hours[hour] = Rollup()
            total.add(rollup)
        for hour in sorted(hours):
            day.add(hours[hour])
        if not day.trade_count:
            return DayRollups(None)
        first = min(self._minutes)
        start = first - first % DAY_MS
        return DayRollups(
            (rollup_key(DAY, symbol, start), day.encode()),
            [(rollup_key(HOUR, symbol, h), hours[h].encode()) for h in sorted(hours)],
            minutes,
            candles,
            (
                rollup_key(BINNED, symbol, start),
                binned_of(day.levels, day.min_price, day.max_price),
            ),
        )


def day_rollups(symbol: str, cols: TradeColumns) -> DayRollups:
    """The rollups of one day's trades (all of ``cols``)."""
    builder = DayBuilder(symbol)
    builder.add(cols)
    return builder.finish()


def _key_ms(key: bytes) -> int:
    return int(key[-13:])


def write_sidecar(stream: Any, rollups: DayRollups, stamp: SidecarStamp) -> None:
    """Write ``rollups`` as the sidecar's Parquet file to ``stream``."""
    _pa, pq = load_pyarrow()
    groups: list[tuple[str, list[Pair]]] = [
        (DAY, [rollups.day] if rollups.day else []),
        (HOUR, rollups.hours),
    ]
    first = [(BINNED, [rollups.binned] if rollups.binned else [])]
    sch = _schema()
    writer = pq.ParquetWriter(
        stream,
        sch,
        compression=COMPRESSION,
        compression_level=COMPRESSION_LEVEL,
        use_dictionary=["tier"],
        column_encoding={"start_ms": "DELTA_BINARY_PACKED"},
        write_statistics=["tier", "start_ms"],
    )
    try:
        day = [groups[0], *first]
        writer.write_table(_table(sch, day), max(sum(len(p) for _t, p in day), 1))
        writer.write_table(_table(sch, [groups[1]]), max(len(groups[1][1]), 1))
        last = [(CANDLE, rollups.candles), (MINUTE, rollups.minutes)]
        rows = len(rollups.candles) + len(rollups.minutes)
        writer.write_table(_table(sch, last), max(rows, 1))
        writer.add_key_value_metadata({METADATA_KEY: stamp.to_json()})
    finally:
        writer.close()


def _schema() -> Any:
    pa, _pq = load_pyarrow()
    return pa.schema(
        [
            pa.field("tier", pa.dictionary(pa.int8(), pa.string()), nullable=False),
            pa.field("start_ms", pa.int64(), nullable=False),
            pa.field("value", pa.binary(), nullable=False),
        ]
    )


def _table(sch: Any, groups: Iterable[tuple[str, list[Pair]]]) -> Any:
    pa, _pq = load_pyarrow()
    tiers: list[str] = []
    starts: list[int] = []
    values: list[bytes] = []
    for tier, pairs in groups:
        tiers.extend([tier] * len(pairs))
        starts.extend(_key_ms(k) for k, _v in pairs)
        values.extend(v for _k, v in pairs)
    return pa.Table.from_arrays(
        [
            pa.array(tiers, pa.string()).dictionary_encode().cast(sch.field("tier").type),
            pa.array(starts, pa.int64()),
            pa.array(values, pa.binary()),
        ],
        schema=sch,
    )


def sidecar_stamp(dest: Destination, key: PartitionKey) -> SidecarStamp | None:
    """The stamp of a partition's sidecar (None: no sidecar, or one without a stamp)."""
    return dest.with_parquet(sidecar_path(key), read_stamp)


def read_stamp(parquet_file: Any) -> SidecarStamp | None:
    """The stamp in an open sidecar's footer (None when it has none)."""
    raw = (parquet_file.metadata.metadata or {}).get(METADATA_KEY.encode())
    return SidecarStamp.from_json(raw.decode()) if raw is not None else None


def read_day_value(parquet_file: Any, symbol: str) -> tuple[Pair | None, Pair | None]:
    """The day's (key, value) and its pre-binned (key, value) from an open sidecar: row
    group 0 alone (either None when absent: an older sidecar has no binned row)."""
    if parquet_file.metadata.num_row_groups <= ROW_GROUP_DAY:
        return None, None
    table = parquet_file.read_row_group(ROW_GROUP_DAY)
    found: dict[str, Pair] = {}
    for tier, start, value in zip(
        table.column("tier").to_pylist(),
        table.column("start_ms").to_pylist(),
        table.column("value").to_pylist(),
        strict=True,
    ):
        found.setdefault(tier, (rollup_key(tier, symbol, start), value))
    return found.get(DAY), found.get(BINNED)


def write_day_only(stream: Any, parquet_file: Any) -> bool:
    """Write a sidecar of the day alone (row group 0 and the stamp) from an open one."""
    _pa, pq = load_pyarrow()
    table = parquet_file.read_row_group(ROW_GROUP_DAY)
    writer = pq.ParquetWriter(stream, table.schema, compression=COMPRESSION)
    try:
        writer.write_table(table)
        stamp = read_stamp(parquet_file)
        if stamp is not None:
            writer.add_key_value_metadata({METADATA_KEY: stamp.to_json()})
    finally:
        writer.close()
    return True


def read_sidecar(parquet_file: Any, symbol: str) -> DayRollups:
    """Every tier from an open sidecar (whatever its row groups: read by tier)."""
    table = parquet_file.read()
    tiers = table.column("tier").to_pylist()
    starts = table.column("start_ms").to_pylist()
    values = table.column("value").to_pylist()
    found: dict[str, list[Pair]] = {DAY: [], BINNED: [], HOUR: [], MINUTE: [], CANDLE: []}
    for tier, start, value in zip(tiers, starts, values, strict=True):
        if tier in found:
            found[tier].append((rollup_key(tier, symbol, start), value))
    for pairs in found.values():
        pairs.sort()
    days, binned = found[DAY], found[BINNED]
    return DayRollups(
        days[0] if days else None,
        found[HOUR],
        found[MINUTE],
        found[CANDLE],
        binned[0] if binned else None,
    )
