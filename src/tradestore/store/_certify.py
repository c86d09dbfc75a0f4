"""Days certified against Binance's published daily file (``verify --against``).

A certification says: the trades this store held for a symbol on one UTC day were
exactly the rows of Binance's data.binance.vision aggTrades file for that day (the same
agg ids, prices, quantities, times and sides). It records the file (name, SHA-256, its
distinct rows and agg-id range), the defects found in Binance's own file (duplicate rows,
a checksum that does not match), where our side was read from (the store, or the archive
when the store no longer held the day) and when it was made. It is kept under
``meta:certified:{SYMBOL}:{YYYY-MM-DD}`` as MessagePack.

A certification holds only while the day's stored trades are those it was made beside,
as the record's declaration does (``declare_recorded``): the day's count and lowest and
highest agg id as stored at certification (trades, or the rollups that summarise them
once the trades are pruned) are kept with it and compared on every read. A later write
of new trades into the day (a backfill) changes them, and the day is no longer certified
until it is verified again. Retention taking part or all of the day keeps it, as long as
what is left lies inside what was certified.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, NamedTuple, Protocol

import msgpack

from tradestore._errors import CorruptValue
from tradestore.codec._twins import rollup_summary
from tradestore.store import _keys
from tradestore.store._errors import StoreError
from tradestore.store._pyramid import pyramid
from tradestore.store._reader import RollupReader


class CertifiedStore(RollupReader, Protocol):
    """What certifying reads and writes of the store."""

    @property
    def read_only(self) -> bool: ...

    def retention_edge(self, symbol: str) -> int | None: ...


NAME = "certified"
FROM_STORE, FROM_ARCHIVE = "store", "archive"  # where our side of the comparison was read


class DayPrint(NamedTuple):
    """What the store holds of one UTC day: its trade count and lowest and highest agg id
    (None when it holds none)."""

    trades: int
    first_id: int | None
    last_id: int | None


NOTHING = DayPrint(0, None, None)


@dataclass(frozen=True)
class CertifiedFile:
    """The facts of a comparison that matched: Binance's file and what was found in it."""

    file: str  # its name, e.g. BTCUSDT-aggTrades-2026-01-01.zip
    sha256: str  # of the file as read (the .zip, or the .csv)
    rows: int  # distinct agg ids in it (a duplicate row counted once)
    first_id: int
    last_id: int
    defects: tuple[str, ...] = ()  # Binance's own: duplicate rows, a wrong .CHECKSUM
    source: str = FROM_STORE  # what our side was read from: the store or the archive

    def __post_init__(self) -> None:
        if self.source not in (FROM_STORE, FROM_ARCHIVE):
            raise ValueError(f"source must be {FROM_STORE!r} or {FROM_ARCHIVE!r}")
        if self.rows <= 0 or self.first_id > self.last_id:
            raise ValueError("a certified file holds at least one trade")


@dataclass(frozen=True)
class Certification:
    """A day that matched Binance's file (the module's docstring)."""

    symbol: str
    day: date
    facts: CertifiedFile
    certified_ms: int
    stored: DayPrint = NOTHING  # the day as stored when certified

    def as_dict(self) -> dict[str, Any]:
        """The certification as JSON: what ``stats``, coverage and the archive footer show."""
        f = self.facts
        return {
            "symbol": self.symbol,
            "date": self.day.isoformat(),
            "file": f.file,
            "sha256": f.sha256,
            "rows": f.rows,
            "first_agg_id": f.first_id,
            "last_agg_id": f.last_id,
            "binance_defects": list(f.defects),
            "source": f.source,
            "certified_ms": self.certified_ms,
        }

    def matches(self, rows: int, first_id: int | None, last_id: int | None) -> bool:
        """Whether ``rows`` trades with ids first_id..last_id are the certified ones."""
        f = self.facts
        return (rows, first_id, last_id) == (f.rows, f.first_id, f.last_id)

    def to_bytes(self) -> bytes:
        f = self.facts
        doc = {
            "v": 1,
            "file": f.file,
            "sha256": f.sha256,
            "rows": f.rows,
            "ids": [f.first_id, f.last_id],
            "defects": list(f.defects),
            "source": f.source,
            "at": self.certified_ms,
            "stored": list(self.stored),
        }
        return bytes(msgpack.packb(doc))

    @classmethod
    def from_bytes(cls, symbol: str, day: date, raw: bytes) -> Certification | None:
        """The stored certification; None when it cannot be read (not certified, then)."""
        try:
            doc = msgpack.unpackb(raw)
            if doc.get("v") != 1:
                return None
            first_id, last_id = (int(i) for i in doc["ids"])
            trades, low, high = doc["stored"]
            facts = CertifiedFile(
                str(doc["file"]),
                str(doc["sha256"]),
                int(doc["rows"]),
                first_id,
                last_id,
                tuple(str(d) for d in doc.get("defects", ())),
                str(doc.get("source", FROM_STORE)),
            )
            stored = DayPrint(
                int(trades), None if low is None else int(low), None if high is None else int(high)
            )
            return cls(symbol, day, facts, int(doc["at"]), stored)
        except (ValueError, TypeError, KeyError, AttributeError, msgpack.UnpackException):
            return None


@dataclass
class _Sum:
    trades: int = 0
    low: int | None = None
    high: int | None = None

    def add(self, trades: int, low: int, high: int) -> None:
        self.trades += trades
        self.low = low if self.low is None else min(self.low, low)
        self.high = high if self.high is None else max(self.high, high)

    def result(self) -> DayPrint:
        return DayPrint(self.trades, self.low, self.high) if self.trades else NOTHING


