"""Ingest benchmark: fake exchange in another process -> recorder -> stored trades/s,
beside a bare trio-websocket receive loop against the same kind of feed, in one run;
plus the recorder's resident memory with 2 and 200 symbols.

    python bench/bench_ingest.py                 # ~1-2 minutes
    python bench/bench_ingest.py --trades 50000  # per symbol, for a quicker look

The fake exchange is started fresh (as ``tradestore-trio fake-exchange``) for each
measurement with a rate far above what either consumer can take, so it emits as fast as
it can and the consumer is the bottleneck. Figures go to bench/results-ingest.json.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import trio
import trio_websocket

from tradestore import EXTENSIONS_LOADED
from tradestore.recorder import RecorderConfig, run

RESULTS = Path(__file__).parent / "results-ingest.json"


@contextmanager
def fake_exchange(symbols: list[str], rate: float, max_trades: int | None):
    """``tradestore-trio fake-exchange`` in a child process; yields its ws:// URL."""
    argv = [
        sys.executable,
        "-m",
        "tradestore",
        "fake-exchange",
        "--port",
        "0",
        "--symbols",
        ",".join(symbols),
        "--rate",
        str(rate),
    ]
    if max_trades is not None:
        argv += ["--max-trades", str(max_trades)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline().strip()
        if not line.startswith("listening on "):
            raise RuntimeError(f"fake exchange did not start: {line!r}")
        yield line.removeprefix("listening on ")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def flood_exchange(symbols: list[str], per_symbol: int):
    """A minimal aggTrade producer in a child process that sends pre-encoded frames as
    fast as TCP lets it, so the consumer, not the producer, sets the pace."""
    argv = [sys.executable, __file__, "_flood", ",".join(symbols), str(per_symbol)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        if not line.startswith("listening on "):
            raise RuntimeError(f"flood producer did not start: {line!r}")
        yield line.removeprefix("listening on ")
    finally:
        proc.terminate()
        proc.wait(10)


def serve_flood(symbols: list[str], per_symbol: int) -> None:
    """The child process of flood_exchange. wsproto does the opening handshake; then the
    frames (server frames are unmasked) are pre-encoded and written in 256 KiB chunks, so
    the producer runs many times faster than any Python consumer and TCP sets the pace."""
    import wsproto
    from wsproto.events import AcceptConnection, Request

    base_ms = int(time.time() * 1000) - 3_600_000
    template = (
        '{{"stream":"{stream}","data":{{"e":"aggTrade","E":{t},"s":"{sym}","a":{a},'
        '"p":"{p}","q":"{q}","f":{a},"l":{a},"T":{t},"m":{m},"M":true}}}}'
    )
    chunks, chunk = [], bytearray()
    for i in range(per_symbol):
        for k, sym in enumerate(symbols):
            payload = template.format(
                stream=f"{sym.lower()}@aggTrade",
                sym=sym,
                a=1_000_000 + i,
                t=base_ms + i // 50,
                p=f"{60000 + k * 1000 + (i * 7919) % 500}.{i % 100:02d}",
                q=f"0.{(i * 104729) % 100000:05d}",
                m="true" if i % 3 else "false",
            ).encode()
            n = len(payload)
            header = b"\x81" + (bytes([n]) if n < 126 else b"\x7e" + n.to_bytes(2, "big"))
            chunk += header + payload
            if len(chunk) >= 256 * 1024:
                chunks.append(bytes(chunk))
                chunk = bytearray()
    chunks.append(bytes(chunk))

    async def handler(stream: trio.SocketStream) -> None:
        ws = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
        while True:
            data = await stream.receive_some(65536)
            if not data:
                return
            ws.receive_data(data)
            if any(isinstance(e, Request) for e in ws.events()):
                break
        await stream.send_all(ws.send(AcceptConnection()))
        try:
            for block in chunks:
                await stream.send_all(block)
            await stream.receive_some(1)  # then idle until the client goes
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    async def main() -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port = listeners[0].socket.getsockname()[1]
        print(f"listening on ws://127.0.0.1:{port}", flush=True)
        await trio.serve_listeners(handler, listeners)

    trio.run(main)


def stream_url(base: str, symbols: list[str]) -> str:
    return f"{base}/stream?streams=" + "/".join(f"{s.lower()}@aggTrade" for s in symbols)


# ---------------------------------------------------------------- throughput


async def bare_loop(url: str, total: int) -> dict:
    """The floor: receive frames and count them, nothing else (stock trio-websocket)."""
    n = 0
    first = None
    async with trio_websocket.open_websocket_url(url, message_queue_size=64) as ws:
        while n < total:
            await ws.get_message()
            if first is None:
                first = time.perf_counter()
            n += 1
    elapsed = time.perf_counter() - first
    return {"frames": n, "seconds": elapsed, "per_s": (n - 1) / elapsed}


async def batched_loop(url: str, total: int) -> dict:
    """The recorder's own WebSocket client (recorder/_wsconn.py: every message of one
    socket read handed over at once), receiving and counting only: the floor of the
    recorder's reader."""
    from tradestore.recorder._stream import Target

    n = 0
    first = None
    target = Target.from_url(url)
    async with await target.open_stream() as stream:
        ws = await target.handshake(stream)
        while n < total:
            n += len(await ws.receive_batch())
            if first is None:
                first = time.perf_counter()
    elapsed = time.perf_counter() - first
    return {"frames": n, "seconds": elapsed, "per_s": (n - 1) / elapsed}


async def recorder_run(
    url: str, symbols: list[str], per_symbol: int, db: Path, *, rollups: bool = True
) -> dict:
    """The recorder with its defaults, fed a burst of per_symbol trades per symbol
    (``rollups`` False: its store keeps no price-level rollups, to price them).

    ``received_per_s`` is the intake rate (parsed, checked, buffered); ``stored_per_s``
    the sustained rate into RocksDB: trades stored by the last flush that completed while
    frames were still arriving, over that flush's time. The burst's tail (up to one 1 s
    flush interval after the last frame) is reported separately, since it is an artefact
    of a finite burst, not of throughput.
    """
    config = RecorderConfig(symbols=tuple(symbols), endpoint=url, db=str(db), retention_days=0)
    total = per_symbol * len(symbols)
    with _store_rollups(rollups):
        return await _recorder_run(config, total)


@contextmanager
def _store_rollups(keep: bool) -> Iterator[None]:
    """The recorder's store with (the default) or without its rollups, for this run."""
    from tradestore import TradeStore
    from tradestore.recorder import _daemon

    saved = _daemon.TradeStore
    if not keep:
        _daemon.TradeStore = functools.partial(TradeStore, rollups=False)  # type: ignore[misc]
    try:
        yield
    finally:
        _daemon.TradeStore = saved  # type: ignore[misc]


async def _recorder_run(config: RecorderConfig, total: int) -> dict:
    async with trio.open_nursery() as nursery:
        recorder = await nursery.start(run, config)
        first = received_at = None
        stored_points: list[tuple[float, int]] = []
        while True:
            stats = recorder.statistics()
            now = time.perf_counter()
            if first is None and stats.frames:
                first = now
            received = sum(s.received for s in stats.symbols.values())
            stored = sum(s.stored for s in stats.symbols.values())
            if stored and (not stored_points or stored != stored_points[-1][1]):
                stored_points.append((now, stored))
            if received_at is None and received >= total:
                received_at = now
            if stored >= total:
                break
            await trio.sleep(0.002)
        done = time.perf_counter()
        final = recorder.statistics()
        nursery.cancel_scope.cancel()
    during = [(t, n) for t, n in stored_points if t <= received_at] or stored_points[:1]
    t_sustained, n_sustained = during[-1]
    return {
        "trades": total,
        "seconds_to_receive": received_at - first,
        "seconds_to_store_all": done - first,
        "received_per_s": total / (received_at - first),
        "stored_per_s": n_sustained / (t_sustained - first),
        "stored_by_last_flush_during_intake": n_sustained,
        "flushes": final.flush.flushes,
        "early_flushes": final.flush.early,
        "max_flush_latency_s": final.flush.max_latency,
        "reconnects": sum(c.reconnects for c in final.connections),
        "drops": dict(final.drops),
    }


# ---------------------------------------------------------------- memory


def recorder_rss(n_symbols: int, rate: float, seconds: float) -> dict:
    """Peak RSS of a ``tradestore-trio run`` process recording n_symbols at rate each."""
    symbols = (
        [f"S{i:03d}USDT" for i in range(n_symbols)] if n_symbols > 2 else ["BTCUSDT", "ETHUSDT"]
    )
    with fake_exchange(symbols, rate, None) as url, tempfile.TemporaryDirectory() as tmp:
        argv = [
            sys.executable,
            "-m",
            "tradestore",
            "run",
            "--db",
            str(Path(tmp) / "db"),
            "--endpoint",
            url,
            "--symbols",
            ",".join(symbols),
            "--retention-days",
            "0",
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRADESTORE_")}
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        try:
            ps = psutil.Process(proc.pid)
            peak = 0
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                peak = max(peak, ps.memory_info().rss)
                time.sleep(0.25)
            last = ps.memory_info().rss
        finally:
            proc.terminate()
            code = proc.wait(30)
        stored = _stored(Path(tmp) / "db")
    return {
        "stored_trades": stored["trades"],
        "symbols_with_trades": stored["symbols"],
        "symbols": n_symbols,
        "rate_per_symbol": rate,
        "seconds": seconds,
        "peak_rss_mb": peak / 2**20,
        "final_rss_mb": last / 2**20,
        "exit_code": code,
    }


def _stored(db: Path) -> dict:
    from tradestore import TradeStore

    if not (db / "CURRENT").exists():
        return {"trades": 0, "symbols": 0}
    with TradeStore(db, read_only=True) as store:
        per_symbol = store.stats()["symbols"]
    return {"trades": sum(v["trades"] for v in per_symbol.values()), "symbols": len(per_symbol)}


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_flood"]:
        serve_flood(argv[1].split(","), int(argv[2]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--trades", type=int, default=100_000, help="per symbol, flood run (default 100k)"
    )
    parser.add_argument(
        "--fake-rate",
        type=float,
        default=1500.0,
        help="trades/s per symbol from the fake exchange (default 1500, near its ceiling)",
    )
    parser.add_argument("--fake-seconds", type=float, default=8.0)
    parser.add_argument("--repeat", type=int, default=3, help="flood runs of each (best kept)")
    parser.add_argument("--rss-seconds", type=float, default=15.0)
    args = parser.parse_args(argv)
    symbols = ["BTCUSDT", "ETHUSDT"]

    # 1. Against the fake exchange (its per-connection send queue caps its rate).
    fake_n = int(args.fake_rate * args.fake_seconds)
    with fake_exchange(symbols, args.fake_rate, fake_n) as url:
        fake_bare = trio.run(bare_loop, stream_url(url, symbols), fake_n * len(symbols))
    with (
        fake_exchange(symbols, args.fake_rate, fake_n) as url,
        tempfile.TemporaryDirectory() as tmp,
    ):
        fake_rec = trio.run(recorder_run, url, symbols, fake_n, Path(tmp) / "db")
    # 2. Capacity: a producer that sends as fast as the consumer reads.
    # Alternating runs, best of each: the machine is shared, so load comes and goes.
    total = args.trades * len(symbols)
    bares, batcheds, recs, plains = [], [], [], []
    for _ in range(args.repeat):
        with flood_exchange(symbols, args.trades) as url:
            bares.append(trio.run(bare_loop, stream_url(url, symbols), total))
        with flood_exchange(symbols, args.trades) as url:
            batcheds.append(trio.run(batched_loop, stream_url(url, symbols), total))
        with flood_exchange(symbols, args.trades) as url, tempfile.TemporaryDirectory() as tmp:
            recs.append(trio.run(recorder_run, url, symbols, args.trades, Path(tmp) / "db"))
        with flood_exchange(symbols, args.trades) as url, tempfile.TemporaryDirectory() as tmp:
            run_plain = functools.partial(recorder_run, rollups=False)
            plains.append(trio.run(run_plain, url, symbols, args.trades, Path(tmp) / "db"))
    bare = max(bares, key=lambda r: r["per_s"])
    batched = max(batcheds, key=lambda r: r["per_s"])
    rec = max(recs, key=lambda r: r["stored_per_s"])
    plain = max(plains, key=lambda r: r["stored_per_s"])
    # 3. Memory.
    rss_2 = recorder_rss(2, 50.0, args.rss_seconds)
    rss_200 = recorder_rss(200, 5.0, args.rss_seconds)

    fake_ratio = fake_rec["stored_per_s"] / fake_bare["per_s"]
    ratio = rec["stored_per_s"] / bare["per_s"]
    rows = [
        (
            f"fake exchange at {args.fake_rate * 2:,.0f}/s: bare loop",
            f"{fake_bare['per_s']:,.0f} frames/s",
            "",
            "",
        ),
        (
            "fake exchange: recorder stored",
            f"{fake_rec['stored_per_s']:,.0f} trades/s",
            f"{fake_ratio:.2f}x bare",
            "ok" if fake_ratio >= 0.9 else "MISSED (target >= 0.9x)",
        ),
        ("flood producer: bare trio-websocket loop", f"{bare['per_s']:,.0f} frames/s", "", ""),
        (
            "flood producer: bare loop, recorder's client",
            f"{batched['per_s']:,.0f} frames/s",
            f"{batched['per_s'] / bare['per_s']:.2f}x bare",
            "",
        ),
        (
            "flood producer: recorder received",
            f"{rec['received_per_s']:,.0f} trades/s",
            f"{rec['received_per_s'] / bare['per_s']:.2f}x bare",
            "",
        ),
        (
            "flood producer: recorder stored",
            f"{rec['stored_per_s']:,.0f} trades/s",
            f"{ratio:.2f}x bare, {rec['stored_per_s'] / batched['per_s']:.2f}x batched",
            "ok" if ratio >= 0.9 else "MISSED (target >= 0.9x)",
        ),
        (
            "flood producer: recorder stored, no rollups",
            f"{plain['stored_per_s']:,.0f} trades/s",
            f"rollups cost {1 - rec['stored_per_s'] / plain['stored_per_s']:.1%}",
            "ok"
            if rec["stored_per_s"] >= 0.9 * plain["stored_per_s"]
            else "MISSED (target <= 10%)",
        ),
        (
            "recorder RSS, 2 symbols",
            f"{rss_2['peak_rss_mb']:.1f} MB peak",
            f"{rss_2['stored_trades']:,} trades stored",
            "",
        ),
        (
            "recorder RSS, 200 symbols",
            f"{rss_200['peak_rss_mb']:.1f} MB peak",
            f"{rss_200['stored_trades']:,} trades stored, {rss_200['symbols_with_trades']} symbols",
            "ok" if rss_200["peak_rss_mb"] <= 150 else "MISSED (target <= 150 MB)",
        ),
    ]
    _print_table(rows, total)
    results = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "extensions_loaded": EXTENSIONS_LOADED,
        "fake_exchange": {
            "rate_per_symbol": args.fake_rate,
            "trades": fake_n * len(symbols),
            "bare_loop": fake_bare,
            "recorder": fake_rec,
            "ratio_stored_vs_bare": fake_ratio,
        },
        "flood": {
            "trades": total,
            "bare_loop_runs_per_s": [r["per_s"] for r in bares],
            "batched_loop_runs_per_s": [r["per_s"] for r in batcheds],
            "batched_loop": batched,
            "recorder_runs_stored_per_s": [r["stored_per_s"] for r in recs],
            "bare_loop": bare,
            "recorder": rec,
            "ratio_stored_vs_bare": ratio,
            "recorder_without_rollups_runs_stored_per_s": [r["stored_per_s"] for r in plains],
            "recorder_without_rollups": plain,
            "rollup_cost": 1 - rec["stored_per_s"] / plain["stored_per_s"],
        },
        "rss_2_symbols": rss_2,
        "rss_200_symbols": rss_200,
    }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"figures written to {RESULTS}")
    return 0


def _print_table(rows, total: int) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"ingest: producers in another process ({total:,} trades in the flood run)")
    for name in ("figure", "value", "compared", "target"):
        table.add_column(name)
    for row in rows:
        table.add_row(*row)
    Console().print(table)


if __name__ == "__main__":
    sys.exit(main())
