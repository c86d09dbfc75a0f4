"""Where the fake exchange's trades come from: a seeded random walk, a CSV, or a store.

A source is asked for the next trade with the exchange time it should carry (the Trio
clock mapped onto ``start_time_ms``). The synthetic source uses that time; replayed
sources keep the ids, prices and times that were recorded and only use the pace.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from tradestore._model import AggTrade
from tradestore.binance import open_text, read_trades
from tradestore.codec._fixed import SCALE, SCALE_DIGITS, format_fixed

# Hour-wide windows keep a replayed store's memory bounded whatever its size.
REPLAY_WINDOW_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class Record:
    """A trade as the exchange publishes it: the AggTrade plus its first/last trade ids."""

    trade: AggTrade
    first_trade_id: int
    last_trade_id: int


class SyntheticSource:
    """A BTC-like random walk: 2-decimal price ticks between 60,000 and 100,000, small
    quantities with 5 to 8 decimals, contiguous agg ids from ``start_id``."""

    LOW_CENTS = 6_000_000
    HIGH_CENTS = 10_000_000

    def __init__(self, symbol: str, seed: int, start_id: int) -> None:
        # crc32, not hash(): str hashes are salted per process and would break the seed.
        self._rng = random.Random(seed * 1_000_003 + zlib.crc32(symbol.encode("ascii")))
        self._next_id = start_id
        self._next_trade_id = start_id * 2 + 1
        self._cents = self._rng.randint(7_000_000, 9_000_000)

    def next(self, time_ms: int) -> Record | None:
        rng = self._rng
        step = round(rng.gauss(0.0, 40.0))
        cents = self._cents + step
        if not self.LOW_CENTS <= cents <= self.HIGH_CENTS:
            cents = self._cents - step  # reflect at the band's edges
        self._cents = cents
        decimals = rng.randint(5, 8)
        # Mostly small takers, now and then a large one (a rough power law).
        size = min(int(rng.paretovariate(1.3) * 10 ** (decimals - 4)), 2 * 10**decimals)
        qty_units = max(size, 1) * 10 ** (SCALE_DIGITS - decimals)
        trade = AggTrade(
            agg_id=self._next_id,
            price=Decimal(format_fixed(cents * (SCALE // 100))),
            qty=Decimal(format_fixed(qty_units)),
            time_ms=time_ms,
            is_buyer_maker=rng.random() < 0.5,
        )
        fills = 1 + (rng.random() < 0.3) + (rng.random() < 0.1)
        record = Record(trade, self._next_trade_id, self._next_trade_id + fills - 1)
        self._next_id += 1
        self._next_trade_id += fills
        return record


class _ReplaySource:
    """Trades from an iterator, given made-up first/last trade ids (the CSV reader and the
    store do not keep them); None once the iterator is exhausted."""

    def __init__(self, trades: Iterator[AggTrade]) -> None:
        self._trades = trades
        self._next_trade_id: int | None = None

    def next(self, time_ms: int) -> Record | None:
        trade = next(self._trades, None)
        if trade is None:
            return None
        if self._next_trade_id is None:
            self._next_trade_id = trade.agg_id * 2 + 1
        record = Record(trade, self._next_trade_id, self._next_trade_id)
        self._next_trade_id += 1
        return record

    def close(self) -> None:
        close = getattr(self._trades, "close", None)
        if close is not None:
            close()


def csv_source(path: Path) -> _ReplaySource:
    """Replay a data.binance.vision aggTrades .csv or .zip in file order."""

    def trades() -> Iterator[AggTrade]:
        with open_text(path) as (text, _size):
            for _lineno, trade in read_trades(text, path.name):
                yield trade

    return _ReplaySource(trades())


def store_source(store, symbol: str) -> _ReplaySource:
    """Replay every stored trade of ``symbol`` in agg-id order, an hour at a time."""
    info = store.stats()["symbols"].get(symbol)
    if info is None or info["first_time_ms"] is None:
        raise ValueError(f"{store.path}: no trades stored for {symbol}")
    first_ms, last_ms = info["first_time_ms"], info["last_time_ms"]

    def trades() -> Iterator[AggTrade]:
        last_id = -1
        for start in range(first_ms, last_ms + 1, REPLAY_WINDOW_MS):
            end = min(start + REPLAY_WINDOW_MS - 1, last_ms)
            for trade in store.query_trades(symbol, start, end):
                if trade.agg_id > last_id:  # windows are disjoint in time, ids may not be
                    last_id = trade.agg_id
                    yield trade

    return _ReplaySource(trades())
