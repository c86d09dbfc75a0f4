"""The agg ids a symbol has stored, as a sorted list of inclusive intervals.

Agg ids are contiguous per symbol on Binance, so a healthy live record is one interval
and every hole (an open gap, rows the exchange marks invalid, a day not imported) adds
one. The store keeps this set under ``meta:ids:{SYMBOL}`` and updates it in the same
WriteBatch as the trades, so every write path can tell which incoming trades are new
before it encodes them: an id is never stored twice, whatever the keys of the data
already there.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from typing import TypeVar

import msgpack

from tradestore._model import StorableTrade

T = TypeVar("T", bound=StorableTrade)


class AggIdSet:
    """Disjoint, non-adjacent inclusive intervals [lo, hi] of agg ids, ascending."""

    __slots__ = ("_his", "_los")

    def __init__(self, intervals: Iterable[tuple[int, int]] = ()) -> None:
        self._los: list[int] = []
        self._his: list[int] = []
        for lo, hi in intervals:
            self.add_run(lo, hi)

    # ------------------------------------------------------------------ encoding

    def to_bytes(self) -> bytes:
        """MessagePack array ``[lo1, hi1, lo2, hi2, ...]`` (docs/FORMAT.md)."""
        flat: list[int] = []
        for lo, hi in zip(self._los, self._his, strict=True):
            flat += (lo, hi)
        return bytes(msgpack.packb(flat))

    @classmethod
    def from_bytes(cls, raw: bytes) -> AggIdSet:
        flat = msgpack.unpackb(raw)
        if not isinstance(flat, list) or len(flat) % 2:
            raise ValueError("an agg-id set is a flat array of [lo, hi] pairs")
        return cls(zip(flat[::2], flat[1::2], strict=True))

    # ------------------------------------------------------------------ reading

    @property
    def intervals(self) -> list[tuple[int, int]]:
        return list(zip(self._los, self._his, strict=True))

    @property
    def first(self) -> int | None:
        return self._los[0] if self._los else None

    @property
    def last(self) -> int | None:
        return self._his[-1] if self._his else None

    @property
    def count(self) -> int:
        """How many distinct ids the set holds."""
        return sum(hi - lo + 1 for lo, hi in zip(self._los, self._his, strict=True))

    def __len__(self) -> int:
        """The number of intervals (1 for a record without holes)."""
        return len(self._los)

    def __contains__(self, agg_id: object) -> bool:
        if not isinstance(agg_id, int):
            return False
        i = bisect_right(self._los, agg_id) - 1
        return i >= 0 and agg_id <= self._his[i]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AggIdSet) and self.intervals == other.intervals

    def __repr__(self) -> str:
        return f"AggIdSet({self.intervals})"

    def split_new(self, trades: Sequence[T]) -> tuple[list[T], int]:
        """(the trades whose ids are not in the set, in their order; how many were).

        An id repeated within ``trades`` counts once: its first occurrence is new, the
        others are counted as already stored. The set itself is not changed.
        """
        if not trades:
            return [], 0
        last = self._his[-1] if self._his else None
        ids = [t.agg_id for t in trades]
        if (last is None or min(ids) > last) and _strictly_ascending(ids):
            return list(trades), 0  # the live case: everything past the end, in order
        new: list[T] = []
        seen: set[int] = set()
        for trade in trades:
            agg_id = trade.agg_id
            if agg_id in seen or agg_id in self:
                continue
            seen.add(agg_id)
            new.append(trade)
        return new, len(trades) - len(new)

    # ------------------------------------------------------------------ changing

    def add_run(self, lo: int, hi: int) -> int:
        """Add ids lo..hi (inclusive); returns how many of them were already in the set."""
        if hi < lo:
            raise ValueError(f"empty run {lo}..{hi}")
        los, his = self._los, self._his
        if not los or lo > his[-1] + 1:  # past the end, after a hole
            los.append(lo)
            his.append(hi)
            return 0
        if lo == his[-1] + 1:  # right after the end: the live case
            his[-1] = hi
            return 0
        # Intervals that overlap or touch lo..hi are merged with it.
        first = bisect_left(his, lo - 1)
        end = bisect_right(los, hi + 1)
        overlap = sum(max(0, min(hi, his[i]) - max(lo, los[i]) + 1) for i in range(first, end))
        if first < end:
            lo = min(lo, los[first])
            hi = max(hi, his[end - 1])
        los[first:end] = [lo]
        his[first:end] = [hi]
        return overlap

    def add_ids(self, ids: Iterable[int]) -> int:
        """Add every id; returns how many were already in the set (or repeated)."""
        ids = list(ids)
        if ids and ids[-1] - ids[0] + 1 == len(ids) and _strictly_ascending(ids):
            return self.add_run(ids[0], ids[-1])  # one run: the usual batch
        overlap = 0
        for lo, hi, repeats in _runs(sorted(ids)):
            overlap += self.add_run(lo, hi) + repeats
        return overlap

    def remove_run(self, lo: int, hi: int) -> None:
        """Remove ids lo..hi (inclusive); ids not in the set are ignored."""
        los, his = self._los, self._his
        first = bisect_left(his, lo)
        end = bisect_right(los, hi)
        if first >= end:
            return
        keep_los: list[int] = []
        keep_his: list[int] = []
        if los[first] < lo:
            keep_los.append(los[first])
            keep_his.append(lo - 1)
        if his[end - 1] > hi:
            keep_los.append(hi + 1)
            keep_his.append(his[end - 1])
        los[first:end] = keep_los
        his[first:end] = keep_his


def _strictly_ascending(ids: list[int]) -> bool:
    return all(a < b for a, b in zip(ids, ids[1:], strict=False))


def _runs(ids: list[int]) -> Iterable[tuple[int, int, int]]:
    """Sorted ids as maximal runs of consecutive ids: (lo, hi, ids repeated within)."""
    if not ids:
        return
    lo = prev = ids[0]
    repeats = 0
    for agg_id in ids[1:]:
        if agg_id == prev:
            repeats += 1
            continue
        if agg_id != prev + 1:
            yield lo, prev, repeats
            lo, repeats = agg_id, 0
        prev = agg_id
    yield lo, prev, repeats
