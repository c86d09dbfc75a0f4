"""TradeStore: the RocksDB trade store (the layout is in docs/FORMAT.md).

One writer process opens the DB read-write; any number of readers open it with
``read_only=True`` as RocksDB secondary instances, which catch up with the writer before
each read. Values are stored raw (bytes in, bytes out) so other RocksDB tools see them.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import rocksdict

from tradestore._codec import decode_batch, encode_batch
from tradestore._compat import decode_columns, decode_trades
from tradestore._errors import CorruptValue
from tradestore._model import AggTrade
from tradestore._timeparse import check_epoch_ms
from tradestore.store import _keys
from tradestore.store._columns import TradeColumns
from tradestore.store._gaps import Gap

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
# Where the daemon and the commands keep the store unless told otherwise.
DEFAULT_PATH = "tradestore-data"
# How far trades may lie from their batch key when a DB carries no span bookkeeping
# (written by the Rust recorder, whose keys are flush times: trades lie before the key).
DEFAULT_MARGIN_MS = 60_000


class StoreError(RuntimeError):
    """The DB could not be opened or written."""


class TradeStore:
    """Batches of AggTrades per symbol in RocksDB, with exact time-range queries."""

    def __init__(
        self, path: str | os.PathLike, read_only: bool = False, *, skip_corrupt: bool = False
    ) -> None:
        self.path = Path(path)
        self.read_only = read_only
        # Reads leave out undecodable values (collected here) instead of failing.
        self.skip_corrupt = skip_corrupt
        self.corrupt_keys: set[bytes] = set()
        self._secondary_dir: str | None = None
        self._db: rocksdict.Rdict | None = self._open()
        # symbol -> [max ms a trade lies before its key, max ms a trade lies after it]
        self._spans: dict[str, list[int]] = {}
        self._counts: dict[str, int] = {}
        self._last_ids: dict[str, int] = {}
        # The recorder's flushes and the backfill worker write from different threads.
        self._write_lock = threading.Lock()
        if not read_only:
            self._check_format_version()

    # ------------------------------------------------------------------ lifecycle

    def _open(self) -> rocksdict.Rdict:
        options = rocksdict.Options(raw_mode=True)
        # LZ4 on every level. ZSTD at the bottom halves the disk (10 vs 18 bytes/trade on
        # the bench data) but its decompression made a 24 h scan ~2.5x slower, which the
        # query targets cannot afford; 18 bytes/trade is inside the 20-byte budget.
        options.set_compression_type(rocksdict.DBCompressionType.lz4())
        options.set_bottommost_compression_type(rocksdict.DBCompressionType.lz4())
        options.set_max_open_files(-1 if self.read_only else 512)
        if self.read_only:
            if not (self.path / "CURRENT").is_file():
                raise FileNotFoundError(f"no trade store at {self.path} (no RocksDB CURRENT file)")
            self._secondary_dir = tempfile.mkdtemp(prefix="tradestore-secondary-")
            access = rocksdict.AccessType.secondary(self._secondary_dir)
            try:
                return rocksdict.Rdict(str(self.path), options, access_type=access)
            except Exception as exc:
                shutil.rmtree(self._secondary_dir, ignore_errors=True)
                raise StoreError(f"cannot open {self.path} for reading: {exc}") from exc
        options.create_if_missing(True)
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            db = rocksdict.Rdict(str(self.path), options)
        except Exception as exc:
            raise StoreError(f"cannot open {self.path} for writing: {exc}") from exc
        # An existing DB reopens with the column options in its OPTIONS file; apply ours
        # so files written from now on (and rewritten by compaction) use them.
        db.set_options(
            {"compression": "kLZ4Compression", "bottommost_compression": "kLZ4Compression"}
        )
        return db

    def _check_format_version(self) -> None:
        key = _keys.meta_key("format_version")
        stored = self.db.get(key)
        if stored is None:
            self.db.put(key, str(FORMAT_VERSION).encode())
        elif stored != str(FORMAT_VERSION).encode():
            raise StoreError(f"{self.path} has format version {stored!r}; this build reads 1")

    def refresh(self) -> None:
        """Let a read-only (secondary) instance see what the writer has added since."""
        if self.read_only:
            self.db.try_catch_up_with_primary()
            self._spans.clear()
            self._counts.clear()
            self._last_ids.clear()

    def close(self) -> None:
        if self._db is not None:
            # Dropped first: after a failed write RocksDB refuses flush_wal and close too,
            # and the handle must still go (its LOCK is released when it is dropped).
            db, self._db = self._db, None
            try:
                if not self.read_only:
                    db.flush_wal(True)
            finally:
                db.close()
        if self._secondary_dir:
            shutil.rmtree(self._secondary_dir, ignore_errors=True)
            self._secondary_dir = None

    def reopen(self) -> None:
        """Close the DB and open it again (raises StoreError if it cannot be opened; the
        store is then closed until a later reopen succeeds).

        After a failed write (disk full, EFBIG) RocksDB latches the error and refuses
        every later write, even once space is back; only a new handle clears it.
        """
        self._require_writable()
        with self._write_lock:
            self._forget_bookkeeping()
            if self._db is not None:
                db, self._db = self._db, None
                try:
                    db.close()
                except Exception as exc:  # the latched error again; dropping the handle is enough
                    log.debug("closing %s before reopening: %s", self.path, exc)
                del db
            self._db = self._open()

    def _forget_bookkeeping(self) -> None:
        self._spans.clear()
        self._counts.clear()
        self._last_ids.clear()

    def __enter__(self) -> TradeStore:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @property
    def db(self) -> rocksdict.Rdict:
        """The underlying raw-mode Rdict (for tools; prefer the methods)."""
        if self._db is None:
            raise StoreError("the store is closed")
        return self._db

    # ------------------------------------------------------------------ writing

    def store_batch(self, symbol: str, trades: Sequence[AggTrade]) -> bytes | None:
        """Store one batch under one new key, atomically. Returns the key (None if empty)."""
        keys = self.write_batches({symbol: trades})
        return keys[0] if keys else None

    def write_batches(
        self,
        batches: Mapping[str, Sequence[AggTrade]],
        gaps: Sequence[tuple[str, Gap]] = (),
    ) -> list[bytes]:
        """Write one batch per symbol (and any gap records) in a single atomic WriteBatch.

        Each batch gets the key of its first trade's exchange time, bumped by +1 ms while
        that key is taken, so no batch ever overwrites another.
        """
        self._require_writable()
        with self._write_lock:
            try:
                return self._write_batches(batches, gaps)
            except BaseException:
                # The cached spans, counts and last ids already count this write: re-read.
                self._forget_bookkeeping()
                raise

    def _write_batches(
        self, batches: Mapping[str, Sequence[AggTrade]], gaps: Sequence[tuple[str, Gap]]
    ) -> list[bytes]:
        wb = rocksdict.WriteBatch(raw_mode=True)
        keys: list[bytes] = []
        taken: set[bytes] = set()
        for raw_symbol, trades in batches.items():
            if not trades:
                continue
            symbol = _keys.check_symbol(raw_symbol)
            first_t = trades[0].time_ms
            lo_t = min(t.time_ms for t in trades)
            hi_t = max(t.time_ms for t in trades)
            value = encode_batch(trades)
            key, replay = self._free_key(symbol, first_t, value, taken)
            keys.append(key)
            if replay:
                continue
            taken.add(key)
            wb.put(key, value)
            ms = _keys.key_ms(key)
            self._note_span(wb, symbol, before=ms - lo_t, after=hi_t - ms)
            self._note_count(wb, symbol, len(trades), max(t.agg_id for t in trades))
        for symbol, gap in gaps:
            wb.put(_keys.gap_key(symbol, gap.first_id), gap.to_bytes())
        if not wb.is_empty():
            self.db.write(wb)
        return keys

    def _free_key(
        self, symbol: str, ms: int, value: bytes, taken: set[bytes]
    ) -> tuple[bytes, bool]:
        """The first untaken key at or after ms; (key, True) if ms already holds this value."""
        while True:
            key = _keys.trade_key(symbol, ms)
            if key not in taken:
                existing = self.db.get(key)
                if existing is None:
                    return key, False
                if existing == value:
                    return key, True  # the same batch again (a replay): never store it twice
            ms += 1

    def _note_span(self, wb: rocksdict.WriteBatch, symbol: str, before: int, after: int) -> None:
        span = self._span(symbol)
        if before > span[0] or after > span[1]:
            span[0] = max(span[0], before)
            span[1] = max(span[1], after)
            wb.put(_keys.meta_key("span", symbol), msgpack.packb(span))

    def _note_count(self, wb: rocksdict.WriteBatch, symbol: str, n: int, max_id: int) -> None:
        count = self._count(symbol)
        if count is not None:
            self._counts[symbol] = count + n
            wb.put(_keys.meta_key("count", symbol), b"%d" % (count + n))
        last = self.last_agg_id(symbol)
        if last is None or max_id > last:
            self._last_ids[symbol] = max_id
            wb.put(_keys.meta_key("last_id", symbol), b"%d" % max_id)

    def _require_writable(self) -> None:
        if self.read_only:
            raise StoreError("the store was opened read-only")

    # ------------------------------------------------------------------ bookkeeping

    def _span(self, symbol: str) -> list[int]:
        span = self._spans.get(symbol)
        if span is None:
            raw = self.db.get(_keys.meta_key("span", symbol))
            if raw is not None:
                span = list(msgpack.unpackb(raw))
            elif self._has_trades(symbol):
                # Written by something that kept no spans (the Rust recorder): assume the default.
                span = [DEFAULT_MARGIN_MS, DEFAULT_MARGIN_MS]
            else:
                span = [0, 0]
            self._spans[symbol] = span
        return span

    def _count(self, symbol: str) -> int | None:
        """The exact trade count kept in meta, or None when this DB has none for symbol."""
        if symbol not in self._counts:
            raw = self.db.get(_keys.meta_key("count", symbol))
            if raw is not None:
                self._counts[symbol] = int(raw)
            elif not self._has_trades(symbol):
                self._counts[symbol] = 0
            else:
                return None
        return self._counts[symbol]

    def last_agg_id(self, symbol: str) -> int | None:
        """The highest agg id stored for symbol (None if nothing is stored)."""
        symbol = _keys.check_symbol(symbol)
        if symbol not in self._last_ids:
            raw = self.db.get(_keys.meta_key("last_id", symbol))
            if raw is not None:
                self._last_ids[symbol] = int(raw)
            else:
                last = None
                for _key, value in self._iter_range(
                    _keys.trades_prefix(symbol), None, reverse=True
                ):
                    last = max(t.agg_id for t in decode_batch(value, _key))
                    break
                if last is None:
                    return None
                self._last_ids[symbol] = last
        return self._last_ids[symbol]

    def _has_trades(self, symbol: str) -> bool:
        for _ in self._iter_range(_keys.trades_prefix(symbol), None):
            return True
        return False

    # ------------------------------------------------------------------ reading

    def _iter_range(
        self, lower: bytes, upper: bytes | None, *, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        """(key, value) for lower <= key < upper (upper None: end of lower's prefix)."""
        if upper is None:
            upper = _keys.prefix_end(lower)
        # Only the upper bound goes into ReadOptions: rocksdict 0.3 mishandles
        # set_iterate_lower_bound (it acts as an upper bound), so the lower end is a seek.
        opts = rocksdict.ReadOptions()
        opts.set_iterate_upper_bound(upper)
        it = self.db.iter(opts)
        if reverse:
            it.seek_to_last()
            while it.valid() and (key := it.key()) >= lower:
                yield key, it.value()
                it.prev()
        else:
            it.seek(lower)
            while it.valid():
                yield it.key(), it.value()
                it.next()

    def key_window(self, symbol: str, start_ms: int, end_ms: int) -> tuple[bytes, bytes]:
        """Key bounds [lower, upper) holding every batch that may contain start <= T <= end.

        The margins come from the per-symbol span bookkeeping, so the seek never starts at
        the symbol's first key: the cost depends on the window, not on retained data.
        """
        before, after = self._span(symbol)
        lower = _keys.trade_key(symbol, start_ms - after)
        upper = _keys.trade_key(symbol, end_ms + before + 1)
        if end_ms + before + 1 > _keys.MAX_MS:
            upper = _keys.prefix_end(_keys.trades_prefix(symbol))
        return lower, upper

    def iter_values(self, symbol: str, start_ms: int, end_ms: int) -> Iterator[tuple[bytes, bytes]]:
        """Raw (key, value) pairs of the batches that may hold trades in [start, end]."""
        symbol = _keys.check_symbol(symbol)
        self.refresh()
        lower, upper = self.key_window(symbol, start_ms, end_ms)
        if not self.skip_corrupt:
            return self._iter_range(lower, upper)
        return ((k, v) for k, v in self._iter_range(lower, upper) if k not in self.corrupt_keys)

    def next_trade_bound(self, symbol: str, from_ms: int) -> int | None:
        """A time <= that of the first stored trade at or after from_ms (None: there is none).

        One seek: lets a long scan jump over stretches where nothing was recorded.
        """
        symbol = _keys.check_symbol(symbol)
        before, after = self._span(symbol)
        lower = _keys.trade_key(symbol, from_ms - after)
        upper = _keys.prefix_end(_keys.trades_prefix(symbol))
        for key, _value in self._iter_range(lower, upper):
            return max(from_ms, _keys.key_ms(key) - before)
        return None

    def prev_trade_bound(self, symbol: str, to_ms: int) -> int | None:
        """A time >= that of the last stored trade at or before to_ms (None: there is none).

        One seek, the mirror of ``next_trade_bound``: a backward walk jumps over stretches
        where nothing was recorded."""
        symbol = _keys.check_symbol(symbol)
        before, after = self._span(symbol)
        if to_ms + before + 1 > _keys.MAX_MS:
            upper = _keys.prefix_end(_keys.trades_prefix(symbol))
        else:
            upper = _keys.trade_key(symbol, max(to_ms + before + 1, 0))
        for key, _value in self._iter_range(_keys.trades_prefix(symbol), upper, reverse=True):
            return min(to_ms, _keys.key_ms(key) + after)
        return None

    def decode_window(self, decode: Callable, symbol: str, start_ms: int, end_ms: int):
        """``decode(pairs, start_ms, end_ms)`` over the window's values.

        With ``skip_corrupt`` set, a value that cannot be decoded is left out and its key
        added to ``corrupt_keys`` (and logged), so one bad value leaves the rest of the
        window readable; otherwise the CorruptValue naming the key propagates.
        """
        while True:
            try:
                return decode(self.iter_values(symbol, start_ms, end_ms), start_ms, end_ms)
            except CorruptValue as exc:
                if not self.skip_corrupt or exc.key in self.corrupt_keys:
                    raise
                log.error("skipping %s", exc)
                self.corrupt_keys.add(exc.key)

    def query_trades(
        self, symbol: str, start_ms: int, end_ms: int, limit: int | None = None
    ) -> list[AggTrade]:
        """Trades with start_ms <= T <= end_ms (inclusive), ascending agg id, no duplicates."""
        _check_window(start_ms, end_ms, limit)
        trades, ascending = self.decode_window(decode_trades, symbol, start_ms, end_ms)
        if not ascending:
            # Out of scan order (e.g. a backfilled batch) or stored twice: first copy wins.
            found: dict[int, AggTrade] = {}
            for trade in trades:
                found.setdefault(trade.agg_id, trade)
            trades = [found[i] for i in sorted(found)]
        return trades if limit is None else trades[:limit]

    def query_columns(self, symbol: str, start_ms: int, end_ms: int) -> TradeColumns:
        """The same trades as query_trades, as numpy columns (int64 fixed point at 1e-8)."""
        _check_window(start_ms, end_ms, None)
        agg_id, time_ms, price, qty, side = self.decode_window(
            decode_columns, symbol, start_ms, end_ms
        )
        if agg_id.shape[0] > 1 and not bool(np.all(agg_id[1:] > agg_id[:-1])):
            # Out of scan order or stored twice: ascending ids, the first copy of each wins.
            _ids, first = np.unique(agg_id, return_index=True)
            agg_id, time_ms, price, qty, side = (
                agg_id[first],
                time_ms[first],
                price[first],
                qty[first],
                side[first],
            )
        return TradeColumns(
            agg_id=agg_id, time_ms=time_ms, price=price, qty=qty, is_buyer_maker=side
        )

    def symbols(self) -> list[str]:
        """Every symbol with stored trades, found by one seek per symbol."""
        self.refresh()
        found: list[str] = []
        lower = _keys.TRADES
        while True:
            key = next(
                (k for k, _ in self._iter_range(lower, _keys.prefix_end(_keys.TRADES))), None
            )
            if key is None:
                return found
            symbol = _keys.key_symbol(key)
            found.append(symbol)
            lower = _keys.prefix_end(_keys.trades_prefix(symbol))

    # ------------------------------------------------------------------ gaps

    def gaps(self, symbol: str) -> list[Gap]:
        symbol = _keys.check_symbol(symbol)
        self.refresh()
        return [Gap.from_bytes(v) for _k, v in self._iter_range(_keys.gaps_prefix(symbol), None)]

    def put_gap(self, symbol: str, gap: Gap) -> None:
        self._require_writable()
        with self._write_lock:
            self.db.put(_keys.gap_key(_keys.check_symbol(symbol), gap.first_id), gap.to_bytes())

    # ------------------------------------------------------------------ maintenance

    def prune(self, before_ms: int) -> dict[str, int]:
        """Drop every batch whose trades all lie before ``before_ms``; reclaim the space.

        One delete_range per symbol (never key-by-key deletes), then compact_range over
        the same keys so the space is returned and later seeks skip no tombstones.
        Returns the number of trades removed per symbol.
        """
        self._require_writable()
        with self._write_lock:
            removed, ranges = self._delete_expired(before_ms)
        # Compaction can take seconds: outside the lock, so flushes are not held up.
        for lower, upper in ranges:
            self.db.compact_range(lower, upper)
        return removed

    def _delete_expired(self, before_ms: int) -> tuple[dict[str, int], list[tuple[bytes, bytes]]]:
        removed: dict[str, int] = {}
        ranges = []
        for symbol in self.symbols():
            _before, after = self._span(symbol)
            lower = _keys.trades_prefix(symbol)
            upper = _keys.trade_key(symbol, before_ms - after)
            n_keys = n_trades = 0
            for _key, v in self._iter_range(lower, upper):
                n_keys += 1
                n_trades += _array_len(v)
            if not n_keys:
                continue
            wb = rocksdict.WriteBatch(raw_mode=True)
            wb.delete_range(lower, upper)
            count = self._count(symbol)
            if count is not None:
                self._counts[symbol] = max(count - n_trades, 0)
                wb.put(_keys.meta_key("count", symbol), b"%d" % self._counts[symbol])
            self.db.write(wb)
            ranges.append((lower, upper))
            removed[symbol] = n_trades
            log.info("pruned %d %s trades before %d", n_trades, symbol, before_ms)
        return removed, ranges

    def stats(self) -> dict:
        """Per-symbol trade counts, first/last trade and ids, open gaps; DB size on disk."""
        symbols: dict[str, dict[str, Any]] = {}
        for symbol in self.symbols():
            first = self._edge_batch(symbol, reverse=False)
            last = self._edge_batch(symbol, reverse=True)
            count = self._count(symbol)
            if count is None:
                count = sum(
                    _array_len(v) for _k, v in self._iter_range(_keys.trades_prefix(symbol), None)
                )
            gaps = self.gaps(symbol)
            symbols[symbol] = {
                "trades": count,
                "first_time_ms": min(t.time_ms for t in first) if first else None,
                "last_time_ms": max(t.time_ms for t in last) if last else None,
                "first_agg_id": min(t.agg_id for t in first) if first else None,
                "last_agg_id": self.last_agg_id(symbol),
                "open_gaps": sum(1 for g in gaps if g.status == "open"),
                "filled_gaps": sum(1 for g in gaps if g.status == "filled"),
                "unfillable_gaps": sum(1 for g in gaps if g.status == "unfillable"),
                "missing_ids_open": sum(g.size for g in gaps if g.status == "open"),
            }
        # Per-symbol bytes: the table files' size shared out by trade count. An estimate
        # (compression differs a little between symbols), but it sums to the real total.
        table_bytes = sum(f["size"] for f in self.db.live_files())
        total_trades = sum(row["trades"] for row in symbols.values()) or 1
        for row in symbols.values():
            row["bytes_on_disk_est"] = round(table_bytes * row["trades"] / total_trades)
        return {
            "path": str(self.path),
            "format_version": FORMAT_VERSION,
            "bytes_on_disk": _dir_size(self.path),
            "table_bytes": table_bytes,
            "symbols": symbols,
        }

    def trade_time_span(self, symbol: str) -> tuple[int, int] | None:
        """(first, last) stored trade time of symbol, from its first and last batch; None
        when nothing is stored. Two seeks, whatever the amount of data."""
        symbol = _keys.check_symbol(symbol)
        self.refresh()
        first = self._edge_batch(symbol, reverse=False)
        last = self._edge_batch(symbol, reverse=True)
        if not first or not last:
            return None
        return min(t.time_ms for t in first), max(t.time_ms for t in last)

    def _edge_batch(self, symbol: str, *, reverse: bool) -> list[AggTrade]:
        """The first (or last) batch of symbol that decodes; corrupt ones are passed over."""
        for key, value in self._iter_range(_keys.trades_prefix(symbol), None, reverse=reverse):
            try:
                return decode_batch(value, key)
            except CorruptValue as exc:
                log.error("stats: skipping %s", exc)
        return []


def _check_window(start_ms: int, end_ms: int, limit: int | None) -> None:
    if not isinstance(start_ms, int) or not isinstance(end_ms, int):
        raise TypeError("start_ms and end_ms must be integers (unix milliseconds)")
    check_epoch_ms(start_ms, "start_ms")
    check_epoch_ms(end_ms, "end_ms")
    if end_ms < start_ms:
        raise ValueError(f"end ({end_ms}) is before start ({start_ms})")
    if limit is not None and limit < 0:
        raise ValueError("limit must be >= 0")


def _array_len(value: bytes) -> int:
    """Number of trades in a v1 value, from its MessagePack array header alone (0 when it
    has none: a corrupt value counts no trades, and expires with its neighbours)."""
    tag = value[0] if value else None
    if tag is not None and 0x90 <= tag <= 0x9F:
        return tag - 0x90
    if tag == 0xDC and len(value) >= 3:
        return int.from_bytes(value[1:3], "big")
    if tag == 0xDD and len(value) >= 5:
        return int.from_bytes(value[1:5], "big")
    return 0


def _dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.iterdir() if f.is_file())
