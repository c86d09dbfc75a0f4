"""A stock client against the fake exchange: ccxt loads markets from its exchangeInfo and
reads aggregate trades over REST, unchanged but for the URLs, for each market.

ccxt is heavy (aiohttp, cryptography, ...): it lives in the ``compat`` extra and this test
skips without it (``pip install -e '.[compat]'``)."""

from __future__ import annotations

from decimal import Decimal

import pytest
import trio

from tradestore.fake import FakeExchangeConfig, open_fake_exchange

ccxt = pytest.importorskip("ccxt")

# ccxt's API groups for each market, and the ccxt market type they carry.
GROUPS = {
    "spot": ("public", "/api/v3", "spot"),
    "usdm": ("fapiPublic", "/fapi/v1", "linear"),
    "coinm": ("dapiPublic", "/dapi/v1", "inverse"),
}


def client(market: str, rest_url: str):
    group, prefix, kind = GROUPS[market]
    exchange = ccxt.binance({"timeout": 10_000})
    exchange.urls["api"][group] = rest_url + prefix
    exchange.options["fetchMarkets"] = {"types": [kind]}
    exchange.options["defaultType"] = "spot" if kind == "spot" else "future"
    if kind == "inverse":
        exchange.options["defaultType"] = "delivery"
    return exchange


@pytest.mark.parametrize("market", ["spot", "usdm", "coinm"])
async def test_ccxt_loads_markets_and_fetches_trades(market):
    fcfg = FakeExchangeConfig(market=market, rate=50.0, start_on_first_subscriber=False)
    symbol = fcfg.symbols[0]
    async with open_fake_exchange(fcfg) as fx:
        with trio.fail_after(30):
            await fx.wait_generated(symbol, 20)
            fx.delist_symbol(fcfg.symbols[1])
            exchange = client(market, fx.rest_url)
            markets = await trio.to_thread.run_sync(exchange.load_markets)
            info = next(m for m in markets.values() if m["id"] == symbol)
            trades = await trio.to_thread.run_sync(exchange.fetch_trades, info["symbol"])
            history = {t.agg_id: t for t in fx.history(symbol)}
    delisted = next(m for m in markets.values() if m["id"] == fcfg.symbols[1])
    assert info["active"] is True and delisted["active"] is False
    assert info["base"] in ("BTC", "ETH") and info["quote"] in ("USDT", "USD")
    assert info["precision"]["price"] == 0.01
    assert {m["id"] for m in markets.values()} == set(fcfg.symbols)
    # ccxt's trades are the fake's aggregate trades, id for id.
    assert len(trades) >= 20
    for trade in trades:
        agg = history[int(trade["id"])]
        assert Decimal(str(trade["price"])) == agg.price
        assert trade["timestamp"] == agg.time_ms
        assert trade["side"] == ("sell" if agg.is_buyer_maker else "buy")
