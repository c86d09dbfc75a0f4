"""The stall checker's decisions on virtual time (no sockets, no threads): which symbols
it checks and when, and that a whole market of quiet symbols stays within the share of
the REST weight the config grants the checks. The REST answers are applied through the
checker's own ``_compare``, as ``_check`` applies them."""

from __future__ import annotations

from collections import Counter

import pytest
import trio

from tradestore import TradeStore
from tradestore.binance import AGG_TRADES_WEIGHT, WEIGHT_PER_MINUTE
from tradestore.recorder import RecorderConfig
from tradestore.recorder._batcher import Batcher
from tradestore.recorder._stalls import STALL, StallChecker


def checker(tmp_path, symbols, **settings) -> tuple[StallChecker, Batcher, TradeStore]:
    config = RecorderConfig(symbols=tuple(symbols), db=str(tmp_path / "db"), **settings)
    store = TradeStore(config.db_path)
    batcher = Batcher(store, config)
    repaired: list[str] = []
    stalls = StallChecker(config, batcher, rest=None, repair=repaired.append)  # type: ignore[arg-type]
    stalls.repaired = repaired  # type: ignore[attr-defined]
    return stalls, batcher, store


def row(agg_id: int) -> dict:
    """An aggTrades REST row, as the exchange sends it."""
    return {"a": agg_id, "p": "1.5", "q": "2", "f": agg_id, "l": agg_id, "T": 1_700_000_100_000,
            "m": False, "M": True}  # fmt: skip


