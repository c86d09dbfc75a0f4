"""What the adoption pass and the rollup build share: one pass over each symbol's trades,
its progress, its report and the default progress log line."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

LOG_EVERY_S = 5.0  # the default progress report: one log line this often


@dataclass(frozen=True)
class PassProgress:
    """Where a pass is: ``symbol`` (the ``index``-th of ``symbols``), its trades so far,
    and the share of the whole pass done."""

    symbol: str
    index: int
    symbols: int
    trades: int
    fraction: float
    elapsed_s: float


class _SymbolResult(Protocol):
    @property
    def trades(self) -> int: ...

    def as_dict(self) -> dict[str, Any]: ...


S = TypeVar("S", bound=_SymbolResult)


@dataclass(frozen=True)
class PassReport(Generic[S]):
    """What a pass did: one result a symbol, and how long it took."""

    symbols: tuple[S, ...]
    seconds: float

    @property
    def trades(self) -> int:
        return sum(s.trades for s in self.symbols)

    @property
    def trades_per_s(self) -> float:
        return self.trades / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "symbols": [s.as_dict() for s in self.symbols],
            "trades": self.trades,
            "seconds": round(self.seconds, 3),
            "trades_per_s": round(self.trades_per_s),
        }


class PassLogger:
    """The default progress report: a log line every LOG_EVERY_S seconds.

    ``line`` is a %-format taking the store's ``path``, the symbol, its position, the
    number of symbols, the trades so far and the percentage done."""

    def __init__(self, path: Path, log: logging.Logger, line: str) -> None:
        self.path = path
        self.log = log
        self.line = line
        self.next_at = LOG_EVERY_S

    def __call__(self, p: PassProgress) -> None:
        if p.elapsed_s >= self.next_at:
            self.next_at = p.elapsed_s + LOG_EVERY_S
            self.log.info(
                self.line,
                self.path,
                p.symbol,
                p.index + 1,
                p.symbols,
                p.trades,
                100 * p.fraction,
            )
