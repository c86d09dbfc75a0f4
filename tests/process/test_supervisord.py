"""The daemon under a real supervisord (PyPI ``supervisor``), as docs/deploy/ configures it:
``supervisorctl stop`` flushes everything, a killed daemon is restarted, and the restart
closes the hole it left. Exact agg-id accounting against the fake exchange."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

import pytest
import trio

from tests.helpers import wait_for, wait_for_async
from tests.helpers.daemon import accepted_up_to, daemon_env, metrics_url
from tests.helpers.store import stored_count, stored_ids
from tradestore import TradeStore
from tradestore.fake import FakeExchangeConfig, open_fake_exchange
from tradestore.store._verify import verify

SYMBOL = "BTCUSDT"

pytestmark = pytest.mark.skipif(
    shutil.which("supervisord", path=os.path.dirname(sys.executable)) is None,
    reason="supervisor is not installed in this environment",
)

CONF = """\
[unix_http_server]
file={dir}/supervisor.sock

[supervisord]
logfile={dir}/supervisord.log
pidfile={dir}/supervisord.pid
childlogdir={dir}
nodaemon=true

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{dir}/supervisor.sock

; As docs/deploy/supervisord.conf: SIGTERM, time to flush, restart only on a crash.
[program:tradestore]
command={python} -m tradestore run --db {db} --symbols {symbol} --endpoint {ws} --rest-endpoint {rest} --retention-days 0 --metrics-addr 127.0.0.1:0
autostart=true
autorestart=unexpected
exitcodes=0
startsecs=1
stopsignal=TERM
stopwaitsecs=30
redirect_stderr=true
stdout_logfile={dir}/daemon.log
; Flush every 5 s (not 1 s), so a stop always finds trades still buffered.
environment=TRADESTORE_FLUSH_INTERVAL="5"
"""


def ctl(tmp_path, *args: str) -> str:
    bin_dir = os.path.dirname(sys.executable)
    done = subprocess.run(
        [os.path.join(bin_dir, "supervisorctl"), "-c", str(tmp_path / "supervisord.conf"), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout.strip()


async def actl(tmp_path, *args: str) -> str:
    return await trio.to_thread.run_sync(ctl, tmp_path, *args)


async def wait_running(tmp_path, not_pid: int | None = None) -> int:
    while True:
        status = await actl(tmp_path, "status", "tradestore")
        if "RUNNING" in status:
            pid = int(status.split("pid ")[1].split(",")[0])
            if pid != not_pid:
                return pid
        await trio.sleep(0.2)


def gaps_filled(db) -> bool:
    with TradeStore(db, read_only=True) as store:
        gaps = store.gaps(SYMBOL)
    return bool(gaps) and all(g.status != "open" for g in gaps)


@pytest.mark.slow
async def test_supervisord_stop_flushes_and_a_kill_is_restarted_and_backfilled(tmp_path):
    n = 1200  # 12 s at 100 trades/s
    db = tmp_path / "db"
    fcfg = FakeExchangeConfig(symbols=(SYMBOL,), rate=100.0, max_trades=n)
    async with open_fake_exchange(fcfg) as fx:
        conf = CONF.format(
            dir=tmp_path,
            python=sys.executable,
            db=db,
            symbol=SYMBOL,
            ws=fx.ws_url,
            rest=fx.rest_url,
        )
        (tmp_path / "supervisord.conf").write_text(conf)
        bin_dir = os.path.dirname(sys.executable)
        supervisord = await trio.lowlevel.open_process(
            [os.path.join(bin_dir, "supervisord"), "-c", str(tmp_path / "supervisord.conf")],
            env=daemon_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            with trio.fail_after(90):
                first_pid = await wait_running(tmp_path)
                await wait_for(lambda: stored_count(db) >= 200, step=0.1)
                # Mid-flush-interval: more was sent than stored, so trades are buffered.
                flushed = stored_count(db)
                await wait_for(lambda: len(fx.log.sent_ids(SYMBOL)) >= flushed + 50, step=0.02)
                log_size = (tmp_path / "daemon.log").stat().st_size
                os.kill(first_pid, signal.SIGKILL)
                # supervisord sees an unexpected exit and starts the daemon again.
                second_pid = await wait_running(tmp_path, not_pid=first_pid)
                assert second_pid != first_pid
                base = await metrics_url(tmp_path / "daemon.log", after=log_size)
                await fx.wait_generated(SYMBOL, n)
                # The last trade is in the daemon's buffer (the next flush is seconds away).
                last = {SYMBOL: fx.log.generated_ids(SYMBOL)[-1]}
                await wait_for_async(lambda: accepted_up_to(base, last))
                # The restart read back the last stored id; the hole became a gap that
                # backfill fills from REST. Stop once it is filled, with the live tail of
                # the stream still buffered (flushes are 5 s apart).
                await wait_for(lambda: gaps_filled(db), step=0.1)
            # A clean stop: SIGTERM, final flush, exit 0, and supervisord leaves it stopped.
            assert "stopped" in (await actl(tmp_path, "stop", "tradestore")).lower()
            status = await actl(tmp_path, "status", "tradestore")
            assert "STOPPED" in status, status
        finally:
            await actl(tmp_path, "shutdown")
            with trio.move_on_after(20):
                await supervisord.wait()
            if supervisord.returncode is None:
                supervisord.kill()
                await supervisord.wait()

    log = (tmp_path / "daemon.log").read_text(errors="replace")
    assert "resuming after stored agg id" in log
    assert "shutdown: all buffers flushed" in log
    generated = fx.log.generated_ids(SYMBOL)
    assert stored_ids(db, SYMBOL) == generated  # every id exactly once (stored_ids checks)
    with TradeStore(db, read_only=True) as store:
        report = verify(store, SYMBOL)
        assert report.ok and report.holes == []
        gaps = store.gaps(SYMBOL)
    assert gaps and all(g.status == "filled" for g in gaps)
