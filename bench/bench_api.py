"""HTTP API benchmark: requests/s of a 1 h volume profile with 8 concurrent clients.

    python bench/bench_api.py                       # 2 h dataset, 8 clients, 10 s a row
    python bench/bench_api.py --seconds 5 --workers 2

``tradestore-trio serve`` runs in a child process over the benchmark's synthetic BTCUSDT
store (bench/_dataset.py, 100 trades/s: 360,000 trades in the hour); the clients are
Trio tasks with one shared httpx connection pool in this process, each asking for the
profile again as soon as its answer is in. Beside it, in the same run:

- the same profile computed in-process by ``volume_profile`` on as many threads as the
  server has workers: the ceiling the server's answers approach;
- the same question asked the way a script asks without the API, one
  ``tradestore-trio profile --format json`` process per question, 8 at a time.

Every answer is checked (status 200, 360,000 trades). A last line gives the server's own
cost per request (``/gaps``, which reads almost nothing). Figures go to
bench/results-api.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import trio

sys.path.insert(0, str(Path(__file__).parent))

import _dataset  # noqa: E402
from tradestore import EXTENSIONS_LOADED, TradeStore  # noqa: E402
from tradestore.analytics import volume_profile  # noqa: E402

RESULTS = Path(__file__).parent / "results-api.json"
HOUR_MS = 3_600_000


@contextmanager
def api_server(db: Path, workers: int):
    """``tradestore-trio serve`` on a free loopback port; yields its /api/v1 URL."""
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tradestore", "serve", "--db", str(db)]
            + ["--addr", "127.0.0.1:0", "--workers", str(workers)],
            stdout=log,
            stderr=log,
            env={k: v for k, v in os.environ.items() if not k.startswith("TRADESTORE_")},
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                log.seek(0)
                found = re.search(r"HTTP API on (http://127\.0\.0\.1:\d+/api/v1)/", log.read())
                if found:
                    break
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise SystemExit(f"serve did not start:\n{log.read()}")
                time.sleep(0.05)
            yield found.group(1)
        finally:
            proc.terminate()
            proc.wait(30)


def api_rate(
    url: str, path: str, params: dict, clients: int, seconds: float, expect: int | None
) -> dict:
    """Requests/s and latency percentiles of ``clients`` tasks asking for ``seconds``;
    ``expect``: the trade count every answer must have."""
    latencies: list[float] = []
    elapsed: list[float] = []

    async def main() -> None:
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as http:
            await http.get(path, params=params)  # warm-up: the store opens
            stop_at = trio.current_time() + seconds

            async def client() -> None:
                while trio.current_time() < stop_at:
                    began = time.perf_counter()
                    response = await http.get(path, params=params)
                    latencies.append(time.perf_counter() - began)
                    if response.status_code != 200:
                        raise SystemExit(f"HTTP {response.status_code}: {response.text}")
                    if expect is not None and response.json()["trade_count"] != expect:
                        raise SystemExit("a profile with the wrong trade count")

            began = time.perf_counter()
            async with trio.open_nursery() as nursery:
                for _ in range(clients):
                    nursery.start_soon(client)
            elapsed.append(time.perf_counter() - began)

    trio.run(main)
    return _rate(latencies, elapsed[0])


def _rate(latencies: list[float], elapsed: float) -> dict:
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "per_second": len(ordered) / elapsed,
        "p50_ms": 1000 * statistics.median(ordered),
        "p95_ms": 1000 * ordered[int(0.95 * (len(ordered) - 1))],
    }


def in_process_rate(db: Path, start: int, end: int, threads: int, seconds: float) -> dict:
    """volume_profile calls/s on ``threads`` threads sharing one read-only store."""
    latencies: list[float] = []
    with TradeStore(db, read_only=True) as store:
        volume_profile(store, _dataset.SYMBOL, start, end)
        stop_at = time.perf_counter() + seconds

        def loop() -> None:
            while time.perf_counter() < stop_at:
                began = time.perf_counter()
                volume_profile(store, _dataset.SYMBOL, start, end)
                latencies.append(time.perf_counter() - began)

        began = time.perf_counter()
        workers = [threading.Thread(target=loop) for _ in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        return _rate(latencies, time.perf_counter() - began)


def cli_rate(db: Path, start: int, end: int, clients: int, seconds: float) -> dict:
    """``tradestore-trio profile --format json`` processes/s, ``clients`` at a time."""
    argv = [sys.executable, "-m", "tradestore", "profile", "--db", str(db)]
    argv += ["--symbol", _dataset.SYMBOL, "--start", str(start), "--end", str(end)]
    argv += ["--format", "json"]
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds

    def loop() -> None:
        while time.perf_counter() < stop_at:
            began = time.perf_counter()
            done = subprocess.run(argv, capture_output=True, check=False)
            latencies.append(time.perf_counter() - began)
            if done.returncode != 0:
                raise SystemExit(done.stderr.decode())

    began = time.perf_counter()
    workers = [threading.Thread(target=loop) for _ in range(clients)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return _rate(latencies, time.perf_counter() - began)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hours", type=float, default=2.0, help="dataset size (default: 2)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default: 8)")
    parser.add_argument("--workers", type=int, default=2, help="server workers (default: 2)")
    parser.add_argument("--seconds", type=float, default=10.0, help="per row (default: 10)")
    parser.add_argument("--no-cli", action="store_true", help="skip the process-per-query row")
    args = parser.parse_args(argv)

    db = _dataset.ensure_dataset(args.hours)
    start = _dataset.START_MS
    end = start + HOUR_MS - 1
    with TradeStore(db, read_only=True) as store:
        expect = volume_profile(store, _dataset.SYMBOL, start, end).trade_count
    params = {"symbol": _dataset.SYMBOL, "start": start, "end": end}

    rows: dict[str, dict] = {}
    with api_server(db, args.workers) as url:
        rows[f"HTTP API, {args.clients} clients, {args.workers} workers"] = api_rate(
            url, "/profile", params, args.clients, args.seconds, expect
        )
        # The server's own cost per request: a question that reads almost nothing.
        light = api_rate(url, "/gaps", {"symbol": _dataset.SYMBOL}, args.clients, 3, None)
    rows[f"in-process volume_profile, {args.workers} threads (ceiling)"] = in_process_rate(
        db, start, end, args.workers, args.seconds
    )
    if not args.no_cli:
        rows[f"a CLI process per query, {args.clients} at a time"] = cli_rate(
            db, start, end, args.clients, args.seconds
        )

    api = next(iter(rows.values()))["per_second"]
    print(f"1 h volume profile ({expect:,} trades), {args.seconds:g} s per row")
    print(f"{'':58} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'API is':>10}")
    for name, row in rows.items():
        ratio = "" if row["per_second"] == api else f"{api / row['per_second']:.2f}x"
        print(
            f"{name:58} {row['per_second']:8.1f} {row['p50_ms']:8.1f} {row['p95_ms']:8.1f} "
            f"{ratio:>10}"
        )
    print(
        f"(the server alone: /gaps, which reads almost nothing, {light['per_second']:.0f} req/s "
        f"with {args.clients} clients, p50 {light['p50_ms']:.1f} ms)"
    )
    rows["HTTP API /gaps (server overhead)"] = light
    RESULTS.write_text(
        json.dumps(
            {
                "rows": rows,
                "trades_in_window": expect,
                "clients": args.clients,
                "workers": args.workers,
                "extensions": EXTENSIONS_LOADED,
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
