"""The archive on an S3-compatible server (moto in its own process on 127.0.0.1), written
by ``tradestore-trio archive`` as a real process and read back by pyarrow and DuckDB;
and a local archive whose writer is killed mid-partition."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from tests.helpers.archive import (
    FIRST_DAY,
    MotoServer,
    build_store,
    exact_figures,
)

pa = pytest.importorskip("pyarrow")
pytest.importorskip("moto.server")
duckdb = pytest.importorskip("duckdb")

import pyarrow.dataset as ds  # noqa: E402
import pyarrow.fs as pafs  # noqa: E402

from tradestore.archive import checksum, from_table  # noqa: E402

SYMBOLS = {"BTCUSDT": 0, "ETHUSDT": 7_000_000}


@pytest.fixture
def moto(tmp_path):
    server = MotoServer(tmp_path / "moto.log").start()
    try:
        yield server
    finally:
        server.stop()


def tradestore(*argv, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tradestore", *map(str, argv)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def s3_figures(moto: MotoServer, bucket_prefix: str) -> dict:
    """Per (symbol, day) figures read back from S3 by pyarrow, aggregated by DuckDB."""
    fs = pafs.S3FileSystem(
        access_key="testing",
        secret_key="testing",
        region="us-east-1",
        endpoint_override=moto.endpoint,
        scheme="http",
    )
    dataset = ds.dataset(
        bucket_prefix,
        filesystem=fs,
        format="parquet",
        partitioning="hive",
        exclude_invalid_files=True,
    )
    con = duckdb.connect()
    con.register("trades", dataset)
    rows = con.execute(
        """SELECT symbol, CAST(date AS DATE), count(*), min(agg_id), max(agg_id), sum(qty),
                  sum(CAST(price AS DECIMAL(38, 8)) * qty)
           FROM trades GROUP BY ALL ORDER BY ALL"""
    ).fetchall()
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}


@pytest.mark.slow
def test_archive_to_s3_and_read_back(tmp_path, moto, cli_env):
    db = tmp_path / "db"
    data = build_store(db, SYMBOLS, days=2, per_day=3000)
    moto.create_bucket("trades")
    env = {**cli_env, **moto.env()}
    url = "s3://trades/archive/v1"
    done = tradestore("archive", "--db", db, "--to", url, env=env)
    assert done.returncode == 0, done.stderr
    assert "6 partitions written, 0 failed" in done.stderr
    expected = {(s, d): exact_figures(t) for (s, d), t in data.by_day().items()}
    assert s3_figures(moto, "trades/archive/v1") == expected
    # Again: nothing to do. verify compares every day with the store, trade by trade.
    again = tradestore("archive", "--db", db, "--to", url, "--format", "jsonl", env=env)
    assert again.returncode == 0 and '"action": "written"' not in again.stdout
    checked = tradestore("verify", "--db", db, "--archive", url, env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "6 archived, 0 with problems" in checked.stdout
    # Credentials and endpoint can also come from the URL's query (pyarrow's S3 options).
    bare = {k: v for k, v in env.items() if k != "AWS_ENDPOINT_URL"}
    query = f"s3://trades/other?endpoint_override={moto.endpoint}&scheme=http"
    done = tradestore("archive", "--db", db, "--to", query, "--symbol", "ETHUSDT", env=bare)
    assert done.returncode == 0, done.stderr
    assert "3 partitions written" in done.stderr


@pytest.mark.slow
def test_s3_destination_errors_are_clear(tmp_path, moto, cli_env):
    db = tmp_path / "db"
    build_store(db, {"BTCUSDT": 0}, days=1, per_day=100)
    env = {**cli_env, **moto.env()}
    done = tradestore("archive", "--db", db, "--to", "s3://no-such-bucket/x", env=env)
    assert done.returncode == 2
    assert "cannot write to s3://no-such-bucket/x" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_killed_mid_partition_leaves_nothing_partial_and_the_rerun_completes(tmp_path, cli_env):
    db = tmp_path / "db"
    data = build_store(db, {"BTCUSDT": 0, "ETHUSDT": 9_000_000}, days=4, per_day=150_000, tail=10)
    root = tmp_path / "archive"
    staging = root / "_staging"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tradestore", "archive", "--db", str(db), "--to", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=cli_env,
    )
    try:
        # Freeze the writer while a staged file exists (a partition half written), so the
        # kill lands mid-partition for certain, then kill it.
        deadline = time.monotonic() + 120
        while True:
            assert time.monotonic() < deadline, "no staged file was ever seen"
            assert proc.poll() is None, "the archive finished before it could be stopped"
            if staging.is_dir() and any(p.suffix == ".tmp" for p in staging.iterdir()):
                os.kill(proc.pid, signal.SIGSTOP)
                if any(p.suffix == ".tmp" and p.stat().st_size for p in staging.iterdir()):
                    break
                os.kill(proc.pid, signal.SIGCONT)
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stderr.close()
    expected = {(s, d): t for (s, d), t in data.by_day().items()}
    visible = sorted(root.glob("market=*/symbol=*/date=*/*.parquet"))
    assert len(visible) < len(expected)
    assert any(p.suffix == ".tmp" for p in staging.iterdir())  # the half-written file
    import pyarrow.parquet as pq

    from tradestore.archive import METADATA_KEY, PartitionInfo

    for path in visible:  # whatever is visible is whole: its rows match its footer
        info = PartitionInfo.from_json(pq.read_metadata(path).metadata[METADATA_KEY.encode()])
        cols = from_table(pq.read_table(path))
        assert len(cols) == info.rows and checksum(cols) == info.checksum
    done = subprocess.run(
        [sys.executable, "-m", "tradestore", "archive", "--db", str(db), "--to", str(root)],
        capture_output=True,
        text=True,
        env=cli_env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    con = duckdb.connect()
    rows = con.execute(
        f"""SELECT symbol, date, count(*), min(agg_id), max(agg_id), sum(qty),
                   sum(CAST(price AS DECIMAL(38, 8)) * qty)
            FROM read_parquet('{root}/market=*/symbol=*/date=*/*.parquet',
                              hive_partitioning = true) GROUP BY ALL"""
    ).fetchall()
    got = {(r[0], r[1]): tuple(r[2:]) for r in rows}
    assert got == {k: exact_figures(t) for k, t in expected.items()}
    assert (FIRST_DAY + timedelta(days=3)) in {d for _s, d in got}
    assert Path(root).is_dir()
