"""The fake exchange, driven over real loopback sockets with trio-websocket and httpx."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from contextlib import asynccontextmanager
from decimal import Decimal
from functools import partial
from pathlib import Path

import httpx
import pytest
import trio
import trio_websocket
from trio_websocket import ConnectionClosed, ConnectionRejected, open_websocket_url
from wsproto.utilities import LocalProtocolError

from tests.helpers import wait_for_async
from tests.helpers.fake import open_on_unix_socket, rest_in_memory
from tests.helpers.trades import T0
from tradestore import AggTrade, InvalidMessage, TradeStore, parse_agg_trade
from tradestore._excgroup import first_leaf
from tradestore.cli import main
from tradestore.fake import (
    FakeExchangeConfig,
    SentLog,
    open_fake_exchange,
    serve_fake_exchange,
)


@asynccontextmanager
async def connect(fx, resource: str, *, message_queue_size: int = 1, rcvbuf: int | None = None):
    """A trio-websocket client on a stream the test owns and always closes: TCP to
    127.0.0.1, or the fake's Unix socket when it was opened with ``open_on_unix_socket``.

    (trio-websocket's own client leaves its socket open when the server ends the
    connection, which this suite does on purpose, and pytest turns that into an error.)
    """
    unix_path = getattr(fx, "unix_path", None)
    sock = trio.socket.socket(socket.AF_UNIX if unix_path else socket.AF_INET)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    await sock.connect(unix_path or ("127.0.0.1", fx.port))
    closing = False
    try:
        async with trio.SocketStream(sock) as stream, trio.open_nursery() as nursery:
            ws = await trio_websocket.wrap_client_stream(
                nursery, stream, "127.0.0.1", resource, message_queue_size=message_queue_size
            )
            try:
                yield ws
            finally:
                closing = True
                with trio.move_on_after(1, shield=True):
                    await ws.aclose()
                nursery.cancel_scope.cancel()
    except* LocalProtocolError:
        # trio-websocket 0.12 answers a ping that arrives after our close frame with a pong
        # wsproto refuses to send (python-trio/trio-websocket#184); the server pings
        # every few ms in some tests. Only our own close may meet it.
        if not closing:
            raise


def config(**overrides) -> FakeExchangeConfig:
    settings = {"symbols": ("BTCUSDT", "ETHUSDT"), "rate": 200.0, "start_time_ms": T0}
    settings.update(overrides)
    return FakeExchangeConfig(**settings)


async def receive_json(ws) -> dict:
    return json.loads(await ws.get_message())


async def collect(ws, n: int) -> list[str | bytes]:
    return [await ws.get_message() for _ in range(n)]


async def request(ws, method: str, params=None, request_id=1) -> dict:
    """Send one request and return its reply, skipping data frames on the way."""
    body = {"method": method, "id": request_id}
    if params is not None:
        body["params"] = params
    await ws.send_message(json.dumps(body))
    while True:
        message = await receive_json(ws)
        if "e" not in message and "stream" not in message:
            return message


def event_ids(frames, symbol: str | None = None) -> list[int]:
    ids = []
    for frame in frames:
        event = json.loads(frame)
        event = event.get("data", event)
        if symbol is None or event["s"] == symbol:
            ids.append(event["a"])
    return ids


# ---------------------------------------------------------------------------- streams


async def test_raw_stream_sends_contiguous_ids_exactly_as_logged():
    async with open_fake_exchange(config(max_trades=60)) as fx:
        assert fx.ws_url == f"ws://127.0.0.1:{fx.port}"
        assert fx.rest_url == f"http://127.0.0.1:{fx.port}"
        async with open_websocket_url(f"{fx.ws_url}/ws/btcusdt@aggTrade") as ws:
            frames = await collect(ws, 60)
        await fx.wait_generated("BTCUSDT", 60)
        ids = event_ids(frames)
        assert ids == list(range(1_000_000, 1_000_060))
        assert fx.log.sent_ids("BTCUSDT") == ids
        assert fx.log.generated_ids("BTCUSDT") == ids
        assert fx.log.skipped_ids("BTCUSDT") == []
        # Every frame is a well-formed event that the project's parser reads back exactly.
        history = fx.history("BTCUSDT")
        assert [parse_agg_trade(f) for f in frames] == history
        first = json.loads(frames[0])
        assert list(first) == ["e", "E", "s", "a", "p", "q", "f", "l", "T", "m", "M"]
        assert first["e"] == "aggTrade" and first["s"] == "BTCUSDT" and first["M"] is True
        assert first["f"] <= first["l"]
        assert fx.log.connections_opened == 1


async def test_synthetic_trades_look_like_btc():
    async with open_fake_exchange(config(rate=2000, max_trades=500)) as fx:
        async with connect(fx, "/ws/btcusdt@aggTrade") as ws:
            frames = await collect(ws, 500)
    events = [json.loads(f) for f in frames]
    for event in events:
        price, qty = event["p"], event["q"]
        assert len(price.split(".")[1]) == 8 and len(qty.split(".")[1]) == 8
        assert price.endswith("000000")  # 2-decimal ticks
        assert Decimal("60000") <= Decimal(price) <= Decimal("100000")
        assert Decimal(qty) > 0
        assert qty.rstrip("0").split(".")[1].__len__() <= 8
    assert len({e["p"] for e in events}) > 50  # it walks
    assert {e["m"] for e in events} == {True, False}
    times = [e["T"] for e in events]
    assert times == sorted(times) and times[0] >= T0
    # f..l ranges follow one another without overlap
    for before, after in zip(events, events[1:], strict=False):
        assert after["f"] == before["l"] + 1


async def test_frames_have_the_shape_of_real_binance_frames(real_frames):
    real = json.loads(real_frames[0])
    async with open_fake_exchange(config(max_trades=1)) as fx:
        async with connect(fx, "/stream?streams=btcusdt@aggTrade") as ws:
            fake = await receive_json(ws)
    assert set(fake) == set(real) == {"stream", "data"}
    assert fake["stream"] == real["stream"]
    assert set(fake["data"]) == set(real["data"])
    for key, value in real["data"].items():
        assert type(fake["data"][key]) is type(value), key
    assert len(fake["data"]["p"].split(".")[1]) == len(real["data"]["p"].split(".")[1])


async def test_combined_stream_two_symbols_match_the_sent_log():
    async with open_fake_exchange(config(max_trades=40)) as fx:
        async with connect(fx, "/stream?streams=btcusdt@aggTrade/ethusdt@aggTrade") as ws:
            frames = await collect(ws, 80)
        for frame in frames:
            wrapper = json.loads(frame)
            assert wrapper["stream"] == f"{wrapper['data']['s'].lower()}@aggTrade"
        for symbol in ("BTCUSDT", "ETHUSDT"):
            ids = event_ids(frames, symbol)
            assert ids == list(range(1_000_000, 1_000_040))
            assert fx.log.sent_ids(symbol) == ids
        # Different symbols walk differently from the same seed.
        assert fx.history("BTCUSDT")[0].price != fx.history("ETHUSDT")[0].price


async def test_generation_waits_for_the_first_subscriber():
    async with open_fake_exchange(config()) as fx:
        assert fx.history("BTCUSDT") == fx.history("ETHUSDT") == []
        async with connect(fx, "/ws/ethusdt@aggTrade") as ws:
            await collect(ws, 40)  # 0.2 s of ETHUSDT at 200 a second
            # Nobody asked for BTCUSDT: not one trade while ETHUSDT's 40 were made.
            assert fx.history("BTCUSDT") == []
            assert len(fx.history("ETHUSDT")) >= 40


async def test_generation_can_start_at_once_and_stop_at_max_trades():
    async with open_fake_exchange(config(start_on_first_subscriber=False, max_trades=25)) as fx:
        await fx.wait_generated("ETHUSDT", 25)
        # Returns (raising) only once the generator has finished: nothing comes after.
        with pytest.raises(RuntimeError, match="stopped after 25"):
            await fx.wait_generated("BTCUSDT", 26)
        assert len(fx.history("BTCUSDT")) == 25
        assert fx.log.sent_ids("BTCUSDT") == []  # nobody listened


async def test_same_seed_and_clock_give_the_same_trades(autojump_clock):
    # No client connects: nothing is in flight when the mock clock jumps.
    runs = []
    for _ in range(2):
        cfg = config(start_on_first_subscriber=False, max_trades=30, rate=5.0, seed=7)
        async with open_fake_exchange(cfg) as fx:
            await fx.wait_generated("BTCUSDT", 30)
            runs.append(fx.history("BTCUSDT"))
    assert runs[0] == runs[1]
    # T comes from the Trio clock: 5 trades a second, 200 ms apart from start_time_ms.
    assert [t.time_ms - runs[0][0].time_ms for t in runs[0][:4]] == [0, 200, 400, 600]
    async with open_fake_exchange(config(start_on_first_subscriber=False, max_trades=30)) as fx:
        await fx.wait_generated("BTCUSDT", 30)
        assert fx.history("BTCUSDT") != runs[0]  # seed 0, not 7


async def test_serve_fake_exchange_in_a_nursery():
    async with trio.open_nursery() as nursery:
        fx = await nursery.start(serve_fake_exchange, config(max_trades=5))
        async with connect(fx, "/ws/btcusdt@aggTrade") as ws:
            assert event_ids(await collect(ws, 5)) == list(range(1_000_000, 1_000_005))
        nursery.cancel_scope.cancel()


# ---------------------------------------------------------------------------- requests


async def test_subscribe_unsubscribe_and_list_on_a_bare_ws():
    async with open_fake_exchange(config()) as fx:
        async with connect(fx, "/ws") as ws:
            assert await request(ws, "LIST_SUBSCRIPTIONS", request_id=3) == {
                "result": [],
                "id": 3,
            }
            reply = await request(ws, "SUBSCRIBE", ["btcusdt@aggTrade", "ethusdt@aggTrade"])
            assert reply == {"result": None, "id": 1}
            frames = await collect(ws, 10)
            assert {json.loads(f)["s"] for f in frames} <= {"BTCUSDT", "ETHUSDT"}
            assert "stream" not in json.loads(frames[0])  # /ws sends raw events
            assert await request(ws, "LIST_SUBSCRIPTIONS", request_id=7) == {
                "result": ["btcusdt@aggTrade", "ethusdt@aggTrade"],
                "id": 7,
            }
            reply = await request(ws, "UNSUBSCRIBE", ["btcusdt@aggTrade"], request_id=8)
            assert reply == {"result": None, "id": 8}
            assert (await request(ws, "LIST_SUBSCRIPTIONS", request_id=9))["result"] == [
                "ethusdt@aggTrade"
            ]
            # After the reply only ETH events arrive.
            assert {json.loads(f)["s"] for f in await collect(ws, 10)} == {"ETHUSDT"}


async def test_bare_stream_subscribe_gets_combined_wrappers():
    async with open_fake_exchange(config()) as fx:
        async with connect(fx, "/stream") as ws:
            assert await request(ws, "SUBSCRIBE", ["btcusdt@aggTrade"], request_id=1) == {
                "result": None,
                "id": 1,
            }
            wrapper = await receive_json(ws)
            assert wrapper["stream"] == "btcusdt@aggTrade"
            assert wrapper["data"]["s"] == "BTCUSDT"
            assert await request(ws, "GET_PROPERTY", ["combined"], request_id=2) == {
                "result": True,
                "id": 2,
            }


async def test_url_streams_are_listed_and_combined_can_be_switched():
    async with open_fake_exchange(config()) as fx:
        async with connect(fx, "/ws/btcusdt@aggTrade/ethusdt@aggTrade") as ws:
            assert await request(ws, "LIST_SUBSCRIPTIONS", request_id=1) == {
                "result": ["btcusdt@aggTrade", "ethusdt@aggTrade"],
                "id": 1,
            }
            assert await request(ws, "GET_PROPERTY", ["combined"], request_id=2) == {
                "result": False,
                "id": 2,
            }
            reply = await request(ws, "SET_PROPERTY", ["combined", True], request_id=3)
            assert reply == {"result": None, "id": 3}
            # Everything after the reply is wrapped (frames are rendered in send order).
            frames = [json.loads(f) for f in await collect(ws, 30)]
            assert all(f["stream"] == f"{f['data']['s'].lower()}@aggTrade" for f in frames)
            reply = await request(ws, "SET_PROPERTY", ["combined", "yes"], request_id=4)
            assert reply["error"]["code"] == 2


async def test_request_errors_use_binance_shapes():
    # Nine requests in a burst: over Binance's 5 a second, which is not what this tests.
    async with open_fake_exchange(config(enforce_message_limit=False)) as fx:
        async with connect(fx, "/ws") as ws:
            reply = await request(ws, "SUBSCRIBE", ["dogeusdt@aggTrade"], request_id=5)
            assert reply["id"] == 5 and reply["error"]["code"] == 2
            assert reply["error"]["msg"].startswith("Invalid request: ")
            reply = await request(ws, "SUBSCRIBE", ["btcusdt@depth"], request_id=6)
            assert reply["error"]["code"] == 2
            reply = await request(ws, "SUBSCRIBE", ["BTCUSDT@aggTrade"], request_id=7)
            assert reply["error"]["code"] == 2  # stream names are lower case
            reply = await request(ws, "FROBNICATE", [], request_id=8)
            assert reply["error"]["code"] == 2 and "FROBNICATE" in reply["error"]["msg"]
            await ws.send_message("{not json")
            reply = await receive_json(ws)
            assert reply["error"]["code"] == 3 and reply["id"] is None
            reply = await request(ws, "SUBSCRIBE", [1, 2], request_id=9)
            assert reply["error"]["code"] == 1
            await ws.send_message(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": -1}))
            assert (await receive_json(ws))["error"]["code"] == 2
            # A failed SUBSCRIBE subscribed nothing.
            assert (await request(ws, "LIST_SUBSCRIPTIONS", request_id=10))["result"] == []


async def rejection(port: int, resource: str) -> ConnectionRejected:
    """The handshake rejection for ``resource``, on a TCP stream this test closes itself
    (trio-websocket leaves its own socket open when a handshake is rejected)."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    found: list[BaseException] = []
    async with stream:
        try:
            async with trio.open_nursery() as nursery:
                await trio_websocket.wrap_client_stream(nursery, stream, "127.0.0.1", resource)
        except* ConnectionRejected as group:
            found = [first_leaf(group)]
    assert found, f"{resource} was not rejected"
    return found[0]


