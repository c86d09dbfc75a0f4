"""Counters of the recorder, read through ``Recorder.statistics()`` (and later /metrics)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(slots=True)
class SymbolStats:
    """What happened to one symbol's stream since the daemon started."""

    received: int = 0  # valid trades for this symbol, duplicates included
    stored: int = 0  # trades written to the DB
    duplicates: int = 0  # agg id <= the last one seen: dropped
    gaps: int = 0  # holes in the agg-id sequence recorded under gaps:
    missing_ids: int = 0  # agg ids inside those holes
    drops: Counter = field(default_factory=Counter)  # rejected frames by reason
    reconnects: int = 0  # reconnections of the connection carrying this symbol
    last_id: int | None = None  # highest agg id accepted (or read back from the DB)
    last_trade_ms: int | None = None  # exchange time T of that trade
    buffered: int = 0  # trades waiting for the next flush

    def as_dict(self) -> dict:
        return {
            "received": self.received,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "gaps": self.gaps,
            "missing_ids": self.missing_ids,
            "drops": dict(self.drops),
            "reconnects": self.reconnects,
            "last_id": self.last_id,
            "last_trade_ms": self.last_trade_ms,
            "buffered": self.buffered,
        }


@dataclass(slots=True)
class FlushStats:
    flushes: int = 0
    failed: int = 0
    early: int = 0  # flushes triggered by the flush_max_trades safety valve
    trades: int = 0
    last_latency: float | None = None  # seconds the last DB write took
    max_latency: float = 0.0
    last_flush_ms: int | None = None  # wall time of the last successful flush
    outages: int = 0  # runs of failed writes (each ends with a successful write)
    reopens: int = 0  # store reopened to clear a latched write error
    failing_since_ms: int | None = None  # wall time the current outage began (None: none)
    last_error: str | None = None  # the last write error

    def as_dict(self) -> dict:
        return {
            "flushes": self.flushes,
            "failed": self.failed,
            "outages": self.outages,
            "reopens": self.reopens,
            "failing_since_ms": self.failing_since_ms,
            "last_error": self.last_error,
            "early": self.early,
            "trades": self.trades,
            "last_latency": self.last_latency,
            "max_latency": self.max_latency,
            "last_flush_ms": self.last_flush_ms,
        }
