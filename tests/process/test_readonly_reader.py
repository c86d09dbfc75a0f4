"""Readers on a database folder they may not write: an analyst's account reading the
recorder's live database. A reader opens a private mirror of the folder, so neither
rocksdict's config file nor the secondary instance's files go into the folder itself.

As root, the reads run in a child process that drops to the ``nobody`` account (root
ignores permissions, so only a real unprivileged account proves anything). As any other
user, the folder is made read-only with chmod and read in this process.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import trio

from tests.helpers import REPO, wait_for
from tests.helpers.daemon import kill_daemon, start_daemon, stop_daemon
from tests.helpers.seed import write_seed_style
from tests.helpers.store import stored_count
from tests.helpers.trades import make_trades
from tradestore import TradeStore
from tradestore.cli import main
from tradestore.fake import FakeExchangeConfig, open_fake_exchange
from tradestore.store._keys import MAX_MS

IS_ROOT = os.geteuid() == 0


def nobody_uid() -> int:
    try:
        return pwd.getpwnam("nobody").pw_uid
    except KeyError:
        pytest.skip("running as root, but there is no 'nobody' account to read as")


@pytest.fixture
def shared_dir():
    """A folder every account may enter (pytest's tmp_path is private to its owner)."""
    path = Path(tempfile.mkdtemp(prefix="tradestore-ro-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def files_of(db: Path) -> dict[str, tuple[int, int]]:
    """name -> (owner uid, mtime ns) of every file in the folder."""
    return {p.name: (p.stat().st_uid, p.stat().st_mtime_ns) for p in db.iterdir()}


def read_as(uid: int, warm_db: Path, db: Path, symbol: str, *extra: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "tests.helpers.reader_as", str(uid), str(warm_db), str(db),
         symbol, *extra],
        cwd=REPO, capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_reads_a_folder_it_cannot_write(shared_dir, capsys):
    """A database written the way the Rust recorder writes it, in a read-only folder."""
    batches = [make_trades(50, start_id=1 + 50 * i, start_ms=1_767_225_600_000 + 1000 * i)
               for i in range(20)]  # fmt: skip
    db = shared_dir / "db"
    write_seed_style(db, "BTCUSDT", batches + [[]])
    for path in [db, *db.iterdir()]:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    before = files_of(db)
    try:
        if IS_ROOT:
            warm = shared_dir / "warm"
            with TradeStore(warm) as store:
                store.store_batch("BTCUSDT", make_trades(5))
            seen = read_as(nobody_uid(), warm, db, "BTCUSDT")
            assert seen["uid"] != 0 and not seen["may_write"]
            code_stats, stats = seen["stats"]
            ids = seen["query_ids"][1]
            code_verify, verify = seen["verify"]
            assert seen["library_ids"] == ids
        else:
            assert not os.access(db, os.W_OK)
            code_stats = main(["stats", "--db", str(db), "--format", "json"])
            stats = json.loads(capsys.readouterr().out)
            assert main(["query", "--db", str(db), "--symbol", "BTCUSDT", "--start", "0",
                         "--end", str(MAX_MS), "--format", "jsonl"]) == 0  # fmt: skip
            ids = [json.loads(line)["agg_id"] for line in capsys.readouterr().out.splitlines()]
            code_verify = main(
                ["verify", "--db", str(db), "--symbol", "BTCUSDT", "--format", "json"]
            )
            verify = json.loads(capsys.readouterr().out)
        assert code_stats == 0 and stats["symbols"]["BTCUSDT"]["trades"] == 1000
        assert stats["symbols"]["BTCUSDT"]["last_agg_id"] == 1000
        assert ids == list(range(1, 1001))
        assert code_verify == 0 and verify["ok"] and verify["empty_batches"] == 1
        assert files_of(db) == before  # nothing written, created or touched in the folder
    finally:
        for path in [db, *db.iterdir()]:
            path.chmod(path.stat().st_mode | stat.S_IWUSR)


@pytest.mark.slow
@pytest.mark.skipif(
    not IS_ROOT,
    reason="reading the recorder's live folder as another account needs root to start "
    "that account's process (the static read-only folder test runs as any user)",
)
async def test_another_account_reads_while_the_recorder_writes(shared_dir):
    db = shared_dir / "db"
    warm = shared_dir / "warm"
    with TradeStore(warm) as store:
        store.store_batch("BTCUSDT", make_trades(5))
    log_path = shared_dir / "daemon.log"
    fcfg = FakeExchangeConfig(symbols=("BTCUSDT",), rate=100.0)
    async with open_fake_exchange(fcfg) as fx:
        argv = ["--db", str(db), "--endpoint", fx.ws_url, "--rest-endpoint", fx.rest_url]
        argv += ["--symbols", "BTCUSDT", "--retention-days", "0"]
        proc = await start_daemon(argv, log_path)
        try:
            with trio.fail_after(60):
                await wait_for(lambda: stored_count(db) >= 200, step=0.1)
                before = files_of(db)
                assert not before["CURRENT"][0]  # the recorder's files belong to root
                seen = await trio.to_thread.run_sync(
                    read_as, nobody_uid(), warm, db, "BTCUSDT", "--until-more"
                )
            await stop_daemon(proc, log_path)
        finally:
            await kill_daemon(proc)
    assert seen["uid"] == nobody_uid() and not seen["may_write"]
    assert 200 <= seen["first"] < seen["later"]  # it saw the writer's later flushes
    generated = fx.log.generated_ids("BTCUSDT")
    for ids in (seen["library_ids"], seen["query_ids"][1]):
        assert ids == generated[: len(ids)] and len(ids) >= seen["later"]
    assert seen["stats"][0] == 0 and seen["query_ids"][0] == 0
    assert seen["verify"][0] == 0 and seen["verify"][1]["duplicates"] == 0
    # The reader created nothing in the folder: every file there is the recorder's.
    assert {uid for uid, _mtime in files_of(db).values()} == {0}
    assert "Traceback" not in log_path.read_text()
