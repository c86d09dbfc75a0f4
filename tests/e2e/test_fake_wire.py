"""The fake exchange's own HTTP/WebSocket layer (tradestore.fake._wire) on 127.0.0.1, read
with a bare wsproto or h11 client so that every byte on the wire is the test's to check:
RFC 6455's handshake, fragments, ping/pong and closing handshake, the cut without a close
frame, HTTP keep-alive and rejections; then the exchange's faults that ride on it."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import h11
import trio
import trio.testing
from wsproto import ConnectionType, WSConnection, events

from tests.helpers.trades import T0
from tradestore._addr import bind_listener
from tradestore.fake import FakeExchangeConfig, _wire, open_fake_exchange
from tradestore.fake._wire import Response, WebSocket, serve_listener

# ---------------------------------------------------------------------------- clients


class Client:
    """A WebSocket client made of wsproto and a Trio stream, nothing else."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.eof = False

    async def handshake(self, target: str) -> events.Event:
        """AcceptConnection, or RejectConnection with the body in ``self.rejected_body``."""
        await self.stream.send_all(self.ws.send(events.Request(host="127.0.0.1", target=target)))
        event = await self.next()
        self.rejected_body = b""
        if isinstance(event, events.RejectConnection) and event.has_body:
            while True:
                data = await self.next()
                assert isinstance(data, events.RejectData)
                self.rejected_body += data.data
                if data.body_finished:
                    break
        return event

    async def next(self) -> events.Event | None:
        """The next event; None at EOF (the server closed TCP)."""
        while True:
            for event in self.ws.events():
                return event
            if self.eof:
                return None
            data = await self.stream.receive_some(65536)
            if not data:
                self.eof = True
                continue
            self.ws.receive_data(data)

    async def send(self, event: events.Event) -> None:
        await self.stream.send_all(self.ws.send(event))


@asynccontextmanager
async def connect(port: int, target: str, **sockopts: int) -> AsyncIterator[Client]:
    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    for name, value in sockopts.items():
        sock.setsockopt(socket.SOL_SOCKET, getattr(socket, name), value)
    await sock.connect(("127.0.0.1", port))
    async with trio.SocketStream(sock) as stream:
        client = Client(stream)
        event = await client.handshake(target)
        assert isinstance(event, events.AcceptConnection), event
        yield client


@asynccontextmanager
async def serving(session, respond=None) -> AsyncIterator[int]:
    """``serve_listener`` on a free port of 127.0.0.1 with ``session`` for /ws; the port."""

    def answer(method: str, target: str) -> Response:
        return Response(200, [("x-target", target)], f"{method} {target}".encode())

    def upgrade(target: str):
        if target.startswith("/ws"):
            return session
        return Response(404, [("content-type", "text/plain")], b"no socket here")

    with bind_listener("127.0.0.1", 0) as sock:
        async with trio.open_nursery() as nursery:
            await nursery.start(partial(serve_listener, sock, respond or answer, upgrade))
            yield sock.getsockname()[1]
            nursery.cancel_scope.cancel()


async def messages(client: Client) -> list[object]:
    """Every event until the server ends the connection."""
    seen = []
    while (event := await client.next()) is not None:
        seen.append(event)
    return seen


# ---------------------------------------------------------------------------- RFC 6455


async def test_frames_both_ways_fragments_and_one_write_per_batch():
    received: list[object] = []
    done = trio.Event()

    async def session(ws: WebSocket) -> None:
        while (message := await ws.receive()) is not None:
            received.append(message)
            if len(received) == 2:
                assert await ws.send_frames(["one", b"\x00two", "three"])
        done.set()

    async with serving(session) as port, connect(port, "/ws") as client:
        # A text message in three fragments, then a binary one in two.
        await client.send(events.TextMessage(data="he", message_finished=False))
        await client.send(events.TextMessage(data="ll", message_finished=False))
        await client.send(events.TextMessage(data="o", message_finished=True))
        await client.send(events.BytesMessage(data=b"\x01", message_finished=False))
        await client.send(events.BytesMessage(data=b"\x02", message_finished=True))
        got = [await client.next() for _ in range(3)]
        assert [(type(e).__name__, e.data) for e in got] == [
            ("TextMessage", "one"),
            ("BytesMessage", b"\x00two"),
            ("TextMessage", "three"),
        ]
        await client.send(events.CloseConnection(code=1000))
        await done.wait()
    assert received == ["hello", b"\x01\x02"]


async def test_pings_are_answered_and_pongs_reported():
    pongs: list[_wire.Pong] = []

    async def session(ws: WebSocket) -> None:
        assert await ws.ping(b"42")
        while (message := await ws.receive()) is not None:
            if isinstance(message, _wire.Pong):
                pongs.append(message)

    async with serving(session) as port, connect(port, "/ws") as client:
        ping = await client.next()
        assert isinstance(ping, events.Ping) and ping.payload == b"42"
        await client.send(ping.response())
        await client.send(events.Ping(payload=b"client"))
        pong = await client.next()
        assert isinstance(pong, events.Pong) and pong.payload == b"client"
        await client.send(events.Pong(payload=b"unsolicited"))
        await client.send(events.CloseConnection(code=1000))
        close = await client.next()
        assert isinstance(close, events.CloseConnection) and close.code == 1000
        assert await client.next() is None  # then the server closes TCP
    assert [p.payload for p in pongs] == [b"42", b"unsolicited"]


