"""Stores of several symbols over several UTC days, the exact per-day figures of their
trades, and an S3-compatible server (moto, in its own process) for the archive tests."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from tradestore import AggTrade, TradeStore
from tradestore.archive import day_of, day_start_ms

DAY_MS = 86_400_000
FIRST_DAY = date(2026, 3, 1)


def day_trades(symbol: str, day: date, n: int, first_id: int, seed: int = 0) -> list[AggTrade]:
    """n trades spread over ``day`` with exact 8-decimal prices and quantities."""
    start = day_start_ms(day)
    out = []
    for i in range(n):
        k = first_id + i + seed
        out.append(
            AggTrade(
                agg_id=first_id + i,
                price=Decimal(f"{100 + k % 37}.{(k * 7919) % 10**8:08d}"),
                qty=Decimal(f"{k % 5}.{(k * 104729) % 10**8:08d}"),
                time_ms=start + i * (DAY_MS // n) + k % 1000,
                is_buyer_maker=k % 3 == 0,
            )
        )
    return out


def write(store: TradeStore, symbol: str, trades: list[AggTrade]) -> None:
    """One batch per hour of trade time, as the recorder's flushes would (never wider)."""
    batch: list[AggTrade] = []
    for t in trades:
        if batch and t.time_ms // 3_600_000 != batch[0].time_ms // 3_600_000:
            store.write_batches({symbol: batch})
            batch = []
        batch.append(t)
    if batch:
        store.write_batches({symbol: batch})


@dataclass
class Built:
    trades: dict[str, list[AggTrade]]  # symbol -> every trade written

    def by_day(self) -> dict[tuple[str, date], list[AggTrade]]:
        out: dict[tuple[str, date], list[AggTrade]] = defaultdict(list)
        for symbol, trades in self.trades.items():
            for t in trades:
                out[(symbol, day_of(t.time_ms))].append(t)
        return dict(out)


def build_store(
    path,
    symbols: dict[str, int],
    days: int = 3,
    per_day: int = 2000,
    first_day: date = FIRST_DAY,
    tail: int = 50,
) -> Built:
    """``days`` full days of each symbol (first agg id per symbol as given), then ``tail``
    trades at the start of the next day, so the last full day is followed by a trade."""
    built: dict[str, list[AggTrade]] = {}
    with TradeStore(path) as store:
        for symbol, first_id in symbols.items():
            trades: list[AggTrade] = []
            next_id = first_id
            for d in range(days):
                chunk = day_trades(symbol, first_day + timedelta(days=d), per_day, next_id)
                trades.extend(chunk)
                next_id += per_day
            if tail:
                last = first_day + timedelta(days=days)
                trades.extend(day_trades(symbol, last, tail, next_id)[:tail])
            write(store, symbol, trades)
            built[symbol] = trades
    return Built(built)


def exact_figures(trades: list[AggTrade]) -> tuple:
    """(count, first id, last id, sum qty, sum price*qty) with exact Decimals."""
    return (
        len(trades),
        min(t.agg_id for t in trades),
        max(t.agg_id for t in trades),
        sum((t.qty for t in trades), Decimal(0)),
        sum((t.price * t.qty for t in trades), Decimal(0)),
    )


# ---------------------------------------------------------------- an S3 server


class MotoServer:
    """moto's S3-compatible server in its own process on 127.0.0.1 (a free port)."""

    def __init__(self, log_path) -> None:
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.endpoint = ""

    def start(self, timeout: float = 60.0) -> MotoServer:
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "0"],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_path.read_text(errors="replace")
            match = re.search(r"Running on http://127\.0\.0\.1:(\d+)", text)
            if match:
                self.endpoint = f"127.0.0.1:{match.group(1)}"
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto server exited: {text[-2000:]}")
            time.sleep(0.05)
        raise RuntimeError("moto server did not start in time")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def env(self) -> dict[str, str]:
        """AWS settings that point every client (pyarrow, boto3) at this server."""
        return {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": f"http://{self.endpoint}",
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def create_bucket(self, name: str) -> None:
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=f"http://{self.endpoint}",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )
        client.create_bucket(Bucket=name)


@dataclass(frozen=True)
class Tiers:
    """A symbol's days in three tiers: ``full`` holds every trade hot (the oracle);
    ``tiered`` the same store after day 0 lost its trades and rollups (only the
    ``archive`` has it) and day 1 its trades (its rollups stay; the archive has it too)."""

    full: object
    tiered: object
    archive: object
    days: int


def build_tiers(
    root, symbol: str = "BTCUSDT", days: int = 4, per_day: int = 3000, *, rough: bool = False
) -> Tiers:
    """``rough``: the record has holes (ids never stored in days 1 and 3, one recorded as a
    gap) and a backfill (the end of day 2 written after day 3, into a closed day)."""
    import shutil

    from tradestore.cli import main
    from tradestore.store import Gap

    full = root / "full"
    if not rough:
        build_store(full, {symbol: 1000}, days=days, per_day=per_day)
    else:
        trades: list[AggTrade] = []
        for d in range(days):
            trades += day_trades(symbol, FIRST_DAY + timedelta(days=d), per_day, 1000 + d * per_day)
        trades += day_trades(symbol, FIRST_DAY + timedelta(days=days), 50, 1000 + days * per_day)
        holes = {*range(1000 + per_day + 500, 1000 + per_day + 520)}  # day 1: not recorded
        holes |= {*range(1000 + 3 * per_day + 100, 1000 + 3 * per_day + 103)}  # day 3: a gap
        kept = [t for t in trades if t.agg_id not in holes]
        late = [t for t in kept if 1000 + 3 * per_day - 300 <= t.agg_id < 1000 + 3 * per_day]
        on_time = [t for t in kept if t not in late]
        with TradeStore(full) as store:
            write(store, symbol, on_time)
            write(store, symbol, late)  # a backfill into day 2, closed by then
            gap_lo, gap_hi = 1000 + 3 * per_day + 100, 1000 + 3 * per_day + 102
            before = max((t for t in kept if t.agg_id < gap_lo), key=lambda t: t.agg_id)
            after = min((t for t in kept if t.agg_id > gap_hi), key=lambda t: t.agg_id)
            store.put_gap(
                symbol,
                Gap(gap_lo, gap_hi, before.time_ms, after.time_ms, detected_ms=after.time_ms),
            )  # fmt: skip
    tiered = root / "tiered"
    shutil.copytree(full, tiered)
    archive = root / "archive"
    assert main(["archive", "--db", str(tiered), "--to", str(archive)]) == 0
    day0 = day_start_ms(FIRST_DAY)
    with TradeStore(tiered) as store:
        store.prune(day0 + 2 * DAY_MS)
        assert store.prune_rollups(day0 + DAY_MS) == [symbol]
    return Tiers(full, tiered, archive, days)
