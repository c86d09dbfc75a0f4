"""Closed UTC days of the store become partitions of the archive.

For each symbol and each closed day that the store holds trades for:

* no partition yet: the day is read in hour-long column chunks by the compiled decoder
  on one thread while the Parquet writer encodes and compresses the previous chunk on
  another (pyarrow and hashlib release the GIL), and streamed to a staged file that is
  moved into place when complete;
* a partition marked complete: nothing to do (every id from the previous day's last to
  the next day's first is in it; a later backfill cannot add to it);
* a partition marked incomplete: the day is read whole and merged with the partition by
  agg id (the union: a store pruned since, or a backfill since, never makes the archive
  lose a trade); the partition is replaced only when the merge adds trades or changes
  the verdict on completeness. The same id with different values stops the day with
  an error rather than guess which is right.

Every partition written carries the day's rollups in a sidecar (``_rollups.py``), summed
from exactly the trades written and moved into place *before* the trades file, so a
partition that exists has its rollups (archives of older versions aside: a day found
complete or unchanged without a matching sidecar gets one, summed from its partition).
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from tradestore import __version__
from tradestore._errors import FixedPointError, TradestoreError
from tradestore.archive import _days
from tradestore.archive._dest import Destination, DestinationError, PartitionKey
from tradestore.archive._parquet import (
    METADATA_KEY,
    ArchiveValueError,
    TradeWriter,
    check_fits,
    checksum,
    from_table,
)
from tradestore.archive._partition import GapNote, PartitionInfo
from tradestore.archive._rollups import (
    DayBuilder,
    DayRollups,
    SidecarStamp,
    day_rollups,
    sidecar_name,
    sidecar_stamp,
    write_sidecar,
)
from tradestore.store import (
    FILLED,
    Gap,
    TradeColumns,
    TradeStore,
    certification,
    check_symbol,
    record_of,
)

log = logging.getLogger(__name__)

CHUNK_MS = 3_600_000
# Written, replaced, nothing to do, or the day could not be archived.
WRITTEN, REPLACED, UNCHANGED, COMPLETE, FAILED = (
    "written",
    "replaced",
    "unchanged",
    "complete",
    "failed",
)


class ConflictError(TradestoreError, RuntimeError):
    """The store and the archive hold different values under the same agg id."""


@dataclass(frozen=True)
class DayResult:
    """What happened to one partition."""

    key: PartitionKey
    action: str
    info: PartitionInfo | None = None
    bytes: int = 0
    seconds: float = 0.0
    added_rows: int = 0
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.action != FAILED

    def to_dict(self) -> dict:
        info = self.info
        return {
            "market": self.key.market,
            "symbol": self.key.symbol,
            "date": self.key.day.isoformat(),
            "action": self.action,
            "rows": info.rows if info else None,
            "first_agg_id": info.first_agg_id if info else None,
            "last_agg_id": info.last_agg_id if info else None,
            "complete": info.complete if info else None,
            "incomplete_reasons": list(info.incomplete_reasons) if info else [],
            "checksum": info.checksum if info else None,
            "bytes": self.bytes,
            "bytes_per_trade": round(self.bytes / info.rows, 3) if info and info.rows else None,
            "added_rows": self.added_rows,
            "seconds": round(self.seconds, 3),
            "error": self.error,
        }


@dataclass
class Archiver:
    """Archives a store's closed days into ``dest`` under ``market=<market>``."""

    store: TradeStore
    dest: Destination
    market: str = "spot"
    writer: str = field(default_factory=socket.gethostname)
    force: bool = False
    # symbol -> (day, last agg id) of the last day seen, to check the next day's start.
    _previous: dict[str, tuple[date, int]] = field(default_factory=dict)

    def run(
        self,
        symbols: Sequence[str] | None = None,
        *,
        through: date | None = None,
        since: date | None = None,
        now_ms: int | None = None,
        grace_ms: int = 0,
    ) -> Iterator[DayResult]:
        """Archive every closed day (up to ``through``) of ``symbols`` (default: all)."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        last = _days.last_closed_day(now_ms, grace_ms)
        if through is not None:
            last = min(last, through)
        wanted = [check_symbol(s) for s in symbols] if symbols else self.store.symbols()
        self.dest.sweep_staging()
        for symbol in wanted:
            yield from self.run_symbol(symbol, last, since)

    def run_symbol(self, symbol: str, last: date, since: date | None = None) -> Iterator[DayResult]:
        first_ms = self.store.next_trade_bound(symbol, 0)
        if first_ms is None:
            return
        first = _days.day_of(first_ms)
        if since is not None:
            first = max(first, since)
        gaps = self.store.gaps(symbol)
        day = first
        while day <= last:
            key = PartitionKey(self.market, symbol, day)
            result = self.archive_day(key, gaps)
            if result is not None:
                yield result
            # Jump over stretches with nothing stored (one seek), not day by day.
            bound = self.store.next_trade_bound(symbol, _days.day_end_ms(day) + 1)
            if bound is None:
                return
            day = max(day + timedelta(days=1), _days.day_of(bound))

    # ------------------------------------------------------------------ one day

    def archive_day(self, key: PartitionKey, gaps: list[Gap]) -> DayResult | None:
        """Archive one day; None when the store holds nothing for it and no partition exists."""
        began = time.perf_counter()
        try:
            existing = self.dest.read_info(key)
            if existing is not None and existing.complete and not self.force:
                self._remember(key, existing.last_agg_id)
                self._ensure_sidecar(key, existing)
                return DayResult(key, COMPLETE, existing, seconds=time.perf_counter() - began)
            if existing is None and not self.force:
                result = self._stream_new(key, gaps)
            else:
                result = self._merge(key, gaps, existing)
        except (
            ArchiveValueError,
            FixedPointError,
            ConflictError,
            DestinationError,
            OSError,
        ) as exc:
            # The result carries the error; its caller reports it (one line, not two).
            log.info("archive %s failed: %s", key, exc)
            return DayResult(key, FAILED, seconds=time.perf_counter() - began, error=str(exc))
        if result is None:
            return None
        if result.info is not None:
            self._remember(key, result.info.last_agg_id)
        return DayResult(
            result.key,
            result.action,
            result.info,
            result.bytes,
            time.perf_counter() - began,
            result.added_rows,
        )

    def _stream_new(self, key: PartitionKey, gaps: list[Gap]) -> DayResult | None:
        """A day with no partition yet: decode and write concurrently, in hour chunks."""
        lo, hi = _days.day_start_ms(key.day), _days.day_end_ms(key.day)
        holder: dict[str, PartitionInfo] = {}
        builder = DayBuilder(key.symbol)

        def produce(stream) -> None:
            writer = TradeWriter(stream)
            try:
                for cols in _prefetch(self._chunks(key.symbol, lo, hi)):
                    check_fits(cols, str(key))
                    writer.write(cols)
                    builder.add(cols)
            except BaseException:
                writer.close()
                raise
            if not writer.rows:
                writer.close()
                raise _Empty
            info = self._info(key, writer.rows, writer.first_id, writer.last_id,
                              writer.first_time_ms, writer.last_time_ms,
                              writer.checksum.hexdigest(), gaps)  # fmt: skip
            holder["info"] = info
            writer.close({METADATA_KEY: info.to_json()})

        def rollups_first(size: int) -> None:
            self._write_sidecar(key, builder.finish(), holder["info"], size)

        try:
            size = self.dest.write_atomic(key, produce, before_move=rollups_first)
        except _Empty:
            return None
        except _OutOfOrder:
            # Agg ids not ascending across hours (a backfill stored out of time order, or a
            # duplicate): read the day whole, which sorts and de-duplicates.
            return self._merge(key, gaps, None)
        info = holder["info"]
        return DayResult(key, WRITTEN, info, size, added_rows=info.rows)

    def _merge(
        self, key: PartitionKey, gaps: list[Gap], existing: PartitionInfo | None
    ) -> DayResult | None:
        """Read the day whole, merge it with the partition's rows, replace if that adds."""
        lo, hi = _days.day_start_ms(key.day), _days.day_end_ms(key.day)
        cols = self.store.query_columns(key.symbol, lo, hi)
        check_fits(cols, str(key))
        added = len(cols)
        if existing is not None:
            table = self.dest.read_table(key)
            if table is not None:
                cols, added = merge(from_table(table), cols, str(key))
        if not len(cols):
            return None
        info = self._info(
            key,
            len(cols),
            int(cols.agg_id[0]),
            int(cols.agg_id[-1]),
            int(cols.time_ms.min()),
            int(cols.time_ms.max()),
            checksum(cols),
            gaps,
        )
        if existing is not None and not added and existing.same_content(info):
            self._ensure_sidecar(key, existing, cols)
            return DayResult(key, UNCHANGED, existing)

        def produce(stream) -> None:
            writer = TradeWriter(stream)
            try:
                writer.write(cols)
            finally:
                writer.close({METADATA_KEY: info.to_json()})

        def rollups_first(size: int) -> None:
            self._write_sidecar(key, day_rollups(key.symbol, cols), info, size)

        size = self.dest.write_atomic(key, produce, before_move=rollups_first)
        return DayResult(
            key, WRITTEN if existing is None else REPLACED, info, size, added_rows=added
        )

    # ------------------------------------------------------------------ rollups

    def _write_sidecar(
        self, key: PartitionKey, rollups: DayRollups, info: PartitionInfo, size: int
    ) -> None:
        write_rollups(self.dest, key, rollups, SidecarStamp(info.rows, info.checksum, size))

    def _ensure_sidecar(
        self, key: PartitionKey, info: PartitionInfo, cols: TradeColumns | None = None
    ) -> None:
        ensure_rollups(self.dest, key, info, cols)

    def _chunks(self, symbol: str, lo: int, hi: int) -> Iterator[TradeColumns]:
        """The day's trades in hour windows, ascending agg id across windows (checked)."""
        start = lo
        last_id = None
        while start <= hi:
            end = min(start + CHUNK_MS - 1, hi)
            cols = self.store.query_columns(symbol, start, end)
            if len(cols):
                if last_id is not None and int(cols.agg_id[0]) <= last_id:
                    raise _OutOfOrder
                last_id = int(cols.agg_id[-1])
                yield cols
            start = end + 1
            if not len(cols) and start <= hi:
                bound = self.store.next_trade_bound(symbol, start)
                if bound is None or bound > hi:
                    return
                start = bound

    # ------------------------------------------------------------------ completeness

    def _info(
        self,
        key: PartitionKey,
        rows: int,
        first_id: int | None,
        last_id: int | None,
        first_ms: int | None,
        last_ms: int | None,
        digest: str,
        gaps: list[Gap],
    ) -> PartitionInfo:
        lo, hi = _days.day_start_ms(key.day), _days.day_end_ms(key.day)
        reasons: list[str] = []
        missing = 0
        if first_id is not None and last_id is not None:
            missing = last_id - first_id + 1 - rows
        if missing:
            reasons.append(f"{missing} agg ids missing between {first_id} and {last_id}")
        notes = tuple(
            GapNote(g.first_id, g.last_id, g.status, g.reason)
            for g in gaps
            if g.status != FILLED and g.after_time_ms <= hi and g.before_time_ms >= lo
        )
        for g in notes:
            reasons.append(f"gap {g.first_id}..{g.last_id} is {g.status}")
        # The day's edges: an agg id on the other side continues it, or the record's
        # declared edge (the one rule of tradestore.store.record_of: a verified .CHECKSUM)
        # reaches past it; otherwise the day's record stops at its own trades.
        record = record_of(self.store, key.symbol)
        if first_id is not None and first_id != 0:
            before = self._id_before(key, lo)
            if before is None:
                if record is None or not record.declared_from or record.from_ms > lo:
                    reasons.append(
                        f"record starts at {_days.iso_ms(first_ms or lo)}: no earlier trade known"
                    )
            elif before != first_id - 1:
                reasons.append(f"agg ids {before + 1}..{first_id - 1} missing before the day")
        if last_id is not None:
            after = self._id_after(key, hi)
            if after is None:
                if record is None or not record.declared_to or record.to_ms < hi:
                    reasons.append(
                        f"record ends at {_days.iso_ms(last_ms or hi)}: no later trade known yet"
                    )
            elif after != last_id + 1:
                reasons.append(f"agg ids {last_id + 1}..{after - 1} missing after the day")
        # A day certified against Binance's file carries it, if these are the certified rows.
        held = certification(self.store, key.symbol, key.day)
        certified = held.as_dict() if held and held.matches(rows, first_id, last_id) else None
        return PartitionInfo(
            market=key.market,
            symbol=key.symbol,
            date=key.day.isoformat(),
            rows=rows,
            first_agg_id=first_id,
            last_agg_id=last_id,
            first_time_ms=first_ms,
            last_time_ms=last_ms,
            missing_ids=missing,
            complete=not reasons,
            checksum=digest,
            incomplete_reasons=tuple(reasons),
            open_gaps=notes,
            written_ms=int(time.time() * 1000),
            writer=self.writer,
            version=__version__,
            certified=certified,
        )

    def _id_before(self, key: PartitionKey, day_start: int) -> int | None:
        """The last agg id before the day: this run's previous day, the store's last trade
        before it, or the previous day's partition."""
        previous = key.day - timedelta(days=1)
        seen = self._previous.get(key.symbol)
        if seen is not None and seen[0] == previous:
            return seen[1]
        # One seek finds where the last earlier trade lies, however long ago; then an
        # hour's window there (a day's, should its batch be wider).
        bound = self.store.prev_trade_bound(key.symbol, day_start - 1)
        if bound is not None:
            for span in (CHUNK_MS, _days.DAY_MS):
                cols = self.store.query_columns(key.symbol, max(bound - span, 0), day_start - 1)
                if len(cols):
                    return int(cols.agg_id[-1])
        info = self.dest.read_info(PartitionKey(key.market, key.symbol, previous))
        return info.last_agg_id if info is not None else None

    def _id_after(self, key: PartitionKey, day_end: int) -> int | None:
        """The first agg id after the day: the store's next trade, or the next partition."""
        # next_trade_bound is a lower bound (one seek): look an hour past it, and jump on
        # from there while the hour is empty, as long stretches without trades are skipped.
        bound = self.store.next_trade_bound(key.symbol, day_end + 1)
        while bound is not None:
            cols = self.store.query_columns(key.symbol, bound, bound + CHUNK_MS - 1)
            if len(cols):
                return int(cols.agg_id[0])
            bound = self.store.next_trade_bound(key.symbol, bound + CHUNK_MS)
        following = PartitionKey(key.market, key.symbol, key.day + timedelta(days=1))
        info = self.dest.read_info(following)
        return info.first_agg_id if info is not None else None

    def _remember(self, key: PartitionKey, last_id: int | None) -> None:
        if last_id is not None:
            self._previous[key.symbol] = (key.day, last_id)


