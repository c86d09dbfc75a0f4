"""One record across the tiers: the hot store, its rollups and the archive, read as one.

``History(store, archive)`` reads like a ``TradeStore`` (every analytic, ``query``,
``export``, the API and MCP take either) and answers any window exactly as if every
trade were hot:

- **Rollup keys** (``rollup:{d,h,m,c}:...``) come from the store from the first day its
  rollups cover, and from the archive's sidecars for the days before it (days past the
  store's ``rollup_retention_days``, or a symbol another shard recorded). The archive's
  rollups are summed from exactly the archived trades, so the pyramid (days, hours,
  minutes, raw edges) reads them like the store's.
- **Trades** come from the store where it holds them, and from the archive's Parquet
  for the archived days before that (the days retention deleted, or another shard's),
  each agg id once.
- **Coverage** is one answer: the record runs from the first trade either tier holds;
  the parts taken from the archive are listed, and a part whose trades neither tier
  holds any more (the store's rollups only) is *summarized*.

A store whose rollups are not kept (never built, switched off) is read from its trades
alone, and the archive is used only for a symbol the store does not hold at all::

    from tradestore import TradeStore
    from tradestore.analytics import composite_profile
    from tradestore.archive import ArchiveReader, History
    with TradeStore("data", read_only=True) as store:
        history = History(store, ArchiveReader("s3://bucket/trades"))
        composite_profile(history, "BTCUSDT", start_ms, end_ms)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import rocksdict

from tradestore._model import AggTrade
from tradestore.archive._days import day_of, day_start_ms
from tradestore.archive._dest import redact
from tradestore.archive._reader import ArchiveReader
from tradestore.codec._fixed import format_fixed
from tradestore.codec._twins import rollup_summary
from tradestore.store import (
    DAY_MS,
    Gap,
    Record,
    RollupState,
    TradeColumns,
    TradeStore,
    check_symbol,
    key_ms,
    prefix_end,
    rollup_key,
    rollup_prefix,
)

T = TypeVar("T")
_ROLLUP = b"rollup:"
_TIERS = (b"d", b"b", b"h", b"m", b"c")


class History:
    """A ``TradeStore`` and an ``ArchiveReader`` read as one record (module docstring).

    Reads only: writes go to the store itself. ``close`` closes the store only when
    ``owns_store`` (the command line hands it over)."""

    def __init__(
        self, store: TradeStore, archive: ArchiveReader, *, owns_store: bool = False
    ) -> None:
        self.store = store
        self.archive = archive
        self._owns_store = owns_store
        self._bounds: dict[str, int | None] = {}
        self._memo: dict[tuple[str, str], Any] = {}  # answers kept for one reading()
        self._reading = 0

    def __repr__(self) -> str:
        return f"History({self.store.path}, {self.archive!r})"

    # ------------------------------------------------------------------ the store's face

    @property
    def path(self) -> Path:
        return self.store.path

    @property
    def db(self) -> rocksdict.Rdict:
        return self.store.db

    @property
    def read_only(self) -> bool:
        return True

    @property
    def corrupt_keys(self) -> set[bytes]:
        """The store's values a read had to skip (the archive's are refused, never skipped)."""
        return self.store.corrupt_keys

    def market(self) -> str | None:
        return self.store.market()

    @property
    def where(self) -> str:
        """Where the archive is, for messages (credentials left out)."""
        return redact(self.archive.dest.url)

    def refresh(self) -> None:
        self.store.refresh()
        self._bounds.clear()
        self._memo.clear()

    @contextmanager
    def reading(self) -> Iterator[History]:
        with self.store.reading():
            if not self._reading:
                self._bounds.clear()
                self._memo.clear()
            self._reading += 1
            try:
                yield self
            finally:
                self._reading -= 1

    def close(self) -> None:
        if self._owns_store:
            self.store.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def symbols(self) -> list[str]:
        return sorted(set(self.store.symbols()) | set(self.archive.symbols()))

    def last_agg_id(self, symbol: str) -> int | None:
        """The highest agg id either tier ever held (the store's, else the archive's)."""
        own = self.store.last_agg_id(symbol)
        if own is not None:
            return own
        days = self.archive.days(check_symbol(symbol))
        info = self.archive.info(symbol, days[-1]) if days else None
        return None if info is None else info.last_agg_id

    def gaps(self, symbol: str) -> list[Gap]:
        return self.store.gaps(symbol)

    def retention_edge(self, symbol: str) -> int | None:
        return self.store.retention_edge(symbol)

    def margins(self, symbol: str) -> tuple[int, int]:
        return self.store.margins(symbol)

    def key_window(self, symbol: str, start_ms: int, end_ms: int) -> tuple[bytes, bytes]:
        return self.store.key_window(symbol, start_ms, end_ms)

    def decode_window(
        self,
        decode: Callable[[Iterator[tuple[bytes, bytes]], int, int], T],
        symbol: str,
        start_ms: int,
        end_ms: int,
    ) -> T:
        """The store's trades only: taken where rollups are not kept (module docstring)."""
        return self.store.decode_window(decode, symbol, start_ms, end_ms)

    def stats(self) -> dict[str, Any]:
        return self.store.stats()

    # ------------------------------------------------------------------ where each tier is

    def _archive_before(self, symbol: str) -> int | None:
        """The start (ms) of the first day the store's own record answers for; archived
        days before it are read from the archive (None: the archive is not used)."""
        if symbol in self._bounds:
            return self._bounds[symbol]
        state = self.store.rollup_state(symbol)
        span = self.store.trade_time_span(symbol)
        bound: int | None
        if span is None and (state is None or not state.kept):
            bound = None if not self.archive.days(symbol) else DAY_MS * 10**6  # all of it
        elif state is None or not state.kept:
            bound = None  # read from its trades alone (module docstring)
        else:
            # Where the store's rollups begin: its first minute summary's day (a trade the
            # store still holds before it, below a rollup cut, has no rollup to stitch).
            lower = rollup_prefix("c", symbol)
            first = next(self.store.iter_keys(lower, prefix_end(lower)), None)
            if first is not None:
                start = key_ms(first)
            elif state.rollups_from_ms is not None:
                start = state.rollups_from_ms
            elif span is not None:
                start = span[0]
            else:
                start = DAY_MS * 10**6
            bound = start - start % DAY_MS
        self._bounds[symbol] = bound
        return bound

    def _archived_days(self, symbol: str, start_ms: int, end_ms: int) -> list[date]:
        """The archived days overlapping [start_ms, end_ms] that the archive answers for:
        before the store's own record, or inside its summarized part."""
        days = self.archive.days(symbol)
        if not days or end_ms < start_ms:
            return []
        bound = self._archive_before(symbol)
        state = self.store.rollup_state(symbol)
        held = state.held_from_ms if state is not None and state.kept else None
        lo, hi = day_of(max(start_ms, 0)), day_of(end_ms)
        out = []
        for day in days:
            if not lo <= day <= hi:
                continue
            start = day_start_ms(day)
            if (bound is not None and start < bound) or (held is not None and start < held):
                out.append(day)
        return out

    def archived_parts(self, symbol: str, start_ms: int, end_ms: int) -> list[tuple[int, int]]:
        """The parts of [start_ms, end_ms] whose trades the archive holds and the store
        does not (inclusive ms), merged."""
        parts: list[tuple[int, int]] = []
        for day in self._archived_days(symbol, start_ms, end_ms):
            lo = max(start_ms, day_start_ms(day))
            hi = min(end_ms, day_start_ms(day) + DAY_MS - 1)
            if parts and parts[-1][1] + 1 == lo:
                parts[-1] = (parts[-1][0], hi)
            else:
                parts.append((lo, hi))
        return parts

    def holds_trades(self, symbol: str, start_ms: int, end_ms: int) -> bool:
        """Whether every recorded trade of [start_ms, end_ms] can be read: the part the
        store holds only summarized must be archived."""
        span = self.store.summarized_span(symbol)
        if span is None or end_ms < span[0] or start_ms > span[1]:
            return True
        lo, hi = max(start_ms, span[0]), min(end_ms, span[1])
        covered = self.archived_parts(symbol, lo, hi)
        return len(covered) == 1 and covered[0] == (lo, hi)

    # ------------------------------------------------------------------ rollups

    def rollup_state(self, symbol: str) -> RollupState | None:
        """The store's state, as the archive completes it (read once per ``reading()``)."""
        key = ("state", symbol)
        if self._reading and key in self._memo:
            found: RollupState | None = self._memo[key]
            return found
        state = self._rollup_state(symbol)
        if self._reading:
            self._memo[key] = state
        return state

    def _rollup_state(self, symbol: str) -> RollupState | None:
        state = self.store.rollup_state(symbol)
        bound = self._archive_before(symbol)
        if bound is None:
            return state
        if state is None or not state.kept:
            return RollupState()  # another shard's symbol: the archive's rollups alone
        since = state.rollups_from_ms
        if since is not None and self._archived_through(symbol, since):
            # Before the store's rollup cut the archive's rollups answer: every day the
            # store still holds trades of there is archived.
            merged = state.copy()
            merged.rollups_from_ms = None
            return merged
        return state

    def _archived_through(self, symbol: str, since: int) -> bool:
        """Whether every day before ``since`` that the store holds trades of is archived
        (so the archive's rollups may answer for all of them)."""
        span = self.store.trade_time_span(symbol)
        if span is None or span[0] >= since:
            return True
        archived = set(self.archive.days(symbol))
        day = span[0] - span[0] % DAY_MS
        while day < since:
            if (
                day_of(day) not in archived
                and self.store.query_columns(symbol, day, min(since, day + DAY_MS) - 1).agg_id.size
            ):
                return False
            day += DAY_MS
        return True

    def iter_range(
        self, lower: bytes, upper: bytes | None, *, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        """The store's pairs, with the archive's rollup pairs of its days before the
        store's own record in front (a rollup key range of one symbol and tier)."""
        parsed = _rollup_range(lower, upper)
        if parsed is None:
            yield from self.store.iter_range(lower, upper, reverse=reverse)
            return
        tier, symbol, lo_ms, hi_ms = parsed
        bound = self._archive_before(symbol)
        if bound is None or lo_ms >= bound:
            yield from self.store.iter_range(lower, upper, reverse=reverse)
            return
        archived = self._archive_pairs(tier, symbol, lo_ms, min(hi_ms, bound))
        stored = self.store.iter_range(lower, upper, reverse=reverse)
        if reverse:
            yield from stored
            yield from reversed(archived)
        else:
            yield from archived
            yield from stored

    def iter_keys(self, lower: bytes, upper: bytes) -> Iterator[bytes]:
        for key, _value in self.iter_range(lower, upper):
            yield key

    def _archive_pairs(
        self, tier: bytes, symbol: str, lo_ms: int, hi_ms: int
    ) -> list[tuple[bytes, bytes]]:
        """The archive's rollup pairs of ``tier`` keyed in [lo_ms, hi_ms)."""
        out: list[tuple[bytes, bytes]] = []
        if hi_ms <= lo_ms:
            return out
        for day in self.archive.days(symbol):
            start = day_start_ms(day)
            if start + DAY_MS <= lo_ms or start >= hi_ms:
                continue
            if tier in (b"d", b"b"):
                read = self.archive.day_value if tier == b"d" else self.archive.binned_value
                pair = read(symbol, day)
                pairs = [pair] if pair is not None else []
            else:
                rollups = self.archive.day_rollups(symbol, day)
                pairs = {b"h": rollups.hours, b"m": rollups.minutes, b"c": rollups.candles}[tier]
            out.extend(p for p in pairs if lo_ms <= key_ms(p[0]) < hi_ms)
        return out

    # ------------------------------------------------------------------ trades

    def query_columns(self, symbol: str, start_ms: int, end_ms: int) -> TradeColumns:
        """The trades with start_ms <= T <= end_ms, from the store and the archive, each
        agg id once, ascending."""
        symbol = check_symbol(symbol)
        parts = []
        for day in self._archived_days(symbol, start_ms, end_ms):
            lo = max(start_ms, day_start_ms(day))
            hi = min(end_ms, day_start_ms(day) + DAY_MS - 1)
            parts.append(self.archive.columns(symbol, day, lo, hi))
        # Closed days the store and a local archive hold alike are read from the
        # archive's Parquet: several times faster than decoding them batch by batch.
        cursor = start_ms
        for day in self._same_in_archive(symbol, start_ms, end_ms):
            lo = max(start_ms, day_start_ms(day))
            hi = min(end_ms, day_start_ms(day) + DAY_MS - 1)
            if cursor < lo:
                parts.append(self.store.query_columns(symbol, cursor, lo - 1))
            parts.append(self.archive.columns(symbol, day, lo, hi))
            cursor = hi + 1
        if cursor == start_ms:
            stored = self.store.query_columns(symbol, start_ms, end_ms)
            if not parts:
                return stored
            parts.append(stored)
        elif cursor <= end_ms:
            parts.append(self.store.query_columns(symbol, cursor, end_ms))
        return TradeColumns.distinct(TradeColumns.concat(parts).arrays())

    def _same_in_archive(self, symbol: str, start_ms: int, end_ms: int) -> list[date]:
        """Days of the window the store holds whole and closed (its day rollup written)
        that a local archive holds alike: the same trade count and agg-id range."""
        if not self.archive.dest.is_local or end_ms - start_ms < DAY_MS // 24:
            return []
        archived = set(self.archive.days(symbol))
        if not archived:
            return []
        state = self.store.rollup_state(symbol)
        if state is None or not state.kept:
            return []
        held = state.held_from_ms
        lo = rollup_key("d", symbol, start_ms - start_ms % DAY_MS)
        hi = rollup_key("d", symbol, end_ms + 1)
        same = []
        for key, value in self.store.iter_range(lo, hi):
            start = key_ms(key)
            day = day_of(start)
            if day not in archived or start in state.open_days:
                continue
            if held is not None and start < held:
                continue  # the store does not hold its trades: _archived_days has it
            info = self.archive.info(symbol, day)
            count, _t0, _t1, first_id, last_id = rollup_summary(value, key)[:5]
            if info is not None and (info.rows, info.first_agg_id, info.last_agg_id) == (
                count,
                first_id,
                last_id,
            ):
                same.append(day)
        return same

    def query_arrow(self, symbol: str, start_ms: int, end_ms: int) -> Any:
        """``query_columns`` as an Arrow table (``TradeColumns.to_arrow``)."""
        return self.query_columns(symbol, start_ms, end_ms).to_arrow()

    def query_trades(
        self, symbol: str, start_ms: int, end_ms: int, limit: int | None = None
    ) -> list[AggTrade]:
        """The trades of [start_ms, end_ms] as AggTrade (an archived trade's decimals are
        the archive's: equal in value, written with its eight places)."""
        if not self._archived_days(check_symbol(symbol), start_ms, end_ms):
            return self.store.query_trades(symbol, start_ms, end_ms, limit)
        cols = self.query_columns(symbol, start_ms, end_ms)
        n = len(cols) if limit is None else min(limit, len(cols))
        return [
            AggTrade(
                int(cols.agg_id[i]),
                Decimal(format_fixed(int(cols.price[i]))),
                Decimal(format_fixed(int(cols.qty[i]))),
                int(cols.time_ms[i]),
                bool(cols.is_buyer_maker[i]),
            )
            for i in range(n)
        ]

    def next_trade_bound(self, symbol: str, from_ms: int) -> int | None:
        """A time at or before the first trade at or after from_ms (None: no later trade)."""
        found = self.store.next_trade_bound(symbol, from_ms)
        days = self._archived_days(symbol, from_ms, 10**13 - 1)
        if days:
            first = max(from_ms, day_start_ms(days[0]))
            found = first if found is None else min(found, first)
        return found

    def prev_trade_bound(self, symbol: str, to_ms: int) -> int | None:
        return self.store.prev_trade_bound(symbol, to_ms)

    def trade_time_span(self, symbol: str) -> tuple[int, int] | None:
        stored = self.store.trade_time_span(symbol)
        days = self._archived_days(symbol, 0, 10**13 - 1)
        if not days:
            return stored
        first_info = self.archive.info(symbol, days[0])
        last_info = self.archive.info(symbol, days[-1])
        lo = first_info.first_time_ms if first_info is not None else None
        hi = last_info.last_time_ms if last_info is not None else None
        found = [x for x in (lo, stored[0] if stored else None) if x is not None]
        ends = [x for x in (hi, stored[1] if stored else None) if x is not None]
        if not found or not ends:
            return stored
        return min(found), max(ends)

    # ------------------------------------------------------------------ the record

    def record(self, symbol: str) -> Record | None:
        """The symbol's record over both tiers: the store's, widened to the archived days
        before it (a day's record is the whole day when its partition says complete)."""
        key = ("record", symbol)
        if not self._reading:
            return self._record(symbol)
        if key not in self._memo:
            self._memo[key] = self._record(symbol)
        found: Record | None = self._memo[key]
        return found

    def _record(self, symbol: str) -> Record | None:
        own = self.store.record(symbol)
        days = self._archived_days(symbol, 0, 10**13 - 1)
        if not days:
            return own
        first_day, last_day = days[0], days[-1]
        first = self.archive.info(symbol, first_day)
        last = self.archive.info(symbol, last_day)
        if first is None or last is None or first.first_time_ms is None:
            return own
        lo = day_start_ms(first_day) if first.complete else first.first_time_ms
        hi_day_end = day_start_ms(last_day) + DAY_MS - 1
        hi = hi_day_end if last.complete else (last.last_time_ms or hi_day_end)
        if own is None:
            return Record(lo, hi)
        return Record(
            min(lo, own.from_ms),
            max(hi, own.to_ms),
            own.declared_from and own.from_ms <= lo,
            own.declared_to,
            own.held_from_ms,
        )


def _rollup_range(lower: bytes, upper: bytes | None) -> tuple[bytes, str, int, int] | None:
    """(tier, symbol, lo ms, hi ms) of a key range within one tier of one symbol's
    rollups; None for any other range."""
    if upper is None or not lower.startswith(_ROLLUP) or not upper.startswith(_ROLLUP):
        return None
    head = lower[len(_ROLLUP) :].split(b":")
    tail = upper[len(_ROLLUP) :].split(b":")
    if len(head) < 2 or head[0] not in _TIERS:
        return None
    tier, symbol = head[0], head[1].decode("ascii", "replace")
    lo_ms = int(head[2]) if len(head) > 2 and head[2] else 0
    if len(tail) >= 3 and tail[0] == tier and tail[1] == head[1] and tail[2]:
        hi_ms = int(tail[2])
    else:
        hi_ms = 10**13  # the end of the symbol's prefix
    return tier, symbol, lo_ms, hi_ms
