"""The daemon with ``archive_to`` (a directory, and a bucket on an S3-compatible server):
it archives the closed days it holds (child processes on a secondary view of the store),
serves the archive's figures on /metrics over HTTP, and its retention deletes only what
is archived and verified — a day whose archive disagrees with the store is kept, and so
is everything after it."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
import numpy as np
import pytest
import trio

from tests.helpers import wait_for
from tests.helpers.archive import MotoServer, day_trades, write
from tests.helpers.recorder import MiniExchange
from tradestore import TradeStore
from tradestore.archive import redact
from tradestore.recorder import RecorderConfig, run
from tradestore.store import TradeColumns, apply_retention, coverage_in, plan_retention

pq = pytest.importorskip("pyarrow.parquet")

from tradestore.archive import (  # noqa: E402
    METADATA_KEY,
    Destination,
    PartitionInfo,
    PartitionKey,
    checksum,
    day_end_ms,
    day_of,
    day_start_ms,
    from_table,
    to_table,
)


def forge_conflict(dest: Destination, key: PartitionKey, trades) -> bytes:
    """A partition for ``key`` whose trade 10 has another qty (consistent with its own
    checksum, marked incomplete): what a second host with other data would have left."""
    cols = TradeColumns(
        agg_id=np.array([t.agg_id for t in trades], dtype=np.int64),
        time_ms=np.array([t.time_ms for t in trades], dtype=np.int64),
        price=np.array([int(t.price * 10**8) for t in trades], dtype=np.int64),
        qty=np.array([int(t.qty * 10**8) for t in trades], dtype=np.int64),
        is_buyer_maker=np.array([t.is_buyer_maker for t in trades]),
    )
    cols.qty[10] += 1
    info = PartitionInfo(
        market=key.market,
        symbol=key.symbol,
        date=key.day.isoformat(),
        rows=len(cols),
        first_agg_id=int(cols.agg_id[0]),
        last_agg_id=int(cols.agg_id[-1]),
        first_time_ms=int(cols.time_ms.min()),
        last_time_ms=int(cols.time_ms.max()),
        missing_ids=0,
        complete=False,
        checksum=checksum(cols),
        incomplete_reasons=("written elsewhere",),
    )
    table = to_table(cols).replace_schema_metadata({METADATA_KEY: info.to_json()})
    dest.fs.create_dir(dest.full(key.directory), recursive=True)
    with dest.fs.open_output_stream(dest.full(key.path)) as out:
        pq.write_table(table, out)
    return read_bytes(dest, key)


def read_bytes(dest: Destination, key: PartitionKey) -> bytes:
    with dest.fs.open_input_stream(dest.full(key.path)) as fh:
        return fh.read()


@pytest.fixture(params=["local", "s3"])
def destination(request, tmp_path, monkeypatch):
    """The archive's URL: a directory, or a bucket on an S3-compatible server (moto in
    its own process) whose settings reach the daemon's children through the environment."""
    if request.param == "local":
        yield str(tmp_path / "archive")
        return
    pytest.importorskip("moto.server")
    server = MotoServer(tmp_path / "moto.log").start()
    try:
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        server.create_bucket("trades")
        yield "s3://trades/archive"
    finally:
        server.stop()


@pytest.mark.slow
async def test_daemon_archives_and_retention_keeps_what_is_not_verified(tmp_path, destination):
    db, dest = tmp_path / "db", Destination(destination)
    today = day_of(int(time.time() * 1000))
    days = [today - timedelta(days=n) for n in (10, 9, 8)]
    trades = {}
    next_id = 1
    with TradeStore(db) as store:
        for day in days:
            trades[day] = day_trades("BTCUSDT", day, 500, next_id)
            next_id += 500
            write(store, "BTCUSDT", trades[day])
        # Retention never deletes what was older than its window when stored (imported
        # history): a pass from before these days sets the edge below them, as if the
        # recorder had been running then, so they age out like recorded trades.
        then = day_start_ms(days[0]) + 5 * 86_400_000 - 1
        apply_retention(store, plan_retention(store, days=5, now_ms=then))
    forged = forge_conflict(dest, PartitionKey("spot", "BTCUSDT", days[1]), trades[days[1]])

    async def idle(ws, index):
        await trio.sleep_forever()

    config = RecorderConfig(
        symbols=("BTCUSDT",),
        db=str(db),
        backfill=False,
        archive_to=destination,
        archive_grace=0,
        retention_days=5,
        metrics_addr="127.0.0.1:0",
    )
    async with trio.open_nursery() as nursery:
        fx = await MiniExchange(idle).start(nursery)
        recorder = await nursery.start(run, config.replace(endpoint=fx.url))
        with trio.fail_after(90):
            await wait_for(lambda: recorder.statistics().prune.runs >= 1, step=0.05)
        stats = recorder.statistics()
        async with httpx.AsyncClient(base_url=stats.metrics_url) as client:
            metrics = (await client.get("/metrics")).text
        nursery.cancel_scope.cancel()

    archive = stats.archive
    assert archive is not None and archive.runs >= 1
    assert archive.failed_days == 1  # the conflicting day
    assert archive.retention_held_days == 1
    assert archive.archived_through["BTCUSDT"] == days[2].isoformat()
    assert 'tradestore_archive_lag_seconds{symbol="BTCUSDT"}' in metrics
    assert "tradestore_archive_runs_total" in metrics
    assert "tradestore_archive_retention_held_days 1.0" in metrics
    # The first day was archived and verified: pruned (but for its last batch, which the
    # store keeps while it may reach past the cutoff). The conflicting day, and every day
    # after it, are kept in full; the conflicting partition was not touched.
    with TradeStore(db, read_only=True) as store:

        def held(day):
            return store.query_columns("BTCUSDT", day_start_ms(day), day_end_ms(day)).agg_id

        first = held(days[0]).tolist()
        assert len(first) < 100 and first == [t.agg_id for t in trades[days[0]][-len(first) :]]
        assert [len(held(d)) for d in days[1:]] == [500, 500]
        # The store remembers where its days are archived: a query of the pruned day
        # says where its trades are.
        noted = store.noted_archive()
        assert noted is not None and noted == redact(str(destination))
        cover = coverage_in(
            store, "BTCUSDT", None, None, 0, day_start_ms(days[0]), day_end_ms(days[0]), raw=True
        )
        assert f"the recorder archives them to {noted}" in cover.summary()
    assert read_bytes(dest, PartitionKey("spot", "BTCUSDT", days[1])) == forged
    for day in (days[0], days[2]):
        cols = from_table(dest.read_table(PartitionKey("spot", "BTCUSDT", day)))
        assert cols.agg_id.tolist() == [t.agg_id for t in trades[day]]