async def test_unknown_stream_in_url_is_rejected():
    async with open_fake_exchange(config()) as fx:
        rejected = await rejection(fx.port, "/ws/dogeusdt@aggTrade")
        assert rejected.status_code == 400
        assert json.loads(rejected.body)["code"] == 2
        rejected = await rejection(fx.port, "/stream?streams=btcusdt@aggTrade/xyz")
        assert rejected.status_code == 400
        assert (await rejection(fx.port, "/nowhere")).status_code == 404


# ---------------------------------------------------------------------------- REST


async def test_rest_paging_by_from_id_returns_the_whole_history_with_skipped_ids():
    cfg = config(rate=5000, max_trades=2300, skip_every=7, start_on_first_subscriber=False)
    async with open_fake_exchange(cfg) as fx, httpx.AsyncClient(base_url=fx.rest_url) as http:
        await fx.wait_generated("BTCUSDT", 2300)
        rows, from_id, weights = [], 1_000_000, []
        while True:
            response = await http.get(
                "/api/v3/aggTrades", params={"symbol": "BTCUSDT", "fromId": from_id, "limit": 1000}
            )
            assert response.status_code == 200
            weights.append(int(response.headers["X-MBX-USED-WEIGHT-1M"]))
            page = response.json()
            if not page:
                break
            rows += page
            from_id = page[-1]["a"] + 1
        assert [len(rows)] == [2300]
        assert weights[1] - weights[0] == 4  # aggTrades costs 4
        history = fx.history("BTCUSDT")
        assert [r["a"] for r in rows] == [t.agg_id for t in history]
        assert [r["a"] for r in rows] == list(range(1_000_000, 1_002_300))
        for row, trade in zip(rows, history, strict=True):
            assert list(row) == ["a", "p", "q", "f", "l", "T", "m", "M"]
            assert (row["p"], row["q"], row["T"], row["m"]) == (
                str(trade.price),
                str(trade.qty),
                trade.time_ms,
                trade.is_buyer_maker,
            )
        skipped = fx.log.skipped_ids("BTCUSDT")
        assert skipped == list(range(1_000_006, 1_002_300, 7))
        assert fx.log.generated_ids("BTCUSDT") == [r["a"] for r in rows]


