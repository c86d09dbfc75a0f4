"""Gap records: holes in a symbol's agg-id sequence, stored under ``gaps:{SYMBOL}:{id}``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import msgpack

OPEN = "open"
FILLED = "filled"
UNFILLABLE = "unfillable"


@dataclass(frozen=True, slots=True)
class Gap:
    """Agg ids first_id..last_id (inclusive) were not received live.

    ``after_time_ms``/``before_time_ms`` are the trade times of the trades on either side,
    so the hole can be placed in time. ``status`` is open, filled or unfillable.
    """

    first_id: int
    last_id: int
    after_time_ms: int
    before_time_ms: int
    detected_ms: int
    status: str = OPEN
    reason: str = ""
    filled_ms: int | None = None
    # Backfill progress: ids below this are already stored (a resumed fill starts here).
    resume_from: int | None = None

    @property
    def size(self) -> int:
        return self.last_id - self.first_id + 1

    def to_bytes(self) -> bytes:
        return bytes(msgpack.packb(asdict(self)))

    @classmethod
    def from_bytes(cls, raw: bytes) -> Gap:
        doc = msgpack.unpackb(raw)
        return cls(**{k: v for k, v in doc.items() if k in _FIELDS})

    def with_status(self, status: str, reason: str = "", filled_ms: int | None = None) -> Gap:
        return replace(self, status=status, reason=reason, filled_ms=filled_ms)

    def with_progress(self, resume_from: int, reason: str = "") -> Gap:
        return replace(self, resume_from=resume_from, reason=reason)


_FIELDS = frozenset(Gap.__dataclass_fields__)


def gap_tally(gaps: list[Gap]) -> dict[str, int]:
    """A symbol's gaps counted by status, and the agg ids the open ones miss: the gap
    figures of a ``stats`` row."""
    return {
        "open_gaps": sum(1 for g in gaps if g.status == OPEN),
        "filled_gaps": sum(1 for g in gaps if g.status == FILLED),
        "unfillable_gaps": sum(1 for g in gaps if g.status == UNFILLABLE),
        "missing_ids_open": sum(g.size for g in gaps if g.status == OPEN),
    }
