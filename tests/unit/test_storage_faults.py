"""A corrupt value in the DB: reads name the bad key and everything else stays readable."""

from __future__ import annotations

import json

import pytest

from tests.helpers.cli import run_cli
from tests.helpers.trades import T0, make_trades
from tradestore import CorruptValue, TradeStore

BAD_KEY = b"trades:BTCUSDT:%d" % (T0 + 5500)  # between two good batches


@pytest.fixture
def damaged(tmp_path):
    """1200 good trades in 12 batches, plus one value of garbage in the middle."""
    db = tmp_path / "db"
    with TradeStore(db) as store:
        for i in range(12):
            store.store_batch(
                "BTCUSDT", make_trades(100, start_id=1 + i * 100, start_ms=T0 + i * 1000)
            )
        # A later trade elsewhere: the writer summarises BTCUSDT's minute, which it kept
        # open (read from its trades) while it was the newest.
        store.store_batch("ETHUSDT", make_trades(1, start_ms=T0 + 120_000))
        assert not store.rollup_state("BTCUSDT").open_minutes  # type: ignore[union-attr]
        store.db.put(BAD_KEY, b"\x92\x95\xa5garbage")
    return db


def test_library_raises_naming_the_key_or_skips_on_request(damaged):
    with TradeStore(damaged, read_only=True) as store:
        with pytest.raises(CorruptValue) as exc:
            store.query_trades("BTCUSDT", T0, T0 + 60_000)
        assert exc.value.key == BAD_KEY
    with TradeStore(damaged, read_only=True, skip_corrupt=True) as store:
        trades = store.query_trades("BTCUSDT", T0, T0 + 60_000)
        assert [t.agg_id for t in trades] == list(range(1, 1201))
        assert len(store.query_columns("BTCUSDT", T0, T0 + 60_000)) == 1200
        assert store.corrupt_keys == {BAD_KEY}


def test_cli_reads_around_the_bad_value_and_names_it(damaged, capsys):
    base = ["--db", damaged, "--symbol", "BTCUSDT", "--start", T0, "--end", T0 + 60_000]
    code, out, err = run_cli(capsys, "query", *base, "--format", "jsonl")
    assert code == 1
    assert len(out.splitlines()) == 1200
    assert f"undecodable value skipped at {BAD_KEY.decode()}" in err

    # A profile reads the trades of the partial minutes at its edges (here: all of them)
    partial = ["--db", damaged, "--symbol", "BTCUSDT", "--start", T0, "--end", T0 + 30_000]
    code, out, err = run_cli(capsys, "profile", *partial, "--format", "json")
    assert code == 1 and json.loads(out)["trade_count"] == 1200
    assert BAD_KEY.decode() in err
    # and the rollups, written with the trades, for whole minutes: the garbage was put
    # past the store and is in no rollup (verify, below, names it).
    code, out, err = run_cli(capsys, "profile", *base, "--format", "json")
    assert code == 0 and json.loads(out)["trade_count"] == 1200

    code, out, _ = run_cli(
        capsys, "verify", "--db", damaged, "--symbol", "BTCUSDT", "--format", "json"
    )
    assert code == 1
    doc = json.loads(out)
    assert doc["undecodable_keys"] == [BAD_KEY.decode()]
    assert doc["trades"] == 1200 and doc["holes"] == []

    # The writer side keeps working on the damaged DB.
    with TradeStore(damaged) as store:
        store.store_batch("BTCUSDT", make_trades(10, start_id=1201, start_ms=T0 + 20_000))
    code, out, _ = run_cli(capsys, "query", *base, "--format", "jsonl")
    assert code == 1 and len(out.splitlines()) == 1210
