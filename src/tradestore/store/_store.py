"""TradeStore: the RocksDB trade store (the layout is in docs/FORMAT.md).

One writer process opens the DB read-write; any number of readers open it with
``read_only=True`` as RocksDB secondary instances, which catch up with the writer before
each read and write nothing into the database folder. Values are stored raw (bytes in,
bytes out) so other RocksDB tools see them.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import rocksdict

from tradestore._errors import CorruptValue, FixedPointError
from tradestore._model import AggTrade, StorableTrade
from tradestore._timeparse import check_epoch_ms
from tradestore.codec._twins import (
    decode_columns,
    decode_trades,
    encode_batch,
    trades_shape,
)
from tradestore.codec._values import decode_batch
from tradestore.store import _book, _keys
from tradestore.store._adopt import AdoptProgress, AdoptReport, adopt_symbols
from tradestore.store._book import RollupState, SymbolBook
from tradestore.store._columns import TradeColumns
from tradestore.store._coverage import record_of
from tradestore.store._errors import MarketMismatch, StoreError
from tradestore.store._folder import UnusablePath
from tradestore.store._gaps import Gap, gap_tally
from tradestore.store._idset import AggIdSet
from tradestore.store._measure import Measure, array_len, measure
from tradestore.store._mirror import FolderMirror
from tradestore.store._record import Record
from tradestore.store._rollups import NewTrades, RollupKeeper, RollupProgress, RollupReport

log = logging.getLogger(__name__)
T = TypeVar("T")

FORMAT_VERSION = 1
# Where the daemon and the commands keep the store unless told otherwise.
DEFAULT_PATH = "tradestore-data"


@dataclass(frozen=True)
class WriteReport:
    """What one ``write_batches`` call stored: per symbol, the trades that were new and
    those already stored (not written again)."""

    keys: tuple[bytes, ...] = ()
    new: Mapping[str, int] = field(default_factory=dict)
    already_stored: Mapping[str, int] = field(default_factory=dict)

    @property
    def total_new(self) -> int:
        return sum(self.new.values())

    @property
    def total_already_stored(self) -> int:
        return sum(self.already_stored.values())


class TradeStore:
    """Batches of AggTrades per symbol in RocksDB, with exact time-range queries.

    Opening a database for writing adopts whatever it holds that the project did not
    write (``adopt``): the bookkeeping every write path relies on is then exact.
    ``on_adopt`` receives the progress of that pass (default: a log line every few
    seconds). Then every symbol without price-level rollups gets them, built from its
    trades in one pass (``build_rollups``; progress to ``on_rollups``), and every write
    keeps them exact from then on. ``rollups=False`` skips both: symbols written through
    this handle lose their rollups (readers compute from the trades instead) until a
    later writable open builds them again.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        read_only: bool = False,
        *,
        skip_corrupt: bool = False,
        on_adopt: Callable[[AdoptProgress], None] | None = None,
        rollups: bool = True,
        on_rollups: Callable[[RollupProgress], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.read_only = read_only
        # Reads leave out undecodable values (collected here) instead of failing.
        self.skip_corrupt = skip_corrupt
        self.corrupt_keys: set[bytes] = set()
        # Within reading(): what record() and trade_time_span() found, per symbol.
        self._records: dict[Any, Any] = {}
        self._mirror: FolderMirror | None = None
        self._books: dict[str, SymbolBook] = {}
        # Per symbol: no batch is keyed past this ms (see _free_key).
        self._clear_above: dict[str, int] = {}
        # Symbols without bookkeeping, measured in memory by this instance (read-only use
        # of a database nobody adopted): kept across refreshes, measured once.
        self._measured: dict[str, Measure] = {}
        # The recorder's flushes and the backfill worker write from different threads.
        self._write_lock = threading.Lock()
        self._pinned = 0  # reading() blocks open: no catch-up with the writer meanwhile
        self._pin_lock = threading.Lock()
        # What the adoption pass at this writable open did (None: nothing needed it).
        self.adoption: AdoptReport | None = None
        # Whether writes through this handle keep the rollups, and what the build of the
        # missing ones at this writable open did (None: nothing needed it).
        self.keep_rollups = rollups and not read_only
        self.rollup_build: RollupReport | None = None
        # The rollups are kept by their own object, which reads through this store's
        # public reader and writes under its lock.
        self._rollups = RollupKeeper(self, self._write_lock, keep=self.keep_rollups)
        self._db: rocksdict.Rdict | None = self._open()
        if not read_only:
            try:
                self._check_format_version()
                if self.unadopted():
                    self.adoption = self.adopt(progress=on_adopt)
                missing = self.rollups_missing() if self.keep_rollups else []
                if missing:
                    self.rollup_build = self.build_rollups(missing, progress=on_rollups)
                if self.keep_rollups:
                    self._rollups.build_days(self.symbols())
            except BaseException:
                self.close()
                raise

    # ------------------------------------------------------------------ lifecycle

    def _open(self) -> rocksdict.Rdict:
        options = rocksdict.Options(raw_mode=True)
        # LZ4 on every level. ZSTD at the bottom takes 11.3 instead of 19.7 bytes/trade on
        # the bench data, but even with the analytics reading rollups it made
        # query_columns 24 h 1.57x and query_trades 1 h 1.11x slower (bench/run.py);
        # 19.7 bytes/trade is inside the 20-byte budget.
        options.set_compression_type(rocksdict.DBCompressionType.lz4())
        options.set_bottommost_compression_type(rocksdict.DBCompressionType.lz4())
        options.set_max_open_files(-1 if self.read_only else 512)
        if self.read_only:
            return self._open_secondary(options)
        options.create_if_missing(True)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # below a file, a read-only mount, no permission
            raise UnusablePath(f"cannot create {self.path}: {exc.strerror or exc}") from None
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

    def _open_secondary(self, options: rocksdict.Options) -> rocksdict.Rdict:
        """A secondary instance over a private mirror of the folder: a reader writes
        nothing into the database folder, so it needs no write permission there."""
        try:
            has_db = (self.path / "CURRENT").is_file()
        except PermissionError:
            raise StoreError(
                f"cannot open {self.path} for reading: permission denied (a reader needs "
                "read and search permission on the folder and read permission on its files)"
            ) from None
        if not has_db:
            raise FileNotFoundError(f"no trade store at {self.path} (no RocksDB CURRENT file)")
        mirror = FolderMirror(self.path.absolute())
        access = rocksdict.AccessType.secondary(str(mirror.secondary))
        try:
            db = rocksdict.Rdict(str(mirror.view), options, access_type=access)
        except Exception as exc:
            mirror.close()
            raise StoreError(f"cannot open {self.path} for reading: {exc}") from exc
        self._mirror = mirror
        return db

    def _check_format_version(self) -> None:
        key = _keys.meta_key("format_version")
        stored = self.db.get(key)
        if stored is None:
            self.db.put(key, str(FORMAT_VERSION).encode())
        elif stored != str(FORMAT_VERSION).encode():
            raise StoreError(f"{self.path} has format version {stored!r}; this build reads 1")

    def refresh(self) -> None:
        """Let a read-only (secondary) instance see what the writer has added since
        (not inside ``reading()``, which caught up once for all its reads)."""
        if self.read_only and not self._pinned:
            if self._mirror is not None:
                self._mirror.sync()  # the files the writer created since: linked first
            self.db.try_catch_up_with_primary()
            self._books.clear()
            self._rollups.forget()

    @contextmanager
    def reading(self) -> Iterator[TradeStore]:
        """Several reads from one catch-up with the writer: a read-only instance catches
        up once, on entry, and every read inside sees the same state of the database
        (an analytic reads the rollups, the trades at its edges and the gaps this way).
        Other threads reading through the same instance meanwhile do not catch up."""
        self.refresh()
        with self._pin_lock:
            if not self._pinned:
                self._records.clear()  # a new view: records are read again
            self._pinned += 1
        try:
            yield self
        finally:
            with self._pin_lock:
                self._pinned -= 1

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
        if self._mirror is not None:
            self._mirror.close()
            self._mirror = None

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
        self._books.clear()
        self._rollups.forget()

    def __enter__(self) -> TradeStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def db(self) -> rocksdict.Rdict:
        """The underlying raw-mode Rdict (for tools; prefer the methods)."""
        if self._db is None:
            raise StoreError("the store is closed")
        return self._db

    # ------------------------------------------------------------------ adoption

    def unadopted(self) -> list[str]:
        """Symbols with stored batches but no agg-id set: written by another program (the
        Rust recorder) or by tradestore-trio 0.1. Writing needs them adopted first."""
        return [s for s in self.symbols() if self._book(s).ids is None]

    def adopt(
        self,
        *,
        rebuild: bool = False,
        progress: Callable[[AdoptProgress], None] | None = None,
    ) -> AdoptReport:
        """Measure every unadopted symbol in one pass and record its bookkeeping.

        Per symbol: the trade count, the true last agg id (whatever key it lies under),
        the real key-to-trade margins (so queries seek exactly), and the set of stored
        agg ids (so no write path stores an id twice). ``rebuild`` measures every
        symbol again, for a database another program has written into since.
        """
        self._require_writable()
        symbols = self.symbols() if rebuild else self.unadopted()
        return adopt_symbols(self, symbols, self._record_measure, progress=progress)

    def _record_measure(self, symbol: str, found: Measure) -> int | None:
        """Write a symbol's measured bookkeeping in one WriteBatch (the adoption pass);
        its last agg id (never lowered)."""
        with self._write_lock:
            book = _adopted_book(found, _book.load(self.db, symbol))
            wb = rocksdict.WriteBatch(raw_mode=True)
            _book.put_all(wb, symbol, book)
            self.db.write(wb)
            self._books[symbol] = book
            self._measured.pop(symbol, None)
            return book.last_id

    # ------------------------------------------------------------------ writing

    def store_batch(self, symbol: str, trades: Sequence[AggTrade]) -> bytes | None:
        """Store one batch under one new key, atomically. Returns the key, or None when
        nothing was new (every agg id already stored, or no trades)."""
        report = self.write_batches({symbol: trades})
        return report.keys[0] if report.keys else None

    def new_trades(self, symbol: str, trades: Sequence[AggTrade]) -> tuple[list[AggTrade], int]:
        """(the trades whose agg ids are not stored yet, in their order; how many are).

        The one decision every write path makes before encoding anything: an agg id is
        stored once, whatever the keys of the data already there. An id repeated within
        ``trades`` counts once. Changes nothing.
        """
        symbol = _keys.check_symbol(symbol)
        ids = self._book(symbol).ids
        if ids is None:
            ids = self._measurement(symbol).ids
        return ids.split_new(trades)

    def write_batches(
        self,
        batches: Mapping[str, Sequence[StorableTrade]],
        gaps: Sequence[tuple[str, Gap]] = (),
    ) -> WriteReport:
        """Write the new trades of one batch per symbol (and any gap records) in a single
        atomic WriteBatch; trades whose agg ids are already stored are left out.

        Each batch gets the key of its first new trade's exchange time, bumped by +1 ms
        while that key is taken, so no batch ever overwrites another.
        """
        self._require_writable()
        with self._write_lock:
            try:
                return self._write_batches(batches, gaps)
            except BaseException:
                # The cached bookkeeping already counts this write: re-read it.
                self._forget_bookkeeping()
                raise

    def _write_batches(
        self, batches: Mapping[str, Sequence[StorableTrade]], gaps: Sequence[tuple[str, Gap]]
    ) -> WriteReport:
        wb = rocksdict.WriteBatch(raw_mode=True)
        keys: list[bytes] = []
        new: dict[str, int] = {}
        already: dict[str, int] = {}
        written: dict[str, list[tuple[bytes, bytes]]] = {}
        first_trades: set[str] = set()  # symbols storing their first trades now
        newest = 0
        for raw_symbol, trades in batches.items():
            if not trades:
                continue
            symbol = _keys.check_symbol(raw_symbol)
            if not self._book(symbol).complete and not self._has_batches(symbol):
                first_trades.add(symbol)
            book = self._writable_book(symbol, wb)
            assert book.ids is not None and book.span is not None and book.count is not None
            low_id, top, earliest, latest, ascending = trades_shape(trades)
            last = book.ids.last
            if ascending and (last is None or low_id > last):
                # The live case: every id past the last stored one, in order.
                fresh, repeated = trades if type(trades) is list else list(trades), 0
            else:
                fresh, repeated = book.ids.split_new(trades)
                if fresh:
                    low_id, top, earliest, latest, ascending = trades_shape(fresh)
            new[symbol] = new.get(symbol, 0) + len(fresh)
            already[symbol] = already.get(symbol, 0) + repeated
            if not fresh:
                continue
            value = encode_batch(fresh)
            key, ms = self._free_key(symbol, fresh[0].time_ms)
            keys.append(key)
            wb.put(key, value)
            written.setdefault(symbol, []).append((key, value))
            before, after = book.span
            # A new symbol's span is written even when it stays (0, 0) (each batch one
            # trade, or one millisecond): without it every reader would measure it again.
            if symbol in first_trades or ms - earliest > before or latest - ms > after:
                book.span = (max(before, ms - earliest), max(after, latest - ms))
                _book.put_span(wb, symbol, book.span)
            book.count += len(fresh)
            _book.put_count(wb, symbol, book.count)
            if ascending and top - low_id + 1 == len(fresh):
                book.ids.add_run(low_id, top)  # one run of ids: the usual batch
            else:
                book.ids.add_ids(t.agg_id for t in fresh)
            _book.put_ids(wb, symbol, book.ids)
            newest = max(newest, latest)
            if book.last_id is None or top > book.last_id:
                book.last_id = top
                _book.put_last_id(wb, symbol, top)
        if written:
            self._rollups.add(wb, self._new_trades(written, new, first_trades, newest))
        for symbol, gap in gaps:
            wb.put(_keys.gap_key(symbol, gap.first_id), gap.to_bytes())
        if not wb.is_empty():
            self.db.write(wb)
        return WriteReport(tuple(keys), new, already)

    def _new_trades(
        self,
        written: dict[str, list[tuple[bytes, bytes]]],
        counts: dict[str, int],
        first: set[str],
        newest: int,
    ) -> NewTrades:
        """What the rollup keeper takes of a write: the values just encoded, decoded once
        for every symbol in one call (thousands of small calls cost a whole-market flush
        a tenth of its time), or a symbol at a time when that fails, so that only a
        symbol whose values cannot be decoded exactly loses its rollups."""
        symbols = tuple(written)
        if not self.keep_rollups:
            return NewTrades(symbols, first, newest)
        try:
            arrays = decode_columns(
                [p for chunk in written.values() for p in chunk], 0, _keys.MAX_MS
            )
            if len(arrays[0]) == sum(counts[s] for s in symbols):
                runs: dict[str, tuple[int, int]] = {}
                lo = 0
                for symbol in symbols:
                    runs[symbol] = (lo, lo + counts[symbol])
                    lo += counts[symbol]
                return NewTrades(symbols, first, newest, TradeColumns(*arrays), runs)
        except (CorruptValue, ValueError):  # FixedPointError is a ValueError
            pass
        parts: list[TradeColumns] = []
        runs = {}
        errors: dict[str, Exception] = {}
        lo = 0
        for symbol, pairs in written.items():
            try:
                cols = TradeColumns(*decode_columns(pairs, 0, _keys.MAX_MS))
            except (CorruptValue, FixedPointError) as exc:
                errors[symbol] = exc
                continue
            parts.append(cols)
            runs[symbol] = (lo, lo + len(cols))
            lo += len(cols)
        return NewTrades(symbols, first, newest, TradeColumns.concat(parts), runs, errors)

    def _writable_book(self, symbol: str, wb: rocksdict.WriteBatch) -> SymbolBook:
        book = self._book(symbol)
        if book.complete:
            return book
        if not self._has_batches(symbol):
            # A new symbol (its rollups start with its first trades: RollupKeeper.add).
            book = self._books[symbol] = SymbolBook.empty()
            return book
        # Batches nobody adopted (written beside this handle): measured now, and the
        # bookkeeping goes into the same WriteBatch as the trades.
        book = self._books[symbol] = _adopted_book(
            measure(self.iter_range(_keys.trades_prefix(symbol), None)), book
        )
        _book.put_all(wb, symbol, book)
        return book

    def _free_key(self, symbol: str, ms: int) -> tuple[bytes, int]:
        """The first key at or after ms that holds no batch, and its time.

        A live symbol's keys only grow, so once a seek has shown that no batch lies past
        some key, every later key is free without a lookup (this handle is the only
        writer, and deletes never add a batch)."""
        clear = self._clear_above.get(symbol)
        if clear is None:
            upper = _keys.prefix_end(_keys.trades_prefix(symbol))
            first = next(self.iter_keys(_keys.trade_key(symbol, ms), upper), None)
            if first is None:
                self._clear_above[symbol] = ms
                return _keys.trade_key(symbol, ms), ms
        elif ms > clear:
            self._clear_above[symbol] = ms
            return _keys.trade_key(symbol, ms), ms
        while True:
            key = _keys.trade_key(symbol, ms)
            if self.db.get(key) is None:
                if clear is not None and ms > clear:
                    # Bumped past the last key: the next batch must not take this one.
                    self._clear_above[symbol] = ms
                return key, ms
            ms += 1

    def _require_writable(self) -> None:
        if self.read_only:
            raise StoreError("the store was opened read-only")

    # ------------------------------------------------------------------ bookkeeping

    def _book(self, symbol: str) -> SymbolBook:
        book = self._books.get(symbol)
        if book is None:
            book = self._books[symbol] = _book.load(self.db, symbol)
        return book

    def _measurement(self, symbol: str) -> Measure:
        """Every batch of a symbol without bookkeeping, measured once by this instance."""
        found = self._measured.get(symbol)
        if found is None:
            began = time.perf_counter()
            found = measure(self.iter_range(_keys.trades_prefix(symbol), None))
            self._measured[symbol] = found
            if not found.batches and not found.corrupt_keys:
                return found  # nothing stored: nothing to say
            log.warning(
                "%s has no bookkeeping for %s (written by another program, or by "
                "tradestore-trio 0.1): measured its %d trades in one pass (%.1f s) to read "
                "exactly; `tradestore-trio adopt --db %s` records it once for every reader",
                self.path,
                symbol,
                found.trades,
                time.perf_counter() - began,
                self.path,
            )
        return found

    def margins(self, symbol: str) -> tuple[int, int]:
        """(before, after): the most a stored trade's time lies before, and after, its
        batch key. Measured once when the database does not record them."""
        symbol = _keys.check_symbol(symbol)
        span = self._book(symbol).span
        if span is not None:
            return span
        if not self._has_batches(symbol):
            return (0, 0)
        found = self._measurement(symbol)
        return (found.before_ms, found.after_ms)

    def trade_count(self, symbol: str) -> int:
        """Trades stored for symbol (an id stored twice, by an older writer, counts twice)."""
        symbol = _keys.check_symbol(symbol)
        count = self._book(symbol).count
        if count is not None:
            return count
        if not self._has_batches(symbol):
            return 0
        return self._measurement(symbol).trades

    def last_agg_id(self, symbol: str) -> int | None:
        """The highest agg id stored for symbol (None if nothing is stored), whatever key
        it lies under: where a restarted recorder resumes."""
        symbol = _keys.check_symbol(symbol)
        book = self._book(symbol)
        if book.last_id is not None:
            return book.last_id
        if book.ids is not None:
            return book.ids.last
        if not self._has_batches(symbol):
            return None
        return self._measurement(symbol).ids.last

    def last_trade_time_ms(self, symbol: str) -> int | None:
        """The latest trade time T in symbol's last stored batch (None if nothing is
        stored): for resuming a symbol without a full ``stats()``."""
        return self._edges(_keys.check_symbol(symbol))[1]

    def stored_ids(self, symbol: str) -> AggIdSet:
        """The agg ids stored for symbol, as intervals (a copy)."""
        symbol = _keys.check_symbol(symbol)
        ids = self._book(symbol).ids
        if ids is None:
            ids = self._measurement(symbol).ids if self._has_batches(symbol) else AggIdSet()
        return AggIdSet(ids.intervals)

    def retention_edge(self, symbol: str) -> int | None:
        """The key time below which retention has dealt with every batch (None: it never
        ran on symbol). See tradestore.store.plan_retention."""
        return self._book(_keys.check_symbol(symbol)).retention_edge_ms

    def _has_batches(self, symbol: str) -> bool:
        for _ in self.iter_range(_keys.trades_prefix(symbol), None):
            return True
        return False

    # ------------------------------------------------------------------ market

    def market(self) -> str | None:
        """The market this database records (``meta:market``): spot, usdm or coinm.

        A database written before markets were recorded holds spot trades, the only
        market there was: it answers "spot" once it has any trade, None while empty."""
        raw = self.db.get(_keys.meta_key("market"))
        if raw is not None:
            return bytes(raw).decode("ascii")
        return "spot" if self._any_trades() else None

    def note_archive(self, url: str | None) -> None:
        """Remember where this database's closed days are archived (``meta:archive``,
        credentials left out), so a reader can say where pruned trades are; None forgets."""
        self._require_writable()
        key = _keys.meta_key("archive")
        if url is None:
            self.db.delete(key)
        elif self.db.get(key) != url.encode():
            self.db.put(key, url.encode())

    def noted_archive(self) -> str | None:
        """Where the recorder archives this database's days (``note_archive``), or None."""
        raw = self.db.get(_keys.meta_key("archive"))
        return None if raw is None else bytes(raw).decode("utf-8", "replace")

    def claim_market(self, market: str) -> None:
        """Record that this database holds ``market``'s trades; MarketMismatch if it
        already holds another market's (agg ids and symbols of two markets must never
        mix: BTCUSDT spot and BTCUSDT USD-M futures are different instruments)."""
        self._require_writable()
        with self._write_lock:
            held = self.market()
            if held is not None and held != market:
                raise MarketMismatch(
                    f"{self.path} holds {held} trades; it cannot record {market} "
                    f"(use one database per market, e.g. --db {self.path.name}-{market})"
                )
            if self.db.get(_keys.meta_key("market")) is None:
                self.db.put(_keys.meta_key("market"), market.encode("ascii"))

    def _any_trades(self) -> bool:
        for _ in self.iter_range(_keys.TRADES, _keys.prefix_end(_keys.TRADES)):
            return True
        return False

    # ------------------------------------------------------------------ reading

    def iter_range(
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

    def iter_keys(self, lower: bytes, upper: bytes) -> Iterator[bytes]:
        """The keys in [lower, upper), without copying their values."""
        opts = rocksdict.ReadOptions()
        opts.set_iterate_upper_bound(upper)
        it = self.db.iter(opts)
        it.seek(lower)
        while it.valid():
            yield it.key()
            it.next()

    def key_window(self, symbol: str, start_ms: int, end_ms: int) -> tuple[bytes, bytes]:
        """Key bounds [lower, upper) holding every batch that may contain start <= T <= end.

        The margins come from the per-symbol span bookkeeping, so the seek never starts at
        the symbol's first key: the cost depends on the window, not on retained data.
        """
        before, after = self.margins(symbol)
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
            return self.iter_range(lower, upper)
        return ((k, v) for k, v in self.iter_range(lower, upper) if k not in self.corrupt_keys)

    def next_trade_bound(self, symbol: str, from_ms: int) -> int | None:
        """A time <= that of the first stored trade at or after from_ms (None: there is none).

        One seek: lets a long scan jump over stretches where nothing was recorded.
        """
        symbol = _keys.check_symbol(symbol)
        before, after = self.margins(symbol)
        lower = _keys.trade_key(symbol, from_ms - after)
        upper = _keys.prefix_end(_keys.trades_prefix(symbol))
        for key, _value in self.iter_range(lower, upper):
            return max(from_ms, _keys.key_ms(key) - before)
        return None

    def prev_trade_bound(self, symbol: str, to_ms: int) -> int | None:
        """A time >= that of the last stored trade at or before to_ms (None: there is none).

        One seek, the mirror of ``next_trade_bound``: a backward walk jumps over stretches
        where nothing was recorded."""
        symbol = _keys.check_symbol(symbol)
        before, after = self.margins(symbol)
        if to_ms + before + 1 > _keys.MAX_MS:
            upper = _keys.prefix_end(_keys.trades_prefix(symbol))
        else:
            upper = _keys.trade_key(symbol, max(to_ms + before + 1, 0))
        for key, _value in self.iter_range(_keys.trades_prefix(symbol), upper, reverse=True):
            return min(to_ms, _keys.key_ms(key) + after)
        return None

    def decode_window(
        self,
        decode: Callable[[Iterator[tuple[bytes, bytes]], int, int], T],
        symbol: str,
        start_ms: int,
        end_ms: int,
    ) -> T:
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
        trades: list[AggTrade]
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
        arrays = self.decode_window(decode_columns, symbol, start_ms, end_ms)
        return TradeColumns.distinct(arrays)

    def query_arrow(self, symbol: str, start_ms: int, end_ms: int) -> Any:
        """The same trades as a ``pyarrow.Table`` (``TradeColumns.to_arrow``: exact int64
        ``price_e8``/``qty_e8`` beside float64 ``price``/``qty``); needs pyarrow."""
        return self.query_columns(symbol, start_ms, end_ms).to_arrow()

    def symbols(self) -> list[str]:
        """Every symbol with stored batches, found by one seek per symbol, and every
        symbol whose trades are all gone while its rollups still summarise them."""
        self.refresh()
        found: list[str] = []
        lower = _keys.TRADES
        while True:
            key = next((k for k, _ in self.iter_range(lower, _keys.prefix_end(_keys.TRADES))), None)
            if key is None:
                break
            symbol = _keys.key_symbol(key)
            found.append(symbol)
            lower = _keys.prefix_end(_keys.trades_prefix(symbol))
        summarized = self._summarized_only(set(found))
        return sorted(found + summarized) if summarized else found

    def _summarized_only(self, with_trades: set[str]) -> list[str]:
        prefix = _keys.meta_key(_book.ROLLUPS) + b":"
        out = []
        for key in self.iter_keys(prefix, _keys.prefix_end(prefix)):
            symbol = key[len(prefix) :].decode("ascii", "replace")
            if symbol in with_trades:
                continue
            state = self.rollup_state(symbol)
            if state is not None and state.kept and state.held_from_ms is not None:
                out.append(symbol)
        return out

    # ------------------------------------------------------------------ gaps

    def gaps(self, symbol: str) -> list[Gap]:
        symbol = _keys.check_symbol(symbol)
        self.refresh()
        return [Gap.from_bytes(v) for _k, v in self.iter_range(_keys.gaps_prefix(symbol), None)]

    def put_gap(self, symbol: str, gap: Gap) -> None:
        self._require_writable()
        with self._write_lock:
            self.db.put(_keys.gap_key(_keys.check_symbol(symbol), gap.first_id), gap.to_bytes())

    # ------------------------------------------------------------------ maintenance

    def prune(self, before_ms: int, *, keep_rollups: bool = True) -> dict[str, int]:
        """Drop every batch whose trades all lie before ``before_ms``; reclaim the space.

        Every trade goes, history that retention keeps included: this is the explicit
        cut (``tradestore-trio prune``); the daemon's retention is
        ``tradestore.store.plan_retention``. The price-level rollups stay (the
        analytics still answer over the pruned time) unless ``keep_rollups`` is False;
        their own cut is ``prune_rollups``. Returns the trades removed per symbol.
        """
        removed: dict[str, int] = {}
        for symbol in self.symbols():
            _before, after = self.margins(symbol)
            n = self.delete_batches(
                symbol,
                None,
                before_ms - after,
                retention_edge_ms=before_ms - after,
                keep_rollups=keep_rollups,
            )
            if n is not None:
                removed[symbol] = n
                log.info("pruned %d %s trades before %d", n, symbol, before_ms)
        return removed

    def prune_rollups(self, before_ms: int, *, only_summarized: bool = False) -> list[str]:
        """Delete the price-level rollups of every UTC day wholly before ``before_ms``
        (the rollups' own retention, ``rollup_retention_days``); the symbols that lost
        some. The trades are not touched: reads before the cut take the trades still
        held there. ``only_summarized``: never where the trades are still held."""
        self._require_writable()
        dropped = []
        for symbol in self.symbols():
            with self._write_lock:
                try:
                    wb = rocksdict.WriteBatch(raw_mode=True)
                    if self._rollups.drop_before(
                        wb, symbol, before_ms, only_summarized=only_summarized
                    ):
                        self.db.write(wb)
                        dropped.append(symbol)
                except BaseException:
                    self._forget_bookkeeping()
                    raise
        for symbol in dropped:
            lower = _keys.rollup_prefix(_keys.MINUTE, symbol)
            self.db.compact_range(lower, _keys.rollup_key(_keys.MINUTE, symbol, before_ms))
        return dropped

    def delete_batches(
        self,
        symbol: str,
        lower_ms: int | None,
        upper_ms: int,
        *,
        retention_edge_ms: int | None = None,
        keep_rollups: bool = True,
    ) -> int | None:
        """Delete the batches keyed in [lower_ms, upper_ms) (None: from the first) with
        one delete_range, never key by key, then compact the range so the space is
        returned and later seeks skip no tombstones. The count and the agg-id set lose
        what was deleted in the same WriteBatch; ``retention_edge_ms`` (never lowered)
        goes into it too. The rollups outlive the deleted trades (the keeper remembers
        their ids and from when the trades are held) unless ``keep_rollups`` is False,
        when the trades are taken out of them. Returns the trades removed (None: no
        batch was in range).
        """
        self._require_writable()
        symbol = _keys.check_symbol(symbol)
        with self._write_lock:
            try:
                removed, span = self._delete_batches(
                    symbol, lower_ms, upper_ms, retention_edge_ms, keep_rollups
                )
            except BaseException:
                self._forget_bookkeeping()
                raise
        if span is not None:
            # Compaction can take seconds: outside the lock, so flushes are not held up.
            self.db.compact_range(*span)
        return removed

    def _delete_batches(
        self,
        symbol: str,
        lower_ms: int | None,
        upper_ms: int,
        edge_ms: int | None,
        keep_rollups: bool,
    ) -> tuple[int | None, tuple[bytes, bytes] | None]:
        lower = (
            _keys.trades_prefix(symbol) if lower_ms is None else _keys.trade_key(symbol, lower_ms)
        )
        upper = _keys.trade_key(symbol, upper_ms)
        wb = rocksdict.WriteBatch(raw_mode=True)
        book = self._book(symbol)
        removed: int | None = None
        span = None
        if lower < upper:
            gone = measure(self.iter_range(lower, upper))
            if gone.batches or gone.corrupt_keys:
                removed, span = gone.trades, (lower, upper)
                if keep_rollups and gone.last_time_ms is not None:
                    self._rollups.outlive(wb, symbol, gone.ids, gone.last_time_ms)
                else:
                    self._rollups.remove(wb, symbol, lower_ms, upper_ms)
                wb.delete_range(lower, upper)
                if book.count is not None:
                    book.count = max(book.count - gone.trades, 0)
                    _book.put_count(wb, symbol, book.count)
                if book.ids is not None and len(gone.ids):
                    for lo, hi in gone.ids.intervals:
                        book.ids.remove_run(lo, hi)
                    _book.put_ids(wb, symbol, book.ids)
        if edge_ms is not None and (
            book.retention_edge_ms is None or edge_ms > book.retention_edge_ms
        ):
            book.retention_edge_ms = edge_ms
            _book.put_retention_edge(wb, symbol, edge_ms)
        if not wb.is_empty():
            self.db.write(wb)
        return removed, span

    # ------------------------------------------------------------------ rollups

    def rollup_state(self, symbol: str) -> RollupState | None:
        """The symbol's rollup state (None: it has no price-level rollups)."""
        return self._rollups.state(_keys.check_symbol(symbol))

    def rollups_missing(self) -> list[str]:
        """Symbols with stored trades but no rollups (written before rollups existed, by
        another program, or through a handle opened with ``rollups=False``)."""
        return [s for s in self.symbols() if self.rollup_state(s) is None]

    def build_rollups(
        self,
        symbols: Sequence[str] | None = None,
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
        progress: Callable[[RollupProgress], None] | None = None,
    ) -> RollupReport:
        """Compute the rollups of ``symbols`` (default: every symbol) from their trades.

        A symbol whose rollups are kept has those of the hours [start_ms, end_ms]
        touches rebuilt; one without (or with them switched off) is built whole.
        ``progress`` is called as the build goes (default: a log line every few seconds).
        """
        self._require_writable()
        chosen = self.symbols() if symbols is None else [_keys.check_symbol(s) for s in symbols]
        return self._rollups.build(chosen, start_ms=start_ms, end_ms=end_ms, progress=progress)

    def stats(self) -> dict[str, Any]:
        """Per-symbol trade counts, first/last trade and ids, open gaps; DB size on disk.

        Exact whatever the keys: the first and last trade come from the batches whose
        keys lie within the recorded margins of either end of the record.
        """
        symbols: dict[str, dict[str, Any]] = {}
        for symbol in self.symbols():
            count = self.trade_count(symbol)
            first_time, last_time, first_id = self._edges(symbol)
            symbols[symbol] = {
                "trades": count,
                "first_time_ms": first_time,
                "last_time_ms": last_time,
                "first_agg_id": first_id,
                "last_agg_id": self.last_agg_id(symbol),
                **gap_tally(self.gaps(symbol)),
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

    def record(self, symbol: str) -> Record | None:
        """The symbol's record (``tradestore.store.record_of``): what coverage asks; read
        once per ``reading()`` (an analytic asks it for every session)."""
        symbol = _keys.check_symbol(symbol)
        if not self._pinned:
            return record_of(self, symbol)
        if symbol not in self._records:
            self._records[symbol] = record_of(self, symbol)
        found: Record | None = self._records[symbol]
        return found

    def summarized_span(self, symbol: str) -> tuple[int, int] | None:
        """[from, to] ms where the symbol's trades may be gone while their rollups stay
        (from the first minute the rollups hold to just before the trades are all held);
        None: nothing was ever deleted under the rollups."""
        state = self.rollup_state(symbol)
        held = state.held_from_ms if state is not None and state.kept else None
        if held is None:
            return None
        lower = _keys.rollup_prefix(_keys.CANDLE, symbol)
        first = next(self.iter_keys(lower, _keys.prefix_end(lower)), None)
        if first is None or _keys.key_ms(first) >= held:
            return None
        return _keys.key_ms(first), held - 1

    def holds_trades(self, symbol: str, start_ms: int, end_ms: int) -> bool:
        """Whether every recorded trade of [start_ms, end_ms] is still held (False: some
        may be gone while their rollups stay: the rollups outlive the trades)."""
        span = self.summarized_span(symbol)
        return span is None or end_ms < span[0] or start_ms > span[1]

    def archived_parts(self, symbol: str, start_ms: int, end_ms: int) -> list[tuple[int, int]]:
        """The parts of a window read from an archive: none (``History`` has them)."""
        return []

    def trade_time_span(self, symbol: str) -> tuple[int, int] | None:
        """(first, last) stored trade time of symbol; None when nothing is stored.

        Exact whatever the keys (empty or re-sent batches at either end): a few seeks and
        the batches within the recorded margins of each end, or one measurement of a
        symbol without bookkeeping."""
        symbol = _keys.check_symbol(symbol)
        self.refresh()
        if self._pinned and ("span", symbol) in self._records:
            known: tuple[int, int] | None = self._records[("span", symbol)]
            return known  # read once per reading()
        first, last, _first_id = self._edges(symbol)
        span = None if first is None or last is None else (first, last)
        if self._pinned:
            self._records[("span", symbol)] = span
        return span

    def _edges(self, symbol: str) -> tuple[int | None, int | None, int | None]:
        """(first trade time, last trade time, first agg id) of symbol, exactly."""
        book = self._book(symbol)
        if book.span is None:
            if not self._has_batches(symbol):
                return None, None, None
            found = self._measurement(symbol)
            return found.first_time_ms, found.last_time_ms, found.ids.first
        before, after = book.span
        # A trade lies within [key - before, key + after]: no batch keyed after
        # first + before + after can hold a trade earlier than the first filled batch's
        # (nor one keyed before last - before - after a later trade than the last's).
        head = self._edge_batches(symbol, before + after, reverse=False)
        tail = self._edge_batches(symbol, before + after, reverse=True)
        if head is None or tail is None:
            return None, None, None
        if book.ids is not None:
            first_time, last_time = _edge_times(head, tail)
            if first_time is not None and last_time is not None:
                return first_time, last_time, book.ids.first
        head_found, tail_found = measure(head), measure(tail)
        first_id = book.ids.first if book.ids is not None else head_found.ids.first
        return head_found.first_time_ms, tail_found.last_time_ms, first_id

    def _edge_batches(
        self, symbol: str, margin: int, *, reverse: bool
    ) -> list[tuple[bytes, bytes]] | None:
        """The batches from the first (``reverse``: last) end of symbol's trades to the
        first batch holding a decodable trade and ``margin`` ms of keys past it, in one
        scan; None when no batch holds a decodable trade."""
        pairs: list[tuple[bytes, bytes]] = []
        bound: int | None = None
        for key, value in self.iter_range(_keys.trades_prefix(symbol), None, reverse=reverse):
            if bound is not None:
                key_ms = _keys.key_ms(key)
                if (key_ms < bound) if reverse else (key_ms > bound):
                    break
            pairs.append((key, value))
            if bound is None and _decodable(key, value):
                edge = _keys.key_ms(key)
                bound = edge - margin if reverse else edge + margin
        return pairs if bound is not None else None


def _decodable(key: bytes, value: bytes) -> bool:
    """The batch holds at least one trade the store can read (an empty batch, or one
    without a v1 header, holds none; an undecodable one is logged and skipped)."""
    count = array_len(value)
    if not count:
        return False
    try:
        if decode_columns([(key, value)], 0, _keys.MAX_MS)[0].shape[0] == count:
            return True
    except (CorruptValue, FixedPointError, ValueError):
        pass
    try:  # a header the column decoder reads otherwise: the exact v1 codec decides
        return bool(decode_batch(value, key))
    except (CorruptValue, ValueError) as exc:
        log.error("stats: skipping %s", exc)
        return False


def _edge_times(
    head: list[tuple[bytes, bytes]], tail: list[tuple[bytes, bytes]]
) -> tuple[int | None, int | None]:
    """(the earliest trade time of ``head``, the latest of ``tail``) from one column decode
    each: what a record's span needs, without measuring ids as ``measure`` does (a screen
    asks it of every symbol). (None, None) when a value needs ``measure``'s care (one the
    column decoder refuses or reads otherwise, or no trade at all)."""
    out = []
    for pairs, pick in ((head, np.min), (tail, np.max)):
        try:
            ids, times = decode_columns(pairs, 0, _keys.MAX_MS)[:2]
        except (CorruptValue, FixedPointError):
            return None, None
        if not ids.shape[0] or ids.shape[0] != sum(array_len(v) for _k, v in pairs):
            return None, None
        out.append(int(pick(times)))
    return out[0], out[1]


def _check_window(start_ms: int, end_ms: int, limit: int | None) -> None:
    if not isinstance(start_ms, int) or not isinstance(end_ms, int):
        raise TypeError("start_ms and end_ms must be integers (unix milliseconds)")
    check_epoch_ms(start_ms, "start_ms")
    check_epoch_ms(end_ms, "end_ms")
    if end_ms < start_ms:
        raise ValueError(f"end ({end_ms}) is before start ({start_ms})")
    if limit is not None and limit < 0:
        raise ValueError("limit must be >= 0")


def _adopted_book(found: Measure, previous: SymbolBook) -> SymbolBook:
    """The complete bookkeeping of a symbol measured in full (``previous``: what the
    database recorded before, whose last id and retention edge are kept)."""
    last = found.ids.last
    if previous.last_id is not None and (last is None or previous.last_id > last):
        last = previous.last_id  # never lowered: pruning may have removed that trade
    return SymbolBook(
        span=(found.before_ms, found.after_ms),
        count=found.trades,
        last_id=last,
        ids=found.ids,
        retention_edge_ms=previous.retention_edge_ms,
    )


def _dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.iterdir() if f.is_file())
