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

import errno
import json
import os
import re
import resource
import signal
import subprocess
import sys
from contextlib import asynccontextmanager

import httpx
import pytest
import trio

from tests.helpers import REPO, wait_for
from tests.helpers.daemon import daemon_env, kill_daemon, metric, metrics_url, wait_for_log
from tests.helpers.store import caught_up, stored_count, stored_ids
from tests.helpers.trades import make_trades
from tradestore import TradeStore
from tradestore.cli import main
from tradestore.fake import FakeExchangeConfig, open_fake_exchange
from tradestore.store._gaps import FILLED
from tradestore.store._verify import verify

SYMBOLS = ("BTCUSDT", "ETHUSDT")
FULL = 1  # bytes: RLIMIT_FSIZE at which every append to a non-empty file fails
FAILED = re.compile(r"ERROR .*writing \d+ trades failed: ")


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
async def open_daemon(argv: list[str], log_path, *, file_size_limit: int | None = None):
    """``python -m tradestore run ARGV``, its output piped into log_path; killed on exit.
    ``file_size_limit`` sets RLIMIT_FSIZE in the child before it starts."""

    def limit_file_size() -> None:
        _soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, hard))

    async with trio.open_nursery() as nursery:
        proc = await trio.lowlevel.open_process(
            [sys.executable, "-m", "tradestore", "run", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=daemon_env(),
            preexec_fn=None if file_size_limit is None else limit_file_size,
        )
        nursery.start_soon(_copy_output, proc.stdout, log_path)
        try:
            yield proc
        finally:
            await kill_daemon(proc)


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


class FileSizeLimit:
    """RLIMIT_FSIZE of 1 byte on the daemon: every append fails with EFBIG."""

    error = "File too large"

    def __init__(self, tmp_path) -> None:
        self.db = tmp_path / "db"

    def fill(self, proc) -> None:
        set_file_size_limit(proc.pid, FULL)

    def free(self, proc) -> None:
        set_file_size_limit(proc.pid, resource.RLIM_INFINITY)


class SmallTmpfs:
    """The DB on a 4 MiB tmpfs; a filler file takes every free byte (ENOSPC)."""

    error = "No space left on device"

    def __init__(self, mount) -> None:
        self.mount = mount
        self.db = mount / "db"

    def fill(self, proc) -> None:
        fd = os.open(self.mount / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(fd, b"\0" * 65536):
                pass
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        finally:
            os.close(fd)

    def free(self, proc) -> None:
        (self.mount / "filler").unlink()


@pytest.fixture(params=["rlimit_fsize", "tmpfs"])
def disk_fault(request, tmp_path):
    if request.param == "rlimit_fsize":
        yield FileSizeLimit(tmp_path)
        return
    mount = tmp_path / "mnt"
    mount.mkdir()
    cmd = ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)]
    if os.geteuid() != 0 or subprocess.run(cmd, capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs needs root (RLIMIT_FSIZE covers the same path)")
    try:
        yield SmallTmpfs(mount)
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


@pytest.mark.slow
async def test_a_full_disk_for_a_while_loses_nothing(tmp_path, capsys, disk_fault):
    """The disk fills mid-stream and frees again 4 s later: one ERROR line opens the
    outage, /healthz says so, the store is reopened, every buffered trade is written once
    and SIGTERM still exits 0 - with no gap at all, since nothing was dropped."""
    n = 1200  # 12 s at 100 trades/s per symbol
    db = disk_fault.db
    log_path = tmp_path / "daemon.log"
    fcfg = FakeExchangeConfig(symbols=SYMBOLS, rate=100.0, max_trades=n)
    async with open_fake_exchange(fcfg) as fx:
        argv = daemon_argv(tmp_path, fx, metrics_addr="127.0.0.1:0")
        argv[argv.index("--db") + 1] = str(db)
        async with open_daemon(argv, log_path) as proc:
            with trio.fail_after(60):
                url = await metrics_url(log_path)
                await wait_for(lambda: stored_count(db) >= 200, step=0.1)
                disk_fault.fill(proc)
                await wait_for_log(log_path, FAILED.pattern)
                async with httpx.AsyncClient(base_url=url) as client:
                    # Several retries (three failed attempts), each reopening on the full disk.
                    while True:
                        metrics = (await client.get("/metrics")).text
                        if metric(metrics, "tradestore_flush_failures_total") >= 3:
                            break
                        await trio.sleep(0.1)
                    health = await client.get("/healthz")
                stored_during = {s: stored_ids(db, s) for s in SYMBOLS}
                disk_fault.free(proc)
                await wait_for_log(log_path, r"the store takes writes again")
                for symbol in SYMBOLS:
                    await fx.wait_generated(symbol, n)
                await wait_for(lambda: caught_up(db, fx, SYMBOLS), step=0.2)
                proc.send_signal(signal.SIGTERM)
                assert await proc.wait() == 0
    text = log_path.read_text()
    assert "Traceback" not in text
    assert len(FAILED.findall(text)) == 1  # once per outage, not once per retry
    assert len(re.findall(r"the store takes writes again", text)) == 1
    assert health.status_code == 503 and health.json()["status"] == "store_failing"
    failed_line = next(line for line in text.splitlines() if FAILED.search(line))
    assert disk_fault.error in failed_line
    assert disk_fault.error in health.json()["store"]["last_error"]
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
async def test_a_file_size_ceiling_hit_again_and_again(tmp_path, capsys):
    """RLIMIT_FSIZE of 64 KiB from the daemon's start: each time the WAL reaches it the
    write fails, the daemon reopens the store (which starts a fresh WAL) and goes on.
    Every outage is logged once and closed once; SIGTERM exits 0; every id stored once."""
    n = 1200
    db = tmp_path / "db"
    log_path = tmp_path / "daemon.log"
    fcfg = FakeExchangeConfig(symbols=SYMBOLS, rate=100.0, max_trades=n)
    async with open_fake_exchange(fcfg) as fx:
        argv = daemon_argv(tmp_path, fx)
        async with open_daemon(argv, log_path, file_size_limit=64 * 1024) as proc:
            with trio.fail_after(40):
                for symbol in SYMBOLS:
                    await fx.wait_generated(symbol, n)
                await wait_for(lambda: caught_up(db, fx, SYMBOLS), step=0.2)
                proc.send_signal(signal.SIGTERM)
                assert await proc.wait() == 0
    text = log_path.read_text()
    assert "Traceback" not in text
    outages = len(FAILED.findall(text))
    assert outages >= 1
    assert len(re.findall(r"the store takes writes again", text)) == outages
    for symbol in SYMBOLS:
        with TradeStore(db, read_only=True) as store:
            assert store.gaps(symbol) == []
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
                await wait_for_log(log_path, FAILED.pattern)
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
                await wait_for(lambda: caught_up(db, fx, SYMBOLS), step=0.2)
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


# ---------------------------------------------------------------- in-process, fast

LATCH_SCRIPT = """
import json, os, resource, sys
from tradestore import TradeStore
from tests.helpers.trades import make_trades

db = sys.argv[1]
limits = resource.getrlimit(resource.RLIMIT_FSIZE)
out = {}
store = TradeStore(db)
store.store_batch("BTCUSDT", make_trades(100, start_id=1))
wal = max(f for f in os.listdir(db) if f.endswith(".log"))
resource.setrlimit(resource.RLIMIT_FSIZE, (os.path.getsize(os.path.join(db, wal)) + 100, limits[1]))
def attempt(start_id):
    try:
        store.store_batch("BTCUSDT", make_trades(100, start_id=start_id, start_ms=10**12 + start_id))
        return "ok"
    except Exception as exc:
        return str(exc)
out["full"] = attempt(101)
resource.setrlimit(resource.RLIMIT_FSIZE, limits)
out["space_back"] = attempt(101)
store.reopen()
out["reopened"] = attempt(101)
out["count"] = store.stats()["symbols"]["BTCUSDT"]["trades"]
store.close()
print(json.dumps(out))
"""


def test_rocksdb_latches_a_failed_write_until_reopened(tmp_path):
    """What RocksDB does (measured through rocksdict): a WAL append cut short by EFBIG
    fails the write, every later write fails too even with space back ("Writer has
    previous error"), and a reopen clears it, with the torn WAL tail dropped cleanly."""
    result = subprocess.run(
        [sys.executable, "-c", LATCH_SCRIPT, str(tmp_path / "db")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(REPO),
        env=daemon_env(),
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert "File too large" in out["full"]
    assert out["space_back"] != "ok"  # latched: the limit is gone but the writer is not
    assert out["reopened"] == "ok"
    assert out["count"] == 200
    with TradeStore(tmp_path / "db", read_only=True) as store:
        ids = [t.agg_id for t in store.query_trades("BTCUSDT", 0, 2 * 10**12)]
    assert ids == list(range(1, 201))


class _FailingWrites:
    """A raw DB handle whose writes raise while ``should_fail()``, as on a full disk."""

    def __init__(self, db, should_fail) -> None:
        self._db = db
        self._should_fail = should_fail

    def write(self, batch) -> None:
        if self._should_fail():
            raise Exception("IO error: injected: No space left on device")
        self._db.write(batch)

    def __getattr__(self, name):
        return getattr(self._db, name)


def test_a_failed_write_leaves_the_counts_and_last_id_true(tmp_path):
    """The store's cached bookkeeping must not count a write that did not happen."""
    with TradeStore(tmp_path / "db") as store:
        store.store_batch("BTCUSDT", make_trades(100))
        failures = iter([True, True])
        store._db = _FailingWrites(store._db, lambda: next(failures, False))
        later = make_trades(50, start_id=101, start_ms=10**12 + 101)
        for _ in range(2):
            with pytest.raises(Exception, match="No space left"):
                store.store_batch("BTCUSDT", later)
        store.store_batch("BTCUSDT", later)
        assert store.last_agg_id("BTCUSDT") == 150
        assert store.stats()["symbols"]["BTCUSDT"]["trades"] == 150
    with TradeStore(tmp_path / "db") as store:
        assert store.stats()["symbols"]["BTCUSDT"]["trades"] == 150


def _batcher(tmp_path, **settings):
    from tradestore.recorder import RecorderConfig
    from tradestore.recorder._batcher import Batcher

    cfg = RecorderConfig(symbols=("BTCUSDT",), db=str(tmp_path / "db"), **settings)
    store = TradeStore(cfg.db_path)
    return Batcher(store, cfg), store


class _Disk:
    """Every handle the store opens fails its writes while ``full`` is set."""

    def __init__(self, monkeypatch) -> None:
        self.full = False
        original = TradeStore._open
        monkeypatch.setattr(
            TradeStore, "_open", lambda store: _FailingWrites(original(store), lambda: self.full)
        )


async def test_outage_logs_once_keeps_every_trade_and_recovers(tmp_path, caplog, monkeypatch):
    disk = _Disk(monkeypatch)
    batcher, store = _batcher(tmp_path, flush_interval=0.05)
    trades = make_trades(300)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(batcher.serve)
            for trade in trades[:100]:
                batcher.accept("BTCUSDT", trade)
            disk.full = True
            with trio.fail_after(10):
                await wait_for(lambda: batcher.outage is not None)
                for trade in trades[100:200]:
                    batcher.accept("BTCUSDT", trade)
                await wait_for(lambda: batcher.statistics().failed >= 4)
                assert batcher.statistics().reopens >= 3  # every retry reopened the store first
                assert batcher.buffered == 200
                disk.full = False
                for trade in trades[200:]:
                    batcher.accept("BTCUSDT", trade)
                await wait_for(lambda: batcher.buffered == 0 and batcher.outage is None)
            nursery.cancel_scope.cancel()
        stats = batcher.statistics()
        assert store.stats()["symbols"]["BTCUSDT"]["trades"] == 300
        ids = [t.agg_id for t in store.query_trades("BTCUSDT", 0, 2 * 10**12)]
    finally:
        store.close()
    assert ids == list(range(1, 301))
    assert stats.outages == 1 and stats.failing_since_ms is None
    assert "No space left" in stats.last_error
    lines = [r for r in caplog.records if r.name == "tradestore.recorder._batcher"]
    assert sum(r.levelname == "ERROR" for r in lines) == 1  # once per outage
    assert sum("takes writes again" in r.getMessage() for r in lines) == 1


async def test_gives_up_after_write_failure_timeout_with_the_trades_kept(
    tmp_path, monkeypatch, caplog, autojump_clock, inline_threads
):
    from tradestore.recorder import StoreUnavailable
    from tradestore.recorder import _batcher as batcher_module

    monkeypatch.setattr(batcher_module, "REMIND_EVERY", 0.3)
    disk = _Disk(monkeypatch)
    batcher, store = _batcher(tmp_path, flush_interval=0.05, write_failure_timeout=0.5)
    try:
        for trade in make_trades(10):
            batcher.accept("BTCUSDT", trade)
        disk.full = True
        started = trio.current_time()
        with trio.fail_after(10), pytest.raises(StoreUnavailable, match="refused every write"):
            await batcher.serve()
        gave_up_after = trio.current_time() - started
        assert batcher.buffered == 10  # still held: the caller decides (the daemon exits 1)
        # Retries back off (0.05, 0.1, 0.2, 0.4 s ...): a handful, not one per tick.
        assert 3 <= batcher.statistics().failed <= 6
    finally:
        store.close()
    assert 0.5 <= gave_up_after < 5.0
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    # The opening line, then reminders at most every REMIND_EVERY (not one per attempt).
    assert "every trade stays buffered" in errors[0]
    reminders = sum("has refused writes for" in m for m in errors)
    assert 1 <= reminders <= 3 and len(errors) == 1 + reminders