def day_print(store: CertifiedStore, symbol: str, day: date) -> DayPrint:
    """The day's stored trade count and agg-id range: from its rollups where they are kept
    (they outlive the trades; a day's reads 24 summaries, not its trades), else its trades."""
    symbol = _keys.check_symbol(symbol)
    lo = _day_start(day)
    hi = lo + _keys.DAY_MS - 1
    try:
        parts = pyramid(store, symbol, lo, hi)
        if parts is not None:
            total = _Sum()
            for key, value in parts.values:
                head = rollup_summary(value, key)
                total.add(int(head[0]), int(head[3]), int(head[4]))
            if parts.raw is not None and len(parts.raw):
                raw = parts.raw
                total.add(len(raw), int(raw.agg_id.min()), int(raw.agg_id.max()))
            return total.result()
    except CorruptValue:
        pass  # a rollup that cannot be read: count the trades instead
    ids = store.query_columns(symbol, lo, hi).agg_id
    if not ids.shape[0]:
        return NOTHING
    return DayPrint(int(ids.shape[0]), int(ids.min()), int(ids.max()))


def certify_day(
    store: CertifiedStore,
    symbol: str,
    day: date,
    facts: CertifiedFile,
    *,
    now_ms: int | None = None,
) -> Certification:
    """Record that ``symbol``'s ``day`` matched Binance's file (``facts``); returns the
    certification. Call it right after the comparison. When our side was the store's
    trades, the day must still hold exactly the file's agg ids (StoreError otherwise:
    something was written since). StoreError on a read-only store."""
    symbol = _keys.check_symbol(symbol)
    if store.read_only:
        raise StoreError("the store was opened read-only: the certification cannot be recorded")
    stored = day_print(store, symbol, day)
    if facts.source == FROM_STORE and stored != (facts.rows, facts.first_id, facts.last_id):
        raise StoreError(
            f"{symbol} {day}: the store now holds {stored.trades} trades "
            f"({stored.first_id}..{stored.last_id}), not the {facts.rows} compared "
            f"({facts.first_id}..{facts.last_id}): something was written since; verify again"
        )
    at = int(time.time() * 1000) if now_ms is None else now_ms
    cert = Certification(symbol, day, facts, at, stored)
    store.db.put(_key(symbol, day), cert.to_bytes())
    return cert


def certified_days(store: CertifiedStore, symbol: str) -> dict[date, Certification]:
    """The days of ``symbol`` certified and still holding (the module's docstring), by day."""
    symbol = _keys.check_symbol(symbol)
    store.refresh()
    prefix = _prefix(symbol)
    found: dict[date, Certification] = {}
    for key, raw in store.iter_range(prefix, None):
        try:
            day = date.fromisoformat(key[len(prefix) :].decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            continue
        cert = Certification.from_bytes(symbol, day, raw)
        if cert is not None and holds(store, cert):
            found[day] = cert
    return found


def certification(store: CertifiedStore, symbol: str, day: date) -> Certification | None:
    """``day``'s certification if it has one that still holds, else None."""
    symbol = _keys.check_symbol(symbol)
    store.refresh()
    raw = store.db.get(_key(symbol, day))
    if raw is None:
        return None
    cert = Certification.from_bytes(symbol, day, raw)
    return cert if cert is not None and holds(store, cert) else None


def holds(store: CertifiedStore, cert: Certification) -> bool:
    """Whether the day still holds what was certified: the same count and id range as
    then; or, once retention has reached into the day, only trades inside them."""
    now = day_print(store, cert.symbol, cert.day)
    if now == cert.stored:
        return True
    edge = store.retention_edge(cert.symbol)
    if edge is None or edge <= _day_start(cert.day):
        return False
    if now == NOTHING:
        return True
    was = cert.stored
    return (
        was.first_id is not None
        and was.last_id is not None
        and now.first_id is not None
        and now.last_id is not None
        and now.trades <= was.trades
        and was.first_id <= now.first_id
        and now.last_id <= was.last_id
    )


def _prefix(symbol: str) -> bytes:
    return _keys.meta_key(NAME, symbol) + b":"


def _key(symbol: str, day: date) -> bytes:
    return _prefix(symbol) + day.isoformat().encode("ascii")


def _day_start(day: date) -> int:
    return day.toordinal() * _keys.DAY_MS - date(1970, 1, 1).toordinal() * _keys.DAY_MS


def certified_in(store: CertifiedStore, symbol: str, start_ms: int, end_ms: int) -> list[date]:
    """The certified days (still holding) that [start_ms, end_ms] overlaps, ascending:
    only the window's days are looked at."""
    symbol = _keys.check_symbol(symbol)
    prefix = _prefix(symbol)
    lo = _day(max(start_ms, 0)).isoformat().encode("ascii")
    hi = _day(end_ms).isoformat().encode("ascii") + b"~"
    found = []
    for key, raw in store.iter_range(prefix + lo, prefix + hi):
        try:
            day = date.fromisoformat(key[len(prefix) :].decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            continue
        cert = Certification.from_bytes(symbol, day, raw)
        if cert is not None and holds(store, cert):
            found.append(day)
    return found


def _day(ms: int) -> date:
    return datetime.fromtimestamp(ms // 1000, tz=UTC).date()