@pytest.mark.slow
async def test_a_market_of_quiet_symbols_stays_within_the_check_budget(tmp_path, autojump_clock):
    """1,500 symbols, none trading: each is checked after stall_max, then ever more
    rarely (doubling up to stall_recheck_max); no minute spends more than the share.
    (Scans every 10 s of virtual time here, to keep the test quick; the budget is a
    token bucket on time, so the coarser scan changes nothing it decides.)"""
    symbols = [f"Q{i:04d}USDT" for i in range(1500)]
    stalls, batcher, store = checker(tmp_path, symbols)
    try:
        for symbol in symbols:
            batcher.resume(symbol, 100, 1_700_000_000_000)
        stalls._started_at = trio.current_time()
        per_minute: Counter = Counter()
        per_symbol: Counter = Counter()
        start = trio.current_time()
        hours = 3
        while trio.current_time() - start < hours * 3600:
            now = trio.current_time()
            for symbol in stalls._due(now):
                watch = stalls.watches[symbol]
                # The exchange's latest trade is the one we have: merely quiet.
                stalls._compare(symbol, STALL, watch, [row(100)])
                watch.checked_at = now
                per_minute[int((now - start) // 60)] += 1
                per_symbol[symbol] += 1
            await trio.sleep(10.0)
    finally:
        store.close()
    allowed = 0.1 * WEIGHT_PER_MINUTE / AGG_TRADES_WEIGHT  # stall_check_share of the weight
    assert max(per_minute.values()) <= allowed * 7 / 6 + 1  # plus ten seconds saved up
    assert sum(per_minute.values()) * AGG_TRADES_WEIGHT / (hours * 60) < 0.05 * WEIGHT_PER_MINUTE
    # First after stall_max (900 s), then after 1800 s, then every hour: at most 5 in 3 h.
    assert set(per_symbol) == set(symbols)
    assert max(per_symbol.values()) <= 5
    assert stalls.repaired == []  # type: ignore[attr-defined]
    assert sum(w.quiet for w in stalls.watches.values()) == sum(per_symbol.values())


async def test_a_busy_symbol_gone_silent_is_checked_soon_and_repaired(tmp_path, autojump_clock):
    stalls, batcher, store = checker(
        tmp_path, ["BTCUSDT", "ETHUSDT"], stall_floor=2.0, stall_factor=20.0
    )
    try:
        stalls._started_at = trio.current_time()
        for symbol in ("BTCUSDT", "ETHUSDT"):
            batcher.resume(symbol, 0, 1_700_000_000_000)
        checked_at: dict[str, list[int]] = {}
        for second in range(40):
            now = trio.current_time()
            for symbol, st in batcher.symbols.items():
                if symbol == "BTCUSDT" or second < 10:  # 50 trades/s, ETHUSDT stops at 10 s
                    st.live += 50
                    st.last_live_at = now
                    st.last_id += 50
            for symbol in stalls._due(now):
                checked_at.setdefault(symbol, []).append(second)
                watch = stalls.watches[symbol]
                # The exchange went on: ETHUSDT's stream is stuck, not the market.
                latest = batcher.symbols[symbol].last_id + 500
                stalls._compare(symbol, STALL, watch, [row(latest)])
                watch.checked_at = now
            await trio.sleep(1.0)
    finally:
        store.close()
    # 50 trades/s: far beyond its rate means the floor, 2 s of silence.
    # Its last trades came at 9 s: checked 2 s later; the repair never takes here (the
    # test does not play the new connection), so it is checked again ever more rarely.
    assert checked_at == {"ETHUSDT": [11, 15, 23, 39]}
    assert stalls.repaired == ["ETHUSDT"] * 4  # type: ignore[attr-defined]
    eth = stalls.watches["ETHUSDT"]
    assert (eth.suspected, eth.confirmed) == (4, 4) and eth.stalled_since_ms is not None
    # Each check took the exchange's latest trade and recorded the ids before it.
    assert [(g.first_id, g.last_id) for _s, g in batcher.gaps][0] == (501, 999)
    assert len(batcher.gaps) == 4


def _one_line(tmp_path, symbols: tuple[str, ...]):
    """(store, batcher, line, stalls): the symbols on one open line, a 2 s stall floor."""
    from tradestore.binance import StreamSpec
    from tradestore.recorder._stream import Connection

    config = RecorderConfig(
        symbols=symbols, db=str(tmp_path / "db"), stall_floor=2.0, stall_factor=20.0
    )
    store = TradeStore(config.db_path)
    batcher = Batcher(store, config)
    line = Connection(StreamSpec("stream-0", symbols, "ws://127.0.0.1:1/s"), config)
    line.state = "open"
    stalls = StallChecker(
        config,
        batcher,
        rest=None,
        repair=lambda s: None,
        lines=lambda s: (line,),  # type: ignore[arg-type]
    )
    stalls._started_at = trio.current_time()
    reopen(line, trio.current_time())
    for symbol in symbols:
        batcher.resume(symbol, 0, 1_700_000_000_000)
    return store, batcher, line, stalls


def reopen(line, now: float) -> None:
    """A new session of the line, opened now, as the connection's task records it."""
    from types import SimpleNamespace

    line.current = SimpleNamespace(opened_at=now)
    line.opened_times.append(now)


def _checks_due(stalls, now: float) -> list[str]:
    """The symbols checked now, each found quiet (the exchange is at agg id 500 too)."""
    due = stalls._due(now)
    for symbol in due:
        stalls.watches[symbol].checked_at = now
        stalls._compare(symbol, STALL, stalls.watches[symbol], [row(500)])
    return due


async def test_a_whole_connection_gone_silent_is_left_to_the_watchdog(tmp_path, autojump_clock):
    """Every symbol of a connection silent at once is the connection's failure (its data
    watchdog recycles it): no REST check per symbol. Once it reconnected and stayed quiet
    a whole threshold, what the exchange traded meanwhile is unknown: then it checks."""
    store, batcher, line, stalls = _one_line(tmp_path, ("BTCUSDT", "ETHUSDT"))
    try:
        due_at: dict[str, list[int]] = {}
        for second in range(30):
            now = trio.current_time()
            if second < 10:  # both trade at 50/s on a flowing line, then all goes quiet
                for st in batcher.symbols.values():
                    st.live += 50
                    st.last_id += 50
                    st.last_live_at = now
                line.last_frame_at = now
            if second == 15:  # the watchdog recycled it: a new session, as quiet
                reopen(line, now)
            for symbol in _checks_due(stalls, now):
                due_at.setdefault(symbol, []).append(second)
            await trio.sleep(1.0)
    finally:
        store.close()
    # Nothing while the whole connection was silent; checked 2 s after the reconnect,
    # found quiet (the exchange is at 500 too), then ever more rarely.
    assert due_at == {"BTCUSDT": [17, 21, 29], "ETHUSDT": [17, 21, 29]}


async def test_a_quiet_connection_recycled_by_its_watchdog_still_gets_its_check(
    tmp_path, autojump_clock
):
    """A quiet market: the data watchdog recycles the silent connection every 2 s, as
    soon as a quiet symbol's own threshold. No session stays open that long, yet the
    trades made while it was down are unknown: the check comes a threshold after the
    first reconnect that followed the symbol's last trade."""
    store, batcher, line, stalls = _one_line(tmp_path, ("BTCUSDT",))
    try:
        due_at: list[int] = []
        for second in range(30):
            now = trio.current_time()
            if second < 10:
                st = batcher.symbols["BTCUSDT"]
                st.live += 50
                st.last_id += 50
                st.last_live_at = now
                line.last_frame_at = now
            elif second % 2 == 1:  # silent since 10 s: recycled every 2 s from 11 s on
                reopen(line, now)
            due_at += [second for _symbol in _checks_due(stalls, now)]
            await trio.sleep(1.0)
    finally:
        store.close()
    assert due_at == [13, 17, 25]
