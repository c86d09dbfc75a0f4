"""While a write runs on the writer thread, intake waits for it (the write holds the GIL,
so parsing beside it would only stretch it): the dispatcher handles no frame until the
write ends, and at most WRITE_FIRST_S, so a stalled disk never stops the intake."""

from __future__ import annotations

import json
from types import SimpleNamespace

import trio

from tests.helpers import wait_for
from tradestore.recorder import _dispatch


class _Batcher:
    """What the dispatcher asks of the batcher, and the trades it is given; ``write()``
    starts a write that runs until ``written()``."""

    full = False

    def __init__(self) -> None:
        self.in_flight = 0
        self.accepted: list[int] = []
        self.accepted_at: dict[int, float] = {}  # trio time each agg id was taken
        self.symbols = {"BTCUSDT": None}
        self._written = trio.Event()

    def received_batch(self, now: float, wall: float) -> None:
        pass

    def accept(self, symbol, trade, line) -> None:
        self.accepted.append(trade.agg_id)
        self.accepted_at[trade.agg_id] = trio.current_time()

    def write(self) -> None:
        self.in_flight = 5_000
        self._written = trio.Event()

    def written(self) -> None:
        self.in_flight = 0
        self._written.set()

    async def wait_written(self) -> None:
        if self.in_flight:
            await self._written.wait()


def _frame(agg_id: int) -> str:
    event = {"e": "aggTrade", "E": 1, "s": "BTCUSDT", "a": agg_id, "p": "1.5", "q": "2"}
    event |= {"f": agg_id, "l": agg_id, "T": 1_700_000_000_000, "m": False, "M": True}
    return json.dumps(event, separators=(",", ":"))


CONN = SimpleNamespace(symbols={"BTCUSDT"}, single_symbol="BTCUSDT", line="a", name="stream-0")


async def test_intake_waits_for_a_running_write_then_goes_on(autojump_clock):
    batcher = _Batcher()
    send, receive = trio.open_memory_channel(16)
    dispatcher = _dispatch.Dispatcher(batcher)  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        await nursery.start(dispatcher.serve, receive)
        await send.send((CONN, [_frame(1), _frame(2)]))
        await wait_for(lambda: batcher.accepted == [1, 2])
        batcher.write()
        # The round that sees the write running is handled; then intake waits.
        await send.send((CONN, [_frame(3)]))
        await wait_for(lambda: batcher.accepted == [1, 2, 3])
        await send.send((CONN, [_frame(4)]))
        await trio.sleep(_dispatch.WRITE_FIRST_S / 2)
        assert batcher.accepted == [1, 2, 3]  # queued behind the write
        ended = trio.current_time()
        batcher.written()
        await wait_for(lambda: batcher.accepted == [1, 2, 3, 4])
        nursery.cancel_scope.cancel()
    assert batcher.accepted_at[4] == ended  # taken as soon as the write ended


async def test_a_write_that_hangs_holds_intake_back_only_write_first_s(autojump_clock):
    batcher = _Batcher()
    send, receive = trio.open_memory_channel(16)
    dispatcher = _dispatch.Dispatcher(batcher)  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        await nursery.start(dispatcher.serve, receive)
        batcher.write()  # a disk that stalls: the write never ends here
        await send.send((CONN, [_frame(1)]))
        await wait_for(lambda: batcher.accepted == [1])
        await send.send((CONN, [_frame(2)]))
        await wait_for(lambda: batcher.accepted == [1, 2])
        nursery.cancel_scope.cancel()
    # Taken once the bound ran out after the round before it, not before.
    assert batcher.accepted_at[2] == batcher.accepted_at[1] + _dispatch.WRITE_FIRST_S
