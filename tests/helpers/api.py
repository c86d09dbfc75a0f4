"""The HTTP API and the MCP server in tests: a sample store, the API served on 127.0.0.1,
and the command line's JSON for the same question, to compare with."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from pathlib import Path

import trio

from tests.helpers.trades import T0
from tradestore import AggTrade, TradeStore
from tradestore.api import serve_api
from tradestore.cli import main
from tradestore.store import Gap

BTC_FIRST_ID = 1_000
BTC_TRADES = 5_000
HOLE = range(3_000, 3_010)  # ids never stored, recorded as an open gap
STEP_MS = 100
ETH_FIRST_ID = 70_000
ETH_TRADES = 1_500


@dataclass(frozen=True)
class Sample:
    """What ``sample_store`` wrote: the window that holds every BTCUSDT trade, its ids."""

    db: Path
    start_ms: int
    end_ms: int
    btc_ids: list[int]


def btc_trades() -> list[AggTrade]:
    """Prices spread evenly over 100..110 except 104..105, which trades a twentieth as
    often (a liquidity vacuum); both sides; a hole of ten ids."""
    trades = []
    for i in range(BTC_TRADES):
        agg_id = BTC_FIRST_ID + i
        if agg_id in HOLE:
            continue
        cents = 10_000 + (i * 37) % 1_000
        if 10_400 <= cents < 10_500 and i % 20:
            cents += 100
        trades.append(
            AggTrade(
                agg_id,
                Decimal(cents).scaleb(-2),
                Decimal(f"0.{(i * 7919) % 10**8:08d}") + 1,
                T0 + i * STEP_MS,
                bool(i % 3),
            )
        )
    return trades


def eth_trades() -> list[AggTrade]:
    return [
        AggTrade(ETH_FIRST_ID + i, Decimal("3000.5"), Decimal("0.25"), T0 + i * 200, i % 2 == 0)
        for i in range(ETH_TRADES)
    ]


def sample_store(db: Path) -> Sample:
    """BTCUSDT (4,990 trades with a recorded hole) and ETHUSDT (1,500) in batches of 100."""
    btc = btc_trades()
    with TradeStore(db) as store:
        for symbol, trades in (("BTCUSDT", btc), ("ETHUSDT", eth_trades())):
            for i in range(0, len(trades), 100):
                store.store_batch(symbol, trades[i : i + 100])
        before = next(t for t in btc if t.agg_id == HOLE[0] - 1)
        after = next(t for t in btc if t.agg_id == HOLE[-1] + 1)
        store.put_gap(
            "BTCUSDT",
            Gap(HOLE[0], HOLE[-1], before.time_ms, after.time_ms, detected_ms=after.time_ms),
        )
    return Sample(db, T0, T0 + BTC_TRADES * STEP_MS, [t.agg_id for t in btc])


@asynccontextmanager
async def serving_api(db: Path, **options) -> AsyncIterator[str]:
    """The HTTP API over ``db`` on a free port of 127.0.0.1; yields its base URL."""
    async with trio.open_nursery() as nursery:
        url = await nursery.start(partial(serve_api, "127.0.0.1:0", str(db), **options))
        try:
            yield url
        finally:
            nursery.cancel_scope.cancel()


def cli_json(capsys, *argv) -> dict:
    """The document ``tradestore-trio ARGV --format json`` prints (it must exit 0)."""
    code = main([str(a) for a in (*argv, "--format", "json")])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def without(document: dict, *keys: str) -> dict:
    return {k: v for k, v in document.items() if k not in keys}


def undated(vacuums: dict) -> dict:
    """A vacuums document without the detection times (the clock at the answer)."""
    return {
        **vacuums,
        "vacuums": [without(v, "detection_timestamp") for v in vacuums["vacuums"]],
    }


def exact_bars(trades: list[AggTrade], start_ms: int, end_ms: int, interval_ms: int) -> dict:
    """Per interval open time, from the raw trades of the window: (open, high, low, close,
    volume, taker-buy volume, trade count) and the volume per price {price: (buy, sell)}."""
    bars: dict[int, list] = {}
    for t in sorted(trades, key=lambda t: t.agg_id):
        if not start_ms <= t.time_ms <= end_ms:
            continue
        open_ms = t.time_ms - t.time_ms % interval_ms
        buy = Decimal(0) if t.is_buyer_maker else t.qty
        bar = bars.get(open_ms)
        if bar is None:
            bars[open_ms] = [t.price, t.price, t.price, t.price, t.qty, buy, 1, {}]
            bar = bars[open_ms]
        else:
            bar[1] = max(bar[1], t.price)
            bar[2] = min(bar[2], t.price)
            bar[3] = t.price
            bar[4] += t.qty
            bar[5] += buy
            bar[6] += 1
        level_buy, level_sell = bar[7].get(t.price, (Decimal(0), Decimal(0)))
        bar[7][t.price] = (level_buy + buy, level_sell + t.qty - buy)
    return bars
