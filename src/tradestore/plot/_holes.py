"""Where in time and price a window's record has holes, so a picture can mark them.

A volume profile adds up trades over time; a hole in the record (agg ids never stored)
makes some prices look thinner than they traded. The trades on either side of a hole
say when it was and between which prices the market moved through it: the price band
from the last stored trade before the hole to the first one after it is a band the
missing trades certainly crossed (they may have gone further). A thin area inside such a
band may be missing data rather than a liquidity vacuum.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from tradestore.analytics import decimal_str, fixed_to_decimal
from tradestore.store import FILLED, Coverage

CHUNK_MS = 3_600_000  # read the window an hour at a time: memory stays bounded
MAX_HOLES = 1000  # listed holes; the coverage still counts every missing id
NOT_RECORDED_DOUBT = 0.01  # of a window's time, outside the record: every vacuum is in doubt


@dataclass(frozen=True, slots=True)
class RecordHole:
    """Agg ids first_id..last_id (inclusive) of the window are not stored.

    ``after_ms``/``before_ms`` are the times of the stored trades on either side, and
    ``price_before``/``price_after`` their prices (None at the window's edge, where the
    neighbour lies outside the window). ``gap`` is the status of the gap record covering
    the hole, or None when nobody recorded it as a gap."""

    first_id: int
    last_id: int
    after_ms: int
    before_ms: int
    price_before: Decimal | None
    price_after: Decimal | None
    gap: str | None = None

    @property
    def size(self) -> int:
        return self.last_id - self.first_id + 1

    @property
    def price_band(self) -> tuple[Decimal, Decimal] | None:
        """The prices the market certainly crossed during the hole (None: not known)."""
        if self.price_before is None or self.price_after is None:
            return None
        return min(self.price_before, self.price_after), max(self.price_before, self.price_after)

    def describe(self) -> str:
        band = self.price_band
        where = (
            "prices unknown"
            if band is None
            else f"price {decimal_str(band[0])} .. {decimal_str(band[1])}"
        )
        what = "unrecorded hole" if self.gap is None else f"{self.gap} gap"
        return f"{self.size} agg ids missing ({what}), {where}"


def record_holes(
    store, symbol: str, start_ms: int, end_ms: int, coverage: Coverage
) -> list[RecordHole]:
    """The holes of [start_ms, end_ms]'s record, oldest first (at most MAX_HOLES).

    Reads nothing when the coverage says no id is missing and no gap is open: a complete
    window costs no scan."""
    if not coverage.missing_ids and not coverage.open_gaps:
        return []
    gaps = sorted(coverage.open_gaps, key=lambda g: g.first_id)
    holes: list[RecordHole] = []
    prev: tuple[int, int, int] | None = None  # (agg id, time, price) of the last trade read
    chunk_start = start_ms
    while chunk_start <= end_ms and len(holes) < MAX_HOLES:
        chunk_end = min(chunk_start + CHUNK_MS - 1, end_ms)
        cols = store.query_columns(symbol, chunk_start, chunk_end)
        chunk_start = chunk_end + 1
        if not len(cols):
            continue
        ids = cols.agg_id
        if prev is not None and int(ids[0]) > prev[0] + 1:
            holes.append(_hole(prev, (int(ids[0]), int(cols.time_ms[0]), int(cols.price[0]))))
        for i in np.flatnonzero(np.diff(ids) > 1)[: MAX_HOLES - len(holes)]:
            before = (int(ids[i]), int(cols.time_ms[i]), int(cols.price[i]))
            after = (int(ids[i + 1]), int(cols.time_ms[i + 1]), int(cols.price[i + 1]))
            holes.append(_hole(before, after))
        prev = (int(ids[-1]), int(cols.time_ms[-1]), int(cols.price[-1]))
    holes = [_with_gap(h, gaps) for h in holes[:MAX_HOLES]]
    # Open gaps whose ids lie outside the stored ids of the window (at its edges): their
    # times are known from the record, their prices are not.
    for g in gaps:
        if not any(h.first_id <= g.last_id and g.first_id <= h.last_id for h in holes):
            edge = RecordHole(
                g.first_id, g.last_id, g.after_time_ms, g.before_time_ms, None, None, g.status
            )
            holes.append(edge)
    holes.sort(key=lambda h: h.first_id)
    return holes[:MAX_HOLES]


def _hole(before: tuple[int, int, int], after: tuple[int, int, int]) -> RecordHole:
    return RecordHole(
        before[0] + 1,
        after[0] - 1,
        before[1],
        after[1],
        fixed_to_decimal(before[2]),
        fixed_to_decimal(after[2]),
    )


def _with_gap(hole: RecordHole, gaps: list) -> RecordHole:
    for g in gaps:
        if g.status != FILLED and g.first_id <= hole.last_id and hole.first_id <= g.last_id:
            return RecordHole(
                hole.first_id,
                hole.last_id,
                hole.after_ms,
                hole.before_ms,
                hole.price_before,
                hole.price_after,
                g.status,
            )
    return hole


def vacuum_doubt(low: Decimal, high: Decimal, holes: list[RecordHole], coverage) -> str | None:
    """Why a vacuum over [low, high) may be missing data rather than thin trading, or None
    when the record gives no reason to doubt it.

    A window that reaches past the record by a moment (a live recorder's last second, the
    milliseconds before a day's first trade) says little about any price; one whose record
    misses at least NOT_RECORDED_DOUBT of its time could hide trades at any price."""
    if coverage is not None and coverage.start_ms is not None and coverage.end_ms is not None:
        window = coverage.end_ms - coverage.start_ms + 1
        unrecorded = sum(b - a + 1 for a, b in coverage.not_recorded)
        if unrecorded >= NOT_RECORDED_DOUBT * window:
            return f"{unrecorded / window:.0%} of the window was not recorded"
    for h in holes:
        band = h.price_band
        if band is None:
            return "the record has a hole at unknown prices"
        if band[0] < high and low <= band[1]:
            return f"overlaps a hole in the record ({h.size} agg ids missing)"
    return None