async def test_rest_default_limit_recent_trades_and_time_windows():
    cfg = config(rate=1000, max_trades=1200, start_on_first_subscriber=False)
    async with open_fake_exchange(cfg) as fx, httpx.AsyncClient(base_url=fx.rest_url) as http:
        await fx.wait_generated("ETHUSDT", 1200)
        history = fx.history("ETHUSDT")
        recent = (await http.get("/api/v3/aggTrades?symbol=ETHUSDT")).json()
        assert [r["a"] for r in recent] == [t.agg_id for t in history[-500:]]
        start, end = history[100].time_ms, history[199].time_ms
        rows = (
            await http.get(
                "/api/v3/aggTrades",
                params={"symbol": "ETHUSDT", "startTime": start, "endTime": end, "limit": 1000},
            )
        ).json()
        expected = [t.agg_id for t in history if start <= t.time_ms <= end]
        assert [r["a"] for r in rows] == expected and len(expected) >= 100
        rows = (
            await http.get(
                "/api/v3/aggTrades", params={"symbol": "ETHUSDT", "startTime": start, "limit": 5}
            )
        ).json()
        assert [r["a"] for r in rows] == expected[:5]


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("symbol=BTCUSDT&limit=1001", 400, -1130),
        ("symbol=BTCUSDT&limit=0", 400, -1130),
        ("symbol=DOGEUSDT", 400, -1121),
        ("", 400, -1102),
        ("symbol=btcusdt", 400, -1100),
        ("symbol=BTCUSDT&fromId=abc", 400, -1100),
        ("symbol=BTCUSDT&fromId=5&startTime=1", 400, -1128),
        ("symbol=BTCUSDT&startTime=0&endTime=3600001", 400, -1127),
    ],
)
async def test_rest_rejects_bad_parameters_like_binance(query, status, code):
    async with open_fake_exchange(config()) as fx, httpx.AsyncClient(base_url=fx.rest_url) as http:
        response = await http.get(f"/api/v3/aggTrades?{query}")
        assert response.status_code == status
        body = response.json()
        assert body["code"] == code and body["msg"]
        assert "X-MBX-USED-WEIGHT-1M" in response.headers


