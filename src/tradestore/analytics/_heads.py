"""A rollup's head: the summary a candle needs, without the price levels."""

from __future__ import annotations

from collections.abc import Iterable
from operator import attrgetter
from typing import Any, NamedTuple

from tradestore.codec._twins import rollup_summary


class RollupHead(NamedTuple):
    """Counts, extremes and sums of some trades (prices and volumes at 1e-8, the
    notional at 1e-16), in the order the codec's ``rollup_summary`` returns them."""

    trade_count: int
    first_time_ms: int
    last_time_ms: int
    first_agg_id: int
    last_agg_id: int
    open_price: int
    close_price: int
    min_price: int
    max_price: int
    volume: int
    buy_volume: int
    notional: int

    @classmethod
    def read(cls, value: bytes, key: bytes) -> RollupHead:
        """The head of a stored rollup value (CorruptValue, naming ``key``, if unreadable)."""
        return cls._make(rollup_summary(value, key))

    @classmethod
    def of(cls, rollup: Any) -> RollupHead:
        """The head of a Rollup (the codec's accumulator) holding at least one trade."""
        return cls(
            rollup.trade_count,
            rollup.first_time_ms,
            rollup.last_time_ms,
            rollup.first_agg_id,
            rollup.last_agg_id,
            rollup.open_price,
            rollup.close_price,
            rollup.min_price,
            rollup.max_price,
            rollup.volume,
            rollup.buy_volume,
            rollup.notional,
        )

    @classmethod
    def total(cls, heads: Iterable[RollupHead]) -> RollupHead | None:
        """The head of all these sets of trades together (disjoint: each agg id in one);
        None for none. One pass per field, not a merge per head: a day of minutes is
        1,440 heads."""
        heads = list(heads)
        if not heads:
            return None
        first = min(heads, key=attrgetter("first_agg_id"))
        last = max(heads, key=attrgetter("last_agg_id"))
        fields = list(zip(*heads, strict=True))
        return cls(
            sum(fields[0]),
            min(fields[1]),
            max(fields[2]),
            first.first_agg_id,
            last.last_agg_id,
            first.open_price,
            last.close_price,
            min(fields[7]),
            max(fields[8]),
            sum(fields[9]),
            sum(fields[10]),
            sum(fields[11]),
        )

    def merge(self, other: RollupHead) -> RollupHead:
        """The head of both sets of trades together (disjoint: each agg id in one)."""
        first = other if other.first_agg_id < self.first_agg_id else self
        last = other if other.last_agg_id > self.last_agg_id else self
        return RollupHead(
            self.trade_count + other.trade_count,
            min(self.first_time_ms, other.first_time_ms),
            max(self.last_time_ms, other.last_time_ms),
            first.first_agg_id,
            last.last_agg_id,
            first.open_price,
            last.close_price,
            min(self.min_price, other.min_price),
            max(self.max_price, other.max_price),
            self.volume + other.volume,
            self.buy_volume + other.buy_volume,
            self.notional + other.notional,
        )
