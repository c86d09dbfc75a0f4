"""Reading the archive back: its symbols and days, each day's facts, rollups and trades.

::

    from tradestore.archive import ArchiveReader
    archive = ArchiveReader("s3://bucket/trades")
    for day in archive.days("BTCUSDT"):
        key, value = archive.day_value("BTCUSDT", day)   # the day's rollup alone

A day's rollups come from its sidecar (``_rollups.py``) when the sidecar names the
partition: the size it names is the listed partition's (``day_value``, which reads
nothing else) and so are the row count and checksum of the partition's footer (the
other tiers, read with the footer). Otherwise (an archive written by an older version,
or a sidecar left by a write that died before its partition moved into place) they are
summed from the partition's trades. The reader never writes to the archive: the next
``archive`` run over such a day writes its sidecar.

Each symbol's days come from one listing of its folder, kept for the reader's life
(``refresh`` lists again). Decoded day values, hour lists and whole days' rollups stay
in a bounded in-process LRU (``memory_bytes``), so a composite over weeks of archived
days reads each day once. A local archive is read in place; the files of a remote one
(S3) are fetched into a bounded local cache (``_cache.FileCache``) keyed by the object's
path and version (size and modification time from the listing): a replaced partition is
fetched again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO

from tradestore.archive._cache import DEFAULT_BYTES, FileCache, default_cache_dir
from tradestore.archive._dest import (
    Destination,
    DestinationError,
    PartitionKey,
    parse_partition_path,
)
from tradestore.archive._parquet import METADATA_KEY, load_pyarrow
from tradestore.archive._partition import PartitionInfo
from tradestore.archive._read import read_day_columns
from tradestore.archive._rollups import (
    DayRollups,
    Pair,
    SidecarStamp,
    day_rollups,
    read_day_value,
    read_sidecar,
    read_stamp,
    sidecar_path,
    write_day_only,
)
from tradestore.store import TradeColumns, check_symbol

MEMORY_BYTES = 256 * 1024**2


@dataclass(frozen=True)
class _Object:
    """A file of the archive as its folder's listing showed it."""

    path: str  # relative to the archive root
    size: int
    mtime_ns: int

    @property
    def version(self) -> str:
        return f"{self.size}.{self.mtime_ns}"


@dataclass(frozen=True)
class _Day:
    partition: _Object
    sidecar: _Object | None