def merge(archived: TradeColumns, stored: TradeColumns, where: str) -> tuple[TradeColumns, int]:
    """The union of two id-sorted column sets; (union, rows only ``stored`` had).

    An id in both must carry the same trade, or ConflictError names the first difference.
    """
    pos = np.searchsorted(archived.agg_id, stored.agg_id)
    inside = pos < len(archived)
    found = np.zeros(len(stored), dtype=np.bool_)
    found[inside] = archived.agg_id[pos[inside]] == stored.agg_id[inside]
    if found.any():
        at = pos[found]
        for name in ("time_ms", "price", "qty", "is_buyer_maker"):
            differs = getattr(archived, name)[at] != getattr(stored, name)[found]
            if differs.any():
                agg_id = int(stored.agg_id[found][int(np.argmax(differs))])
                raise ConflictError(
                    f"{where}: agg id {agg_id} has a different {name} in the archive than in "
                    "the store; nothing written"
                )
    new = ~found
    added = int(new.sum())
    if not added:
        return archived, 0
    union = TradeColumns.concat([archived, _take(stored, new)])
    order = np.argsort(union.agg_id, kind="stable")
    return _take(union, order), added


def _take(cols: TradeColumns, index: np.ndarray) -> TradeColumns:
    return TradeColumns(
        agg_id=cols.agg_id[index],
        time_ms=cols.time_ms[index],
        price=cols.price[index],
        qty=cols.qty[index],
        is_buyer_maker=cols.is_buyer_maker[index],
    )


