"""Is a window's record complete? Tells "no trades happened" from "not recorded".

Two questions, both answered from what the store holds:

1. **Was the window recorded at all?** A symbol's *record* runs from its first to its last
   stored trade. A writer that can prove more may declare a wider span: an import of a
   data.binance.vision daily file whose published .CHECKSUM matched holds every trade of
   that UTC day, so the record runs from 00:00:00.000 to 23:59:59.999 even though the
   day's first trade came at .039. A file name alone proves nothing (a truncated download
   has the same name), so nothing is declared without that proof. A declaration holds only
   while the trades it was made beside are still the first (or last) ones stored: prune
   the day, or record newer trades, and the record's edge moves back to the stored trades.
   The parts of a window outside the record are *not recorded*: nobody knows whether
   trades happened there.
2. **Is the recorded part whole?** Inside the record, agg ids are contiguous per symbol on
   Binance, so a jump between the ids stored in the window is a hole even when nobody
   recorded it as a gap, and a gap record that is not filled and overlaps the window in
   time marks trades the store does not have.

A window is *complete* when it lies wholly inside the record and its recorded part is whole;
only then does "0 trades" mean no trades happened.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import msgpack
import numpy as np

from tradestore._timeparse import format_duration_ms, format_time_ms
from tradestore.codec._twins import rollup_summary
from tradestore.store import _keys
from tradestore.store._certify import certified_in
from tradestore.store._gaps import FILLED, Gap
from tradestore.store._record import Record

if TYPE_CHECKING:
    from tradestore.store._reader import RollupReader, TradeSource

FULL = "full"
PARTIAL = "partial"
NONE = "none"


@dataclass(frozen=True)
class Coverage:
    """How much of [start_ms, end_ms] the store's record covers, and whether it is whole."""

    trades: int
    first_id: int | None
    last_id: int | None
    missing_ids: int  # holes between the first and last id stored in the window
    open_gaps: list[Gap] = field(default_factory=list)  # gap records overlapping the window
    start_ms: int | None = None  # the window
    end_ms: int | None = None
    # The symbol's record (see the module docstring); None: nothing was ever stored.
    recorded_from_ms: int | None = None
    recorded_to_ms: int | None = None
    # Trades before this time may no longer be held: their rollups are (None: every
    # recorded trade is held). ``raw``: the answer needs the trades themselves (a query,
    # an export), so a summarized part is a part without its trades.
    held_from_ms: int | None = None
    raw: bool = False
    # The part of the window the answer covers when less than the window: an edge fell
    # inside a minute whose trades are no longer held (whole minutes only).
    answered_from_ms: int | None = None
    answered_to_ms: int | None = None
    # Parts of the window answered from the archive, and where the archive is.
    archived: list[tuple[int, int]] = field(default_factory=list)
    archive: str | None = None
    # UTC days of the window certified against Binance's published files (still holding).
    certified: list[str] = field(default_factory=list)
    # Where the recorder archives this store's days, when it is not read (to say where
    # pruned trades are).
    noted_archive: str | None = None

    @property
    def recorded(self) -> str:
        """``full``, ``partial`` or ``none``: how much of the window lies in the record."""
        if self.start_ms is None or self.end_ms is None:
            return FULL
        lo, hi = self.recorded_from_ms, self.recorded_to_ms
        if lo is None or hi is None or hi < self.start_ms or lo > self.end_ms:
            return NONE
        if lo <= self.start_ms and self.end_ms <= hi:
            return FULL
        return PARTIAL

    @property
    def not_recorded(self) -> list[tuple[int, int]]:
        """The parts of the window outside the record, as inclusive (start, end) ms."""
        state = self.recorded
        if state == FULL:
            return []
        assert self.start_ms is not None and self.end_ms is not None
        if state == NONE:
            return [(self.start_ms, self.end_ms)]
        assert self.recorded_from_ms is not None and self.recorded_to_ms is not None
        parts = []
        if self.start_ms < self.recorded_from_ms:
            parts.append((self.start_ms, self.recorded_from_ms - 1))
        if self.end_ms > self.recorded_to_ms:
            parts.append((self.recorded_to_ms + 1, self.end_ms))
        return parts

    @property
    def summarized(self) -> list[tuple[int, int]]:
        """The parts of the window inside the record whose trades are no longer held
        (their rollups are), as inclusive (start, end) ms, leaving out archived parts."""
        if self.held_from_ms is None or self.start_ms is None or self.end_ms is None:
            return []
        lo = max(self.start_ms, self.recorded_from_ms or self.start_ms)
        hi = min(self.end_ms, self.held_from_ms - 1, self.recorded_to_ms or self.end_ms)
        if lo > hi:
            return []
        parts = [(lo, hi)]
        for a_lo, a_hi in self.archived:
            cut = []
            for p_lo, p_hi in parts:
                if a_hi < p_lo or a_lo > p_hi:
                    cut.append((p_lo, p_hi))
                    continue
                if p_lo < a_lo:
                    cut.append((p_lo, a_lo - 1))
                if a_hi < p_hi:
                    cut.append((a_hi + 1, p_hi))
            parts = cut
        return parts

    @property
    def rounded(self) -> bool:
        """The answer covers less than the window (whole minutes where trades are gone)."""
        return self.answered_from_ms is not None

    @property
    def complete(self) -> bool:
        """The window lies wholly in the record and no trade of it is missing (for a
        query of the trades themselves: and every trade of it is still held)."""
        return (
            self.recorded == FULL
            and self.missing_ids == 0
            and not self.open_gaps
            and not (self.raw and self.summarized)
        )

    def pruned_note(self) -> str | None:
        """Where the trades of the summarized parts are, for a query of the trades."""
        parts = self.summarized
        if not parts:
            return None
        span = ", ".join(f"{format_time_ms(lo)} .. {format_time_ms(hi)}" for lo, hi in parts)
        if self.archive:
            where = f"the archive at {self.archive} does not hold them either"
        elif self.noted_archive:
            where = (
                f"the recorder archives them to {self.noted_archive}: give --archive "
                f"{self.noted_archive} to read them"
            )
        else:
            where = (
                "give --archive DEST (or archive_to in the config) to read them from the archive"
            )
        return f"trades of {span} are pruned from the store (their rollups are kept); {where}"

    def summary(self) -> str:
        """One line for a person: ``record complete``, ``record INCOMPLETE: ...``,
        ``NOT RECORDED: ...`` or ``PARTLY NOT RECORDED: ...``."""
        holes = []
        if self.missing_ids:
            holes.append(f"{self.missing_ids} agg ids missing")
        if self.open_gaps:
            n = len(self.open_gaps)
            holes.append(f"{n} unfilled gap{'s' if n > 1 else ''} overlap{'' if n > 1 else 's'}")
        notes = []
        if self.raw and self.summarized:
            notes.append("TRADES PRUNED: " + (self.pruned_note() or ""))
        elif self.summarized:
            first, last = self.summarized[0][0], self.summarized[-1][1]
            notes.append(
                f"summarized {format_time_ms(first)} .. {format_time_ms(last)} "
                "(from the rollups: trades no longer held)"
            )
        if self.archived:
            notes.append(f"{len(self.archived)} part(s) read from the archive")
        if self.rounded:
            notes.append(
                f"answered {format_time_ms(self.answered_from_ms)} .. "
                f"{format_time_ms(self.answered_to_ms)} (whole minutes: the trades at the "
                "window's edge are no longer held)"
            )
        state = self.recorded
        if state == NONE:
            if self.recorded_from_ms is None:
                return "NOT RECORDED: no trades of this symbol are stored"
            return f"NOT RECORDED: the record runs {self._record_text()}"
        if state == PARTIAL:
            assert self.start_ms is not None and self.end_ms is not None
            edges = []
            for lo, hi in self.not_recorded:
                span = format_duration_ms(hi - lo + 1)
                if lo == self.start_ms:
                    edges.append(
                        f"the record starts {format_time_ms(self.recorded_from_ms)} "
                        f"(the window's first {span} are before it)"
                    )
                else:
                    edges.append(
                        f"the record ends {format_time_ms(self.recorded_to_ms)} "
                        f"(the window's last {span} are after it)"
                    )
            return "PARTLY NOT RECORDED: " + "; ".join(edges + holes + notes)
        tail = "" if not notes else "; " + "; ".join(notes)
        if holes:
            return "record INCOMPLETE: " + ", ".join(holes) + tail
        if self.raw and self.summarized:
            return "record INCOMPLETE: " + "; ".join(notes)
        return "record complete" + tail

    def _record_text(self) -> str:
        return f"{format_time_ms(self.recorded_from_ms)} .. {format_time_ms(self.recorded_to_ms)}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "complete": self.complete,
            "recorded": self.recorded,
            "recorded_from": _time_or_none(self.recorded_from_ms),
            "recorded_to": _time_or_none(self.recorded_to_ms),
            "not_recorded": [
                {"from": format_time_ms(lo), "to": format_time_ms(hi)}
                for lo, hi in self.not_recorded
            ],
            "trades": self.trades,
            "first_agg_id": self.first_id,
            "last_agg_id": self.last_id,
            "missing_ids": self.missing_ids,
            "open_gaps": [
                {"first_id": g.first_id, "last_id": g.last_id, "status": g.status}
                for g in self.open_gaps
            ],
            "summarized": [
                {"from": format_time_ms(lo), "to": format_time_ms(hi)} for lo, hi in self.summarized
            ],
            "trades_held_from": _time_or_none(self.held_from_ms),
            "archived": [
                {"from": format_time_ms(lo), "to": format_time_ms(hi)} for lo, hi in self.archived
            ],
            "archive": self.archive,
            "certified_days": list(self.certified),
            "answered_from": _time_or_none(self.answered_from_ms),
            "answered_to": _time_or_none(self.answered_to_ms),
            "summary": self.summary(),
        }


