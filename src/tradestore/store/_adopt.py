"""Adoption: make a database the project did not write fully usable, in one pass.

A database written by the Rust recorder has trades and nothing else: keys are its flush
times (trades lie up to a second or more before them), batches may be empty or re-sent,
and no ``meta:`` record says where the record ends or which agg ids it holds. One written
by tradestore-trio 0.1 lacks the agg-id set. The adoption pass reads every batch of each
such symbol once (through the compiled column decoder) and records, in one WriteBatch per
symbol: the trade count, the true last agg id, the real key-to-trade margins, and the set
of stored agg ids. From then on queries seek exactly, ``stats`` and the recorder's resume
point are exact, and no write path stores an agg id twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tradestore.store import _keys
from tradestore.store._measure import Measure, measure
from tradestore.store._pass import PassLogger, PassProgress, PassReport
from tradestore.store._reader import RangeReader

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AdoptProgress(PassProgress):
    """Where the pass is: ``symbol`` (the ``index``-th of ``symbols``), its trades read
    so far, and the share of the whole pass done (by key time within each symbol)."""


@dataclass(frozen=True)
class SymbolAdoption:
    """What the pass measured and recorded for one symbol."""

    symbol: str
    batches: int
    empty_batches: int
    trades: int
    distinct_ids: int
    id_ranges: int  # intervals of stored ids: 1 for a record without holes
    duplicates: int  # ids stored more than once (by a writer that did not check)
    first_agg_id: int | None
    last_agg_id: int | None
    first_time_ms: int | None
    last_time_ms: int | None
    before_ms: int  # the most a trade lies before its key
    after_ms: int  # the most a trade lies after its key
    undecodable_keys: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "batches": self.batches,
            "empty_batches": self.empty_batches,
            "trades": self.trades,
            "distinct_ids": self.distinct_ids,
            "id_ranges": self.id_ranges,
            "duplicates": self.duplicates,
            "first_agg_id": self.first_agg_id,
            "last_agg_id": self.last_agg_id,
            "first_time_ms": self.first_time_ms,
            "last_time_ms": self.last_time_ms,
            "margin_before_ms": self.before_ms,
            "margin_after_ms": self.after_ms,
            "undecodable_keys": list(self.undecodable_keys),
        }


@dataclass(frozen=True)
class AdoptReport(PassReport[SymbolAdoption]):
    pass


def adopt_symbols(
    store: RangeReader,
    symbols: Sequence[str],
    record: Callable[[str, Measure], int | None],
    *,
    progress: Callable[[AdoptProgress], None] | None = None,
) -> AdoptReport:
    """Measure each symbol's batches and have ``record`` write its bookkeeping (one
    WriteBatch each; it returns the symbol's last agg id, never lowered)."""
    began = time.perf_counter()
    report = progress or PassLogger(
        store.path, log, "%s: adopting %s (%d of %d): %d trades read, %.0f%% done"
    )
    if symbols and progress is None:
        log.warning(
            "%s: adopting %d symbols written without full bookkeeping (%s): one pass over "
            "their trades",
            store.path,
            len(symbols),
            ", ".join(symbols[:10]) + (", ..." if len(symbols) > 10 else ""),
        )
    done: list[SymbolAdoption] = []
    for index, symbol in enumerate(symbols):
        prefix = _keys.trades_prefix(symbol)
        first_ms, last_ms = _key_range(store, prefix)

        def on_chunk(
            found: Measure,
            index: int = index,
            symbol: str = symbol,
            first_ms: int = first_ms,
            last_ms: int = last_ms,
        ) -> None:
            part = 1.0
            if found.last_key_ms is not None and last_ms > first_ms:
                part = min(max((found.last_key_ms - first_ms) / (last_ms - first_ms), 0.0), 1.0)
            report(
                AdoptProgress(
                    symbol,
                    index,
                    len(symbols),
                    found.trades,
                    (index + part) / len(symbols),
                    time.perf_counter() - began,
                )
            )

        found = measure(store.iter_range(prefix, None), on_chunk=on_chunk)
        last_id = record(symbol, found)
        done.append(
            SymbolAdoption(
                symbol=symbol,
                batches=found.batches,
                empty_batches=found.empty_batches,
                trades=found.trades,
                distinct_ids=found.ids.count,
                id_ranges=len(found.ids),
                duplicates=found.duplicates,
                first_agg_id=found.ids.first,
                last_agg_id=last_id,
                first_time_ms=found.first_time_ms,
                last_time_ms=found.last_time_ms,
                before_ms=found.before_ms,
                after_ms=found.after_ms,
                undecodable_keys=tuple(k.decode("ascii", "replace") for k in found.corrupt_keys),
            )
        )
        if found.duplicates or found.corrupt_keys:
            log.warning(
                "%s: %d agg ids stored more than once, %d undecodable values: "
                "`tradestore-trio verify --symbol %s` lists them",
                symbol,
                found.duplicates,
                len(found.corrupt_keys),
                symbol,
            )
    result = AdoptReport(tuple(done), time.perf_counter() - began)
    if symbols:
        log.info(
            "%s: adopted %d symbols, %d trades in %.1f s",
            store.path,
            len(done),
            result.trades,
            result.seconds,
        )
    return result


def _key_range(store: RangeReader, prefix: bytes) -> tuple[int, int]:
    """Key times of a symbol's first and last batch (for the progress fraction)."""
    first = next(iter(store.iter_range(prefix, None)), None)
    last = next(iter(store.iter_range(prefix, None, reverse=True)), None)
    if first is None or last is None:
        return 0, 0
    return _ms(first[0]), _ms(last[0])


def _ms(key: bytes) -> int:
    try:
        return _keys.key_ms(key)
    except ValueError:
        return 0
