"""The synthetic BTCUSDT dataset of the benchmark, built once and cached in bench/.cache/.

100 trades/s in 1 s batches, written through TradeStore.write_batches (the real key and
value format, span and count bookkeeping). Prices follow a random walk on a 0.01 tick
with fat-tailed steps; quantities are log-normal in 0.00001 lots, printed with 8
decimals as Binance does.
"""

from __future__ import annotations

import gc
import shutil
import statistics
import time
from decimal import Decimal
from pathlib import Path

import numpy as np

from tradestore import AggTrade, TradeStore

SYMBOL = "BTCUSDT"
RATE = 100  # trades per second
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
FIRST_ID = 3_800_000_000
CACHE = Path(__file__).parent / ".cache"
VERSION = 4  # bump when the generator or the store options change: no stale caches


def dataset_path(hours: float) -> Path:
    return CACHE / f"btcusdt-{hours:g}h-{RATE}tps-v{VERSION}"


def ensure_dataset(hours: float, *, log=print) -> Path:
    """The path of the cached store for ``hours`` of data, building it when missing."""
    path = dataset_path(hours)
    done = path / "BUILT"
    if done.is_file():
        return path
    if path.exists():
        shutil.rmtree(path)
    log(f"building {hours:g} h of synthetic {SYMBOL} at {RATE} trades/s in {path} ...")
    began = time.perf_counter()
    seconds = int(hours * 3600)
    rng = np.random.default_rng(20260101)
    with TradeStore(path) as store:
        price = 9_000_000  # cents: 90,000.00 USDT
        agg_id = FIRST_ID
        chunk = 600
        for chunk_start in range(0, seconds, chunk):
            n_sec = min(chunk, seconds - chunk_start)
            n = n_sec * RATE
            steps = np.rint(rng.standard_t(3, n) * 25.0).astype(np.int64)
            steps[rng.random(n) < 0.6] = 0  # most aggTrades print at the last price
            prices = price + np.cumsum(steps)
            np.maximum(prices, 100, out=prices)
            price = int(prices[-1])
            lots = np.maximum(np.rint(rng.lognormal(4.5, 1.6, n)), 1).astype(np.int64)
            sides = rng.random(n) < 0.5
            offsets = np.sort(rng.integers(0, 1000, (n_sec, RATE)), axis=1).ravel()
            for s in range(n_sec):
                base_ms = START_MS + (chunk_start + s) * 1000
                batch = []
                for j in range(s * RATE, (s + 1) * RATE):
                    cents = int(prices[j])
                    batch.append(
                        AggTrade(
                            agg_id=agg_id,
                            price=Decimal(f"{cents // 100}.{cents % 100:02d}000000"),
                            qty=Decimal(f"{int(lots[j]) // 100000}.{int(lots[j]) % 100000:05d}000"),
                            time_ms=base_ms + int(offsets[j]),
                            is_buyer_maker=bool(sides[j]),
                        )
                    )
                    agg_id += 1
                store.write_batches({SYMBOL: batch})
            if chunk_start and chunk_start % 7200 == 0:
                log(f"  {chunk_start / 3600:.0f} h written ({time.perf_counter() - began:.0f} s)")
        store.db.flush()
        store.db.compact_range(None, None)
    done.write_text(f"{seconds * RATE}\n")
    log(f"built in {time.perf_counter() - began:.0f} s")
    return path


def window(hours: float) -> tuple[int, int]:
    """The inclusive [start, end] ms of the first ``hours`` of the dataset."""
    return START_MS, START_MS + int(hours * 3_600_000) - 1


def timed(fn, repeat: int) -> tuple[float, float]:
    """(median, best) wall time of fn() over repeat runs, after one warm-up run."""
    fn()
    times = []
    for _ in range(repeat):
        gc.collect()
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times), min(times)
