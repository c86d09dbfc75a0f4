"""``--shard I/N``: a stable split of one symbol list across hosts, shown by
``run --print-config``; the hosts' archives land in one dataset without collisions."""

from __future__ import annotations

import tomllib

import pytest

from tests.helpers.archive import build_store
from tradestore.cli import main
from tradestore.recorder import ConfigError, RecorderConfig, own_symbols, parse_shard, shard_of

MARKET = [f"{base}USDT" for base in ("BTC", "ETH", "BNB", "SOL", "XRP", "DOGE", "ADA", "TRX")]
MARKET += [f"COIN{i}USDT" for i in range(192)]


def test_every_symbol_goes_to_exactly_one_shard():
    for n in (1, 2, 3, 7):
        parts = [own_symbols(MARKET, (i, n)) for i in range(1, n + 1)]
        assert sorted(s for part in parts for s in part) == sorted(MARKET)
        assert all(parts), "no shard is left empty on 200 symbols"
        # Roughly even: no shard holds more than twice its share.
        assert max(len(p) for p in parts) <= 2 * len(MARKET) / n


def test_the_split_is_stable():
    # Independent of order, of the other symbols, and of the process (pinned values).
    n = 3
    assert own_symbols(reversed(MARKET), (2, n)) == tuple(reversed(own_symbols(MARKET, (2, n))))
    assert {s: shard_of(s, n) for s in MARKET[:8]} == {s: shard_of(s, n) for s in MARKET[:8]}
    assert [shard_of(s, 3) for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT")] == [3, 1, 3]
    # A fourth host takes only symbols for itself; nothing moves between the first three.
    moved = [s for s in MARKET if shard_of(s, 4) != shard_of(s, 3)]
    assert all(shard_of(s, 4) == 4 for s in moved)
    assert 0.1 < len(moved) / len(MARKET) < 0.4


@pytest.mark.parametrize("text", ["0/3", "4/3", "1/0", "a/b", "1", "2/3/4", "1/2000"])
def test_bad_shards_are_refused(text):
    with pytest.raises(ValueError):
        parse_shard(text)
    with pytest.raises(ConfigError, match="shard"):
        RecorderConfig(symbols=("BTCUSDT",), shard=text)


def test_print_config_lists_the_shards_own_symbols(capsys):
    symbols = ",".join(MARKET[:8])
    code = main(["run", "--symbols", symbols, "--shard", "2/3", "--print-config"])
    out = capsys.readouterr().out
    assert code == 0
    doc = tomllib.loads(out)
    assert doc["shard"] == "2/3"
    assert tuple(doc["symbols"]) == own_symbols(MARKET[:8], (2, 3))
    # Read back, the printed config records the same symbols.
    assert RecorderConfig.from_mapping(doc).symbols == tuple(doc["symbols"])


def test_a_shard_with_no_symbol_is_a_usage_error(capsys):
    # Of BTCUSDT alone, shard 1/3 gets nothing (BTCUSDT goes to 3 of 3).
    code = main(["run", "--symbols", "BTCUSDT", "--shard", "1/3", "--print-config"])
    assert code == 2
    assert "records none of the 1 symbols" in capsys.readouterr().err


def test_archive_to_is_checked_at_start(capsys):
    code = main(["run", "--archive-to", "ftp://x/y", "--print-config"])
    assert code == 2
    assert "archive_to" in capsys.readouterr().err


def test_hosts_archive_into_one_dataset(tmp_path, capsys):
    duckdb = pytest.importorskip("duckdb")
    symbols = MARKET[:6]
    root = tmp_path / "archive"
    expected = {}
    for i in (1, 2):
        own = own_symbols(symbols, (i, 2))
        db = tmp_path / f"host{i}"
        built = build_store(db, {s: k * 1_000_000 for k, s in enumerate(own)}, days=1, per_day=300)
        expected.update({s: len(t) for s, t in built.trades.items()})
        assert main(["archive", "--db", str(db), "--to", str(root)]) == 0
    capsys.readouterr()
    rows = duckdb.sql(
        f"SELECT symbol, count(*) FROM read_parquet('{root}/market=*/symbol=*/date=*/*.parquet',"
        " hive_partitioning = true) GROUP BY symbol"
    ).fetchall()
    assert dict(rows) == expected
    assert sorted(expected) == sorted(symbols)
