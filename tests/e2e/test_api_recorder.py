"""The recorder serving its HTTP API (``api_addr``) while it records from the fake
exchange: eight clients at once get exact answers, and every generated agg id is stored
exactly once. Real sockets on 127.0.0.1, real worker threads."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
import trio

from tests.helpers import wait_for
from tests.helpers.api import without
from tests.helpers.store import stored_ids
from tradestore import TradeStore
from tradestore.analytics import volume_profile
from tradestore.fake import FakeExchangeConfig, open_fake_exchange
from tradestore.recorder import RecorderConfig, run

SYMBOLS = ("BTCUSDT", "ETHUSDT")
CLIENTS = 8


def first_trades(db, symbol: str, n: int):
    with TradeStore(db, read_only=True) as store:
        return store.query_trades(symbol, 0, 10**13, limit=n)


@pytest.mark.slow
async def test_eight_clients_while_the_recorder_writes(tmp_path):
    n = 6_000
    db = tmp_path / "db"
    fcfg = FakeExchangeConfig(symbols=SYMBOLS, rate=800.0, max_trades=n)
    answers: list[tuple[str, int, dict]] = []
    async with open_fake_exchange(fcfg) as fx:
        cfg = RecorderConfig(
            symbols=SYMBOLS,
            endpoint=fx.ws_url,
            rest_endpoint=fx.rest_url,
            db=str(db),
            retention_days=0,
            api_addr="127.0.0.1:0",
        )
        with trio.fail_after(90):
            async with trio.open_nursery() as nursery:
                recorder = await nursery.start(run, cfg)
                assert recorder.api_url is not None
                rows = recorder.statistics

                # A closed window: the first 1,500 BTCUSDT trades, stored before the clients
                # start; its profile must not change while the recorder writes after it.
                await wait_for(lambda: rows().symbols["BTCUSDT"].stored >= 2_000, step=0.05)
                window = first_trades(db, "BTCUSDT", 1_500)
                start, end = window[0].time_ms, window[-1].time_ms
                done = trio.Event()

                async def client(http: httpx.AsyncClient, i: int) -> None:
                    symbol = SYMBOLS[i % 2]
                    questions = [
                        ("profile", {"symbol": "BTCUSDT", "start": start, "end": end}),
                        ("trades", {"symbol": symbol, "hours": 1, "limit": 500}),
                        ("stats", {"symbol": symbol}),
                        ("coverage", {"symbol": symbol, "hours": 1}),
                        ("vacuums", {"symbol": "BTCUSDT", "start": start, "end": end}),
                    ]
                    k = i
                    while not done.is_set():
                        path, params = questions[k % len(questions)]
                        response = await http.get(f"/api/v1/{path}", params=params)
                        answers.append((path, response.status_code, response.json()))
                        k += 1

                async with httpx.AsyncClient(base_url=recorder.api_url) as http:
                    async with trio.open_nursery() as clients:
                        for i in range(CLIENTS):
                            clients.start_soon(client, http, i)
                        for symbol in SYMBOLS:
                            await fx.wait_generated(symbol, n)
                        await wait_for(
                            lambda: all(rows().symbols[s].stored == n for s in SYMBOLS), step=0.05
                        )
                        done.set()
                    # The answers follow the recorder: the last flush is seen at once.
                    final = (await http.get("/api/v1/stats")).json()
                nursery.cancel_scope.cancel()

    assert len(answers) >= 5 * CLIENTS
    assert {status for _path, status, _doc in answers} == {200}, [
        doc for _p, status, doc in answers if status != 200
    ][:3]
    for symbol in SYMBOLS:
        assert stored_ids(db, symbol) == fx.log.generated_ids(symbol)
        assert final["symbols"][symbol]["trades"] == n
    # Every profile of the closed window is the same (only its coverage's record grows),
    # and exact: its count and volume are those of the raw trades.
    profiles = [doc for path, _s, doc in answers if path == "profile"]
    assert profiles and all(doc["coverage"]["complete"] for doc in profiles)
    assert all(without(doc, "coverage") == without(profiles[0], "coverage") for doc in profiles)
    with TradeStore(db, read_only=True) as store:
        exact = volume_profile(store, "BTCUSDT", start, end).to_json()
        assert without(exact, "coverage") == without(profiles[0], "coverage")
        raw = store.query_trades("BTCUSDT", start, end)
    assert profiles[0]["trade_count"] == len(raw) >= 1_500
    assert Decimal(profiles[0]["total_volume"]) == sum((t.qty for t in raw), Decimal(0))
    # The stats answers saw the recording grow: from the 2,000 stored at the start to n.
    counts = [
        doc["symbols"]["BTCUSDT"]["trades"]
        for path, _s, doc in answers
        if path == "stats" and "BTCUSDT" in doc["symbols"]
    ]
    assert counts and 2_000 <= min(counts) <= max(counts) <= n
