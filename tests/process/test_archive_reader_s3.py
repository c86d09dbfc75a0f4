"""``ArchiveReader`` over S3 (moto's server in its own process on 127.0.0.1): it reads
back what the local reader reads, day for day; a second reader finds the files in its
local cache (the server stopped, nothing is asked of it); the cache stays within its
bound, least recently used first; a partition replaced on the server is fetched again."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pytest

from tests.helpers.archive import FIRST_DAY, MotoServer, build_store
from tradestore.cli import main

pytest.importorskip("pyarrow")
pytest.importorskip("moto.server")
boto3 = pytest.importorskip("boto3")

from tradestore.archive import ArchiveReader, PartitionKey  # noqa: E402

SYMBOLS = {"BTCUSDT": 0, "ETHUSDT": 7_000_000}
DAYS = [FIRST_DAY + timedelta(days=i) for i in range(3)]
URL = "s3://trades/archive"


@pytest.fixture
def moto(tmp_path, monkeypatch):
    server = MotoServer(tmp_path / "moto.log").start()
    try:
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        server.create_bucket("trades")
        yield server
    finally:
        server.stop()


@pytest.fixture
def archives(tmp_path, moto):
    db, local = tmp_path / "db", tmp_path / "local"
    build_store(db, SYMBOLS, days=3, per_day=4000)
    for dest in (local, URL):
        assert main(["archive", "--db", str(db), "--to", str(dest), "--through", str(DAYS[2])]) == 0
    return local


def same_columns(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a.arrays(), b.arrays(), strict=True))


def read_all(reader: ArchiveReader) -> dict:
    out = {}
    for symbol in reader.symbols():
        for day in reader.days(symbol):
            out[(symbol, day)] = (
                reader.info(symbol, day),
                reader.day_value(symbol, day),
                reader.day_rollups(symbol, day),
                reader.columns(symbol, day),
            )
    return out


def assert_same(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for key, (info, value, rollups, cols) in want.items():
        g_info, g_value, g_rollups, g_cols = got[key]
        assert g_info.same_content(info)  # written by two runs: the same rows
        assert g_value == value
        assert g_rollups == rollups
        assert same_columns(g_cols, cols)


@pytest.mark.slow
def test_the_reader_over_s3_equals_the_local_one_and_caches_what_it_fetched(
    tmp_path, moto, archives
):
    local = ArchiveReader(str(archives))
    want = read_all(local)
    assert len(want) == 6
    cache = tmp_path / "cache"
    remote = ArchiveReader(URL, cache_dir=cache)
    assert_same(read_all(remote), want)
    # Per day: the day's value alone (a small part of the sidecar), the sidecar, the trades.
    assert remote.cache is not None and remote.cache.fetches == 3 * 6
    # Another reader (another process, say) with the same cache: once it has listed the
    # archive, it reads every day from the cache, even with the server gone.
    again = ArchiveReader(URL, cache_dir=cache)
    for symbol in SYMBOLS:
        again.days(symbol)
    moto.stop()
    got = {}
    for symbol in SYMBOLS:
        for day in DAYS:
            got[(symbol, day)] = (
                again.info(symbol, day),
                again.day_value(symbol, day),
                again.day_rollups(symbol, day),
                again.columns(symbol, day),
            )
    assert_same(got, want)
    assert again.cache is not None and again.cache.fetches == 0


@pytest.mark.slow
def test_the_cache_stays_within_its_bound(tmp_path, moto, archives):
    local = ArchiveReader(str(archives))
    sizes = [
        (archives / PartitionKey("spot", s, d).path).stat().st_size for s in SYMBOLS for d in DAYS
    ]
    bound = int(max(sizes) * 2.5)
    remote = ArchiveReader(URL, cache_dir=tmp_path / "cache", cache_bytes=bound)
    assert remote.cache is not None
    for symbol in SYMBOLS:
        for day in DAYS:
            assert same_columns(remote.columns(symbol, day), local.columns(symbol, day))
            assert remote.cache.total_bytes() <= bound
    kept = list((tmp_path / "cache").iterdir())
    assert 0 < len(kept) < 6  # the older days went, least recently used first
    # The newest day read is kept; reading it again fetches nothing.
    before = remote.cache.fetches
    remote.columns("ETHUSDT", DAYS[2])
    assert remote.cache.fetches == before


@pytest.mark.slow
def test_a_partition_replaced_on_the_server_is_fetched_again(tmp_path, moto, archives):
    local = ArchiveReader(str(archives))
    remote = ArchiveReader(URL, cache_dir=tmp_path / "cache")
    old = remote.columns("BTCUSDT", DAYS[0])
    assert same_columns(old, local.columns("BTCUSDT", DAYS[0]))
    # Replace day 0's trades file on the server with day 1's (other rows, other size).
    s3 = boto3.client("s3", endpoint_url=f"http://{moto.endpoint}")
    src = PartitionKey("spot", "BTCUSDT", DAYS[1]).path
    dst = PartitionKey("spot", "BTCUSDT", DAYS[0]).path
    s3.copy_object(
        Bucket="trades",
        Key=f"archive/{dst}",
        CopySource={"Bucket": "trades", "Key": f"archive/{src}"},
    )
    remote.refresh()
    new = remote.columns("BTCUSDT", DAYS[0])
    assert same_columns(new, local.columns("BTCUSDT", DAYS[1]))
    # The day's sidecar names the old file: its rollups are summed from the new trades.
    assert remote.day_rollups("BTCUSDT", DAYS[0]) == local.day_rollups("BTCUSDT", DAYS[1])
    assert remote.day_value("BTCUSDT", DAYS[0]) == local.day_value("BTCUSDT", DAYS[1])


def test_history_over_s3_answers_as_over_the_local_archive(archives, tmp_path, capsys):
    """A host whose store holds nothing of a symbol reads it from the shared archive on
    S3 (through the command line, as another shard would): the same profile, composite
    and trades as from the local copy of that archive."""
    from tradestore import TradeStore

    empty = tmp_path / "empty"
    with TradeStore(empty) as store:  # a store that never recorded these symbols
        assert store.symbols() == []
    window = ["--start", str(DAYS[0]), "--end", str(DAYS[2]), "--symbol", "ETHUSDT"]
    outs = []
    for dest in (archives, URL):
        for command in (["profile", "--tick-size", "1"], ["query", "--limit", "100000"]):
            code = main([*command, "--db", str(empty), "--archive", str(dest), *window,
                         "--archive-cache", str(tmp_path / "cache"), "--format", "json"])  # fmt: skip
            out, err = capsys.readouterr()
            assert code == 0, err
            outs.append(out.replace(str(archives), "DEST").replace(URL, "DEST"))
    assert outs[:2] == outs[2:]
    # Two whole days and the first millisecond of the third (--end is inclusive).
    assert json.loads(outs[0])["trade_count"] >= 8000