async def test_rest_ping_and_time_follow_the_exchange_clock(autojump_clock):
    async with open_fake_exchange(config()) as fx, rest_in_memory(fx) as http:
        assert (await http.get("/api/v3/ping")).json() == {}
        before = (await http.get("/api/v3/time")).json()["serverTime"]
        await trio.sleep(90)  # the scenario: 90 s of exchange time pass
        after = (await http.get("/api/v3/time")).json()["serverTime"]
        assert (before, after) == (T0, T0 + 90_000)
        assert (await http.get("/api/v3/depth")).status_code == 404


async def test_rest_time_over_tcp_is_the_exchange_clock():
    async with open_fake_exchange(config()) as fx, httpx.AsyncClient(base_url=fx.rest_url) as http:
        for _ in range(3):
            earliest = fx.now_ms()
            served = (await http.get("/api/v3/time")).json()["serverTime"]
            assert earliest <= served <= fx.now_ms()


async def test_rest_429_and_418_injection_with_retry_after():
    cfg = config(rest_429_every=3, rest_418_every=5, retry_after=7)
    async with open_fake_exchange(cfg) as fx, httpx.AsyncClient(base_url=fx.rest_url) as http:
        statuses = []
        for _ in range(10):
            response = await http.get("/api/v3/aggTrades", params={"symbol": "BTCUSDT"})
            statuses.append(response.status_code)
            if response.status_code in (418, 429):
                assert response.headers["Retry-After"] == "7"
                assert response.json()["code"] == -1003
            else:
                assert "Retry-After" not in response.headers
        assert statuses == [200, 200, 429, 200, 418, 429, 200, 200, 429, 418]
        assert (fx.log.rest_requests, fx.log.rest_429_sent, fx.log.rest_418_sent) == (10, 3, 2)


async def test_rest_invalid_every_marks_rows_the_way_binance_does():
    """Rows of ids divisible by N come back with p="0", q="0", f=-1 (l=-1): the shape of
    the historical rows Binance marks invalid. The WebSocket still sends the real trade."""
    cfg = config(rate=5000, max_trades=100, rest_invalid_every=9, start_on_first_subscriber=False)
    async with open_fake_exchange(cfg) as fx, httpx.AsyncClient(base_url=fx.rest_url) as http:
        await fx.wait_generated("BTCUSDT", 100)
        response = await http.get(
            "/api/v3/aggTrades", params={"symbol": "BTCUSDT", "fromId": 1_000_000, "limit": 100}
        )
        rows = response.json()
        history = fx.history("BTCUSDT")
    assert [r["a"] for r in rows] == [t.agg_id for t in history]
    invalid = [r for r in rows if r["a"] % 9 == 0]
    assert invalid and fx.log.rest_invalid_rows == len(invalid)
    for row in invalid:
        assert (row["p"], row["q"], row["f"], row["l"]) == ("0", "0", -1, -1)
        assert list(row) == ["a", "p", "q", "f", "l", "T", "m", "M"]
    for row, trade in zip(rows, history, strict=True):
        if row["a"] % 9:
            assert (row["p"], row["f"] >= 0) == (str(trade.price), True)
        assert row["T"] == trade.time_ms


async def test_pings_and_frame_bursts_share_the_socket_one_write_at_a_time():
    """Pings every 5 ms while trades stream at 3000/s: the ping task and the frame sender
    never write to the socket at the same time (that raised BusyResourceError and ended
    the ping task); pings keep coming, nothing is dropped, every id arrives in order.

    Counted against the fake's own log of pings sent, not a wall-clock rate: a ping waits
    for the frame batch being written, and on a loaded machine a batch takes longer. A
    machine too busy to read 3000 frames a second falls behind instead of being dropped
    as a slow client (the queue holds a minute of frames) or for a late pong (a pong
    comes after every frame queued before its ping)."""
    cfg = config(rate=3000.0, ping_interval=0.005, pong_timeout=60.0, queue_size=200_000)
    async with open_fake_exchange(cfg) as fx:
        async with connect(fx, "/ws/btcusdt@aggTrade") as ws:
            received = []
            with trio.fail_after(60):
                # 100 pings sent and answered (a pong comes back only once the client has
                # read every frame before its ping).
                while fx.log.pongs_received < 100 or len(received) <= 1000:
                    received.append(await ws.get_message())
                pings = fx.log.pings_sent
                # The ping task is still alive: more pings come while we keep reading.
                while fx.log.pings_sent <= pings:
                    received.append(await ws.get_message())
            assert fx.log.pings_sent > 100
            assert not ws.closed
            assert fx.log.connections_dropped == 0
            # The server ends it: a client closing while 5 ms pings arrive trips over
            # trio-websocket answering a ping in the closing state.
            fx.drop_all()
            with pytest.raises(trio_websocket.ConnectionClosed):
                while True:
                    received.append(await ws.get_message())
        assert fx.log.drops_by_reason == {"drop_all": 1}
        ids = event_ids(received)
        assert len(ids) > 1000
        assert ids == list(range(ids[0], ids[0] + len(ids)))


