"""A disk that refuses writes under a real ``tradestore-trio run`` process.

The fault is RLIMIT_FSIZE set on the daemon from outside with prlimit(2): with the soft
limit at 1 byte every append to an existing file fails with EFBIG (Python ignores
SIGXFSZ), which RocksDB reports as an I/O error and then latches: later writes fail even
once the limit is lifted, until the DB is reopened. The daemon's output goes through a
pipe (a pipe has no size limit) and the test copies it into a log file.

What must hold: the outage is logged once (not once per retry), nothing buffered is
lost while the store recovers, the daemon exits 1 when it gives up or cannot flush at
shutdown (never 0 with trades unwritten), the DB stays readable and consistent, and a
restart stores every agg id the exchange generated exactly once (the hole backfilled).
"""

from __future__ import annotations

import json
import re
import resource
import signal
import subprocess
import sys
from contextlib import asynccontextmanager

import httpx
import pytest
import trio

from tradestore import TradeStore
from tradestore._gaps import FILLED
from tradestore._verify import verify
from tradestore.cli import main
from tradestore.fake import FakeExchangeConfig, open_fake_exchange

from ._helpers_recorder import daemon_env, kill_daemon, stored_count, stored_ids, wait_for

SYMBOLS = ("BTCUSDT", "ETHUSDT")
FULL = 1  # bytes: RLIMIT_FSIZE at which every append to a non-empty file fails
FAILED = re.compile(r"ERROR .*writing \d+ trades failed: .*File too large")


def set_file_size_limit(pid: int, soft: int) -> None:
    """RLIMIT_FSIZE of a running process (its hard limit kept)."""
    _soft, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
    try:
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (soft, hard))
    except PermissionError:  # a sandbox without prlimit(2) on children
        pytest.skip("prlimit(2) on a child process is not permitted here")


async def _copy_output(stream, log_path) -> None:
    with open(log_path, "ab", buffering=0) as log:  # noqa: ASYNC230 - a local file
        while chunk := await stream.receive_some(65536):
            log.write(chunk)


@asynccontextmanager
async def open_daemon(argv: list[str], log_path):
    """``python -m tradestore run ARGV``, its output piped into log_path; killed on exit."""
    async with trio.open_nursery() as nursery:
        proc = await trio.lowlevel.open_process(
            [sys.executable, "-m", "tradestore", "run", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=daemon_env(),
        )
        nursery.start_soon(_copy_output, proc.stdout, log_path)
        try:
            yield proc
        finally:
            await kill_daemon(proc)


async def wait_in_log(log_path, pattern: str, *, after: int = 0) -> re.Match:
    while True:
        text = log_path.read_text(errors="replace")[after:] if log_path.exists() else ""
        match = re.search(pattern, text)
        if match:
            return match
        await trio.sleep(0.05)


def caught_up(db, fx) -> bool:
    """Every generated id stored without a hole (read through a secondary instance)."""
    if not (db / "CURRENT").exists():
        return False
    with TradeStore(db, read_only=True) as store:
        for symbol in SYMBOLS:
            report = verify(store, symbol)
            generated = fx.log.generated_ids(symbol)
            if not report.ok or report.last_id != generated[-1]:
                return False
    return True


def daemon_argv(tmp_path, fx, **settings) -> list[str]:
    config = tmp_path / "daemon.toml"
    config.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items()))
    return [
        "--db",
        str(tmp_path / "db"),
        "--endpoint",
        fx.ws_url,
        "--rest-endpoint",
        fx.rest_url,
        "--symbols",
        ",".join(SYMBOLS),
        "--retention-days",
        "0",
        "--config",
        str(config),
    ]


