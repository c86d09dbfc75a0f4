"""A running write goes first: the intake (the readers and the dispatcher) waits for it
before taking more, since the write holds the GIL and anything parsed beside it only
stretches it; at most WRITE_FIRST_S per write, so a stalled disk never stops the intake.

The write is held on a Trio event instead of a thread (the autojump clock must not see a
thread at work), and virtual time makes every bound exact."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import trio

from tests.helpers import wait_for
from tradestore._model import TradeRow
from tradestore.recorder import RecorderConfig, _batcher, _dispatch
from tradestore.recorder._batcher import WRITE_FIRST_S, Batcher


class _Store:
    """The store's write, as the batcher calls it."""

    def __init__(self) -> None:
        self.written: list[int] = []

    def write_batches(self, batches, gaps) -> None:
        self.written += [t.agg_id for trades in batches.values() for t in trades]


class _Writer:
    """``trio.to_thread.run_sync`` for the batcher: the write runs once released."""

    def __init__(self) -> None:
        self.release = trio.Event()

    async def run_sync(self, fn, *args, **_options):
        await self.release.wait()
        return fn(*args)


@pytest.fixture
def writer(monkeypatch) -> _Writer:
    writer = _Writer()
    monkeypatch.setattr(_batcher.trio.to_thread, "run_sync", writer.run_sync)
    return writer


def _row(agg_id: int) -> TradeRow:
    return TradeRow("1.5", "2", 1_700_000_000_000 + agg_id, agg_id, False)


def _frame(agg_id: int) -> str:
    event = {"e": "aggTrade", "E": 1, "s": "BTCUSDT", "a": agg_id, "p": "1.5", "q": "2"}
    event |= {"f": agg_id, "l": agg_id, "T": 1_700_000_000_000, "m": False, "M": True}
    return json.dumps(event, separators=(",", ":"))


def _batcher_with_a_trade(tmp_path) -> Batcher:
    config = RecorderConfig(symbols=("BTCUSDT",), db=str(tmp_path / "db"))
    batcher = Batcher(_Store(), config)  # type: ignore[arg-type]
    batcher.accept("BTCUSDT", _row(1))
    return batcher


async def test_write_first_waits_for_the_write_and_no_longer(autojump_clock, writer, tmp_path):
    batcher = _batcher_with_a_trade(tmp_path)
    start = trio.current_time()
    await batcher.write_first()  # no write runs: at once
    assert trio.current_time() == start
    async with trio.open_nursery() as nursery:
        began = trio.current_time()
        nursery.start_soon(batcher.flush)
        await wait_for(lambda: batcher.in_flight == 1)

        async def release_later() -> None:
            await trio.sleep_until(began + WRITE_FIRST_S / 2)
            writer.release.set()

        nursery.start_soon(release_later)
        await batcher.write_first()
        assert trio.current_time() == began + WRITE_FIRST_S / 2  # as the write ended
        assert batcher.in_flight == 0


async def test_a_write_that_hangs_goes_first_only_write_first_s(autojump_clock, writer, tmp_path):
    batcher = _batcher_with_a_trade(tmp_path)
    async with trio.open_nursery() as nursery:
        began = trio.current_time()
        nursery.start_soon(batcher.flush)  # a stalled disk: never released here
        await wait_for(lambda: batcher.in_flight == 1)
        await batcher.write_first()
        assert trio.current_time() == began + WRITE_FIRST_S
        await batcher.write_first()  # the bound is per write, not per call
        assert trio.current_time() == began + WRITE_FIRST_S
        writer.release.set()
    assert batcher.store.written == [1]  # type: ignore[attr-defined]


async def test_the_dispatcher_takes_no_frame_while_a_write_goes_first(
    autojump_clock, writer, tmp_path
):
    batcher = _batcher_with_a_trade(tmp_path)
    batcher.resume("BTCUSDT", 1, 1_700_000_000_001)
    conn = SimpleNamespace(symbols={"BTCUSDT"}, single_symbol="BTCUSDT", line=None, name="s")
    send, receive = trio.open_memory_channel(16)
    dispatcher = _dispatch.Dispatcher(batcher)
    async with trio.open_nursery() as nursery:
        await nursery.start(dispatcher.serve, receive)
        began = trio.current_time()
        nursery.start_soon(batcher.flush)
        await wait_for(lambda: batcher.in_flight == 1)
        # The batch the dispatcher was already waiting for is taken; the next waits.
        await send.send((conn, [_frame(2)]))
        await wait_for(lambda: batcher.symbols["BTCUSDT"].received == 2)
        await send.send((conn, [_frame(3)]))
        await trio.sleep_until(began + WRITE_FIRST_S / 2)
        assert batcher.symbols["BTCUSDT"].received == 2  # frame 3 waits behind the write
        writer.release.set()
        await wait_for(lambda: batcher.symbols["BTCUSDT"].received == 3)
        nursery.cancel_scope.cancel()
    assert batcher.symbols["BTCUSDT"].last_id == 3  # taken once the write ended