async def test_rest_weight_limit_answers_429_until_the_minute_ends(autojump_clock):
    cfg = config(rest_weight_limit=12, start_time_ms=T0 + 45_000)  # 15 s left in the minute
    async with open_fake_exchange(cfg) as fx, rest_in_memory(fx) as http:
        answers = []
        for _ in range(4):
            response = await http.get("/api/v3/aggTrades?symbol=BTCUSDT")
            answers.append((response.status_code, response.headers["X-MBX-USED-WEIGHT-1M"]))
        assert answers == [(200, "4"), (200, "8"), (200, "12"), (429, "16")]
        assert response.headers["Retry-After"] == "15"
        await trio.sleep(15)  # the scenario: wait out the minute, as Retry-After says
        response = await http.get("/api/v3/aggTrades?symbol=BTCUSDT")
        assert (response.status_code, response.headers["X-MBX-USED-WEIGHT-1M"]) == (200, "4")
        assert fx.log.rest_429_sent == 1


# ---------------------------------------------------------------------------- keepalive


async def test_pings_are_sent_and_a_ponging_client_stays(autojump_clock):
    async with open_on_unix_socket(config(rate=1.0)) as fx:
        async with connect(fx, "/ws/btcusdt@aggTrade") as ws:
            received = []
            # The scenario: ten ping intervals of 20 s (and not ending on one).
            with trio.move_on_after(205):
                while True:
                    received.append(await ws.get_message())
            assert not ws.closed
        assert fx.log.pings_sent >= 9
        assert fx.log.pongs_received == fx.log.pings_sent
        assert fx.log.connections_dropped == 0
        # The last trade may have been on its way when the client stopped reading.
        assert event_ids(received) == fx.log.sent_ids("BTCUSDT")[: len(received)]
        assert len(fx.log.sent_ids("BTCUSDT")) - len(received) <= 1


async def test_a_client_that_stops_answering_pings_is_dropped(autojump_clock):
    # A client whose reader is stuck (its one-message queue is full) cannot answer pings.
    async with open_on_unix_socket(config(ping_interval=20, pong_timeout=60)) as fx:
        async with connect(fx, "/ws", message_queue_size=0) as ws:
            opened = trio.current_time()
            # The reply goes out at once, long before the first ping, and then sits in the
            # client's full queue: its reader is stuck and answers no ping.
            await ws.send_message(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 1}))
            await fx.wait_until(lambda: fx.log.connections_dropped)
            # First ping at 20 s; unanswered 60 s later the connection is cut.
            assert 80 <= trio.current_time() - opened <= 81.5
            assert fx.log.drops_by_reason == {"pong_timeout": 1}
            assert fx.log.pongs_received == 0
            with pytest.raises(ConnectionClosed) as info:
                while True:
                    await ws.get_message()
            assert info.value.reason.code == 1006  # no close frame: cut


async def test_lifetime_sends_server_shutdown_then_closes(autojump_clock):
    cfg = config(lifetime=120, shutdown_notice=5)
    async with open_on_unix_socket(cfg) as fx:
        async with connect(fx, "/ws") as ws:
            opened = trio.current_time()
            event = await receive_json(ws)
            assert event["e"] == "serverShutdown"
            assert trio.current_time() - opened == pytest.approx(115, abs=0.5)
            assert event["E"] == pytest.approx(fx.now_ms(), abs=10)
            with pytest.raises(ConnectionClosed) as info:
                await ws.get_message()
            assert trio.current_time() - opened == pytest.approx(120, abs=0.5)
            assert info.value.reason.code == 1001
        assert fx.log.shutdown_events_sent == 1
        assert fx.log.drops_by_reason == {"lifetime": 1}


# ---------------------------------------------------------------------------- faults


async def test_drop_every_cuts_every_connection_periodically(autojump_clock):
    async with open_on_unix_socket(config(drop_every=0.3, rate=50)) as fx:
        for round_ in range(2):
            async with connect(fx, "/ws/btcusdt@aggTrade") as ws:
                received = []
                with pytest.raises(ConnectionClosed) as info:
                    with trio.fail_after(2):
                        while True:
                            received.append(await ws.get_message())
                assert info.value.reason.code == 1006
            assert fx.log.drops_by_reason["drop_every"] == round_ + 1
        assert fx.log.connections_opened == 2


async def test_drop_all_hook_and_ids_across_a_reconnect():
    async with open_fake_exchange(config(rate=100)) as fx:
        frames = []
        for _ in range(2):
            async with connect(fx, "/ws/btcusdt@aggTrade") as ws:
                frames += await collect(ws, 10)
                # The server ends each connection, so a client reads every frame that was
                # written before the cut (a close of our own would discard some).
                fx.drop_all()
                with pytest.raises(ConnectionClosed):
                    with trio.fail_after(10):
                        while True:
                            frames.append(await ws.get_message())
        ids = event_ids(frames)
        # Everything a client received was logged as sent, and the log has nothing more.
        assert sorted(set(ids)) == fx.log.sent_ids("BTCUSDT")
        assert fx.log.drops_by_reason == {"drop_all": 2}
        assert fx.log.connections_dropped == 2


async def test_silent_window_keeps_pings_but_sends_no_data(autojump_clock):
    cfg = config(rate=50, silent_after=0.3, silent_for=0.6, ping_interval=0.1, pong_timeout=5)
    async with open_on_unix_socket(cfg) as fx:
        async with connect(fx, "/ws/btcusdt@aggTrade") as ws:
            opened = trio.current_time()
            stamps, frames = [], []
            while trio.current_time() - opened < 1.3:
                frames.append(await ws.get_message())
                stamps.append(trio.current_time() - opened)
            pings_during = fx.log.pings_sent
        gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
        assert max(gaps) >= 0.5  # the silence
        assert pings_during >= 10 and fx.log.pongs_received >= 10
        ids = event_ids(frames)
        assert ids == fx.log.sent_ids("BTCUSDT")[: len(ids)]
        jump = max(b - a for a, b in zip(ids, ids[1:], strict=False))
        assert jump >= 20  # trades generated during the silence were never sent
        assert fx.log.trades_withheld >= jump - 1
        assert fx.log.connections_dropped == 0


