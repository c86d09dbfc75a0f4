"""Walk a symbol's stored trades and report every defect: the auditor behind ``verify``.

Holes inside a closed gap record (ids the exchange marks invalid, or unfillable ranges)
are listed but explained; anything else fails the audit.

Each batch is reduced to the agg-id intervals it covers (a live batch is one contiguous
interval), so a week of trades costs memory per batch, not per trade. Sorting the
intervals then shows holes (ids never stored) and duplicates (ids stored twice).

Where the symbol's price-level rollups are kept, every rollup of the hours the window
touches is recomputed from the stored trades and compared byte for byte (their encoding
is canonical): one that disagrees, is missing or should not exist is a defect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tradestore._errors import CorruptValue, FixedPointError
from tradestore.codec._twins import decode_columns
from tradestore.codec._values import decode_batch
from tradestore.store import _keys
from tradestore.store._gaps import OPEN, Gap
from tradestore.store._measure import array_len
from tradestore.store._rollcheck import RollupMismatch
from tradestore.store._rollcheck import check as check_rollups
from tradestore.store._store import TradeStore

MAX_LISTED = 1000


@dataclass
class VerifyReport:
    symbol: str
    batches: int = 0  # values read in the window, empty ones included
    empty_batches: int = 0  # values holding no trade (legal: the Rust recorder wrote them)
    trades: int = 0
    first_id: int | None = None
    last_id: int | None = None
    holes: list[tuple[int, int]] = field(default_factory=list)  # inclusive id ranges
    # hole -> the gap record containing it (None: nobody recorded the hole)
    hole_gaps: list[Gap | None] = field(default_factory=list)
    duplicates: int = 0
    duplicate_examples: list[int] = field(default_factory=list)
    undecodable: list[str] = field(default_factory=list)  # keys
    out_of_order: list[str] = field(default_factory=list)  # keys
    # The symbol's rollups: "kept", "none" (never built: readers use the trades), or
    # "off: why" (switched off: readers use the trades until a rebuild).
    rollups: str = "none"
    rollup_mismatches: list[RollupMismatch] = field(default_factory=list)

    @property
    def missing_ids(self) -> int:
        return sum(b - a + 1 for a, b in self.holes)

    @property
    def unexplained_holes(self) -> list[tuple[int, int]]:
        """Holes not accounted for by a closed gap record (filled with rows the exchange
        marks invalid, or unfillable): unrecorded ones and those still being backfilled."""
        return [
            h
            for h, g in zip(self.holes, self.hole_gaps, strict=True)
            if g is None or g.status == OPEN
        ]

    @property
    def ok(self) -> bool:
        return not (
            self.unexplained_holes
            or self.duplicates
            or self.undecodable
            or self.out_of_order
            or self.rollup_mismatches
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "ok": self.ok,
            "batches": self.batches,
            "empty_batches": self.empty_batches,
            "trades": self.trades,
            "first_agg_id": self.first_id,
            "last_agg_id": self.last_id,
            "missing_ids": self.missing_ids,
            "unexplained_holes": len(self.unexplained_holes),
            "holes": [
                _hole_doc(a, b, g)
                for (a, b), g in zip(self.holes[:MAX_LISTED], self.hole_gaps, strict=False)
            ],
            "duplicates": self.duplicates,
            "duplicate_examples": self.duplicate_examples[:20],
            "undecodable_keys": self.undecodable[:MAX_LISTED],
            "out_of_order_keys": self.out_of_order[:MAX_LISTED],
            "rollups": self.rollups,
            "rollup_mismatches": [
                {"key": m.key, "problem": m.problem} for m in self.rollup_mismatches[:MAX_LISTED]
            ],
        }


def _hole_doc(first: int, last: int, gap: Gap | None) -> dict[str, object]:
    doc = {
        "first_id": first,
        "last_id": last,
        "recorded_gap": gap.status if gap else "not recorded",
    }
    if gap is not None and gap.reason:
        doc["gap_reason"] = gap.reason
    return doc


def verify(
    store: TradeStore,
    symbol: str,
    start_ms: int | None = None,
    end_ms: int | None = None,
    *,
    rollups: bool = True,
) -> VerifyReport:
    """Audit the trades of ``symbol`` (with start_ms <= T <= end_ms when given) and,
    with ``rollups``, the rollups of the hours the window touches. One catch-up with the
    writer for everything: the trades and rollups audited are of one moment."""
    with store.reading():
        return _verify(store, symbol, start_ms, end_ms, rollups)


def _verify(
    store: TradeStore, symbol: str, start_ms: int | None, end_ms: int | None, rollups: bool
) -> VerifyReport:
    symbol = _keys.check_symbol(symbol)
    report = VerifyReport(symbol)
    lo = 0 if start_ms is None else start_ms
    hi = _keys.MAX_MS if end_ms is None else end_ms
    intervals: list[tuple[int, int]] = []
    prev_max = None
    for key, value in store.iter_values(symbol, lo, hi):
        try:
            ids = _window_ids(key, value, lo, hi)
        except CorruptValue:
            report.undecodable.append(key.decode("ascii", "replace"))
            continue
        key_ms = _key_ms(key)
        if key_ms is None:
            report.out_of_order.append(key.decode("ascii", "replace"))
        if not ids:
            if not array_len(value) and key_ms is not None and lo <= key_ms <= hi:
                report.batches += 1
                report.empty_batches += 1
            continue
        report.batches += 1
        report.trades += len(ids)
        if any(b <= a for a, b in zip(ids, ids[1:], strict=False)):
            report.out_of_order.append(key.decode("ascii", "replace"))
            ids.sort()
        # A backfilled hole inside a live batch's time span is keyed after that batch and
        # lies wholly below its ids: that is how fills look, not disorder (found by the soak).
        if prev_max is not None and ids[0] <= prev_max < ids[-1]:
            report.out_of_order.append(key.decode("ascii", "replace"))
        prev_max = ids[-1] if prev_max is None else max(prev_max, ids[-1])
        intervals.extend(_runs(ids))
    _merge(intervals, report)
    # A hole lies inside the gap record that explains it (rows the exchange marks invalid
    # leave holes inside a filled gap).
    gaps = store.gaps(symbol)
    report.hole_gaps = [
        next((g for g in gaps if g.first_id <= a and b <= g.last_id), None) for a, b in report.holes
    ]
    state = store.rollup_state(symbol)
    if state is not None:
        report.rollups = "kept" if state.kept else f"off: {state.off}"
    if rollups and state is not None and state.kept:
        report.rollup_mismatches = check_rollups(store, symbol, lo, hi, limit=MAX_LISTED)
    return report


def _key_ms(key: bytes) -> int | None:
    tail = key[-_keys.MS_DIGITS :]
    return int(tail) if tail.isdigit() else None


def _window_ids(key: bytes, value: bytes, lo: int, hi: int) -> list[int]:
    """The agg ids of one value's trades with lo <= T <= hi, in stored order.

    The compiled column decoder reads ids without building a Decimal per trade; a value
    whose prices do not fit int64 at 1e-8 is still valid, and goes through msgpack.
    """
    try:
        ids: list[int] = decode_columns([(key, value)], lo, hi)[0].tolist()
        return ids
    except FixedPointError:
        return [t.agg_id for t in decode_batch(value, key) if lo <= t.time_ms <= hi]


def _runs(ids: list[int]) -> list[tuple[int, int]]:
    """Sorted ids as maximal runs; a repeated id becomes its own one-id run."""
    runs = []
    start = prev = ids[0]
    for i in ids[1:]:
        if i != prev + 1:
            runs.append((start, prev))
            start = i
        prev = i
    runs.append((start, prev))
    return runs


def _merge(intervals: list[tuple[int, int]], report: VerifyReport) -> None:
    if not intervals:
        return
    intervals.sort()
    report.first_id = intervals[0][0]
    covered_to = intervals[0][1]
    for a, b in intervals[1:]:
        if a > covered_to + 1:
            report.holes.append((covered_to + 1, a - 1))
        elif a <= covered_to:
            overlap = min(b, covered_to) - a + 1
            report.duplicates += overlap
            if len(report.duplicate_examples) < 20:
                report.duplicate_examples.append(a)
        covered_to = max(covered_to, b)
    report.last_id = covered_to
