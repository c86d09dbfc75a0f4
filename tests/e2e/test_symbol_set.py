"""The symbol set of a running recorder against the fake exchange: SUBSCRIBE/UNSUBSCRIBE on
live connections, ``symbols = ALL`` following exchangeInfo (listings, delistings, the
quote filter), the per-connection message limit, and exact agg-id accounting."""

from __future__ import annotations

import pytest
import trio

from tests.helpers import wait_for
from tests.helpers.store import stored_ids
from tradestore import TradeStore
from tradestore.fake import FakeExchangeConfig, open_fake_exchange
from tradestore.recorder import ConfigError, RecorderConfig, run
from tradestore.store import MarketMismatch


def recorder_config(fx, db, **kw) -> RecorderConfig:
    kw.setdefault("retention_days", 0)
    return RecorderConfig(endpoint=fx.ws_url, rest_endpoint=fx.rest_url, db=str(db), **kw)


def contiguous(ids: list[int]) -> bool:
    return bool(ids) and ids == list(range(ids[0], ids[-1] + 1))


def holds_all_sent(db, fx, symbol: str) -> bool:
    """The store holds the last id the exchange sent ``symbol`` (one that is no longer
    sent: unsubscribed or delisted). Read from the store, not from the recorder's
    buffers: while other symbols trade, a moment with nothing buffered is too brief to
    wait for."""
    sent = fx.log.sent_ids(symbol)
    with TradeStore(db, read_only=True) as store:
        return bool(sent) and store.last_agg_id(symbol) == sent[-1]


async def test_set_symbols_subscribes_and_unsubscribes_on_the_live_connection(tmp_path):
    """Adding BNBUSDT sends one SUBSCRIBE, removing ETHUSDT one UNSUBSCRIBE, on the one
    connection that was opened at the start; BTCUSDT never misses an id, and ETHUSDT's
    record holds every trade the exchange sent it, up to the unsubscription."""
    fcfg = FakeExchangeConfig(symbols=("BTCUSDT", "ETHUSDT", "BNBUSDT"), rate=100.0)
    db = tmp_path / "db"
    async with open_fake_exchange(fcfg) as fx, trio.open_nursery() as nursery:
        cfg = recorder_config(fx, db, symbols=("BTCUSDT", "ETHUSDT"))
        recorder = await nursery.start(run, cfg)
        with trio.fail_after(30):
            await fx.wait_generated("BTCUSDT", 50)
            added = await recorder.set_symbols(["BTCUSDT", "ETHUSDT", "BNBUSDT"])
            assert added["subscribed"] == {"stream-0": ["BNBUSDT"]}
            assert added["opened"] == [] and added["reconnected"] == []
            await wait_for(lambda: recorder.statistics().symbols["BNBUSDT"].stored >= 50)
            removed = await recorder.set_symbols(["BTCUSDT", "BNBUSDT"])
            assert removed["unsubscribed"] == {"stream-0": ["ETHUSDT"]}
            await wait_for(lambda: fx.subscriptions() == [("btcusdt@aggTrade", "bnbusdt@aggTrade")])
            await wait_for(lambda: recorder.statistics().symbols["BTCUSDT"].stored >= 300)
            await wait_for(lambda: holds_all_sent(db, fx, "ETHUSDT"), step=0.1)
            stats = recorder.statistics()
        nursery.cancel_scope.cancel()
    assert fx.log.connections_opened == 1
    assert dict(fx.log.control_by_method) == {"SUBSCRIBE": 1, "UNSUBSCRIBE": 1}
    assert stats.symbol_set.control_messages == 2 and stats.symbol_set.control_failures == 0
    assert set(stats.symbols) == {"BTCUSDT", "BNBUSDT"}
    for symbol in ("BTCUSDT", "ETHUSDT", "BNBUSDT"):
        ids = stored_ids(db, symbol)
        # Everything sent on the connection is stored, once, without a hole (up to the
        # recorder's stop for the symbols still recorded then).
        assert ids == fx.log.sent_ids(symbol)[: len(ids)], symbol
        assert contiguous(ids), symbol
    # ETHUSDT: every trade sent before the unsubscription, nothing after it.
    assert stored_ids(db, "ETHUSDT") == fx.log.sent_ids("ETHUSDT")


async def test_rapid_changes_stay_under_the_message_limit(tmp_path):
    """Twenty changes, each as soon as the previous one reached the exchange: the
    connection paces its control messages under the spot limit of 5 a second (the fake
    exchange enforces it, as Binance does) and ends with exactly the wanted streams."""
    names = [f"S{i:02d}USDT" for i in range(8)]
    fcfg = FakeExchangeConfig(symbols=("BTCUSDT", *names), rate=20.0)
    async with open_fake_exchange(fcfg) as fx, trio.open_nursery() as nursery:
        cfg = recorder_config(fx, tmp_path / "db", symbols=("BTCUSDT",))
        recorder = await nursery.start(run, cfg)
        with trio.fail_after(60):
            await wait_for(lambda: fx.connections == 1)
            for i in range(20):
                sent = fx.log.control_messages
                await recorder.set_symbols(["BTCUSDT", names[i % 8], names[(i + 3) % 8]])
                await wait_for(lambda sent=sent: fx.log.control_messages > sent)
            final = {"btcusdt@aggTrade", "s03usdt@aggTrade", "s06usdt@aggTrade"}
            await wait_for(lambda: [set(s) for s in fx.subscriptions()] == [final])
        nursery.cancel_scope.cancel()
    assert fx.log.message_limit_drops == 0
    assert 1 <= fx.log.max_messages_per_second <= fcfg.market_info.control_messages_per_second
    assert fx.log.connections_opened == 1
    assert fx.log.control_messages >= 20