def assert_every_id_once(db, fx, capsys) -> None:
    for symbol in SYMBOLS:
        generated = fx.log.generated_ids(symbol)
        assert stored_ids(db, symbol) == generated  # each id exactly once, nothing missing
        assert main(["verify", "--db", str(db), "--symbol", symbol, "--format", "json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["ok"] and report["holes"] == [] and report["duplicates"] == 0
        assert report["trades"] == len(generated)


@pytest.mark.slow
async def test_a_full_disk_for_a_while_loses_nothing(tmp_path, capsys):
    """The disk fills mid-stream and frees again 4 s later: one ERROR line opens the
    outage, /healthz says so, the store is reopened, every buffered trade is written once
    and SIGTERM still exits 0 - with no gap at all, since nothing was dropped."""
    n = 1200  # 12 s at 100 trades/s per symbol
    db = tmp_path / "db"
    log_path = tmp_path / "daemon.log"
    fcfg = FakeExchangeConfig(symbols=SYMBOLS, rate=100.0, max_trades=n)
    async with open_fake_exchange(fcfg) as fx:
        argv = daemon_argv(tmp_path, fx, metrics_addr="127.0.0.1:0")
        async with open_daemon(argv, log_path) as proc:
            with trio.fail_after(40):
                url = (await wait_in_log(log_path, r"metrics on (http://\S+)/metrics")).group(1)
                await wait_for(lambda: stored_count(db) >= 200, step=0.1)
                set_file_size_limit(proc.pid, FULL)
                await wait_in_log(log_path, FAILED.pattern)
                await trio.sleep(4.0)  # several retries, each reopening under the limit
                async with httpx.AsyncClient(base_url=url) as client:
                    health = await client.get("/healthz")
                    metrics = (await client.get("/metrics")).text
                stored_during = {s: stored_ids(db, s) for s in SYMBOLS}
                set_file_size_limit(proc.pid, resource.RLIM_INFINITY)
                await wait_in_log(log_path, r"the store takes writes again")
                for symbol in SYMBOLS:
                    await fx.wait_generated(symbol, n)
                await wait_for(lambda: caught_up(db, fx), step=0.2)
                proc.send_signal(signal.SIGTERM)
                assert await proc.wait() == 0
    text = log_path.read_text()
    assert "Traceback" not in text
    assert len(FAILED.findall(text)) == 1  # once per outage, not once per retry
    assert len(re.findall(r"the store takes writes again", text)) == 1
    assert health.status_code == 503 and health.json()["status"] == "store_failing"
    assert "File too large" in health.json()["store"]["last_error"]
    assert re.search(r"^tradestore_store_outages_total 1\.0$", metrics, re.M)
    attempts, reopens = map(
        int, re.search(r"\((\d+) failed attempts, (\d+) reopens\)", text).groups()
    )
    assert attempts >= 2 and reopens >= 1  # retried under the limit, reopened once lifted
    for symbol in SYMBOLS:
        generated = fx.log.generated_ids(symbol)
        # The outage held everything back; nothing reached the DB while it lasted.
        assert stored_during[symbol] == generated[: len(stored_during[symbol])]
        with TradeStore(db, read_only=True) as store:
            assert store.gaps(symbol) == []  # no trade was dropped, so no hole to fill
    assert_every_id_once(db, fx, capsys)


@pytest.mark.slow
@pytest.mark.parametrize("ending", ["gives_up", "sigterm"])
async def test_a_disk_that_stays_full_exits_1_and_a_restart_recovers(tmp_path, capsys, ending):
    """The disk stays full: the daemon exits 1 (after write_failure_timeout, or at SIGTERM
    when the final flush fails), the DB is left consistent, and a restart on a free disk
    resumes after the last stored id and backfills the hole: every id stored once."""
    n = 1500
    db = tmp_path / "db"
    log_path = tmp_path / "daemon.log"
    fcfg = FakeExchangeConfig(symbols=SYMBOLS, rate=100.0, max_trades=n)
    settings = {"shutdown_grace": 2.0, "backfill_retry": 1.0}
    if ending == "gives_up":
        settings["write_failure_timeout"] = 3.0
    async with open_fake_exchange(fcfg) as fx:
        argv = daemon_argv(tmp_path, fx, **settings)
        async with open_daemon(argv, log_path) as proc:
            with trio.fail_after(30):
                await wait_for(lambda: stored_count(db) >= 200, step=0.1)
                set_file_size_limit(proc.pid, FULL)
                await wait_in_log(log_path, FAILED.pattern)
                if ending == "sigterm":
                    proc.send_signal(signal.SIGTERM)
                rc = await proc.wait()
        assert rc == 1
        first_life = log_path.read_text()
        before = {s: stored_ids(db, s) for s in SYMBOLS}
        with TradeStore(db, read_only=True) as store:
            for symbol in SYMBOLS:
                assert verify(store, symbol).ok  # a consistent prefix, nothing torn
        async with open_daemon(argv, log_path) as proc:
            with trio.fail_after(30):
                for symbol in SYMBOLS:
                    await fx.wait_generated(symbol, n)
                await wait_for(lambda: caught_up(db, fx), step=0.2)
                proc.send_signal(signal.SIGTERM)
                assert await proc.wait() == 0
    text = log_path.read_text()
    assert "Traceback" not in text
    assert len(FAILED.findall(first_life)) == 1
    if ending == "gives_up":
        assert "giving up: the store refused every write for" in first_life
    else:
        assert re.search(r"shutdown: \d+ buffered trades could not be written", first_life)
    for symbol in SYMBOLS:
        generated = fx.log.generated_ids(symbol)
        assert before[symbol] == generated[: len(before[symbol])]
        assert f"{symbol}: resuming after stored agg id {before[symbol][-1]}" in text
        with TradeStore(db, read_only=True) as store:
            gaps = store.gaps(symbol)
        assert gaps and {g.status for g in gaps} == {FILLED}
        assert gaps[0].first_id == before[symbol][-1] + 1
    assert_every_id_once(db, fx, capsys)
