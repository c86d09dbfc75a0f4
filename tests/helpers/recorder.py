"""A tiny scripted aggTrade WebSocket server for the recorder tests (loopback, port 0)."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from functools import partial

import trio
import trio_websocket

from tradestore import TradeStore
from tradestore._codec import decode_batch
from tradestore.store._keys import MAX_MS
from tradestore.store._verify import verify

# Recent trade times, so the recorder's retention pruning never touches test data.
BASE_MS = (int(time.time()) // 3600 - 1) * 3_600_000


def agg_event(symbol: str, agg_id: int, time_ms: int | None = None, **overrides) -> dict:
    time_ms = BASE_MS + agg_id if time_ms is None else time_ms
    event = {
        "e": "aggTrade",
        "E": time_ms + 1,
        "s": symbol,
        "a": agg_id,
        "p": f"{100 + agg_id % 50}.{agg_id % 100:02d}",
        "q": f"0.{agg_id % 997 + 1:03d}",
        "f": agg_id * 2,
        "l": agg_id * 2 + 1,
        "T": time_ms,
        "m": agg_id % 3 == 0,
        "M": True,
    }
    event.update(overrides)
    return event


def combined(event: dict, stream: str | None = None) -> str:
    stream = stream or f"{str(event.get('s', 'x')).lower()}@aggTrade"
    return json.dumps({"stream": stream, "data": event})


Handler = Callable[[trio_websocket.WebSocketConnection, int], Awaitable[None]]


class MiniExchange:
    """Runs ``handler(ws, index)`` for each accepted connection; records what happened."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.accepted: list[tuple[float, str]] = []  # (trio time, path) per connection
        self.url = ""

    async def start(self, nursery: trio.Nursery) -> MiniExchange:
        server = await nursery.start(
            partial(trio_websocket.serve_websocket, self._handle, "127.0.0.1", 0, ssl_context=None)
        )
        self.url = f"ws://127.0.0.1:{server.port}"
        return self

    async def _handle(self, request: trio_websocket.WebSocketRequest) -> None:
        index = len(self.accepted)
        self.accepted.append((trio.current_time(), request.path))
        ws = await request.accept()
        try:
            await self.handler(ws, index)
        except trio_websocket.ConnectionClosed:
            pass


def stored_ids(db, symbol: str) -> list[int]:
    """Every stored agg id of symbol (in query order) read through a secondary instance."""
    with TradeStore(db, read_only=True) as store:
        ids = [t.agg_id for t in store.query_trades(symbol, 0, MAX_MS)]
        # query_trades de-duplicates; the raw count proves nothing was stored twice.
        raw = sum(len(decode_batch(v, k)) for k, v in store.iter_values(symbol, 0, MAX_MS))
    assert raw == len(ids), f"{symbol}: {raw} stored rows for {len(ids)} distinct ids"
    return ids


async def wait_for(predicate: Callable[[], bool], *, step: float = 0.01) -> None:
    """Poll until predicate() holds (callers bound it with fail_after)."""
    while not predicate():  # noqa: ASYNC110 - polls counters no event exposes
        await trio.sleep(step)


# ---------------------------------------------------------------- daemon processes


def daemon_env() -> dict[str, str]:
    """The environment of a daemon subprocess: unbuffered, no stray TRADESTORE_* settings."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return {
        k: v
        for k, v in env.items()
        if not k.startswith("TRADESTORE_") or k == "TRADESTORE_NO_EXTENSIONS"
    }


async def start_daemon(argv: list[str], log_path) -> trio.Process:
    """``python -m tradestore run ARGV`` with stdout and stderr appended to log_path."""
    with open(log_path, "ab") as log:  # noqa: ASYNC230 - a local file, opened once
        return await trio.lowlevel.open_process(
            [sys.executable, "-m", "tradestore", "run", *argv],
            stdout=log,
            stderr=log,
            env=daemon_env(),
        )


async def stop_daemon(proc: trio.Process, log_path, sig: int = signal.SIGTERM) -> int:
    """Send sig and wait for the exit status (a SIGTERM must end with 0)."""
    proc.send_signal(sig)
    with trio.fail_after(30):
        rc = await proc.wait()
    if sig == signal.SIGTERM:
        assert rc == 0, log_path.read_text()
    return rc


async def kill_daemon(proc: trio.Process) -> None:
    if proc.returncode is None:
        proc.kill()
        with trio.CancelScope(shield=True):
            await proc.wait()


async def wait_for_log(log_path, pattern: str, *, after: int = 0) -> re.Match:
    """The first match of the regex pattern in the log (from byte offset ``after``)."""
    while True:
        text = log_path.read_text(errors="replace")[after:] if log_path.exists() else ""
        match = re.search(pattern, text)
        if match:
            return match
        await trio.sleep(0.05)


def caught_up(db, fx, symbols) -> bool:
    """Every id the fake exchange generated is stored, without a hole (via a secondary)."""
    if not (db / "CURRENT").exists():
        return False
    with TradeStore(db, read_only=True) as store:
        for symbol in symbols:
            report = verify(store, symbol)
            if not report.ok or report.last_id != fx.log.generated_ids(symbol)[-1]:
                return False
    return True


def stored_count(db) -> int:
    """Trades stored in db (all symbols), read through a secondary instance."""
    if not (db / "CURRENT").exists():
        return 0
    with TradeStore(db, read_only=True) as store:
        return sum(s["trades"] for s in store.stats()["symbols"].values())