class _Empty(TradestoreError):
    """The store holds no trade for the day: nothing is written."""


class _OutOfOrder(TradestoreError):
    """Agg ids were not ascending across the day's hour windows."""


_DONE = object()


def _prefetch(chunks: Iterator[TradeColumns], depth: int = 2) -> Iterator[TradeColumns]:
    """Run ``chunks`` on a worker thread, ``depth`` ahead of the consumer.

    The compiled decoder holds the GIL while it decodes; Parquet encoding, compression
    and hashing release it, so decoding the next hour overlaps writing this one.
    """
    out: queue.Queue = queue.Queue(depth)
    stop = threading.Event()
    failure: list[BaseException] = []

    def work() -> None:
        try:
            for cols in chunks:
                while not stop.is_set():
                    try:
                        out.put(cols, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        except BaseException as exc:
            failure.append(exc)
        finally:
            while not stop.is_set():
                try:
                    out.put(_DONE, timeout=0.1)
                    break
                except queue.Full:
                    continue

    thread = threading.Thread(target=work, name="archive-decode", daemon=True)
    thread.start()
    try:
        while True:
            item = out.get()
            if item is _DONE:
                break
            yield item
        if failure:
            raise failure[0]
    finally:
        stop.set()
        thread.join()


def write_rollups(
    dest: Destination, key: PartitionKey, rollups: DayRollups, stamp: SidecarStamp
) -> None:
    """Write a day's rollups sidecar, whole or not at all."""
    dest.write_beside(key, sidecar_name(key), lambda stream: write_sidecar(stream, rollups, stamp))


def ensure_rollups(
    dest: Destination, key: PartitionKey, info: PartitionInfo, cols: TradeColumns | None = None
) -> bool:
    """Give a partition without a sidecar that names it (written by an older version, or
    left by a write that died between the two files) its rollups, summed from the
    partition's own trades (``cols`` when the caller has them); True when one was written.
    A partition whose rows do not match its footer is left as it is (verify reports it)."""
    stamp = sidecar_stamp(dest, key)
    size = dest.size(key.path)
    if size is None or (stamp is not None and stamp.names(info.rows, info.checksum)
                        and stamp.bytes == size):  # fmt: skip
        return False
    if cols is None:
        table = dest.read_table(key)
        if table is None:
            return False
        cols = from_table(table)
    if len(cols) != info.rows or checksum(cols) != info.checksum:
        return False
    write_rollups(
        dest, key, day_rollups(key.symbol, cols), SidecarStamp(info.rows, info.checksum, size)
    )
    return True


def add_missing_rollups(
    dest: Destination, market: str = "spot", symbols: Sequence[str] | None = None
) -> Iterator[tuple[PartitionKey, bool]]:
    """Walk the archive's partitions of ``market`` (and ``symbols``) and give each one
    without a matching sidecar its rollups, from its own trades; yields (partition,
    whether a sidecar was written). For archives written before the sidecars existed,
    whose days the store no longer holds (an ``archive`` run gives a sidecar to the days
    it visits)."""
    wanted = [check_symbol(s) for s in symbols] if symbols else [None]
    for symbol in wanted:
        for key in sorted(dest.partitions(market, symbol), key=str):
            info = dest.read_info(key)
            if info is not None:
                yield key, ensure_rollups(dest, key, info)


def store_market(store: TradeStore) -> str:
    """The market a store records (kept under ``meta:market`` by the recorder), else spot."""
    return store.market() or "spot"
