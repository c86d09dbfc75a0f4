"""Compare archived days with the store, trade by trade: what ``verify --archive`` reports
and what retention asks before it deletes a day.

For each day the store holds trades for, the partition is read back (from the disk or
S3), its rows are checked against the checksum and row count in its own footer, and the
store's trades of the day are looked up in it by agg id:

    ok          the partition holds exactly the store's trades of the day
    archived    the store holds part of the day (pruned since), every trade of it archived
    missing     no partition for the day
    stale       the store holds trades the partition lacks (a backfill since): archive again
    mismatch    an agg id with different values in the two
    corrupt     the partition's rows do not match its own footer, or its rollups
                sidecar names the partition but holds other rollups than its trades'

Only ``ok`` and ``archived`` let retention delete the store's copy of a day.

The day's rollups sidecar is checked against a recomputation from the partition's rows
(``rollups``): ``ok``; ``missing`` (written by an older version: readers sum the trades,
and the next ``archive`` run adds it); ``stale`` (it names other trades than the
partition's, as a write that died between the two files leaves: readers ignore it, the
next ``archive`` run replaces it); ``differs`` (it names the partition but its rollups
are not the trades': the day is ``corrupt``; ``archive --force`` writes it again).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from tradestore.archive import _days
from tradestore.archive._dest import Destination, DestinationError, PartitionKey
from tradestore.archive._parquet import checksum, from_table
from tradestore.archive._rollups import (
    day_rollups,
    read_sidecar,
    read_stamp,
    sidecar_path,
)
from tradestore.store import TradeColumns, TradeStore, check_symbol

OK, ARCHIVED, MISSING, STALE, MISMATCH, CORRUPT = (
    "ok",
    "archived",
    "missing",
    "stale",
    "mismatch",
    "corrupt",
)
SAFE = frozenset({OK, ARCHIVED})
# What the day's rollups sidecar is (besides OK and MISSING above).
ROLLUPS_STALE, ROLLUPS_DIFFER = "stale", "differs"


@dataclass(frozen=True)
class DayCheck:
    key: PartitionKey
    verdict: str
    store_rows: int
    archive_rows: int | None
    complete: bool | None = None
    detail: str = ""
    rollups: str | None = None  # the sidecar: ok, missing, stale, differs (None: not read)

    @property
    def safe_to_delete(self) -> bool:
        """Every trade the store holds for the day is in the archive, value for value."""
        return self.verdict in SAFE

    def to_dict(self) -> dict:
        return {
            "market": self.key.market,
            "symbol": self.key.symbol,
            "date": self.key.day.isoformat(),
            "verdict": self.verdict,
            "safe_to_delete": self.safe_to_delete,
            "store_rows": self.store_rows,
            "archive_rows": self.archive_rows,
            "archive_complete": self.complete,
            "detail": self.detail,
            "rollups": self.rollups,
        }


def verify_archive(
    store: TradeStore,
    dest: Destination,
    *,
    market: str = "spot",
    symbols: Sequence[str] | None = None,
    through: date | None = None,
    since: date | None = None,
    now_ms: int | None = None,
) -> Iterator[DayCheck]:
    """Check each closed day (up to ``through``) the store holds for ``symbols``."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    last = _days.last_closed_day(now_ms)
    if through is not None:
        last = min(last, through)
    wanted = [check_symbol(s) for s in symbols] if symbols else store.symbols()
    for symbol in wanted:
        first_ms = store.next_trade_bound(symbol, 0)
        if first_ms is None:
            continue
        day = _days.day_of(first_ms)
        if since is not None:
            day = max(day, since)
        while day <= last:
            key = PartitionKey(market, symbol, day)
            lo, hi = _days.day_start_ms(day), _days.day_end_ms(day)
            stored = store.query_columns(symbol, lo, hi)
            if len(stored):
                yield check_day(dest, key, stored)
            bound = store.next_trade_bound(symbol, hi + 1)
            if bound is None:
                break
            day = max(day + timedelta(days=1), _days.day_of(bound))


def check_day(dest: Destination, key: PartitionKey, stored: TradeColumns) -> DayCheck:
    """The verdict on one day: ``stored`` (the store's trades of it) against its partition."""
    n = len(stored)
    try:
        info = dest.read_info(key)
        if info is None:
            return DayCheck(key, MISSING, n, None, detail="no partition")
        table = dest.read_table(key)
    except DestinationError as exc:
        return DayCheck(key, CORRUPT, n, None, detail=str(exc))
    if table is None:  # replaced or removed between the two reads
        return DayCheck(key, MISSING, n, None, detail="no partition")
    archived = from_table(table)
    m = len(archived)
    if m != info.rows or checksum(archived) != info.checksum:
        return DayCheck(
            key, CORRUPT, n, m, info.complete, "the rows do not match the footer's checksum"
        )
    pos = np.searchsorted(archived.agg_id, stored.agg_id)
    inside = pos < m
    found = np.zeros(n, dtype=np.bool_)
    found[inside] = archived.agg_id[pos[inside]] == stored.agg_id[inside]
    if not found.all():
        lacking = int((~found).sum())
        first = int(stored.agg_id[~found][0])
        return DayCheck(
            key,
            STALE,
            n,
            m,
            info.complete,
            f"{lacking} stored trades not archived (first agg id {first}): archive the day again",
        )
    at = pos
    for name in ("time_ms", "price", "qty", "is_buyer_maker"):
        differs = getattr(archived, name)[at] != getattr(stored, name)
        if differs.any():
            agg_id = int(stored.agg_id[int(np.argmax(differs))])
            return DayCheck(key, MISMATCH, n, m, info.complete, f"agg id {agg_id}: {name} differs")
    rollups, note = check_rollups(dest, key, archived, info.rows, info.checksum)
    if rollups == ROLLUPS_DIFFER:
        return DayCheck(key, CORRUPT, n, m, info.complete, note, rollups)
    detail = "" if n == m else f"the store holds {n} of the day's {m} archived trades"
    detail = "; ".join(d for d in (detail, note) if d)
    return DayCheck(key, OK if n == m else ARCHIVED, n, m, info.complete, detail, rollups)


def check_rollups(
    dest: Destination, key: PartitionKey, archived: TradeColumns, rows: int, digest: str
) -> tuple[str, str]:
    """(what the day's sidecar is, a note when it is not ok), given the partition's rows
    and the row count and checksum in its footer."""
    try:
        found = dest.with_parquet(
            sidecar_path(key), lambda pf: (read_stamp(pf), read_sidecar(pf, key.symbol))
        )
    except (DestinationError, OSError, ValueError) as exc:
        return ROLLUPS_DIFFER, f"the rollups sidecar cannot be read: {exc}"
    if found is None:
        return MISSING, "no rollups sidecar (an older archive): the next archive run adds it"
    stamp = found[0]
    if stamp is None or not stamp.names(rows, digest) or stamp.bytes != dest.size(key.path):
        return (
            ROLLUPS_STALE,
            "the rollups sidecar names other trades: the next archive run replaces it",
        )
    if found[1] != day_rollups(key.symbol, archived):
        return ROLLUPS_DIFFER, (
            "the rollups sidecar differs from the partition's trades: archive the day "
            "again with --force"
        )
    return OK, ""
