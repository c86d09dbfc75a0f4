"""The per-symbol bookkeeping kept under ``meta:`` keys (docs/FORMAT.md).

Every write path updates it in the same WriteBatch as the trades, so it is exact at
every moment a reader can see. A database written by another program (the Rust
recorder) has none of it, and one written by tradestore-trio 0.1 lacks the agg-id set:
the adoption pass measures what is missing once (``TradeStore.adopt``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgpack
import rocksdict

from tradestore.store import _keys
from tradestore.store._idset import AggIdSet

SPAN = "span"
COUNT = "count"
LAST_ID = "last_id"
IDS = "ids"
RETENTION_EDGE = "retention_edge"
ROLLUPS = "rollups"


@dataclass
class RollupState:
    """Whether a symbol's price-level rollups are kept (docs/FORMAT.md, "Rollups").

    A symbol without a state has none: readers compute from the trades, and the next
    writable open builds them. ``off`` says why they were switched off (a value that
    could not be summarised exactly, or a corrupt rollup): readers ignore them until
    ``tradestore-trio rollups rebuild`` builds them again. ``open_hours`` are the hours
    (start ms) not summarised yet: readers take their minutes. ``open_minutes`` are the
    minutes (start ms) near the newest trade whose rollups are not written yet: readers
    take their trades. ``open_days`` are the UTC days (start ms) whose day rollup is not
    written yet: readers take their hours. The writer summarises them a little at a time
    once the newest trade it stored has passed them (``RollupKeeper``,
    tradestore.store._rollups).

    The rollups outlive the trades: ``summarized`` holds the agg ids whose trades were
    deleted while their rollups stay (a later write of one of them stores the trade but
    does not count it again), and ``held_from_ms`` the time before which the trades may
    no longer all be held (None: nothing was ever deleted). ``rollups_from_ms``: the
    rollups before it were deleted (their own retention): readers take the trades still
    held there (None: none was). ``days`` False: the day tier
    was never built for this symbol (a database of version 2); readers use hours.

    Version 2 added ``open_minutes``, version 3 the day tier and what outlives the
    trades. A program reading a newer version sees an unknown version and reads the
    trades instead, which is slower but correct.
    """

    open_hours: set[int] = field(default_factory=set)
    off: str | None = None
    open_minutes: set[int] = field(default_factory=set)
    open_days: set[int] = field(default_factory=set)
    days: bool = True
    summarized: AggIdSet = field(default_factory=AggIdSet)
    held_from_ms: int | None = None
    rollups_from_ms: int | None = None

    @property
    def kept(self) -> bool:
        return self.off is None

    @property
    def has_open(self) -> bool:
        return bool(self.open_hours or self.open_minutes or self.open_days)

    def copy(self) -> RollupState:
        return RollupState(
            set(self.open_hours),
            self.off,
            set(self.open_minutes),
            set(self.open_days),
            self.days,
            AggIdSet(self.summarized.intervals),
            self.held_from_ms,
            self.rollups_from_ms,
        )

    def to_bytes(self) -> bytes:
        doc: dict[str, object] = {
            "v": 3,
            "open": sorted(self.open_hours),
            "open_m": sorted(self.open_minutes),
            "open_d": sorted(self.open_days),
            "days": self.days,
        }
        if self.off is not None:
            doc["off"] = self.off
        if len(self.summarized):
            doc["summarized"] = [x for run in self.summarized.intervals for x in run]
        if self.held_from_ms is not None:
            doc["held_from"] = self.held_from_ms
        if self.rollups_from_ms is not None:
            doc["rollups_from"] = self.rollups_from_ms
        return bytes(msgpack.packb(doc))

    @classmethod
    def from_bytes(cls, raw: bytes) -> RollupState:
        try:
            doc = msgpack.unpackb(raw)
            version = doc.get("v")
            if version not in (1, 2, 3):
                return cls(off=f"unknown rollup state version {version!r}")
            flat = doc.get("summarized", [])
            held = doc.get("held_from")
            since = doc.get("rollups_from")
            return cls(
                {int(h) for h in doc.get("open", ())},
                doc.get("off"),
                {int(m) for m in doc.get("open_m", ())},
                {int(d) for d in doc.get("open_d", ())},
                bool(doc.get("days", False)),
                AggIdSet(zip(flat[::2], flat[1::2], strict=True)),
                None if held is None else int(held),
                None if since is None else int(since),
            )
        except (ValueError, TypeError, AttributeError, msgpack.UnpackException):
            return cls(off="unreadable rollup state")


@dataclass
class SymbolBook:
    """One symbol's bookkeeping; a field is None when the database does not record it."""

    # The largest distance (ms) a trade lies before its batch key, and after it.
    span: tuple[int, int] | None = None
    count: int | None = None  # trades stored
    last_id: int | None = None  # highest agg id ever stored (pruning does not lower it)
    ids: AggIdSet | None = None  # the agg ids stored now
    # Retention has dealt with every batch keyed before this time (ms): what lies below
    # was already older than the window when it was stored, and retention keeps it.
    retention_edge_ms: int | None = None

    @classmethod
    def empty(cls) -> SymbolBook:
        """The book of a symbol with nothing stored yet: complete, and all zero."""
        return cls(span=(0, 0), count=0, ids=AggIdSet())

    @property
    def complete(self) -> bool:
        """Every write path can rely on it (the agg-id set above all)."""
        return self.span is not None and self.count is not None and self.ids is not None