async def test_set_silent_hook_stops_and_resumes_data():
    async with open_fake_exchange(config(rate=100)) as fx:
        async with connect(fx, "/ws/btcusdt@aggTrade") as ws:
            ids = event_ids(await collect(ws, 5))
            fx.set_silent(True)
            last_offered = fx.log.generated_ids("BTCUSDT")[-1]
            while ids[-1] != last_offered:  # the frames queued before the switch still arrive
                ids += event_ids([await ws.get_message()])
            await fx.wait_until(lambda: fx.log.trades_withheld >= 20)
            assert fx.log.sent_ids("BTCUSDT")[-1] == last_offered  # nothing sent meanwhile
            fx.set_silent(False)
            event = json.loads(await ws.get_message())
            assert event["e"] == "aggTrade"
            assert event["a"] > last_offered + 20  # the withheld trades are never sent


async def test_malformed_frames_are_every_nth_and_counted_by_kind():
    async with open_fake_exchange(config(rate=500, malformed_every=3, max_trades=25)) as fx:
        async with connect(fx, "/stream?streams=btcusdt@aggTrade") as ws:
            frames = await collect(ws, 37)  # every 3rd frame malformed: 25 trades, 12 bad
        good, bad = [], []
        for frame in frames:
            try:
                good.append(parse_agg_trade(frame))
            except InvalidMessage as exc:
                bad.append(exc.reason)
        assert len(bad) == 12 == fx.log.malformed_sent
        # The kinds are named after the parser's reasons; it must agree with each.
        assert sorted(bad) == sorted(fx.log.malformed_by_kind.elements())
        assert len(set(bad)) == 9
        assert [t.agg_id for t in good] == list(range(1_000_000, 1_000_025))
        assert isinstance(frames[2], str) and isinstance(frames[23], bytes)  # 8th is binary


async def test_duplicates_resend_the_previous_trade_and_are_counted():
    async with open_fake_exchange(config(rate=500, duplicate_every=4, max_trades=36)) as fx:
        async with connect(fx, "/ws/ethusdt@aggTrade") as ws:
            frames = await collect(ws, 47)  # every 4th frame re-sends the previous trade
        ids = event_ids(frames)
        assert ids[:8] == [1_000_000, 1_000_001, 1_000_002, 1_000_002] + [
            1_000_003,
            1_000_004,
            1_000_005,
            1_000_005,
        ]
        assert len(ids) - len(set(ids)) == 11 == fx.log.duplicates_sent
        assert sorted(set(ids)) == fx.log.sent_ids("ETHUSDT") == list(range(1_000_000, 1_000_036))


async def test_skipped_ids_are_never_sent_but_exist():
    async with open_fake_exchange(config(rate=500, skip_every=5, max_trades=50)) as fx:
        async with connect(fx, "/ws/btcusdt@aggTrade") as ws:
            ids = event_ids(await collect(ws, 40))
        await fx.wait_generated("BTCUSDT", 50)
        skipped = fx.log.skipped_ids("BTCUSDT")
        assert skipped == list(range(1_000_004, 1_000_050, 5))
        assert not set(ids) & set(skipped)
        assert sorted(ids + skipped) == fx.log.generated_ids("BTCUSDT")
        assert ids == fx.log.sent_ids("BTCUSDT")


async def test_a_client_that_does_not_read_is_disconnected_not_waited_for():
    # A tiny receive buffer on the client makes the server's socket fill quickly.
    # The queue still absorbs the generator's bursts (it catches up after a late wake-up).
    cfg = config(rate=4000, queue_size=400)
    async with open_fake_exchange(cfg) as fx:
        async with connect(fx, "/ws/btcusdt@aggTrade", message_queue_size=0, rcvbuf=2048):
            with trio.fail_after(10):
                await fx.wait_until(lambda: fx.log.connections_dropped)
            assert fx.log.drops_by_reason == {"slow_client": 1}
            # A well-behaved client on the same exchange is unaffected.
            async with connect(fx, "/ws/ethusdt@aggTrade") as other:
                assert len(await collect(other, 50)) == 50


# ---------------------------------------------------------------------------- sources


def write_csv(path: Path, trades: list[AggTrade], micros: bool) -> Path:
    lines = []
    for t in trades:
        stamp = t.time_ms * 1000 + 123 if micros else t.time_ms
        lines.append(
            f"{t.agg_id},{t.price:f},{t.qty:f},{t.agg_id * 3},{t.agg_id * 3 + 1},{stamp},"
            f"{'True' if t.is_buyer_maker else 'False'},True"
        )
    path.write_text("\n".join(lines) + "\n")
    return path