def _time_or_none(ms: int | None) -> str | None:
    return None if ms is None else format_time_ms(ms)


def coverage_of(
    agg_ids: np.ndarray | list[int],
    gaps: list[Gap],
    start_ms: int,
    end_ms: int,
    *,
    record: tuple[int, int] | None,
) -> Coverage:
    """Coverage of a window from its ascending, distinct agg ids, the symbol's gaps and its
    record (``recorded_span``: (from, to) ms, or None when nothing was ever stored)."""
    ids = np.asarray(agg_ids, dtype=np.int64)
    n = int(ids.shape[0])
    if not n:
        return coverage_from_range(None, None, 0, gaps, start_ms, end_ms, record=record)
    return coverage_from_range(int(ids[0]), int(ids[-1]), n, gaps, start_ms, end_ms, record=record)


def coverage_from_range(
    first_id: int | None,
    last_id: int | None,
    count: int,
    gaps: list[Gap],
    start_ms: int,
    end_ms: int,
    *,
    record: Record | tuple[int, int] | None,
    raw: bool = False,
    answered: tuple[int, int] | None = None,
) -> Coverage:
    """Coverage from the smallest and largest of ``count`` distinct agg ids in the window
    (``record`` as for ``coverage_of``, or the ``Record`` of ``record_of``, which also
    says from when the trades are held). ``raw``: the answer is the trades themselves;
    ``answered``: the part of the window an answer from the rollups covers."""
    held = record.held_from_ms if isinstance(record, Record) else None
    span = record.span if isinstance(record, Record) else record
    if answered == (start_ms, end_ms):
        answered = None
    missing = 0
    if count and first_id is not None and last_id is not None:
        missing = last_id - first_id + 1 - count
    overlapping = [
        g
        for g in gaps
        if g.status != FILLED and g.after_time_ms <= end_ms and g.before_time_ms >= start_ms
    ]
    return Coverage(
        count,
        first_id,
        last_id,
        missing,
        overlapping,
        start_ms,
        end_ms,
        None if span is None else span[0],
        None if span is None else span[1],
        held,
        raw,
        None if answered is None else answered[0],
        None if answered is None else answered[1],
    )


