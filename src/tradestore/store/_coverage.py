"""Is a window's record complete? Tells "no trades happened" from "not recorded".

A window is complete when the agg ids stored in it are contiguous and no gap record that
is not filled overlaps it in time. Ids are contiguous per symbol on Binance, so a jump
inside the window is a hole even when nobody recorded it as a gap.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tradestore.store._gaps import FILLED, Gap


@dataclass(frozen=True)
class Coverage:
    complete: bool
    trades: int
    first_id: int | None
    last_id: int | None
    missing_ids: int  # holes between the first and last id stored in the window
    open_gaps: list[Gap] = field(default_factory=list)  # gap records overlapping the window

    def summary(self) -> str:
        if self.complete:
            return "complete"
        parts = []
        if self.missing_ids:
            parts.append(f"{self.missing_ids} agg ids missing")
        if self.open_gaps:
            parts.append(f"{len(self.open_gaps)} unfilled gaps overlap the window")
        return "INCOMPLETE: " + ", ".join(parts)

    def to_dict(self) -> dict:
        return {
            "complete": self.complete,
            "trades": self.trades,
            "first_agg_id": self.first_id,
            "last_agg_id": self.last_id,
            "missing_ids": self.missing_ids,
            "open_gaps": [
                {"first_id": g.first_id, "last_id": g.last_id, "status": g.status}
                for g in self.open_gaps
            ],
        }


def coverage_of(
    agg_ids: np.ndarray | list[int], gaps: list[Gap], start_ms: int, end_ms: int
) -> Coverage:
    """Coverage of a window from its ascending, distinct agg ids and the symbol's gaps."""
    ids = np.asarray(agg_ids, dtype=np.int64)
    n = int(ids.shape[0])
    if not n:
        return coverage_from_range(None, None, 0, gaps, start_ms, end_ms)
    return coverage_from_range(int(ids[0]), int(ids[-1]), n, gaps, start_ms, end_ms)


def coverage_from_range(
    first_id: int | None,
    last_id: int | None,
    count: int,
    gaps: list[Gap],
    start_ms: int,
    end_ms: int,
) -> Coverage:
    """Coverage from the smallest and largest of ``count`` distinct agg ids in the window."""
    missing = 0
    if count and first_id is not None and last_id is not None:
        missing = last_id - first_id + 1 - count
    overlapping = [
        g
        for g in gaps
        if g.status != FILLED and g.after_time_ms <= end_ms and g.before_time_ms >= start_ms
    ]
    return Coverage(
        missing == 0 and not overlapping, count, first_id, last_id, missing, overlapping
    )


def window_coverage(store, symbol: str, start_ms: int, end_ms: int) -> Coverage:
    """Coverage of [start_ms, end_ms] for ``symbol`` in ``store`` (reads the window's ids)."""
    cols = store.query_columns(symbol, start_ms, end_ms)
    return coverage_of(cols.agg_id, store.gaps(symbol), start_ms, end_ms)