@pytest.mark.slow
async def test_all_follows_listings_and_delistings_with_the_quote_filter(tmp_path):
    """``symbols = ALL, quote = USDT``: the USDT symbols of exchangeInfo are recorded, the
    BTC-quoted one is not. A listing while running is subscribed on the live connection
    and recorded from its very first trade (the ids before the subscription are
    backfilled); a delisting is unsubscribed, with every trade sent before it stored."""
    fcfg = FakeExchangeConfig(
        symbols=("BTCUSDT", "ETHUSDT", "ETHBTC"), rate=50.0, start_on_first_subscriber=False
    )
    db = tmp_path / "db"
    async with open_fake_exchange(fcfg) as fx, trio.open_nursery() as nursery:
        cfg = recorder_config(fx, db, symbols=("ALL",), quote=("USDT",), exchange_info_interval=0.5)
        recorder = await nursery.start(run, cfg)
        with trio.fail_after(60):
            assert set(recorder.statistics().symbols) == {"BTCUSDT", "ETHUSDT"}
            await wait_for(lambda: recorder.statistics().symbols["ETHUSDT"].stored >= 20)
            fx.list_symbol("NEWUSDT")
            fx.list_symbol("NEWBTC")  # another quote: not recorded
            await wait_for(lambda: "NEWUSDT" in recorder.statistics().symbols)
            await fx.wait_generated("NEWUSDT", 100)
            fx.delist_symbol("ETHUSDT")
            await wait_for(lambda: "ETHUSDT" not in recorder.statistics().symbols)
            last_new = fx.log.generated_ids("NEWUSDT")[fx.generated("NEWUSDT") - 1]

            def caught_up() -> bool:
                # The ids before the subscription come over REST: as a filled gap, or by
                # the listing's catch-up when that ran before the first live trade.
                with TradeStore(db, read_only=True) as store:
                    if any(g.status != "filled" for g in store.gaps("NEWUSDT")):
                        return False
                ids = stored_ids(db, "NEWUSDT")
                return bool(ids) and ids[0] == fx.log.generated_ids("NEWUSDT")[0]

            await wait_for(caught_up, step=0.2)
            await wait_for(lambda: recorder.statistics().symbols["NEWUSDT"].last_id >= last_new)
            await wait_for(lambda: holds_all_sent(db, fx, "ETHUSDT"), step=0.1)
            # The UNSUBSCRIBE is paced under the message limit: it may still be on its way
            # when the symbol has left the recorder's set. Wait for the exchange to take it.
            await wait_for(
                lambda: (
                    [set(s) for s in fx.subscriptions()]
                    == [{"btcusdt@aggTrade", "newusdt@aggTrade"}]
                )
            )
            stats = recorder.statistics()
        nursery.cancel_scope.cancel()
    assert set(stats.symbols) == {"BTCUSDT", "NEWUSDT"}
    assert stats.symbol_set.listings == 1 and stats.symbol_set.delistings == 1
    assert stats.symbol_set.catch_ups == 1 and stats.symbol_set.follow_all
    assert fx.log.connections_opened == 1  # every change on the live connection
    assert dict(fx.log.control_by_method) == {"SUBSCRIBE": 1, "UNSUBSCRIBE": 1}
    # The listing: every id from its very first, stored once.
    new = stored_ids(db, "NEWUSDT")
    assert new[: len(new)] == fx.log.generated_ids("NEWUSDT")[: len(new)]
    assert new[0] == fx.log.generated_ids("NEWUSDT")[0] and contiguous(new)
    # The delisting: every id sent before it, stored once; nothing after.
    eth = stored_ids(db, "ETHUSDT")
    assert eth == fx.log.sent_ids("ETHUSDT") and contiguous(eth)
    assert eth[-1] == fx.log.generated_ids("ETHUSDT")[-1]
    assert stored_ids(db, "ETHBTC") == [] and stored_ids(db, "NEWBTC") == []


async def test_all_with_a_quote_that_nothing_trades_in_is_a_config_error(tmp_path):
    async with open_fake_exchange(FakeExchangeConfig()) as fx:
        cfg = recorder_config(fx, tmp_path / "db", symbols=("ALL",), quote=("XYZ",))
        with pytest.raises(ConfigError, match="no Binance spot symbol quoted in XYZ"):
            await run(cfg)


