"""The daemon's backfill worker and the ``backfill`` command against the fake exchange's
REST: gaps filled in the live format, Retry-After honoured on 429 and 418, rows marked
invalid skipped and explained, open gaps of an earlier run picked up at start."""

from __future__ import annotations

import json
import socket
from functools import partial

import httpx
import pytest
import trio

from tests.helpers import wait_for
from tests.helpers.store import stored_ids
from tests.helpers.trades import make_trades
from tradestore import TradeStore
from tradestore.cli import main
from tradestore.fake import FakeExchangeConfig, open_fake_exchange
from tradestore.recorder import RecorderConfig, run
from tradestore.store._gaps import FILLED, OPEN, Gap

SYMBOLS = ("BTCUSDT", "ETHUSDT")


def recorder_config(fx, db, **kw) -> RecorderConfig:
    kw.setdefault("symbols", SYMBOLS)
    return RecorderConfig(
        endpoint=fx.ws_url, rest_endpoint=fx.rest_url, db=str(db), retention_days=0, **kw
    )


def gaps_of(db, symbol):
    with TradeStore(db, read_only=True) as store:
        return store.gaps(symbol)


async def record(fx, cfg, n: int, *, until=None):
    """Run the daemon until n trades per symbol were generated and ``until(stats)``."""
    async with trio.open_nursery() as nursery:
        recorder = await nursery.start(run, cfg)
        with trio.fail_after(40):
            for symbol in cfg.symbols:
                await fx.wait_generated(symbol, n)

            def all_received() -> bool:
                rows = recorder.statistics().symbols
                return all(rows[s].last_id == fx.log.generated_ids(s)[-1] for s in cfg.symbols)

            # The last trades may still be on their way: gaps are only seen on arrival.
            await wait_for(all_received, step=0.05)
            if until is not None:
                await wait_for(lambda: until(recorder.statistics()), step=0.05)
        stats = recorder.statistics()
        nursery.cancel_scope.cancel()
    return stats


def all_filled(stats) -> bool:
    # buffered drops to 0 when a flush starts; the gaps it records reach the backfill
    # worker only once its write is done (in_flight back to 0).
    return (
        stats.backfill.queued == 0
        and stats.buffered == 0
        and stats.in_flight == 0  # a write in flight may carry a gap not yet handed over
        and all(not by.get(OPEN) for by in stats.gaps.values())
        and sum(by.get(FILLED, 0) for by in stats.gaps.values()) > 0
    )