def load(db: rocksdict.Rdict, symbol: str) -> SymbolBook:
    book = SymbolBook()
    raw = db.get(_keys.meta_key(SPAN, symbol))
    if raw is not None:
        before, after = msgpack.unpackb(raw)
        book.span = (int(before), int(after))
    raw = db.get(_keys.meta_key(COUNT, symbol))
    if raw is not None:
        book.count = int(raw)
    raw = db.get(_keys.meta_key(LAST_ID, symbol))
    if raw is not None:
        book.last_id = int(raw)
    raw = db.get(_keys.meta_key(IDS, symbol))
    if raw is not None:
        book.ids = AggIdSet.from_bytes(raw)
    raw = db.get(_keys.meta_key(RETENTION_EDGE, symbol))
    if raw is not None:
        book.retention_edge_ms = int(raw)
    return book


def load_rollups(db: rocksdict.Rdict, symbol: str) -> RollupState | None:
    """The symbol's rollup state (None: it has no rollups). The rollup keeper owns it."""
    raw = db.get(_keys.meta_key(ROLLUPS, symbol))
    return None if raw is None else RollupState.from_bytes(raw)


def put_span(wb: rocksdict.WriteBatch, symbol: str, span: tuple[int, int]) -> None:
    wb.put(_keys.meta_key(SPAN, symbol), msgpack.packb(list(span)))


def put_count(wb: rocksdict.WriteBatch, symbol: str, count: int) -> None:
    wb.put(_keys.meta_key(COUNT, symbol), b"%d" % count)


def put_last_id(wb: rocksdict.WriteBatch, symbol: str, last_id: int) -> None:
    wb.put(_keys.meta_key(LAST_ID, symbol), b"%d" % last_id)


def put_ids(wb: rocksdict.WriteBatch, symbol: str, ids: AggIdSet) -> None:
    wb.put(_keys.meta_key(IDS, symbol), ids.to_bytes())


def put_retention_edge(wb: rocksdict.WriteBatch, symbol: str, edge_ms: int) -> None:
    wb.put(_keys.meta_key(RETENTION_EDGE, symbol), b"%d" % edge_ms)


def put_rollups(wb: rocksdict.WriteBatch, symbol: str, state: RollupState | None) -> None:
    """Record the rollup state (None: the symbol has no rollups)."""
    key = _keys.meta_key(ROLLUPS, symbol)
    if state is None:
        wb.delete(key)
    else:
        wb.put(key, state.to_bytes())


def put_all(wb: rocksdict.WriteBatch, symbol: str, book: SymbolBook) -> None:
    """Every recorded field of book (the adoption pass writes them all at once)."""
    if book.span is not None:
        put_span(wb, symbol, book.span)
    if book.count is not None:
        put_count(wb, symbol, book.count)
    if book.last_id is not None:
        put_last_id(wb, symbol, book.last_id)
    if book.ids is not None:
        put_ids(wb, symbol, book.ids)
