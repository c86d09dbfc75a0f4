"""The soak harness, short: ``bench/soak.py`` with 5 symbols for 15 s, every fault on and
one ``kill -9``; then an account of every id the exchange generated, made here from the
sent-log and the store (not from the harness's own verdict)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest

from tests.helpers import REPO
from tests.helpers.daemon import daemon_env
from tests.helpers.store import stored_ids
from tradestore import TradeStore
from tradestore.cli import main
from tradestore.fake import SentLog

SOAK = REPO / "bench" / "soak.py"
SYMBOLS = 5
INVALID_EVERY = 50  # REST marks the rows of ids divisible by 50 invalid


@pytest.mark.slow
def test_short_soak_accounts_for_every_generated_id(tmp_path, capsys):
    work = tmp_path / "soak"
    results = tmp_path / "results.json"
    argv = [sys.executable, str(SOAK), "--symbols", str(SYMBOLS), "--seconds", "15"]
    argv += ["--rate", "20", "--seed", "3", "--workdir", str(work), "--json", str(results)]
    # Seed 3 kills at 6.2 s after the daemon is up. Each connection goes silent 1 s after
    # it opens and the watchdog recycles it 1 s later; the exchange cuts every 3 s. Each
    # fault gets several chances before the end at ~16 s, so a slow start or a cut that
    # finds the daemon between two connections cannot leave one of them unseen.
    argv += ["--drop-every", "3", "--silent-after", "1", "--watchdog-floor", "1"]
    argv += ["--skip-every", "97", "--malformed-every", "13", "--duplicate-every", "11"]
    argv += ["--rest-429-every", "5", "--rest-invalid-every", str(INVALID_EVERY)]
    argv += ["--drain-timeout", "40"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=100, env=daemon_env())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ACCOUNTING OK" in done.stdout
    result = json.loads(results.read_text())
    figures = result["figures"]

    sent = SentLog.read_json(work / "sent.json")
    db = work / "db"
    assert len(sent.symbols) == SYMBOLS
    explained_by_invalid = 0
    tail = 0
    for symbol in sent.symbols:
        generated = sent.generated_ids(symbol)
        assert len(generated) == 300  # 20/s for 15 s
        stored = stored_ids(db, symbol)  # asserts no id is stored twice
        assert stored == sorted(stored)
        assert set(stored) <= set(generated)
        with TradeStore(db, read_only=True) as store:
            gaps = store.gaps(symbol)
        assert gaps, f"{symbol}: the kill, the stalls and the skips left no gap record"
        assert {g.status for g in gaps} == {"filled"}
        for agg_id in sorted(set(generated) - set(stored)):
            if agg_id > stored[-1]:
                tail += 1  # after the last trade delivered: no live recorder can know
                continue
            gap = next(g for g in gaps if g.first_id <= agg_id <= g.last_id)
            assert agg_id % INVALID_EVERY == 0, (symbol, agg_id, gap)
            assert "marked invalid" in gap.reason and str(agg_id) in gap.reason
            explained_by_invalid += 1
        code = main(["verify", "--db", str(db), "--symbol", symbol, "--format", "json"])
        report = json.loads(capsys.readouterr().out)
        assert report["duplicates"] == 0 and report["out_of_order_keys"] == []
        assert report["undecodable_keys"] == []
        assert all(h["recorded_gap"] == "filled" for h in report["holes"]), report["holes"]
        # Holes inside filled gap records (invalid rows) are explained: verify passes.
        assert code == 0 and report["ok"] and report["unexplained_holes"] == 0

    # The harness's own figures agree with the account made here.
    assert figures["duplicates_stored"] == 0
    assert figures["unexplained_missing"] == 0
    assert figures["gaps_left_open"] == []
    assert figures["generated"] == SYMBOLS * 300
    assert figures["stored"] + figures["missing"] == figures["generated"]
    assert figures["missing"] == explained_by_invalid + tail
    assert figures["daemon_exit_on_sigterm"] == 0 and figures["daemon_lives"] == 2
    # Every fault really happened.
    assert sent.malformed_sent and sent.duplicates_sent and sent.trades_withheld
    # Each injected bad frame the daemon read was rejected (a few may die with a cut or
    # the kill); none was stored (checked above: only generated ids, each once).
    assert 0.8 * sent.malformed_sent <= figures["malformed_dropped"] <= sent.malformed_sent
    assert 0.8 * sent.duplicates_sent <= figures["duplicates_dropped"] <= sent.duplicates_sent
    assert sent.drops_by_reason["drop_every"] >= 1
    assert sent.rest_429_sent >= 1 and figures["backfill_rate_limited"] >= 1
    assert sum(len(sent.skipped_ids(s)) for s in sent.symbols) == SYMBOLS * (300 // 97)
    assert explained_by_invalid >= 1, "no invalid REST row fell inside a filled gap"
    log = (work / "daemon.log").read_text()
    assert "Traceback" not in log
    resumed = set(re.findall(r"(\w+): resuming after stored agg id", log))
    assert resumed == set(sent.symbols)  # the restart after kill -9 read every position
    # The watchdog recycled a silent connection while trades were still being generated
    # (log lines carry local time to the second).
    with TradeStore(db, read_only=True) as store:
        last_trade_s = max(v["last_time_ms"] for v in store.stats()["symbols"].values()) / 1000
    recycled_at = [
        time.mktime(time.strptime(line[:19], "%Y-%m-%d %H:%M:%S"))
        for line in log.splitlines()
        if "no data for" in line
    ]
    timeline = [line[:160] for line in log.splitlines() if "stream-0" in line or "resuming" in line]
    assert any(t + 1 <= last_trade_s for t in recycled_at), (
        recycled_at,
        last_trade_s,
        result["timeline"] if "timeline" in result else None,
        timeline,
    )