def window_coverage(store: TradeSource, symbol: str, start_ms: int, end_ms: int) -> Coverage:
    """Coverage of [start_ms, end_ms] for ``symbol`` in ``store`` (reads the window's ids)."""
    cols = store.query_columns(symbol, start_ms, end_ms)
    return coverage_of(
        cols.agg_id, store.gaps(symbol), start_ms, end_ms, record=recorded_span(store, symbol)
    )


# ---------------------------------------------------------------------- the record's span


def record_of(store: RollupReader, symbol: str) -> Record | None:
    """The symbol's record: its first and last stored trade, widened by a declaration that
    still holds (module docstring). None: nothing stored."""
    stored = store.trade_time_span(symbol)
    state = store.rollup_state(symbol)
    held = state.held_from_ms if state is not None and state.kept else None
    summarized = None if held is None else _rollup_span(store, symbol)
    if stored is None and summarized is None:
        return None
    # The rollups remember the trades deleted while they stay: the record's edges are
    # the first and last trade either holds.
    spans = [span for span in (stored, summarized) if span is not None]
    first, last = min(s[0] for s in spans), max(s[1] for s in spans)
    declared = _declaration(store, symbol)
    if declared is None:
        return Record(first, last, held_from_ms=held)
    from_ms, first_at, to_ms, last_at = declared
    at_start, at_end = first_at == first, last_at == last
    return Record(from_ms if at_start else first, to_ms if at_end else last, at_start, at_end, held)