def sample_trades(n: int, first_id: int = 500, first_ms: int = T0) -> list[AggTrade]:
    return [
        AggTrade(
            first_id + i,
            Decimal(f"{42000 + i}.{i % 100:02d}000000"),
            Decimal(f"0.{i + 1:08d}"),  # down to 0.00000001: no "1E-8" on the wire
            first_ms + 37 * i,
            i % 3 == 0,
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("micros", [False, True])
async def test_csv_replay_sends_the_file_for_the_first_symbol(tmp_path, micros):
    trades = sample_trades(30)
    path = write_csv(tmp_path / "BTCUSDT-aggTrades.csv", trades, micros)
    async with open_fake_exchange(config(csv=path, rate=1000)) as fx:
        url = "/stream?streams=btcusdt@aggTrade/ethusdt@aggTrade"
        async with connect(fx, url) as ws:
            frames = await collect(ws, 60)
            btc = [parse_agg_trade(f) for f in frames if '"BTCUSDT"' in f]
            eth = event_ids([f for f in frames if '"ETHUSDT"' in f])
            while len(btc) < 30:
                frame = await ws.get_message()
                if '"BTCUSDT"' in frame:
                    btc.append(parse_agg_trade(frame))
        assert btc == trades  # ids, exact decimal text, times (µs files too), sides
        assert eth[:5] == list(range(1_000_000, 1_000_005))  # the others stay synthetic
        with pytest.raises(RuntimeError, match="stopped after 30"):
            await fx.wait_generated("BTCUSDT", 31)


async def test_real_binance_csv_replays_exactly(real_csv):
    async with open_fake_exchange(config(csv=real_csv, symbols=("BTCUSDT",), rate=5000)) as fx:
        async with connect(fx, "/ws/btcusdt@aggTrade") as ws:
            frames = await collect(ws, 300)
    trades = [parse_agg_trade(f) for f in frames]
    assert [t.agg_id for t in trades] == list(range(3800397495, 3800397795))
    first = real_csv.read_text().splitlines()[0].split(",")
    assert str(trades[0].price) == first[1] and str(trades[0].qty) == first[2]
    assert trades[0].time_ms == int(first[5]) // 1000


async def test_replay_db_sends_the_stored_trades(tmp_path):
    btc = sample_trades(25, first_id=10)
    eth = sample_trades(5, first_id=900, first_ms=T0 + 7_200_000)  # past the first hour
    eth += sample_trades(5, first_id=905, first_ms=T0 + 3 * 3_600_000)
    with TradeStore(tmp_path / "db") as store:
        store.store_batch("BTCUSDT", btc[:10])
        store.store_batch("BTCUSDT", btc[10:])
        store.store_batch("ETHUSDT", eth[:5])
        store.store_batch("ETHUSDT", eth[5:])
    async with open_fake_exchange(config(replay_db=tmp_path / "db", rate=1000)) as fx:
        async with connect(fx, "/stream?streams=btcusdt@aggTrade/ethusdt@aggTrade") as ws:
            frames = await collect(ws, 35)
    assert [parse_agg_trade(f) for f in frames if '"BTCUSDT"' in f] == btc
    assert [parse_agg_trade(f) for f in frames if '"ETHUSDT"' in f] == eth
    assert fx.log.sent_ids("ETHUSDT") == [t.agg_id for t in eth]


async def test_replay_db_without_the_symbol_is_an_error(tmp_path):
    with TradeStore(tmp_path / "db") as store:
        store.store_batch("BTCUSDT", sample_trades(3))
    with pytest.raises(ValueError, match="no trades stored for ETHUSDT"):
        async with open_fake_exchange(config(replay_db=tmp_path / "db")):
            pass


# ---------------------------------------------------------------------------- config, log


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"host": "0.0.0.0"}, "not a loopback"),
        ({"host": "192.168.1.5"}, "not a loopback"),
        ({"rate": 0}, "rate"),
        ({"symbols": ()}, "at least one symbol"),
        ({"symbols": ("BTC/USDT",)}, "invalid symbol"),
        ({"skip_every": 1}, "skip_every=1"),
        ({"malformed_every": -2}, "malformed_every"),
        ({"lifetime": 10, "shutdown_notice": 11}, "shutdown_notice"),
        ({"csv": "a.csv", "replay_db": "db"}, "not both"),
    ],
)
def test_config_rejects_nonsense(overrides, message):
    with pytest.raises(ValueError, match=message):
        config(**overrides)


async def test_a_taken_port_raises_oserror_plainly():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            async with open_fake_exchange(config(port=taken.getsockname()[1])):
                pass


async def test_history_is_trimmed_to_its_limit_but_the_log_is_exact():
    cfg = config(rate=2000, max_trades=250, history_limit=100, start_on_first_subscriber=False)
    async with open_fake_exchange(cfg) as fx, httpx.AsyncClient(base_url=fx.rest_url) as http:
        await fx.wait_generated("BTCUSDT", 250)
        assert fx.generated("BTCUSDT") == 250
        kept = [t.agg_id for t in fx.history("BTCUSDT")]
        assert 100 <= len(kept) <= 110 and kept[-1] == 1_000_249
        assert kept == list(range(kept[0], 1_000_250))
        rows = (await http.get("/api/v3/aggTrades?symbol=BTCUSDT&fromId=1000000")).json()
        assert [r["a"] for r in rows] == kept  # REST serves what is kept
        assert fx.log.generated_ids("BTCUSDT") == list(range(1_000_000, 1_000_250))


def test_config_normalises_and_allows_remote_when_asked():
    cfg = config(symbols="btcusdt,ETHUSDT,BTCUSDT", host="0.0.0.0", allow_remote=True)
    assert cfg.symbols == ("BTCUSDT", "ETHUSDT")
    assert config(host="::1").host == "::1"
    assert config(lifetime=30).notice == 3.0 and config().notice == 10.0


async def test_sent_log_round_trips_through_json(tmp_path):
    async with open_fake_exchange(config(max_trades=20, skip_every=4)) as fx:
        async with connect(fx, "/ws/btcusdt@aggTrade") as ws:
            await collect(ws, 15)
        await fx.wait_generated("BTCUSDT", 20)
        fx.log.write_json(tmp_path / "sent.json")
    back = SentLog.read_json(tmp_path / "sent.json")
    for symbol in ("BTCUSDT", "ETHUSDT"):
        assert back.sent_ids(symbol) == fx.log.sent_ids(symbol)
        assert back.generated_ids(symbol) == fx.log.generated_ids(symbol)
        assert back.skipped_ids(symbol) == fx.log.skipped_ids(symbol)
    assert back.statistics() == fx.log.statistics()
    assert json.loads((tmp_path / "sent.json").read_text())["ids"]["BTCUSDT"]["skipped"] == [
        1_000_003,
        1_000_007,
        1_000_011,
        1_000_015,
        1_000_019,
    ]


# ---------------------------------------------------------------------------- CLI


