"""The market table, exchangeInfo symbols, control messages, the recorder's market and
symbol settings, and the fake exchange's exchangeInfo for each market."""

from __future__ import annotations

import json

import pytest

from tradestore.binance import (
    COINM,
    MARKETS,
    SPOT,
    USDM,
    ControlReply,
    ExchangeInfoError,
    combined_url,
    control_message,
    market,
    parse_control_reply,
    parse_symbols,
    select_symbols,
)
from tradestore.fake import FakeExchangeConfig
from tradestore.fake._info import exchange_info, split_symbol
from tradestore.recorder import ConfigError, RecorderConfig
from tradestore.store import check_symbol


def test_each_market_has_its_own_hosts_paths_and_limits():
    assert [m.name for m in MARKETS.values()] == ["spot", "usdm", "coinm"]
    assert SPOT.agg_trades_path == "/api/v3/aggTrades"
    assert USDM.agg_trades_path == "/fapi/v1/aggTrades"
    assert COINM.exchange_info_path == "/dapi/v1/exchangeInfo"
    assert SPOT.weights == {
        "/api/v3/aggTrades": 4,
        "/api/v3/exchangeInfo": 20,
        "/api/v3/ping": 1,
        "/api/v3/time": 1,
    }
    assert (USDM.agg_trades_weight, USDM.weight_per_minute) == (20, 2400)
    assert (SPOT.control_messages_per_second, USDM.control_messages_per_second) == (5, 10)
    # Paced one message per 250 ms on spot: 4 a second, room left for a pong.
    assert SPOT.control_interval_s == 0.25
    assert COINM.status_field == "contractStatus" and not COINM.event_has_best_match
    with pytest.raises(ValueError, match="unknown market 'margin': expected one of spot"):
        market("margin")


def test_futures_symbols_are_valid_store_symbols():
    assert check_symbol("btcusd_perp") == "BTCUSD_PERP"
    assert check_symbol("BTCUSDT_250627") == "BTCUSDT_250627"
    for bad in ("_BTC", "BTC_", "BTC:USD", "B"):
        with pytest.raises(ValueError):
            check_symbol(bad)


def exchange_doc(market_name: str, status: dict[str, str]) -> dict:
    """The fake exchange's exchangeInfo, through JSON as a client sees it."""
    info = MARKETS[market_name]
    return json.loads(json.dumps(exchange_info(info, status, 1_700_000_000_000, 6000)))


@pytest.mark.parametrize("market_name", ["spot", "usdm", "coinm"])
def test_trading_symbols_of_each_markets_exchange_info(market_name):
    info = MARKETS[market_name]
    if market_name == "coinm":
        status = {"BTCUSD_PERP": "TRADING", "ETHUSD_PERP": "TRADING", "LTCUSD_PERP": "SETTLING"}
    else:
        status = {"BTCUSDT": "TRADING", "ETHBTC": "TRADING", "LTCUSDT": info.delisted_status}
    doc = exchange_doc(market_name, status)
    infos = parse_symbols(doc, info)
    assert {i.symbol: i.status for i in infos} == status
    trading = sorted(s for s, st in status.items() if st == "TRADING")
    assert select_symbols(infos) == trading
    if market_name == "coinm":
        assert "status" not in doc["symbols"][0]  # COIN-M calls it contractStatus
        assert select_symbols(infos, ["usd"]) == trading
    else:
        assert select_symbols(infos, ["USDT"]) == ["BTCUSDT"]
        assert select_symbols(infos, ["BTC", "USDT"]) == ["BTCUSDT", "ETHBTC"]