async def test_a_client_close_is_answered_with_its_code_then_tcp_closes():
    ended = trio.Event()

    async def session(ws: WebSocket) -> None:
        assert await ws.receive() is None
        assert ws.closed
        assert not await ws.send_frames(["late"])
        ended.set()

    async with serving(session) as port, connect(port, "/ws") as client:
        await client.send(events.CloseConnection(code=4000, reason="bye"))
        close = await client.next()
        assert isinstance(close, events.CloseConnection) and close.code == 4000
        assert await client.next() is None
        await ended.wait()


async def test_server_close_sends_the_code_waits_for_the_answer_then_closes_tcp():
    async def session(ws: WebSocket) -> None:
        await ws.send_frames(["last"])
        await ws.close(1001)

    async with serving(session) as port, connect(port, "/ws") as client:
        last = await client.next()
        assert isinstance(last, events.TextMessage) and last.data == "last"
        close = await client.next()
        assert isinstance(close, events.CloseConnection) and close.code == 1001
        await client.send(close.response())
        assert await client.next() is None


async def test_abort_cuts_tcp_without_a_close_frame_after_every_byte_written():
    async def session(ws: WebSocket) -> None:
        assert await ws.send_frames([f"frame {i}" for i in range(100)])
        await ws.abort()
        assert ws.closed and not await ws.send_frames(["after"])

    async with serving(session) as port, connect(port, "/ws") as client:
        seen = await messages(client)
    assert [e.data for e in seen] == [f"frame {i}" for i in range(100)]  # no close frame


async def test_abort_wakes_a_write_blocked_by_a_client_that_does_not_read():
    blocked = trio.Event()
    woken = trio.Event()
    outcome: list[bool] = []

    async def session(ws: WebSocket) -> None:
        async with trio.open_nursery() as nursery:

            async def write_forever() -> None:
                while True:
                    blocked.set()  # at least one write went out; the next ones fill up
                    with trio.CancelScope(shield=True):  # as the exchange's sender is
                        sent = await ws.send_frames(["x" * 60_000] * 16)
                    if not sent:
                        outcome.append(sent)
                        woken.set()
                        return

            nursery.start_soon(write_forever)
            await blocked.wait()
            # Wait until the writer is stuck in the kernel's full buffer.
            await trio.testing.wait_all_tasks_blocked(cushion=0.05)
            await ws.abort()

    async with serving(session) as port, connect(port, "/ws", SO_RCVBUF=4096):
        with trio.fail_after(30):
            await woken.wait()
    assert outcome == [False]


async def test_an_oversized_message_is_refused_with_1009(monkeypatch):
    monkeypatch.setattr(_wire, "MAX_MESSAGE_BYTES", 1000)

    async def session(ws: WebSocket) -> None:
        assert await ws.receive() is None

    async with serving(session) as port, connect(port, "/ws") as client:
        for _ in range(3):
            await client.send(events.TextMessage(data="y" * 400, message_finished=False))
        close = await client.next()
        assert isinstance(close, events.CloseConnection) and close.code == 1009
        assert await client.next() is None


async def test_a_frame_that_breaks_the_protocol_is_refused_with_1002():
    async def session(ws: WebSocket) -> None:
        assert await ws.receive() is None

    async with serving(session) as port, connect(port, "/ws") as client:
        # A client frame must be masked (RFC 6455 5.1): this one is not.
        await client.stream.send_all(b"\x81\x02hi")
        close = await client.next()
        assert isinstance(close, events.CloseConnection) and close.code == 1002
        assert await client.next() is None


# ---------------------------------------------------------------------------- HTTP


async def http_exchange(port: int, requests: list[h11.Request]) -> list[tuple[int, dict, bytes]]:
    """Send the requests one after the other on one connection (keep-alive)."""
    answers = []
    async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
        http = h11.Connection(h11.CLIENT)
        for request in requests:
            await stream.send_all(http.send(request) + http.send(h11.EndOfMessage()))
            status, headers, body = 0, {}, b""
            while True:
                event = http.next_event()
                if event is h11.NEED_DATA:
                    http.receive_data(await stream.receive_some(65536))
                elif isinstance(event, h11.Response):
                    status = event.status_code
                    headers = {k.decode(): v.decode() for k, v in event.headers}
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    break
            answers.append((status, headers, body))
            if http.their_state is h11.DONE:  # kept alive
                http.start_next_cycle()
    return answers


def get(target: str, method: str = "GET", **headers: str) -> h11.Request:
    return h11.Request(
        method=method, target=target, headers=[("host", "127.0.0.1"), *headers.items()]
    )


