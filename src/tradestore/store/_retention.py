"""Retention: what the recorder deletes, decided in one place.

The rule: retention deletes trades as they age past the window (``days``), and never
what was already past it when it was stored. Each symbol carries a retention edge (a
key time, ``meta:retention_edge:{SYMBOL}``): every pass deletes the batches keyed
between the edge and the window's start, then moves the edge there. A batch keyed below
the edge when it arrives (a data.binance.vision day imported months later, the history
of a database adopted from another program) is history the user brought: retention
keeps it, ``TradeStore.prune`` (``tradestore-trio prune``) deletes it on request. The
first pass on a symbol only sets the edge, so the first ``run`` on a database holding
older trades deletes none of them and says so.

Batches are deleted whole, and only when all their trades are older than the window
(the key must lie the symbol's ``after`` margin before the window's start). Anything
that adds a condition on what may be deleted narrows ``plan_retention``'s range here, and
nowhere else. The archive's is ``keep_from``: with an archive configured, the recorder
passes, per symbol, the start of the first day that is not archived and verified, and
nothing from there on is deleted (the edge stops below it, so the next pass picks up
from there once the day is archived).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from tradestore._timeparse import format_time_ms
from tradestore.store import _keys
from tradestore.store._measure import array_len
from tradestore.store._reader import RangeReader

DAY_MS = 86_400_000


class RetainedStore(RangeReader, Protocol):
    """What retention reads of the store, and the one change it makes."""

    def symbols(self) -> list[str]: ...

    def margins(self, symbol: str) -> tuple[int, int]: ...

    def retention_edge(self, symbol: str) -> int | None: ...

    def delete_batches(
        self,
        symbol: str,
        lower_ms: int | None,
        upper_ms: int,
        *,
        retention_edge_ms: int | None = None,
    ) -> int | None: ...


@dataclass(frozen=True)
class SymbolRetention:
    """What one pass does to one symbol: delete the batches keyed in
    [delete_from_ms, delete_to_ms), then set the edge to ``delete_to_ms``."""

    symbol: str
    delete_from_ms: int
    delete_to_ms: int
    trades_to_delete: int
    first_pass: bool  # no edge yet: nothing is deleted, the edge is set
    # Key times of the kept history: batches below the edge (None: there are none).
    history_from_ms: int | None
    history_to_ms: int | None
    # Trades from this time on are kept because the archive does not hold them yet.
    held_for_archive_from_ms: int | None = None


@dataclass(frozen=True)
class RetentionPlan:
    days: float
    cutoff_ms: int  # trades older than this are outside the window
    symbols: tuple[SymbolRetention, ...]

    @property
    def trades_to_delete(self) -> int:
        return sum(s.trades_to_delete for s in self.symbols)

    def describe(self) -> list[str]:
        """Plain sentences: what this pass deletes and what it keeps, per symbol."""
        lines = [
            f"retention: keeping {self.days:g} days; a batch is deleted once all its trades "
            f"have aged past the window (today: before {format_time_ms(self.cutoff_ms)})"
        ]
        for s in self.symbols:
            if s.trades_to_delete:
                lines.append(
                    f"retention: {s.symbol}: deleting {s.trades_to_delete} trades keyed "
                    f"{format_time_ms(s.delete_from_ms)} .. {format_time_ms(s.delete_to_ms)} "
                    "(aged past the window)"
                )
            if s.held_for_archive_from_ms is not None:
                lines.append(
                    f"retention: {s.symbol}: keeping everything from "
                    f"{format_time_ms(s.held_for_archive_from_ms)}: not yet archived and "
                    "verified"
                )
            if s.history_from_ms is not None and s.history_to_ms is not None:
                lines.append(
                    f"retention: {s.symbol}: keeping the batches keyed "
                    f"{format_time_ms(s.history_from_ms)} .. {format_time_ms(s.history_to_ms)}: "
                    "they were older than the window when stored (imported or adopted "
                    "history), and retention never deletes those; "
                    "`tradestore-trio prune --before TIME` does"
                )
        if not self.trades_to_delete and len(lines) == 1:
            lines.append("retention: nothing is older than the window")
        return lines


def retention_cutoff(days: float, now_ms: int) -> int:
    """The window's start: trades older than this have aged past it."""
    return now_ms - round(days * DAY_MS)


def plan_retention(
    store: RetainedStore,
    *,
    days: float,
    now_ms: int,
    keep_from: Mapping[str, int] | None = None,
) -> RetentionPlan:
    """What a retention pass at ``now_ms`` with a window of ``days`` deletes and keeps.

    ``keep_from`` (symbol -> time) narrows it: nothing of a symbol at or after its time is
    deleted (the archive's condition: see the module's doc).
    """
    if not days > 0:
        raise ValueError("retention needs a window of more than 0 days")
    cutoff = retention_cutoff(days, now_ms)
    plans = []
    for symbol in store.symbols():
        _before, after = store.margins(symbol)
        held = None if keep_from is None else keep_from.get(symbol)
        if held is not None and held >= cutoff:
            held = None  # the archive holds everything older than the window
        # Batches keyed below hold only trades older than the cutoff (or the held time).
        upper = (cutoff if held is None else held) - after
        edge = store.retention_edge(symbol)
        lower = upper if edge is None else max(edge, 0)
        prefix = _keys.trades_prefix(symbol)
        to_delete = 0
        if lower < upper:
            to_delete = sum(
                array_len(v)
                for _k, v in store.iter_range(
                    _keys.trade_key(symbol, lower), _keys.trade_key(symbol, upper)
                )
            )
        history = _history(store, prefix, min(lower, upper))
        plans.append(
            SymbolRetention(
                symbol,
                delete_from_ms=lower,
                delete_to_ms=max(upper, lower),
                trades_to_delete=to_delete,
                first_pass=edge is None,
                history_from_ms=history[0] if history else None,
                history_to_ms=history[1] if history else None,
                held_for_archive_from_ms=held,
            )
        )
    return RetentionPlan(days, cutoff, tuple(plans))


def apply_retention(store: RetainedStore, plan: RetentionPlan) -> Mapping[str, int]:
    """Carry out a plan: trades removed per symbol (symbols with nothing removed left out)."""
    removed: dict[str, int] = {}
    for s in plan.symbols:
        n = store.delete_batches(
            s.symbol, s.delete_from_ms, s.delete_to_ms, retention_edge_ms=s.delete_to_ms
        )
        if n:
            removed[s.symbol] = n
    return removed


def _history(store: RangeReader, prefix: bytes, below_ms: int) -> tuple[int, int] | None:
    """Key times of the first and last batch keyed below below_ms (None: none is)."""
    upper = prefix + b"%013d" % _keys.clamp_ms(below_ms)
    first = next(iter(store.iter_range(prefix, upper)), None)
    if first is None:
        return None
    last = next(iter(store.iter_range(prefix, upper, reverse=True)))
    return _keys.key_ms(first[0]), _keys.key_ms(last[0])