def test_exchange_info_in_binance_shape():
    doc = exchange_doc("spot", {"BTCUSDT": "TRADING"})
    assert {"timezone", "serverTime", "rateLimits", "exchangeFilters", "symbols"} <= set(doc)
    assert doc["rateLimits"][0] == {
        "rateLimitType": "REQUEST_WEIGHT",
        "interval": "MINUTE",
        "intervalNum": 1,
        "limit": 6000,
    }
    row = doc["symbols"][0]
    assert (row["baseAsset"], row["quoteAsset"], row["status"]) == ("BTC", "USDT", "TRADING")
    filters = {f["filterType"]: f for f in row["filters"]}
    assert filters["PRICE_FILTER"]["tickSize"] == "0.01000000"
    assert filters["LOT_SIZE"]["stepSize"] == "0.00000001"
    usdm = exchange_doc("usdm", {"BTCUSDT": "TRADING"})["symbols"][0]
    assert (usdm["contractType"], usdm["marginAsset"], usdm["pair"]) == (
        "PERPETUAL",
        "USDT",
        "BTCUSDT",
    )
    assert split_symbol("BTCUSD_PERP", COINM) == ("BTC", "USD", "BTCUSD")
    assert split_symbol("W0009BTC", SPOT) == ("W0009", "BTC", "W0009BTC")


def test_malformed_exchange_info_is_an_error_naming_it():
    with pytest.raises(ExchangeInfoError, match="no 'symbols' list"):
        parse_symbols({"serverTime": 1}, SPOT)
    with pytest.raises(ExchangeInfoError, match="lacks fields"):
        parse_symbols({"symbols": [{"symbol": "BTCUSDT"}]}, SPOT)
    # A name the store cannot key is left out, not fatal.
    row = {"symbol": "BAD:NAME", "status": "TRADING", "baseAsset": "B", "quoteAsset": "Q"}
    assert parse_symbols({"symbols": [row]}, SPOT) == []


def test_control_messages_and_their_replies():
    assert json.loads(control_message("SUBSCRIBE", ["BTCUSDT", "BTCUSD_PERP"], 7)) == {
        "method": "SUBSCRIBE",
        "params": ["btcusdt@aggTrade", "btcusd_perp@aggTrade"],
        "id": 7,
    }
    assert parse_control_reply('{"result":null,"id":7}') == ControlReply(7, None)
    reply = parse_control_reply('{"error":{"code":2,"msg":"Invalid request"},"id":8}')
    assert reply is not None and reply.id == 8 and "Invalid request" in reply.error
    for other in ('{"e":"aggTrade","a":1,"id":3}', '{"stream":"x","data":{},"id":1}', "[1]"):
        assert parse_control_reply(other) is None
    assert combined_url("ws://h:1", []) == "ws://h:1/stream"
    assert combined_url("ws://h:1", ["ETHUSDT"]) == "ws://h:1/stream?streams=ethusdt@aggTrade"


def test_recorder_market_settings_and_defaults():
    spot = RecorderConfig()
    assert (spot.market, spot.endpoint, spot.rest_endpoint) == (
        "spot",
        "wss://stream.binance.com:9443",
        "https://api.binance.com",
    )
    usdm = RecorderConfig(market="usdm")
    assert usdm.endpoint == "wss://fstream.binance.com/market"
    assert usdm.rest_endpoint == "https://fapi.binance.com"
    coinm = RecorderConfig(market="coinm")
    assert coinm.symbols == ("BTCUSD_PERP", "ETHUSD_PERP")
    assert coinm.market_info is COINM
    # A config printed for spot and switched to usdm keeps spot's hosts: refused.
    with pytest.raises(ConfigError, match="is Binance spot's, but market is usdm"):
        RecorderConfig.from_mapping({"market": "usdm", "endpoint": SPOT.ws_url})
    with pytest.raises(ConfigError, match="market: unknown market"):
        RecorderConfig(market="margin")
    with pytest.raises(ConfigError, match="within 1..1024"):
        RecorderConfig(max_streams_per_connection=2000)
    with pytest.raises(ConfigError, match="connect_budget: must be within 1..300"):
        RecorderConfig(connect_budget=400)


def test_all_symbols_and_the_quote_filter():
    cfg = RecorderConfig.load(
        environ={"TRADESTORE_SYMBOLS": "all", "TRADESTORE_QUOTE": "usdt,fdusd"}
    )
    assert cfg.follow_all and cfg.symbols == ("ALL",) and cfg.quote == ("USDT", "FDUSD")
    # The effective config reads back the same.
    assert 'symbols = ["ALL"]' in cfg.to_toml() and 'quote = ["USDT", "FDUSD"]' in cfg.to_toml()
    with pytest.raises(ConfigError, match="quote: only applies with symbols = ALL"):
        RecorderConfig(symbols=("BTCUSDT",), quote=("USDT",))
    with pytest.raises(ConfigError, match="ALL stands alone"):
        RecorderConfig(symbols=("ALL", "BTCUSDT"))
    with pytest.raises(ConfigError, match="not an asset name"):
        RecorderConfig(symbols=("ALL",), quote=("US-DT",))
    assert not RecorderConfig(symbols=("BTCUSDT",)).follow_all


