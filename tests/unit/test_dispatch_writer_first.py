"""While a flush is being written on the writer thread, the dispatcher hands it the GIL
(a zero-second sleep) after each round of frames, and only then: the write is not slowed
to half speed by the parsing, and an idle recorder makes no extra system calls."""

from __future__ import annotations

import json
from types import SimpleNamespace

import trio

from tests.helpers import wait_for
from tradestore.recorder import _dispatch


class _Batcher:
    """What the dispatcher asks of the batcher, and the trades it is given."""

    full = False

    def __init__(self) -> None:
        self.in_flight = 0
        self.accepted: list[int] = []
        self.symbols = {"BTCUSDT": None}

    def received_batch(self, now: float, wall: float) -> None:
        pass

    def accept(self, symbol, trade, line) -> None:
        self.accepted.append(trade.agg_id)


def _frame(agg_id: int) -> str:
    event = {"e": "aggTrade", "E": 1, "s": "BTCUSDT", "a": agg_id, "p": "1.5", "q": "2"}
    event |= {"f": agg_id, "l": agg_id, "T": 1_700_000_000_000, "m": False, "M": True}
    return json.dumps(event, separators=(",", ":"))


async def test_the_gil_goes_to_a_running_flush_after_each_round(monkeypatch):
    handed: list[float] = []
    monkeypatch.setattr(_dispatch.time, "sleep", handed.append)
    batcher = _Batcher()
    conn = SimpleNamespace(symbols={"BTCUSDT"}, single_symbol="BTCUSDT", line="a", name="stream-0")
    send, receive = trio.open_memory_channel(16)
    dispatcher = _dispatch.Dispatcher(batcher)  # type: ignore[arg-type]
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(dispatcher.serve, receive)
            await send.send((conn, [_frame(1), _frame(2)]))
            await wait_for(lambda: batcher.accepted == [1, 2])
            assert handed == []  # no flush running: nothing handed over
            batcher.in_flight = 5_000
            await send.send((conn, [_frame(3)]))
            await wait_for(lambda: handed == [0])
            assert batcher.accepted == [1, 2, 3]
            batcher.in_flight = 0
            await send.send((conn, [_frame(4)]))
            await wait_for(lambda: batcher.accepted == [1, 2, 3, 4])
            nursery.cancel_scope.cancel()
    assert handed == [0]