def _rollup_span(store: RollupReader, symbol: str) -> tuple[int, int] | None:
    """First and last trade time the symbol's minute summaries hold (None: none)."""
    lower = _keys.rollup_prefix(_keys.CANDLE, symbol)
    upper = _keys.prefix_end(lower)
    first = next(iter(store.iter_range(lower, upper)), None)
    if first is None:
        return None
    last = next(iter(store.iter_range(lower, upper, reverse=True)))
    return rollup_summary(first[1], first[0])[1], rollup_summary(last[1], last[0])[2]


def coverage_in(
    store: TradeSource,
    symbol: str,
    first_id: int | None,
    last_id: int | None,
    count: int,
    start_ms: int,
    end_ms: int,
    *,
    raw: bool = False,
    answered: tuple[int, int] | None = None,
) -> Coverage:
    """The coverage of an answer over [start_ms, end_ms] holding ``count`` distinct agg ids
    from ``first_id`` to ``last_id``: the one question every surface asks."""
    found = coverage_from_range(
        first_id,
        last_id,
        count,
        store.gaps(symbol),
        start_ms,
        end_ms,
        record=store.record(symbol),
        raw=raw,
        answered=answered,
    )
    archived = store.archived_parts(symbol, start_ms, end_ms)
    certified = [day.isoformat() for day in certified_in(store, symbol, start_ms, end_ms)]
    where = getattr(store, "where", None)  # a History's archive
    noted = None
    if where is None and found.summarized:
        noted_archive = getattr(store, "noted_archive", None)
        noted = noted_archive() if noted_archive is not None else None
    if not archived and not certified and where is None and noted is None:
        return found
    return replace(
        found, archived=archived, archive=where, certified=certified, noted_archive=noted
    )


def recorded_span(store: RollupReader, symbol: str) -> tuple[int, int] | None:
    """(from, to) ms of the symbol's record (``record_of``). None: nothing stored."""
    record = record_of(store, symbol)
    return None if record is None else record.span


def declare_recorded(
    store: RollupReader, symbol: str, from_ms: int, to_ms: int, trades: tuple[int, int]
) -> tuple[int, int] | None:
    """Declare that every trade of symbol in [from_ms, to_ms] is stored: call it after
    storing them, and only with proof (an import of a data.binance.vision file whose
    published .CHECKSUM matched), with ``trades`` the
    (first, last) time of the trades it stored. The record widens to from_ms when those
    trades hold the first stored one, and to to_ms when they hold the last; returns the
    record."""
    symbol = _keys.check_symbol(symbol)
    stored = store.trade_time_span(symbol)
    if stored is None:
        return None
    first, last = stored
    lo, hi = recorded_span(store, symbol) or stored
    if trades[0] == first and from_ms <= first:
        lo = min(lo, from_ms)
    if trades[1] == last and last <= to_ms:
        hi = max(hi, to_ms)
    store.db.put(_keys.meta_key("recorded", symbol), msgpack.packb([lo, first, hi, last]))
    return lo, hi


def _declaration(store: RollupReader, symbol: str) -> tuple[int, int, int, int] | None:
    raw = store.db.get(_keys.meta_key("recorded", _keys.check_symbol(symbol)))
    if raw is None:
        return None
    try:
        from_ms, first_at, to_ms, last_at = msgpack.unpackb(raw)
    except (ValueError, TypeError, msgpack.UnpackException):
        return None  # unreadable: the stored trades alone decide
    return int(from_ms), int(first_at), int(to_ms), int(last_at)