class ArchiveReader:
    """Reads one market of an archive (a ``Destination`` or its URL)."""

    def __init__(
        self,
        dest: Destination | str,
        market: str = "spot",
        *,
        cache_dir: Path | str | None = None,
        cache_bytes: int = DEFAULT_BYTES,
        memory_bytes: int = MEMORY_BYTES,
    ) -> None:
        self.dest = dest if isinstance(dest, Destination) else Destination(str(dest))
        self.market = market
        self.cache: FileCache | None = None
        if not self.dest.is_local:
            self.cache = FileCache(cache_dir or default_cache_dir(), cache_bytes)
        self._memory = _Lru(memory_bytes)
        self._listings: dict[str, dict[date, _Day]] = {}
        self._symbols: list[str] | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ArchiveReader({self.dest!r}, {self.market!r})"

    # ------------------------------------------------------------------ listing

    def symbols(self) -> list[str]:
        """The symbols with any partition in this market, sorted."""
        if self._symbols is None:
            names = []
            for info in self.dest.list_files(f"market={self.market}", recursive=False):
                name, sep, value = info.base_name.partition("=")
                if sep and name == "symbol" and info.type.name == "Directory":
                    names.append(value)
            self._symbols = sorted(s for s in names if self.days(s))
        return list(self._symbols)

    def days(self, symbol: str) -> list[date]:
        """The archived days of ``symbol``, ascending."""
        return sorted(self._listing(check_symbol(symbol)))

    def refresh(self, symbol: str | None = None) -> None:
        """List the archive again (one symbol, or all) on the next question."""
        with self._lock:
            if symbol is None:
                self._listings.clear()
                self._symbols = None
            else:
                self._listings.pop(check_symbol(symbol), None)
                self._symbols = None

    def _listing(self, symbol: str) -> dict[date, _Day]:
        found = self._listings.get(symbol)
        if found is not None:
            return found
        base = f"market={self.market}/symbol={symbol}"
        partitions: dict[date, _Object] = {}
        sidecars: dict[date, _Object] = {}
        root = self.dest.full("")
        for info in self.dest.list_files(base):
            if info.type.name != "File":
                continue
            key = parse_partition_path(info.path)
            if key is None or key.market != self.market or key.symbol != symbol:
                continue
            relative = info.path[len(root) :].lstrip("/") if root else info.path
            obj = _Object(relative, int(info.size or 0), int(info.mtime_ns or 0))
            if relative == key.path:
                partitions[key.day] = obj
            elif relative == sidecar_path(key):
                sidecars[key.day] = obj
        found = {d: _Day(p, sidecars.get(d)) for d, p in partitions.items()}
        with self._lock:
            self._listings[symbol] = found
        return found

    def _day(self, symbol: str, day: date) -> tuple[PartitionKey, _Day] | None:
        symbol = check_symbol(symbol)
        listed = self._listing(symbol).get(day)
        if listed is None:
            return None
        return PartitionKey(self.market, symbol, day), listed

    # ------------------------------------------------------------------ one day

    def info(self, symbol: str, day: date) -> PartitionInfo | None:
        """The facts in the partition's footer; None when the day is not archived."""
        found = self._day(symbol, day)
        if found is None:
            return None
        key, listed = found
        memo = ("info", key, listed.partition.version)
        cached = self._memory.get(memo)
        if cached is None:
            cached = self._read_info(key, listed)
            self._memory.put(memo, cached, 1024)
        info: PartitionInfo = cached
        return info

    def day_value(self, symbol: str, day: date) -> Pair | None:
        """The day's rollup (store key, value) alone; None when the day is not archived."""
        found = self._day(symbol, day)
        if found is None:
            return None
        key, listed = found
        return self._day_values(key, listed)[0]

    def binned_value(self, symbol: str, day: date) -> Pair | None:
        """The day's levels pre-binned at a coarse width (store key, value), read with the
        day's value; None when the day is not archived or its sidecar predates them."""
        found = self._day(symbol, day)
        if found is None:
            return None
        key, listed = found
        return self._day_values(key, listed)[1]

    def _day_values(self, key: PartitionKey, listed: _Day) -> tuple[Pair | None, Pair | None]:
        memo = ("day", key, listed.partition.version)
        cached = self._memory.get(memo)
        if cached is None:
            cached = self._read_day_value(key, listed)
            size = sum(len(p[0]) + len(p[1]) for p in cached if p is not None)
            self._memory.put(memo, cached, max(size, 64))
        pairs: tuple[Pair | None, Pair | None] = cached
        return pairs

    def hours(self, symbol: str, day: date) -> list[Pair]:
        """The day's hour rollups (store key, value), ascending."""
        return self.day_rollups(symbol, day).hours

    def day_rollups(self, symbol: str, day: date) -> DayRollups:
        """Every rollup of the day: day, hours, minutes and candles (store keys)."""
        found = self._day(symbol, day)
        if found is None:
            return DayRollups(None)
        key, listed = found
        memo = ("all", key, listed.partition.version)
        cached = self._memory.get(memo)
        if cached is None:
            cached = self._read_rollups(key, listed)
            self._memory.put(memo, cached, cached.nbytes)
        rollups: DayRollups = cached
        return rollups

    def columns(
        self,
        symbol: str,
        day: date,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> TradeColumns:
        """The day's trades (those with start_ms <= time <= end_ms), ascending agg id."""
        found = self._day(symbol, day)
        if found is None:
            return TradeColumns.empty()
        key, listed = found
        return self._read_columns(key, listed, start_ms, end_ms)

    # ------------------------------------------------------------------ reading

    def _read_info(self, key: PartitionKey, listed: _Day) -> PartitionInfo | None:
        if self.cache is not None:
            path = self.cache.lookup(self._name(listed.partition), listed.partition.version)
            if path is not None:  # the whole file is here: its footer too
                return _info_of(key, _parquet_file(path))
        return self.dest.read_info(key)

    def _read_day_value(self, key: PartitionKey, listed: _Day) -> tuple[Pair | None, Pair | None]:
        sidecar = listed.sidecar
        if sidecar is not None:
            got = self._with_sidecar_part(
                sidecar, "#day", lambda pf: (read_stamp(pf), read_day_value(pf, key.symbol))
            )
            if got is not None and self._names(key, listed, got[0], footer=False):
                day_pair, binned_pair = got[1]
                return day_pair, binned_pair
        rollups = self.day_rollups(key.symbol, key.day)
        return rollups.day, rollups.binned

    def _read_rollups(self, key: PartitionKey, listed: _Day) -> DayRollups:
        sidecar = listed.sidecar
        if sidecar is not None:
            got = self._with_file(
                sidecar, lambda pf: (read_stamp(pf), read_sidecar(pf, key.symbol))
            )
            if got is not None and self._names(key, listed, got[0], footer=True):
                rollups: DayRollups = got[1]
                return rollups
        # No sidecar (an older archive) or one that does not match: sum the trades.
        return day_rollups(key.symbol, self._read_columns(key, listed))

    def _names(
        self, key: PartitionKey, listed: _Day, stamp: SidecarStamp | None, *, footer: bool
    ) -> bool:
        """Whether a sidecar's stamp names the listed partition (by its size; with
        ``footer``, by its footer's row count and checksum too)."""
        if stamp is None or stamp.bytes != listed.partition.size:
            return False
        if not footer:
            return True
        info = self.info(key.symbol, key.day)
        return info is not None and stamp.names(info.rows, info.checksum)

    def _read_columns(
        self,
        key: PartitionKey,
        listed: _Day,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> TradeColumns:
        if self.cache is None and start_ms is None and end_ms is None:
            # The whole file by its path: pyarrow decodes its row groups on every core.
            try:
                return read_day_columns(self.dest.full(listed.partition.path))
            except FileNotFoundError:
                raise DestinationError(
                    f"{key.path} was listed but is gone: refresh the reader"
                ) from None
        got = self._with_file(listed.partition, lambda pf: read_day_columns(pf, start_ms, end_ms))
        if got is None:
            raise DestinationError(f"{key.path} was listed but is gone: refresh the reader")
        cols: TradeColumns = got
        return cols

    def _with_file(self, obj: _Object, read: Callable[[Any], Any]) -> Any:
        """``read(ParquetFile)`` of a listed file, in place or through the cache."""
        if self.cache is None:
            return self.dest.with_parquet(obj.path, read)

        def fetch(out: BinaryIO) -> None:
            with self.dest.fs.open_input_stream(self.dest.full(obj.path)) as src:
                while chunk := src.read(8 << 20):
                    out.write(chunk)

        try:
            fh = self.cache.open(self._name(obj), obj.version, fetch)
        except OSError as exc:
            if _gone(exc):
                return None
            raise DestinationError(f"{self.dest!r}: reading {obj.path}: {exc}") from exc
        with fh:
            return read(_parquet_file(fh))

    def _with_sidecar_part(self, obj: _Object, part: str, read: Callable[[Any], Any]) -> Any:
        """Like ``_with_file`` for a sidecar, but a remote one's day alone is fetched
        (its footer and row group 0, a small part of the file) and cached on its own."""
        if self.cache is None:
            return self.dest.with_parquet(obj.path, read)
        whole = self.cache.lookup(self._name(obj), obj.version)
        if whole is not None:
            return read(_parquet_file(whole))

        def fetch(out: BinaryIO) -> None:
            if self.dest.with_parquet(obj.path, lambda pf: write_day_only(out, pf)) is None:
                raise FileNotFoundError(obj.path)

        try:
            fh = self.cache.open(self._name(obj) + part, obj.version, fetch)
        except OSError as exc:
            if _gone(exc):
                return None
            raise DestinationError(f"{self.dest!r}: reading {obj.path}: {exc}") from exc
        with fh:
            return read(_parquet_file(fh))

    def _name(self, obj: _Object) -> str:
        return f"{self.dest.url}/{obj.path}"


def _parquet_file(source: Any) -> Any:
    _pa, pq = load_pyarrow()
    return pq.ParquetFile(str(source) if isinstance(source, Path) else source)


def _info_of(key: PartitionKey, pf: Any) -> PartitionInfo:
    raw = (pf.metadata.metadata or {}).get(METADATA_KEY.encode())
    if raw is None:
        raise DestinationError(f"{key.path} has no {METADATA_KEY} footer entry")
    return PartitionInfo.from_json(raw.decode())


def _gone(exc: OSError) -> bool:
    text = str(exc).lower()
    return isinstance(exc, FileNotFoundError) or "not found" in text or "nosuchkey" in text


class _Lru:
    """A least-recently-used map bounded by the bytes its values are said to hold."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Any, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[0]

    def put(self, key: Any, value: Any, nbytes: int) -> None:
        if value is None or nbytes > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._items[key] = (value, nbytes)
            self._bytes += nbytes
            while self._bytes > self.max_bytes:
                _k, (_v, size) = self._items.popitem(last=False)
                self._bytes -= size
