"""What a partition says about itself, in its Parquet footer (key ``tradestore.partition``).

Every archived day carries its row count, agg-id and time range, the checksum of its
rows, and whether the day's record is complete — and if not, why (ids missing, gap
records still open or unfillable, the record starting or ending inside the day). A day
the store had certified against Binance's published file when it was archived carries
that certification (``certified``; absent, or null, in footers written before it existed
or of days not certified then: a footer is not changed after it is written, only
replaced with its partition).
Readers can check a file against it without the store; the store's tools compare the two.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

FORMAT = 1


@dataclass(frozen=True)
class GapNote:
    """A gap record overlapping the day that was not filled when the day was archived."""

    first_id: int
    last_id: int
    status: str
    reason: str = ""


@dataclass(frozen=True)
class PartitionInfo:
    market: str
    symbol: str
    date: str  # YYYY-MM-DD, UTC
    rows: int
    first_agg_id: int | None
    last_agg_id: int | None
    first_time_ms: int | None
    last_time_ms: int | None
    missing_ids: int  # ids absent between first_agg_id and last_agg_id
    complete: bool
    checksum: str
    incomplete_reasons: tuple[str, ...] = ()
    open_gaps: tuple[GapNote, ...] = ()
    written_ms: int = 0
    writer: str = ""  # host (and shard) that wrote it
    version: str = ""  # tradestore-trio version
    format: int = FORMAT
    extra: dict = field(default_factory=dict)
    # The store's certification of the day (tradestore.store.Certification.as_dict), if any.
    certified: dict | None = None

    def to_json(self) -> str:
        doc = asdict(self)
        doc["incomplete_reasons"] = list(self.incomplete_reasons)
        doc["open_gaps"] = [asdict(g) for g in self.open_gaps]
        return json.dumps(doc, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> PartitionInfo:
        doc = json.loads(text)
        known = set(cls.__dataclass_fields__)
        doc = {k: v for k, v in doc.items() if k in known}
        doc["incomplete_reasons"] = tuple(doc.get("incomplete_reasons", ()))
        doc["open_gaps"] = tuple(GapNote(**g) for g in doc.get("open_gaps", ()))
        return cls(**doc)

    def same_content(self, other: PartitionInfo) -> bool:
        """Same rows, the same verdict on completeness and the same certification (the
        write time may differ)."""
        return (
            self.rows == other.rows
            and self.checksum == other.checksum
            and self.complete == other.complete
            and self.incomplete_reasons == other.incomplete_reasons
            and self.open_gaps == other.open_gaps
            and self.certified == other.certified
        )

    def summary(self) -> str:
        if self.complete:
            return "complete"
        return "INCOMPLETE: " + "; ".join(self.incomplete_reasons)