async def test_a_database_records_one_market(tmp_path):
    """A spot database refuses USD-M futures (and the other way round), before anything
    is recorded; the market is kept under meta:market."""
    db = tmp_path / "db"
    async with open_fake_exchange(FakeExchangeConfig(symbols=("BTCUSDT",), rate=50.0)) as fx:
        async with trio.open_nursery() as nursery:
            recorder = await nursery.start(run, recorder_config(fx, db, symbols=("BTCUSDT",)))
            with trio.fail_after(20):
                await wait_for(lambda: recorder.statistics().symbols["BTCUSDT"].stored >= 5)
            nursery.cancel_scope.cancel()
        before = stored_ids(db, "BTCUSDT")
        usdm = recorder_config(fx, db, symbols=("BTCUSDT",), market="usdm")
        with pytest.raises(MarketMismatch, match="holds spot trades; it cannot record usdm"):
            await run(usdm)
    assert stored_ids(db, "BTCUSDT") == before
    with TradeStore(db, read_only=True) as store:
        assert store.market() == "spot"


async def test_a_symbol_removed_and_added_again_goes_on_without_duplicates(tmp_path):
    """ETHUSDT removed and, before its last trades are even flushed, added again: it goes
    on from its last accepted trade (not the store's older last id), the ids sent while
    it was unsubscribed become a gap that backfill fills, and nothing is stored twice."""
    fcfg = FakeExchangeConfig(symbols=("BTCUSDT", "ETHUSDT"), rate=200.0)
    db = tmp_path / "db"
    async with open_fake_exchange(fcfg) as fx, trio.open_nursery() as nursery:
        recorder = await nursery.start(run, recorder_config(fx, db, symbols=("BTCUSDT", "ETHUSDT")))
        with trio.fail_after(90):  # a backfill round trip inside: generous on a busy box
            await wait_for(lambda: recorder.statistics().symbols["ETHUSDT"].received >= 100)
            await recorder.set_symbols(["BTCUSDT"])
            await wait_for(lambda: fx.log.control_messages >= 1)  # the UNSUBSCRIBE is out
            await recorder.set_symbols(["BTCUSDT", "ETHUSDT"])
            await wait_for(lambda: fx.log.control_messages >= 2)
            last = fx.log.generated_ids("ETHUSDT")[fx.generated("ETHUSDT") - 1]
            await wait_for(lambda: recorder.statistics().symbols["ETHUSDT"].last_id > last)

            def stored_past_last_and_filled() -> bool:
                # Read from the store, not the recorder's buffers: at 200 trades/s a
                # moment with nothing buffered is too brief to wait for.
                with TradeStore(db, read_only=True) as store:
                    stored_last = store.last_agg_id("ETHUSDT") or 0
                    gaps = store.gaps("ETHUSDT")
                return stored_last > last and all(g.status == "filled" for g in gaps)

            await wait_for(stored_past_last_and_filled, step=0.2)
        nursery.cancel_scope.cancel()
    eth = stored_ids(db, "ETHUSDT")  # raises if an id is stored twice
    assert contiguous(eth) and eth[-1] > last
    assert eth[0] == fx.log.sent_ids("ETHUSDT")[0]


async def test_a_listing_that_went_quiet_before_its_first_live_trade_is_caught_up(tmp_path):
    """A new listing trades while no frame reaches the recorder, then goes quiet for
    good: the recorder, finding it in exchangeInfo, asks REST for its first and latest
    trades at once instead of waiting for a live trade that never comes."""
    fcfg = FakeExchangeConfig(symbols=("BTCUSDT",), rate=50.0, start_on_first_subscriber=False)
    db = tmp_path / "db"
    async with open_fake_exchange(fcfg) as fx, trio.open_nursery() as nursery:
        # exchangeInfo is read again only when the test says so (as on SIGHUP): a read
        # while the listing still trades would catch up only its first trades, and the
        # rest, never sent live, would wait for the stall checker's next look.
        cfg = recorder_config(
            fx, db, symbols=("ALL",), quote=("USDT",), exchange_info_interval=3600.0
        )
        recorder = await nursery.start(run, cfg)
        with trio.fail_after(60):
            await wait_for(lambda: recorder.statistics().symbols["BTCUSDT"].stored >= 5)
            fx.set_silent(True)  # no data frame reaches the recorder from here
            fx.list_symbol("NEWUSDT", rate=100.0)
            await fx.wait_generated("NEWUSDT", 30)
            fx.hush("NEWUSDT")
            fx.set_silent(False)
            generated = fx.log.generated_ids("NEWUSDT")
            assert recorder.universe is not None
            recorder.universe.refresh_soon()

            def all_stored() -> bool:
                # Every id, not just the latest: the catch-up may store the latest trade
                # first and fill the ids before it from a gap a moment later.
                return stored_ids(db, "NEWUSDT") == generated

            await wait_for(all_stored, step=0.2)
            stats = recorder.statistics()
        nursery.cancel_scope.cancel()
    assert stats.symbols["NEWUSDT"].last_received_ms is None  # nothing of it arrived live
    assert fx.log.sent_ids("NEWUSDT") == []
    assert stored_ids(db, "NEWUSDT") == generated  # every id, once, from the first