@pytest.mark.slow
async def test_daemon_fills_every_gap_from_rest(tmp_path):
    """Every 10th trade is never sent over WebSocket (REST has it): each skip opens a gap,
    the worker fills it, and the store ends with every generated id exactly once. (n is
    one past a multiple of 10: a hole is only seen once a later trade arrives.)"""
    n = 401
    db = tmp_path / "db"
    fcfg = FakeExchangeConfig(symbols=SYMBOLS, rate=200.0, max_trades=n, skip_every=10)
    async with open_fake_exchange(fcfg) as fx:
        stats = await record(fx, recorder_config(fx, db), n, until=all_filled)
    for symbol in SYMBOLS:
        assert fx.log.skipped_ids(symbol)
        assert stored_ids(db, symbol) == fx.log.generated_ids(symbol)
        gaps = gaps_of(db, symbol)
        assert {g.status for g in gaps} == {FILLED}
        assert sum(g.size for g in gaps) == len(fx.log.skipped_ids(symbol)) == n // 10
        assert stats.gaps[symbol] == {FILLED: n // 10}
    backfill = stats.backfill
    assert backfill.filled == 2 * (n // 10)
    assert backfill.trades_fetched == 2 * (n // 10)
    # Gaps of a symbol that fit in one page share a request: fewer requests than gaps.
    assert backfill.calls == fx.log.rest_requests
    assert backfill.calls + backfill.requests_saved == 2 * (n // 10)
    assert backfill.rate_limited == 0


@pytest.mark.slow
async def test_backfill_waits_retry_after_on_429_and_418(tmp_path):
    """REST answers 429 to every 2nd and 418 to every 3rd request, with Retry-After: 1.
    The worker waits as told each time, then completes every gap."""
    n = 121
    db = tmp_path / "db"
    fcfg = FakeExchangeConfig(
        symbols=("BTCUSDT",),
        rate=200.0,
        max_trades=n,
        skip_every=20,
        rest_429_every=2,
        rest_418_every=3,
        retry_after=1,
    )
    async with open_fake_exchange(fcfg) as fx:
        # The daemon's requests are fetched several gaps a page, maybe in one request:
        # one of our own first makes its first request the 3rd-or-4th-rejected kind.
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"{fx.rest_url}/api/v3/ping")).status_code == 200
        started = trio.current_time()
        stats = await record(fx, recorder_config(fx, db, symbols=("BTCUSDT",)), n, until=all_filled)
        elapsed = trio.current_time() - started
    assert fx.log.rest_429_sent >= 1 and fx.log.rest_418_sent >= 1
    limited = fx.log.rest_429_sent + fx.log.rest_418_sent
    backfill = stats.backfill
    assert backfill.rate_limited == limited
    assert backfill.waited_s >= limited * 1.0  # Retry-After: 1, each time
    assert elapsed >= limited * 1.0
    assert stored_ids(db, "BTCUSDT") == fx.log.generated_ids("BTCUSDT")
    assert {g.status for g in gaps_of(db, "BTCUSDT")} == {FILLED}


@pytest.mark.slow
async def test_invalid_rest_rows_are_skipped_and_explained(tmp_path, capsys):
    """REST marks the rows of ids divisible by 7 invalid (p=0, q=0, f=-1). Those that fall
    in a gap are not stored; the gap is filled with a reason naming them, and ``verify``
    shows each remaining hole explained by its gap record."""
    n = 401
    db = tmp_path / "db"
    fcfg = FakeExchangeConfig(
        symbols=("BTCUSDT",), rate=200.0, max_trades=n, skip_every=5, rest_invalid_every=7
    )
    async with open_fake_exchange(fcfg) as fx:
        stats = await record(fx, recorder_config(fx, db, symbols=("BTCUSDT",)), n, until=all_filled)
    skipped = fx.log.skipped_ids("BTCUSDT")
    invalid = [i for i in skipped if i % 7 == 0]
    assert invalid, "the test needs some skipped ids to be invalid on REST"
    # A page shared by several gaps also brings invalid rows between them (already stored
    # live): only those inside a gap count as skipped.
    assert fx.log.rest_invalid_rows >= len(invalid)
    assert stats.backfill.invalid_rows_skipped == len(invalid)
    generated = fx.log.generated_ids("BTCUSDT")
    assert stored_ids(db, "BTCUSDT") == [i for i in generated if i not in set(invalid)]
    explained = {}
    for gap in gaps_of(db, "BTCUSDT"):
        assert gap.status == FILLED
        inside = [i for i in invalid if gap.first_id <= i <= gap.last_id]
        if inside:
            assert f"{len(inside)} rows marked invalid" in gap.reason
            explained.update(dict.fromkeys(inside, gap.reason))
    assert sorted(explained) == invalid

    # Holes the exchange itself marks invalid are explained by the filled gap: verify passes.
    assert main(["verify", "--db", str(db), "--symbol", "BTCUSDT", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["unexplained_holes"] == 0
    holes = [(h["first_id"], h["last_id"]) for h in report["holes"]]
    assert holes == [(i, i) for i in invalid]
    for hole in report["holes"]:
        assert hole["recorded_gap"] == FILLED
        assert "marked invalid by the exchange" in hole["gap_reason"]
    assert report["duplicates"] == 0


async def test_no_backfill_leaves_gaps_open_and_the_next_start_fills_them(tmp_path):
    """With backfill off the gaps stay open and REST is never called; a later run with
    backfill on queues the open gaps it finds in the store and fills them."""
    n = 201
    db = tmp_path / "db"
    fcfg = FakeExchangeConfig(symbols=("BTCUSDT",), rate=200.0, max_trades=n, skip_every=25)
    async with open_fake_exchange(fcfg) as fx:
        off = recorder_config(fx, db, symbols=("BTCUSDT",), backfill=False)

        def flushed(stats):
            return stats.symbols["BTCUSDT"].stored == n - n // 25

        stats = await record(fx, off, n, until=flushed)
        assert fx.log.rest_requests == 0
        assert stats.gaps["BTCUSDT"] == {OPEN: n // 25}
        assert stats.backfill.enabled is False
        assert {g.status for g in gaps_of(db, "BTCUSDT")} == {OPEN}

        on = recorder_config(fx, db, symbols=("BTCUSDT",))
        stats = await record(fx, on, n, until=all_filled)
    assert stats.gaps["BTCUSDT"] == {FILLED: n // 25}
    assert stored_ids(db, "BTCUSDT") == fx.log.generated_ids("BTCUSDT")


@pytest.mark.slow
async def test_backfill_command_fetches_an_id_range_through_rate_limits(tmp_path, capsys):
    """``tradestore-trio backfill --from-id --to-id`` against REST that answers 429 and 418:
    every id of the range ends up stored once; a second run stores nothing new."""
    n = 2100
    db = tmp_path / "db"
    fcfg = FakeExchangeConfig(
        symbols=("BTCUSDT",),
        rate=5000.0,
        max_trades=n,
        start_on_first_subscriber=False,
        rest_429_every=3,
        rest_418_every=5,
        retry_after=1,
    )
    async with open_fake_exchange(fcfg) as fx:
        with trio.fail_after(30):
            await fx.wait_generated("BTCUSDT", n)
        ids = fx.log.generated_ids("BTCUSDT")
        argv = ["backfill", "--create", "--db", str(db), "--symbol", "BTCUSDT", "--rest-endpoint"]
        argv += [fx.rest_url, "--from-id", str(ids[0]), "--to-id", str(ids[-1])]
        with trio.fail_after(60):
            assert await trio.to_thread.run_sync(main, argv) == 0
            first = capsys.readouterr().out
            assert await trio.to_thread.run_sync(main, argv) == 0
    assert f"{n} trades stored" in first
    assert fx.log.rest_429_sent >= 1 and fx.log.rest_418_sent >= 1
    assert stored_ids(db, "BTCUSDT") == ids


async def serve_bad_rest(body, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
    """An HTTP endpoint on 127.0.0.1 answering every request with 200 and ``body`` (bytes,
    or a list of bodies answered in turn, the last one for ever after)."""
    bodies = list(body) if isinstance(body, list) else [body]

    async def answer(stream: trio.SocketStream) -> None:
        body = bodies.pop(0) if len(bodies) > 1 else bodies[0]
        async with stream:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = await stream.receive_some(65536)
                if not chunk:
                    return
                request += chunk
            head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
            await stream.send_all(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)

    await trio.serve_tcp(answer, 0, host="127.0.0.1", task_status=task_status)


async def test_a_failing_fill_leaves_the_gap_open_with_its_reason_and_retries(tmp_path):
    """REST answers nonsense: the gap stays open, its record says why, the daemon keeps
    recording and retries the fill later (backfill_retry, doubling)."""
    from tests.helpers.recorder import MiniExchange, agg_event, combined

    frames = [combined(agg_event("BTCUSDT", i)) for i in (1, 2, 3, 6, 7, 8)]

    async def handler(ws, index):
        for frame in frames:
            await ws.send_message(frame)
        await trio.sleep_forever()

    db = tmp_path / "db"
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(serve_bad_rest, b'{"oops": true}')
        port = listeners[0].socket.getsockname()[1]
        fx = await MiniExchange(handler).start(nursery)
        cfg = RecorderConfig(
            symbols=("BTCUSDT",),
            endpoint=fx.url,
            rest_endpoint=f"http://127.0.0.1:{port}",
            db=str(db),
            retention_days=0,
            backfill_retry=0.2,
        )
        recorder = await nursery.start(run, cfg)
        with trio.fail_after(20):
            await wait_for(lambda: recorder.statistics().backfill.failed >= 3)
        stats = recorder.statistics()
        nursery.cancel_scope.cancel()
    assert stats.gaps["BTCUSDT"] == {OPEN: 1}
    assert stats.symbols["BTCUSDT"].stored == 6
    (gap,) = gaps_of(db, "BTCUSDT")
    assert (gap.first_id, gap.last_id, gap.status) == (4, 5, OPEN)
    assert gap.reason.startswith("backfill failed: REST answer is not a list")


async def test_more_gaps_than_the_queue_holds_are_all_filled(tmp_path, caplog):
    """A backfill queue of 2 and 40 gaps: the ones that did not fit stay open in the
    store and are found by the worker's next scan; in the end every one is filled."""
    n = 201
    db = tmp_path / "db"
    fcfg = FakeExchangeConfig(symbols=("BTCUSDT",), rate=400.0, max_trades=n, skip_every=5)
    async with open_fake_exchange(fcfg) as fx:
        cfg = recorder_config(fx, db, symbols=("BTCUSDT",), backfill_queue_size=2)
        stats = await record(fx, cfg, n, until=all_filled)
    assert stats.gaps["BTCUSDT"] == {FILLED: n // 5}
    assert stored_ids(db, "BTCUSDT") == fx.log.generated_ids("BTCUSDT")
    assert "backfill queue full (2 gaps)" in caplog.text


async def test_rest_client_waits_for_the_next_minute_when_its_weight_budget_is_spent(
    autojump_clock, monkeypatch
):
    """X-MBX-USED-WEIGHT-1M says how much of the minute's budget is used: with a budget of
    8 and two calls of weight 4 made 1.2 s before the minute ends, the third call waits
    for the next minute instead of earning the 429 the exchange would answer. (On the
    autojump clock, with REST called in memory: the minute is the exchange's.)"""
    import httpx

    from tests.helpers.fake import rest_transport
    from tradestore.binance import BinanceRest

    minute = 1_767_225_600_000
    fcfg = FakeExchangeConfig(
        symbols=("BTCUSDT",),
        rate=1000.0,
        max_trades=10,
        start_time_ms=minute + 58_800,
        start_on_first_subscriber=False,
        rest_weight_limit=8,
    )
    async with open_fake_exchange(fcfg) as fx:
        await fx.wait_generated("BTCUSDT", 10)
        first = fx.log.generated_ids("BTCUSDT")[0]
        monkeypatch.setattr(
            httpx, "AsyncClient", partial(httpx.AsyncClient, transport=rest_transport(fx))
        )
        # The client's wall clock is the exchange's: both see the minute end together.
        async with BinanceRest(
            fx.rest_url, weight_budget=8, clock=lambda: fx.now_ms() / 1000
        ) as rest:
            started = trio.current_time()
            pages = [await rest.agg_trades("BTCUSDT", first + 3 * k, 3) for k in range(3)]
            elapsed = trio.current_time() - started
    assert [[r["a"] for r in page] for page in pages] == [
        [first + i for i in range(3 * k, 3 * k + 3)] for k in range(3)
    ]
    assert rest.stats.calls == 3 and rest.stats.rate_limited == 0
    assert fx.log.rest_429_sent == 0
    assert 1.0 < rest.stats.waited_s <= 1.7
    assert elapsed == pytest.approx(rest.stats.waited_s, abs=0.3)


async def test_backfill_command_fills_the_open_gaps_of_a_stopped_daemon(tmp_path, capsys):
    """A daemon run with backfill off leaves open gaps; ``tradestore-trio backfill``
    without an id range fills every one of them and says so per gap."""
    n = 101
    db = tmp_path / "db"
    fcfg = FakeExchangeConfig(symbols=SYMBOLS, rate=200.0, max_trades=n, skip_every=20)
    async with open_fake_exchange(fcfg) as fx:

        def flushed(stats):
            return all(stats.symbols[s].stored == n - n // 20 for s in SYMBOLS)

        await record(fx, recorder_config(fx, db, backfill=False), n, until=flushed)
        argv = ["backfill", "--db", str(db), "--rest-endpoint", fx.rest_url]
        with trio.fail_after(30):
            assert await trio.to_thread.run_sync(main, argv) == 0
    out = capsys.readouterr().out
    for symbol in SYMBOLS:
        assert stored_ids(db, symbol) == fx.log.generated_ids(symbol)
        gaps = gaps_of(db, symbol)
        assert len(gaps) == n // 20 and {g.status for g in gaps} == {FILLED}
        for gap in gaps:
            assert f"{symbol}: gap {gap.first_id}..{gap.last_id} (1 ids) -> filled" in out


async def test_an_interrupted_fill_resumes_where_it_stopped(tmp_path):
    """The first page (1000 rows) arrives, the second answer is garbage: the gap stays
    open with resume_from after the stored page; the next fill starts there."""
    from decimal import Decimal

    from tradestore import AggTrade
    from tradestore.binance import BinanceRest, fill_gap
    from tradestore.store._gaps import Gap

    def row(i: int) -> dict:
        return {
            "a": i,
            "p": "100.5",
            "q": "0.25",
            "f": 2 * i,
            "l": 2 * i,
            "T": 1_767_225_600_000 + i,
            "m": False,
            "M": True,
        }

    page1 = json.dumps([row(i) for i in range(1, 1001)]).encode()
    page2 = json.dumps([row(i) for i in range(1001, 1501)]).encode()
    gap = Gap(first_id=1, last_id=1500, after_time_ms=0, before_time_ms=1, detected_ms=1)
    with TradeStore(tmp_path / "db") as store:
        store.write_batches({}, gaps=[("BTCUSDT", gap)])
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(serve_bad_rest, [page1, b"{}", page2])
            url = f"http://127.0.0.1:{listeners[0].socket.getsockname()[1]}"
            async with BinanceRest(url) as rest:
                first = await fill_gap(store, rest, "BTCUSDT", gap)
                assert (first.status, first.resume_from) == (OPEN, 1001)
                assert first.reason.startswith("backfill failed")
                assert store.gaps("BTCUSDT") == [first]
                second = await fill_gap(store, rest, "BTCUSDT", first)
            nursery.cancel_scope.cancel()
        assert second.status == FILLED
        assert rest.stats.calls == 3
        trades = store.query_trades("BTCUSDT", 0, 2_000_000_000_000)
    assert [t.agg_id for t in trades] == list(range(1, 1501))
    assert trades[0] == AggTrade(1, Decimal("100.5"), Decimal("0.25"), 1_767_225_600_001, False)


async def test_nearby_gaps_of_a_symbol_share_one_request(tmp_path):
    """Four open gaps of one symbol: three within one REST page of each other, one far
    off. The worker fetches the three with one request (shortest first, the others of
    the page along) and the far one with another; every id ends stored exactly once."""
    from tradestore.recorder._gapfill import GapFiller
    from tradestore.store import Gap

    n = 3000
    fcfg = FakeExchangeConfig(
        symbols=("BTCUSDT",), rate=5000.0, max_trades=n, start_on_first_subscriber=False
    )
    db = tmp_path / "db"
    async with open_fake_exchange(fcfg) as fx:
        await fx.wait_generated("BTCUSDT", n)
        trades = fx.history("BTCUSDT")
        first = trades[0].agg_id
        holes = [(10, 12), (100, 100), (300, 349), (2000, 2499)]
        missing = {first + i for a, b in holes for i in range(a, b + 1)}
        config = recorder_config(fx, db, symbols=("BTCUSDT",), backfill_concurrency=2)
        with TradeStore(db) as store:
            kept = [t for t in trades if t.agg_id not in missing]
            for i in range(0, len(kept), 100):
                store.write_batches({"BTCUSDT": kept[i : i + 100]})
            for a, b in holes:
                gap = Gap(first + a, first + b, trades[a - 1].time_ms, trades[b + 1].time_ms, 0)
                store.put_gap("BTCUSDT", gap)
            filler = GapFiller(store, config)
            async with trio.open_nursery() as nursery:
                await nursery.start(filler.serve, ["BTCUSDT"])
                with trio.fail_after(30):
                    await wait_for(lambda: filler.gap_records()["BTCUSDT"] == {FILLED: 4})
                stats = filler.statistics()
                nursery.cancel_scope.cancel()
    assert fx.log.rest_requests == stats.calls == 2
    assert stats.requests_saved == 2 and stats.filled == 4
    assert stored_ids(db, "BTCUSDT") == [t.agg_id for t in trades]
    assert {g.status for g in gaps_of(db, "BTCUSDT")} == {FILLED}


def refused_port() -> int:
    """A port on 127.0.0.1 that nothing listens on: bound, then closed."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def store_contents(db) -> tuple:
    with TradeStore(db, read_only=True) as store:
        return store.query_trades("BTCUSDT", 0, 2**62), store.gaps("BTCUSDT")


@pytest.mark.parametrize("ids", [[], ["--symbol", "BTCUSDT", "--from-id", "6", "--to-id", "9"]])
def test_backfill_offline_explains_and_gives_up(tmp_path, capsys, ids):
    """No exchange to talk to (a refused port on 127.0.0.1): like ``run``, the command says
    why in words and where to turn, and gives up after --give-up-after seconds with exit
    1, a last line saying so, and the store as it was (the open gap untouched)."""
    db = tmp_path / "db"
    trades = make_trades(10)
    with TradeStore(db) as store:
        store.write_batches(
            {"BTCUSDT": trades[:5] + trades[9:]},
            gaps=[("BTCUSDT", Gap(6, 9, trades[4].time_ms, trades[9].time_ms, 1))],
        )
    before = store_contents(db)
    url = f"http://127.0.0.1:{refused_port()}"
    argv = ["backfill", "--db", str(db), "--rest-endpoint", url, "--give-up-after", "0.3"]
    assert main(argv + ids) == 1
    err = capsys.readouterr().err
    assert f"{url[len('http://') :]} refused the connection" in err
    assert "`tradestore-trio demo` shows the whole tool working offline" in err
    assert err.splitlines()[-1].startswith(
        f"tradestore-trio backfill: gave up: no answer from {url} for "
    )
    assert err.splitlines()[-1].endswith("; nothing more was stored")
    assert "Traceback" not in err
    assert store_contents(db) == before