def test_fake_exchange_market_defaults_and_schedule():
    cfg = FakeExchangeConfig(market="usdm")
    assert (cfg.ping_interval, cfg.pong_timeout, cfg.rest_weight_limit) == (180.0, 600.0, 2400)
    assert FakeExchangeConfig(market="coinm").symbols == ("BTCUSD_PERP", "ETHUSD_PERP")
    cfg = FakeExchangeConfig(listings="30:newusdt,5:OTHERUSDT", delistings=("12.5:ETHUSDT",))
    assert cfg.schedule() == [
        (5.0, "list", "OTHERUSDT"),
        (12.5, "delist", "ETHUSDT"),
        (30.0, "list", "NEWUSDT"),
    ]
    for bad in ("NEWUSDT", "-1:NEWUSDT", "x:NEWUSDT"):
        with pytest.raises(ValueError, match="is not SECONDS:SYMBOL"):
            FakeExchangeConfig(listings=(bad,))
    with pytest.raises(ValueError, match="burst_for must be shorter"):
        FakeExchangeConfig(burst_every=5.0, burst_for=5.0)
    with pytest.raises(ValueError, match="unknown market"):
        FakeExchangeConfig(market="eoptions")


def test_a_symbol_leaves_all_when_delisted_or_missing_from_two_reads():
    from tradestore.binance import SymbolInfo
    from tradestore.recorder._universe import Universe

    universe = Universe(RecorderConfig(symbols=("ALL",), quote=("USDT",)))
    universe.selected = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]

    def info(symbol: str, status: str = "TRADING", quote: str = "USDT") -> SymbolInfo:
        return SymbolInfo(symbol, status, symbol.removesuffix(quote), quote)

    universe._note_read({"serverTime": 1}, [info("BTCUSDT"), info("ETHUSDT"), info("SOLUSDT")])
    # SOLUSDT missing once: kept; ETHUSDT halted: gone; NEWUSDT listed; ETHBTC another quote.
    first = [
        info("BTCUSDT"),
        info("ETHUSDT", "BREAK"),
        info("NEWUSDT"),
        info("ETHBTC", quote="BTC"),
    ]
    assert universe.select(first) == ["BTCUSDT", "NEWUSDT", "SOLUSDT"]
    universe.selected = ["BTCUSDT", "NEWUSDT", "SOLUSDT"]
    # Missing from a second read in a row: delisted.
    assert universe.select([info("BTCUSDT"), info("NEWUSDT")]) == ["BTCUSDT", "NEWUSDT"]


def test_all_with_a_shard_keeps_this_hosts_share_of_every_read():
    """Two hosts recording ALL with --shard 1/2 and 2/2 split each exchangeInfo read
    between them: every trading symbol on exactly one host, listings included."""
    from tradestore.binance import SymbolInfo
    from tradestore.recorder._shard import own_symbols, parse_shard
    from tradestore.recorder._universe import Universe

    def info(symbol: str) -> SymbolInfo:
        return SymbolInfo(symbol, "TRADING", symbol.removesuffix("USDT"), "USDT")

    listed = [f"S{i:03d}USDT" for i in range(60)]
    hosts = [Universe(RecorderConfig(symbols=("ALL",), shard=f"{i}/2")) for i in (1, 2)]
    picks = []
    for universe in hosts:
        universe._note_read({"serverTime": 1}, [info(s) for s in listed])
        picks.append(universe.select([info(s) for s in [*listed, "NEWUSDT"]]))
    assert sorted(picks[0] + picks[1]) == sorted([*listed, "NEWUSDT"])
    assert not set(picks[0]) & set(picks[1])
    assert picks[0] == sorted(own_symbols([*listed, "NEWUSDT"], parse_shard("1/2")))
    assert 15 < len(picks[0]) < 45  # both hosts carry a share
