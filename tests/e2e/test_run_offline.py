"""A recorder that cannot reach the exchange says why, points to ``demo``, and keeps saying
it once a minute (sped up here) while no connection is up. Real sockets on 127.0.0.1."""

from __future__ import annotations

import logging
import socket
from functools import partial

import pytest
import trio

from tests.helpers import wait_for
from tradestore.cli import _run
from tradestore.recorder import RecorderConfig
from tradestore.recorder import run as run_recorder


def config(tmp_path, endpoint: str) -> RecorderConfig:
    return RecorderConfig(
        symbols="BTCUSDT",
        db=str(tmp_path / "db"),
        endpoint=endpoint,
        backfill=False,
        retention_days=0,
        backoff_initial=0.05,
        backoff_max=0.2,
    )


async def record_offline(cfg: RecorderConfig, caplog, expect: list[str], every: float) -> list[str]:
    """Run the recorder and the CLI's offline watcher until each of ``expect`` was logged."""
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            recorder = await nursery.start(run_recorder, cfg)
            nursery.start_soon(lambda: _run.watch_offline(recorder, cfg.endpoint, every=every))
            await wait_for(
                lambda: all(any(e in r.getMessage() for r in caplog.records) for e in expect)
            )
            nursery.cancel_scope.cancel()
    return [r.getMessage() for r in caplog.records if r.name == "tradestore.cli.run"]


async def test_refused_connection_is_named_with_a_hint_then_a_status_line(
    tmp_path, caplog, monkeypatch
):
    monkeypatch.setattr(_run, "OFFLINE_POLL_S", 0.02)
    caplog.set_level(logging.INFO, logger="tradestore")
    with socket.socket() as held:  # bound, never listening: connections are refused
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        lines = await record_offline(
            config(tmp_path, f"ws://127.0.0.1:{port}"),
            caplog,
            ["`tradestore-trio demo`", "still no connection"],
            every=0.3,
        )
    first = lines[0]
    assert first.startswith(f"no connection to the exchange: connect to ws://127.0.0.1:{port}/")
    assert f"127.0.0.1:{port} refused the connection" in first
    assert "`tradestore-trio demo` shows the whole tool working offline" in first
    status = [line for line in lines if line.startswith("still no connection")]
    assert status[0].startswith(f"still no connection to ws://127.0.0.1:{port} after ")
    assert "refused the connection" in status[0]
    assert sum("tradestore-trio demo" in line for line in lines) == 1  # the hint comes once


@pytest.fixture
async def geo_blocked():
    """An HTTP server answering every WebSocket handshake as Binance does from the US."""

    async def answer(stream: trio.SocketStream) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = await stream.receive_some(4096)
            if not chunk:
                return
            request += chunk
        body = b'{"code":0,"msg":"Service unavailable from a restricted location."}'
        await stream.send_all(
            b"HTTP/1.1 451 Unavailable For Legal Reasons\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
        )
        await stream.aclose()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, answer, 0, host="127.0.0.1"))
        yield listeners[0].socket.getsockname()[1]
        nursery.cancel_scope.cancel()


async def test_a_geo_block_is_named(tmp_path, caplog, monkeypatch, geo_blocked):
    monkeypatch.setattr(_run, "OFFLINE_POLL_S", 0.02)
    caplog.set_level(logging.INFO, logger="tradestore")
    lines = await record_offline(
        config(tmp_path, f"ws://127.0.0.1:{geo_blocked}"),
        caplog,
        ["tradestore-trio demo"],
        every=60,
    )
    assert "answered HTTP 451 (Unavailable For Legal Reasons)" in lines[0]
    assert "geo-blocked" in lines[0]
