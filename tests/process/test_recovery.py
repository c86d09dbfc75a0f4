"""Crash recovery: a real ``tradestore-trio run`` process killed with SIGKILL mid-stream,
restarted; the last stored id is read back, the hole opens a gap, backfill closes it, and
``verify`` finds one contiguous id range equal to what the exchange generated."""

from __future__ import annotations

import json
import signal

import pytest
import trio

from tests.helpers import wait_for
from tests.helpers.daemon import kill_daemon, start_daemon, stop_daemon
from tests.helpers.store import caught_up, stored_count, stored_ids
from tradestore import TradeStore
from tradestore.cli import main
from tradestore.fake import FakeExchangeConfig, open_fake_exchange
from tradestore.store._gaps import FILLED

SYMBOLS = ("BTCUSDT", "ETHUSDT")


@pytest.mark.slow
async def test_kill_9_then_restart_leaves_no_hole(tmp_path, capsys):
    n = 900  # 9 s at 100 trades/s per symbol
    db = tmp_path / "db"
    log_path = tmp_path / "daemon.log"
    fcfg = FakeExchangeConfig(symbols=SYMBOLS, rate=100.0, max_trades=n)
    async with open_fake_exchange(fcfg) as fx:
        argv = ["--db", str(db), "--endpoint", fx.ws_url, "--rest-endpoint", fx.rest_url]
        argv += ["--symbols", ",".join(SYMBOLS), "--retention-days", "0"]
        proc = await start_daemon(argv, log_path)
        try:
            with trio.fail_after(60):
                await wait_for(lambda: stored_count(db) >= 200, step=0.1)
                # Mid-stream: more was sent than the last flush stored (so trades are
                # buffered, and lost with the kill), and more trades are coming.
                flushed = stored_count(db)
                await wait_for(
                    lambda: sum(len(fx.log.sent_ids(s)) for s in SYMBOLS) >= flushed + 50,
                    step=0.02,
                )
                killed_at = fx.generated("BTCUSDT")
                await stop_daemon(proc, log_path, signal.SIGKILL)
                assert proc.returncode == -signal.SIGKILL
                before = {s: stored_ids(db, s) for s in SYMBOLS}
                # Down while 100 more trades of each symbol happen: those are only on REST.
                for symbol in SYMBOLS:
                    await fx.wait_generated(symbol, killed_at + 100)
                proc = await start_daemon(argv, log_path)
                for symbol in SYMBOLS:
                    await fx.wait_generated(symbol, n)
                await wait_for(lambda: caught_up(db, fx, SYMBOLS), step=0.2)
            await stop_daemon(proc, log_path)
        finally:
            await kill_daemon(proc)
    assert killed_at < n
    text = log_path.read_text()
    assert "Traceback" not in text
    for symbol in SYMBOLS:
        generated = fx.log.generated_ids(symbol)
        # The first run stored a prefix, the restart found the hole after it.
        assert before[symbol] == generated[: len(before[symbol])]
        assert len(before[symbol]) < killed_at
        assert f"{symbol}: resuming after stored agg id {before[symbol][-1]}" in text
        assert stored_ids(db, symbol) == generated  # each id exactly once
        with TradeStore(db, read_only=True) as store:
            gaps = store.gaps(symbol)
        assert gaps and {g.status for g in gaps} == {FILLED}
        assert gaps[0].first_id == before[symbol][-1] + 1
        assert main(["verify", "--db", str(db), "--symbol", symbol, "--format", "json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["ok"] and report["holes"] == [] and report["duplicates"] == 0
        assert (report["first_agg_id"], report["last_agg_id"]) == (generated[0], generated[-1])
        assert report["trades"] == len(generated) == n
