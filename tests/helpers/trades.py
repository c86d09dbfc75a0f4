"""Trade factories: one home for the shapes the tests build stores from."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

from tradestore import AggTrade, TradeStore

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, the epoch ms most samples start at


def trade(agg_id: int, price: str, qty: str, time_ms: int, maker: bool = False) -> AggTrade:
    """One trade from decimal text, so a test says exactly which digits it stores."""
    return AggTrade(agg_id, Decimal(price), Decimal(qty), time_ms, maker)


def make_trades(n: int, start_id: int = 1, start_ms: int = T0, step_ms: int = 10) -> list[AggTrade]:
    """n contiguous trades: BTC-like 8-decimal prices and quantities, both sides."""
    return [
        AggTrade(
            agg_id=start_id + i,
            price=Decimal(f"{87000 + i % 50}.{i % 100:02d}000000"),
            qty=Decimal(f"0.{(i * 7919) % 10**8:08d}"),
            time_ms=start_ms + i * step_ms,
            is_buyer_maker=bool(i % 3),
        )
        for i in range(n)
    ]


def store_with(
    path: Path, trades: Iterable[AggTrade], batch: int = 100, symbol: str = "BTCUSDT"
) -> TradeStore:
    """An open store at path holding trades in batches of ``batch`` (the caller closes it)."""
    trades = list(trades)
    store = TradeStore(path)
    for i in range(0, len(trades), batch):
        store.store_batch(symbol, trades[i : i + batch])
    return store
