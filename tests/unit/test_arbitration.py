"""The batcher's arbitration between lines (A/B lines, or a REST probe beside the live
stream): the first copy of each agg id wins, and a jump on one line is not a gap while
another open line has not passed it. Real Batcher, real connections as the lines, a real
store for the final flush; the lines' deliveries are scripted."""

from __future__ import annotations

import pytest

from tests.helpers.trades import make_trades
from tradestore import TradeStore
from tradestore.binance import StreamSpec
from tradestore.recorder import RecorderConfig
from tradestore.recorder._batcher import Batcher
from tradestore.recorder._stream import LINE_A, LINE_B, Connection

SYMBOL = "BTCUSDT"
TRADES = {t.agg_id: t for t in make_trades(40)}


@pytest.fixture
def rig(tmp_path):
    config = RecorderConfig(symbols=(SYMBOL,), db=str(tmp_path / "db"), arbitration_hold=1.0)
    spec = StreamSpec("stream-0", (SYMBOL,), "ws://127.0.0.1:1/stream")
    a, b = Connection(spec, config, LINE_A), Connection(spec, config, LINE_B)
    a.state = b.state = "open"
    store = TradeStore(config.db_path)
    batcher = Batcher(store, config, lines=lambda symbol: (a, b))
    yield batcher, a, b, store
    store.close()


def deliver(batcher, line, *ids) -> None:
    for agg_id in ids:
        batcher.accept(SYMBOL, TRADES[agg_id], line)


def taken(batcher) -> list[int]:
    return [t.agg_id for t in batcher.buffers[SYMBOL]]


async def test_a_jump_on_one_line_is_filled_by_the_other_and_no_gap_is_recorded(rig):
    batcher, a, b, store = rig
    deliver(batcher, a, 1, 2, 3)
    deliver(batcher, b, 1, 2)  # line B is a little behind: its copies are dropped
    deliver(batcher, a, 6, 7)  # line A reconnected: 4 and 5 went past it
    st = batcher.symbols[SYMBOL]
    assert taken(batcher) == [1, 2, 3] and batcher.held == 2 and st.holds == 1
    deliver(batcher, b, 3, 4, 5)  # B delivers what A missed
    assert taken(batcher) == [1, 2, 3, 4, 5, 6, 7] and batcher.held == 0
    deliver(batcher, b, 6, 7, 8)
    assert taken(batcher)[-1] == 8
    assert (st.gaps, st.holds, st.holds_filled, st.duplicates) == (0, 1, 1, 0)
    assert st.redundant == 2 + 1 + 2  # B's 1, 2; B's 3; B's 6, 7
    assert (a.taken, b.taken) == (5, 3)
    assert await batcher.flush()
    assert [t.agg_id for t in store.query_trades(SYMBOL, 0, 2 * 10**13)] == list(range(1, 9))
    assert store.gaps(SYMBOL) == []


async def test_no_other_open_line_means_a_gap_at_once(rig):
    batcher, a, b, _store = rig
    b.state = "backoff"
    deliver(batcher, a, 1, 2, 5)
    st = batcher.symbols[SYMBOL]
    assert taken(batcher) == [1, 2, 5] and batcher.held == 0
    assert [(g.first_id, g.last_id) for _s, g in batcher.gaps] == [(3, 4)]
    assert (st.gaps, st.holds) == (1, 0)


async def test_a_gap_both_lines_missed_is_judged_once_both_passed_it(rig):
    batcher, a, b, _store = rig
    deliver(batcher, a, 1, 2, 3)
    deliver(batcher, b, 1, 2, 3)
    deliver(batcher, b, 5)  # the exchange skipped 4 on both lines: B, ahead, shows it first
    assert batcher.held == 1 and not batcher.gaps
    deliver(batcher, a, 5)  # A passed 4 too: nobody can deliver it any more
    assert batcher.held == 0 and taken(batcher) == [1, 2, 3, 5]
    assert [(g.first_id, g.last_id) for _s, g in batcher.gaps] == [(4, 4)]
    st = batcher.symbols[SYMBOL]
    assert (st.gaps, st.holds, st.holds_filled, st.redundant) == (1, 1, 0, 4)


async def test_a_hold_runs_out_when_the_other_line_stays_silent(rig, autojump_clock):
    import trio

    batcher, a, _b, _store = rig
    deliver(batcher, a, 1, 2, 6)  # B is open but delivers nothing (stuck)
    batcher.settle_due()
    assert batcher.held == 1 and not batcher.gaps  # within the hold
    await trio.sleep(1.01)
    batcher.settle_due()
    assert batcher.held == 0 and taken(batcher) == [1, 2, 6]
    assert [(g.first_id, g.last_id) for _s, g in batcher.gaps] == [(3, 5)]


async def test_shutdown_writes_what_is_held(rig):
    batcher, a, _b, store = rig
    deliver(batcher, a, 1, 2, 9, 10)
    assert batcher.held == 2 and batcher.depth(SYMBOL) == 4
    batcher.settle_due(everything=True)
    assert await batcher.flush()
    assert [t.agg_id for t in store.query_trades(SYMBOL, 0, 2 * 10**13)] == [1, 2, 9, 10]
    assert [(g.first_id, g.last_id) for g in store.gaps(SYMBOL)] == [(3, 8)]


async def test_a_rest_probe_ahead_of_the_live_lines_waits_for_them(rig):
    """The catch-up's (or a stall check's) latest trade from REST is taken like a line's,
    and a live line still behind it delivers the ids in between: no false gap."""
    batcher, a, b, _store = rig
    deliver(batcher, a, 1, 2)
    batcher.accept(SYMBOL, TRADES[6], None)  # REST: the exchange is at 6
    assert batcher.held == 1
    deliver(batcher, a, 3, 4, 5, 6, 7)
    deliver(batcher, b, 1, 2, 3)
    st = batcher.symbols[SYMBOL]
    assert taken(batcher) == [1, 2, 3, 4, 5, 6, 7] and not batcher.gaps
    assert (st.holds_filled, st.redundant, st.duplicates) == (1, 4, 0)
    assert st.live == 6  # the REST trade is not a live one


async def test_a_line_repeating_itself_is_a_duplicate_not_a_copy(rig):
    batcher, a, b, _store = rig
    deliver(batcher, a, 1, 2, 2, 3)
    deliver(batcher, b, 3)
    st = batcher.symbols[SYMBOL]
    assert (st.duplicates, st.redundant) == (1, 1)
