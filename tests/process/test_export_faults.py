"""``export`` into a place that refuses the file, made real rather than mocked: a tmpfs too
small for it (ENOSPC), a tmpfs mounted read-only (EROFS: the issue's own case), and a
process whose file-size limit the export outgrows (RLIMIT_FSIZE: EFBIG midway, the one
that needs no root). Each ends in one line and exit 2, with no file and no partial file
left behind."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager

import pytest

from tests.helpers.cli import run_cli
from tests.helpers.trades import make_trades
from tradestore import TradeStore

TRADES = 20_000  # about 1 MB of CSV: more than the small filesystem and the size limit


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "db"
    with TradeStore(path) as store:
        store.write_batches({"BTCUSDT": make_trades(TRADES)})
    return path


@contextmanager
def tmpfs(mount, options: str):
    mount.mkdir()
    cmd = ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)]
    if os.geteuid() != 0 or subprocess.run(cmd, capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs needs root (the RLIMIT_FSIZE test covers a failed write)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


@pytest.mark.parametrize(
    ("options", "says"),
    [("size=64k", "No space left on device"), ("ro,size=64k", "Read-only file system")],
)
@pytest.mark.parametrize("name", ["btc.csv", "btc.csv.zip", "btc.jsonl", "btc.parquet"])
def test_a_filesystem_that_refuses_the_file(tmp_path, capsys, db, options, says, name):
    if name.endswith(".parquet"):
        pytest.importorskip("pyarrow")
    with tmpfs(tmp_path / "mnt", options) as mount:
        target = mount / name
        code, out, err = run_cli(
            capsys, "export", "--db", db, "--symbol", "BTCUSDT", "-o", target, "--no-progress"
        )
        left = sorted(p.name for p in mount.iterdir())
    assert code == 2, (out, err)
    assert err == f"tradestore-trio export: cannot write {target}: {says}\n"
    assert left == []


CAPPED = """
import resource, sys
resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, resource.RLIM_INFINITY))
from tradestore.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_write_that_fails_midway(tmp_path, db, cli_env):
    """RLIMIT_FSIZE of 200 kB: the export's file grows past it and the next write fails
    with EFBIG (Python ignores SIGXFSZ), after part of the file was written."""
    out = tmp_path / "out"
    out.mkdir()
    target = out / "btc.csv"
    done = subprocess.run(
        [sys.executable, "-c", CAPPED, "export", "--db", str(db), "--symbol", "BTCUSDT"]
        + ["-o", str(target), "--no-progress"],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr == f"tradestore-trio export: cannot write {target}: File too large\n"
    assert list(out.iterdir()) == []
