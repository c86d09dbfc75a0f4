"""A symbol's record: the span its trades (or the rollups that outlived them) prove was
recorded. Its own module so that the readers' protocols and the coverage both name it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Record:
    """A symbol's record, [from_ms, to_ms]; ``declared_from`` (``declared_to``): that edge
    is a declaration's (a proven file's period), not the first (last) stored trade.
    ``held_from_ms``: the trades before it may be gone, their rollups kept (None: every
    trade of the record is held)."""

    from_ms: int
    to_ms: int
    declared_from: bool = False
    declared_to: bool = False
    held_from_ms: int | None = None

    @property
    def span(self) -> tuple[int, int]:
        return self.from_ms, self.to_ms
