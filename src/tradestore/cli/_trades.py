"""Trades as records, the same in every command and format, and a window walked by hours.

A trade record has the library's own field names, those of ``AggTrade`` and of the
Parquet export: ``agg_id, price, qty, time_ms, is_buyer_maker`` (prices and quantities as
the exchange's exact text). ``--keys binance`` gives Binance's instead: ``a, p, q, T, m`` as
in its WebSocket and REST messages, and in CSV the data.binance.vision file layout.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from dataclasses import dataclass

from tradestore._model import AggTrade, decimal_text
from tradestore._timeparse import format_time_ms
from tradestore.api._documents import TRADE_FIELDS
from tradestore.api._documents import trade_record as record
from tradestore.cli._output import Column, field

FIELDS = TRADE_FIELDS
BINANCE_FIELDS = ("a", "p", "q", "T", "m")
KEYS = ("ours", "binance")
CHUNK_MS = 3_600_000
TAKE_CHUNK_MS = 60_000

# The table: the time as text instead of ms, the taker's side instead of the maker flag.
COLUMNS = [
    field("agg_id", right=True),
    Column("time (UTC)", lambda r: format_time_ms(r["time_ms"])),
    field("price", right=True),
    field("qty", right=True),
    Column("taker", lambda r: "sell" if r["is_buyer_maker"] else "buy", drop=1),
]


def add_keys(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--keys",
        choices=KEYS,
        default="ours",
        help="record keys in json/jsonl/csv: ours (agg_id, price, qty, time_ms, "
        "is_buyer_maker) or binance (a, p, q, T, m; in CSV the headerless data.binance.vision "
        "layout)",
    )


def fields(keys: str) -> tuple[str, ...]:
    return BINANCE_FIELDS if keys == "binance" else FIELDS


def binance_record(t: AggTrade) -> dict:
    return {
        "a": t.agg_id,
        "p": decimal_text(t.price),
        "q": decimal_text(t.qty),
        "T": t.time_ms,
        "m": t.is_buyer_maker,
    }


def records(trades, keys: str) -> Iterator[dict]:
    make = binance_record if keys == "binance" else record
    return (make(t) for t in trades)


@dataclass
class Tally:
    """The agg ids seen in a window: how many, the smallest and the largest."""

    count: int = 0
    first_id: int | None = None
    last_id: int | None = None

    def add(self, n: int, first: int, last: int) -> None:
        if not n:
            return
        self.count += n
        self.first_id = first if self.first_id is None else min(self.first_id, first)
        self.last_id = last if self.last_id is None else max(self.last_id, last)


def walk(
    store, symbol: str, start: int, end: int, *, take: int | None, tally: Tally
) -> Iterator[AggTrade]:
    """The first ``take`` trades of [start, end] (all with None), ascending agg id, read an
    hour at a time so memory stays bounded; the rest of the window is counted into
    ``tally`` from its id column alone (no Python object per trade). Stretches where
    nothing is stored are skipped with one seek."""
    lo = start
    taken = 0
    while lo <= end:
        taking = take is None or taken < take
        # A few rows wanted: a minute of trades at a time, not an hour of Decimals.
        step = TAKE_CHUNK_MS if taking and take is not None else CHUNK_MS
        hi = min(lo + step - 1, end)
        if taking:
            trades = store.query_trades(symbol, lo, hi)
            if trades:
                tally.add(len(trades), trades[0].agg_id, trades[-1].agg_id)
            keep = trades if take is None else trades[: take - taken]
            taken += len(keep)
            yield from keep
            n = len(trades)
        else:
            ids = store.query_columns(symbol, lo, hi).agg_id
            n = int(ids.shape[0])
            if n:
                tally.add(n, int(ids[0]), int(ids[-1]))
        lo = hi + 1
        if not n and lo <= end:
            bound = store.next_trade_bound(symbol, lo)
            if bound is None:
                return
            lo = bound