def test_cli_refuses_a_remote_host_without_allow_remote(capsys):
    assert main(["fake-exchange", "--host", "0.0.0.0", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "not a loopback" in err and "allow_remote" in err


def test_cli_help_explains_allow_remote(capsys):
    with pytest.raises(SystemExit):
        main(["fake-exchange", "--help"])
    out = capsys.readouterr().out
    assert "--allow-remote" in out and "loopback" in out and "listening on" in out


def test_cli_port_in_use_is_a_runtime_failure(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["fake-exchange", "--port", str(port)]) == 1
    assert "in use" in capsys.readouterr().err


def test_cli_missing_csv_is_a_usage_error(tmp_path, capsys):
    assert main(["fake-exchange", "--port", "0", "--csv", str(tmp_path / "nope.csv")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_cli_flags_map_onto_the_config(tmp_path):
    from tradestore.cli import build_parser
    from tradestore.cli._fake import config_from_args

    csv_path = write_csv(tmp_path / "t.csv", sample_trades(3), micros=False)
    args = build_parser().parse_args(
        [
            "fake-exchange",
            "--port=0",
            "--symbols=ethusdt,BTCUSDT",
            "--rate=2.5",
            "--seed=9",
            "--start-time=2026-01-01T00:00:00Z",
            "--max-trades=7",
            "--no-wait",
            f"--csv={csv_path}",
            "--lifetime=30",
            "--ping-interval=3",
            "--pong-timeout=9",
            "--drop-every=4",
            "--silent-after=1",
            "--silent-for=2",
            "--malformed-every=5",
            "--duplicate-every=6",
            "--skip-every=7",
            "--rest-429-every=8",
            "--rest-418-every=11",
            "--retry-after=3",
            "--rest-invalid-every=13",
            "--history-limit=0",
        ]
    )
    cfg = config_from_args(args)
    assert cfg.symbols == ("ETHUSDT", "BTCUSDT") and cfg.csv == csv_path
    assert (cfg.port, cfg.rate, cfg.seed, cfg.start_time_ms, cfg.max_trades) == (0, 2.5, 9, T0, 7)
    assert cfg.start_on_first_subscriber is False
    assert (cfg.lifetime, cfg.ping_interval, cfg.pong_timeout, cfg.drop_every) == (30, 3, 9, 4)
    assert (cfg.silent_after, cfg.silent_for) == (1, 2)
    assert (cfg.malformed_every, cfg.duplicate_every, cfg.skip_every) == (5, 6, 7)
    assert (cfg.rest_429_every, cfg.rest_418_every, cfg.retry_after) == (8, 11, 3)
    assert cfg.rest_invalid_every == 13
    assert cfg.history_limit is None
    defaults = config_from_args(build_parser().parse_args(["fake-exchange"]))
    assert (defaults.host, defaults.port, defaults.symbols) == (
        "127.0.0.1",
        9443,
        ("BTCUSDT", "ETHUSDT"),
    )
    assert defaults.start_on_first_subscriber and defaults.drop_every is None


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_cli_prints_the_port_and_writes_the_sent_log_on_a_signal(tmp_path, cli_env, signum):
    log_path = tmp_path / "sent.json"
    argv = [
        sys.executable,
        "-m",
        "tradestore",
        "fake-exchange",
        "--port",
        "0",
        "--symbols",
        "BTCUSDT",
        "--rate",
        "200",
        "--max-trades",
        "40",
        "--skip-every",
        "10",
        "--sent-log",
        str(log_path),
    ]
    async with trio.open_nursery() as nursery:
        process = await nursery.start(
            partial(
                trio.run_process,
                argv,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                check=False,
                env=cli_env,
            )
        )
        with trio.fail_after(30):
            line = b""
            while not line.endswith(b"\n"):
                line += await process.stdout.receive_some(1)
        text = line.decode().strip()
        assert text.startswith("listening on ws://127.0.0.1:")
        port = int(text.rsplit(":", 1)[1])
        assert port > 0
        url = f"ws://127.0.0.1:{port}/ws/btcusdt@aggTrade"
        async with open_websocket_url(url) as ws:
            ids = event_ids(await collect(ws, 36))
        # The 40th trade (skipped, never sent) is generated too: REST serves it then.
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:

            async def fortieth_generated() -> bool:
                last = {"symbol": "BTCUSDT", "fromId": 1_000_039}
                return bool((await http.get("/api/v3/aggTrades", params=last)).json())

            with trio.fail_after(30):
                await wait_for_async(fortieth_generated)
        process.send_signal(signum)
        with trio.fail_after(15):
            await process.wait()
        assert process.returncode == 0
    sent = SentLog.read_json(log_path)
    assert sent.sent_ids("BTCUSDT") == ids
    assert sent.generated_ids("BTCUSDT") == list(range(1_000_000, 1_000_040))
    assert sent.skipped_ids("BTCUSDT") == list(range(1_000_009, 1_000_040, 10))


async def test_a_stuck_symbol_stops_on_its_connection_while_the_others_flow():
    """stall_symbol: 0.5 s into each connection ETHUSDT stops on it (REST still has its
    trades), BTCUSDT flows on; a new connection gets ETHUSDT again until its own 0.5 s."""
    cfg = config(stall_symbol="ETHUSDT", stall_after=0.5)
    resource = "/stream?streams=btcusdt@aggTrade/ethusdt@aggTrade"
    async with open_fake_exchange(cfg) as fx:
        async with connect(fx, resource, message_queue_size=1000) as ws:
            received = []
            with trio.move_on_after(1.5):
                while True:
                    received.append(json.loads(await ws.get_message())["data"])
        withheld = fx.log.trades_withheld
        async with connect(fx, resource, message_queue_size=1000) as ws:
            again = [json.loads(await ws.get_message())["data"]["s"] for _ in range(20)]
        eth_generated = fx.generated("ETHUSDT")
    times = {s: [e["T"] for e in received if e["s"] == s] for s in ("BTCUSDT", "ETHUSDT")}
    start = min(times["BTCUSDT"] + times["ETHUSDT"])
    assert max(times["ETHUSDT"]) - start <= 600  # stopped about 0.5 s in
    assert max(times["BTCUSDT"]) - start >= 1200  # flowed on
    assert withheld > 0 and eth_generated > len(times["ETHUSDT"])
    assert "ETHUSDT" in again


async def test_drop_oldest_cuts_one_connection_and_stall_silences_one_symbol():
    async with open_fake_exchange(config()) as fx:
        async with (
            connect(fx, "/ws/btcusdt@aggTrade") as first,
            connect(fx, "/stream?streams=btcusdt@aggTrade/ethusdt@aggTrade") as second,
        ):
            await first.get_message()
            await second.get_message()
            assert fx.stall("ETHUSDT") == 1  # only the second carries it
            assert fx.drop_oldest()
            with pytest.raises(ConnectionClosed):
                while True:
                    await first.get_message()
            frames = [json.loads(await second.get_message())["data"]["s"] for _ in range(50)]
    assert fx.log.drops_by_reason == {"drop_one": 1}
    assert set(frames[-40:]) == {"BTCUSDT"}  # ETHUSDT withheld from it from now on