async def test_requests_are_answered_on_one_kept_alive_connection():
    async def never(ws: WebSocket) -> None:
        raise AssertionError("not a WebSocket")

    async with serving(never) as port:
        answers = await http_exchange(
            port,
            [get("/a?x=1"), get("/b", "HEAD"), get("/ws")],  # no Upgrade: plain HTTP
        )
    assert [(s, b) for s, _h, b in answers] == [(200, b"GET /a?x=1"), (200, b""), (200, b"GET /ws")]
    assert answers[0][1]["x-target"] == "/a?x=1"
    assert answers[1][1]["content-length"] == str(len(b"HEAD /b"))  # HEAD: length, no body


async def test_a_websocket_request_can_be_rejected_with_a_body():
    async with serving(None) as port:
        async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
            client = Client(stream)
            event = await client.handshake("/elsewhere")
    assert isinstance(event, events.RejectConnection) and event.status_code == 404
    assert client.rejected_body == b"no socket here"


async def test_a_malformed_handshake_gets_400_and_a_malformed_request_too():
    async with serving(None) as port:
        # An upgrade request without the WebSocket key and version.
        answers = await http_exchange(port, [get("/ws", connection="Upgrade", upgrade="websocket")])
        assert answers[0][0] == 400
        async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
            await stream.send_all(b"NOT HTTP AT ALL\r\n\r\n")
            reply = b""
            while chunk := await stream.receive_some(65536):
                reply += chunk
    assert reply.startswith(b"HTTP/1.1 400 ")


# ---------------------------------------------------------------------------- faults


def config(**overrides) -> FakeExchangeConfig:
    settings = {"symbols": ("BTCUSDT", "ETHUSDT"), "rate": 200.0, "start_time_ms": T0}
    settings.update(overrides)
    return FakeExchangeConfig(**settings)


async def test_too_many_messages_cut_the_connection_and_answers_to_pings_do_not_count():
    async with open_fake_exchange(config(ping_interval=0.01)) as fx:
        limit = fx.market.control_messages_per_second
        async with connect(fx.port, "/ws") as client:
            # Answer several server pings: solicited pongs are not messages.
            for _ in range(limit + 2):
                event = await client.next()
                while not isinstance(event, events.Ping):
                    event = await client.next()
                await client.send(event.response())
            assert fx.log.message_limit_drops == 0
            for i in range(limit + 1):
                request = {"method": "LIST_SUBSCRIPTIONS", "id": i}
                await client.send(events.TextMessage(data=json.dumps(request)))
            received = await messages(client)
        assert not any(
            isinstance(e, events.CloseConnection) for e in received
        )  # cut, no close frame
        assert fx.log.drops_by_reason == {"too_many_messages": 1}
        assert fx.log.message_limit_drops == 1


async def test_unsolicited_pongs_count_against_the_limit():
    async with open_fake_exchange(config()) as fx:
        limit = fx.market.control_messages_per_second
        async with connect(fx.port, "/ws") as client:
            for _ in range(limit + 1):
                await client.send(events.Pong(payload=b"heartbeat"))
            await messages(client)
        assert fx.log.drops_by_reason == {"too_many_messages": 1}
        assert fx.log.pongs_received == limit + 1


async def test_drop_one_every_cuts_the_oldest_connection_only(autojump_clock):
    # On the mock clock, over a Unix socket (tests/helpers/fake.py says why).
    from tests.helpers.fake import open_on_unix_socket

    async with open_on_unix_socket(config(drop_one_every=10.0, rate=1.0)) as fx:

        async def open_client(path: str) -> Client:
            sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            await sock.connect(fx.unix_path)
            client = Client(trio.SocketStream(sock))
            assert isinstance(await client.handshake(path), events.AcceptConnection)
            return client

        old = await open_client("/ws")
        await trio.sleep(1)
        young = await open_client("/ws")
        try:
            await fx.wait_until(lambda: fx.log.connections_dropped)
            assert await messages(old) == []  # cut: not even a close frame
            await fx.wait_until(lambda: fx.connections == 1)  # the young one stays
            assert fx.log.drops_by_reason == {"drop_one_every": 1}
        finally:
            await old.stream.aclose()
            await young.stream.aclose()


async def test_deflate_is_negotiated_only_when_the_client_offers_it():
    from wsproto.extensions import PerMessageDeflate

    async with open_fake_exchange(config(max_trades=5)) as fx:
        for symbol, offer in (("BTCUSDT", [PerMessageDeflate()]), ("ETHUSDT", [])):
            async with await trio.open_tcp_stream("127.0.0.1", fx.port) as stream:
                client = Client(stream)
                target = f"/ws/{symbol.lower()}@aggTrade"
                await stream.send_all(
                    client.ws.send(events.Request("127.0.0.1", target, extensions=offer))
                )
                accepted = await client.next()
                assert isinstance(accepted, events.AcceptConnection)
                assert [e.name for e in accepted.extensions] == [e.name for e in offer]
                frames = [await client.next() for _ in range(5)]
            assert [json.loads(f.data)["a"] for f in frames] == fx.log.sent_ids(symbol)
