"""Databases written the way the Rust recorder writes them: keys = flush times, no meta
keys, empty batches (0x90), re-sent batches, slow flushes far past 60 s.

Read commands are exact on them before adoption (measuring in memory, saying so once);
the first writable open adopts them; imports then store every agg id exactly once.
"""

from __future__ import annotations

import itertools
import json
import logging
from decimal import Decimal

import pytest

from tests.helpers.seed import EMPTY_BATCH, seed_key, seed_value, write_raw, write_seed_style
from tradestore import AggTrade, CorruptValue, TradeStore
from tradestore.binance._csv import open_text, read_trades
from tradestore.cli import main
from tradestore.store import verify
from tradestore.store._keys import MAX_MS

SYMBOL = "BTCUSDT"
FIRST_ID, LAST_ID = 3800397495, 3800402494  # the ids of the real CSV sample


@pytest.fixture(scope="module")
def real_trades(real_csv_path=None) -> list[AggTrade]:
    from tests.conftest import REAL_CSV

    with open_text(REAL_CSV) as (text, _size):
        return [t for _ln, t in read_trades(text)]


def per_second(trades: list[AggTrade]) -> list[list[AggTrade]]:
    return [list(g) for _s, g in itertools.groupby(trades, key=lambda t: t.time_ms // 1000)]


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def all_ids(store: TradeStore) -> list[int]:
    return [t.agg_id for t in store.query_trades(SYMBOL, 0, MAX_MS)]


@pytest.fixture
def seed_db(tmp_path, real_trades):
    """The real sample as the Rust recorder stored it, with an empty batch every 50 and
    one more at the very end, so the highest key holds no trade."""
    batches = []
    for i, batch in enumerate(per_second(real_trades)):
        batches.append(batch)
        if i % 50 == 0:
            batches.append([])
    batches.append([])
    db = tmp_path / "seed"
    write_seed_style(db, SYMBOL, batches)
    return db


def test_empty_batch_under_the_last_key_reads_exactly(seed_db, real_trades, capsys):
    with TradeStore(seed_db, read_only=True) as store:
        stats = store.stats()["symbols"][SYMBOL]
        assert stats["trades"] == 5000
        assert (stats["first_agg_id"], stats["last_agg_id"]) == (FIRST_ID, LAST_ID)
        assert stats["first_time_ms"] == real_trades[0].time_ms
        assert stats["last_time_ms"] == real_trades[-1].time_ms
        assert store.last_agg_id(SYMBOL) == LAST_ID
        assert all_ids(store) == [t.agg_id for t in real_trades]
        report = verify(store, SYMBOL)
    assert report.ok and report.trades == 5000
    n_values = len(per_second(real_trades))
    assert report.empty_batches == n_values // 50 + 2
    assert report.batches == n_values + report.empty_batches
    code, out, _ = run_cli(capsys, "stats", "--db", seed_db, "--format", "json")
    assert code == 0 and json.loads(out)["symbols"][SYMBOL]["last_agg_id"] == LAST_ID


def test_resent_batch_under_the_last_key_does_not_move_the_resume_point(tmp_path, real_trades):
    """The batch under the highest key holds old ids (re-sent after a failed ack)."""
    batches = per_second(real_trades)
    db = tmp_path / "seed"
    keys = write_seed_style(db, SYMBOL, batches)
    last_key_ms = int(keys[-1][-13:])
    write_raw(db, [(seed_key(SYMBOL, last_key_ms + 5000), seed_value(batches[10]))])
    with TradeStore(db, read_only=True) as store:
        assert store.last_agg_id(SYMBOL) == LAST_ID
        stats = store.stats()["symbols"][SYMBOL]
        assert stats["last_agg_id"] == LAST_ID
        assert stats["last_time_ms"] == real_trades[-1].time_ms
        assert stats["trades"] == 5000 + len(batches[10])  # rows stored
        assert all_ids(store) == [t.agg_id for t in real_trades]  # each id once
    with TradeStore(db) as store:  # adopted: the resume point a restarted recorder reads
        assert store.last_agg_id(SYMBOL) == LAST_ID
        assert store.adoption.symbols[0].duplicates == len(batches[10])


def test_slow_flush_far_past_60_s_stays_visible(tmp_path, real_trades):
    """A batch keyed 10 minutes after its trades: every reader still finds them."""
    batches = per_second(real_trades)
    late = batches[100]
    db = tmp_path / "seed"
    write_seed_style(db, SYMBOL, batches[:100] + batches[101:])
    write_raw(db, [(seed_key(SYMBOL, late[-1].time_ms + 600_000), seed_value(late))])
    start, end = late[0].time_ms, late[-1].time_ms
    want = [t for t in real_trades if start <= t.time_ms <= end]
    with TradeStore(db, read_only=True) as store:
        assert store.query_trades(SYMBOL, start, end) == want
        assert store.query_columns(SYMBOL, start, end).agg_id.tolist() == [t.agg_id for t in want]
    with TradeStore(db) as store:  # adoption records the real margin
        before, after = store.margins(SYMBOL)
        assert before >= 600_000 and after == 0
    with TradeStore(db, read_only=True) as store:
        assert store.query_trades(SYMBOL, start, end) == want


def test_unadopted_reads_say_so_once(seed_db, caplog):
    caplog.set_level(logging.WARNING, logger="tradestore.store")
    with TradeStore(seed_db, read_only=True) as store:
        for _ in range(3):
            store.query_trades(SYMBOL, 0, MAX_MS)
            store.stats()
    said = [r.getMessage() for r in caplog.records if "has no bookkeeping" in r.getMessage()]
    assert len(said) == 1 and "tradestore-trio adopt --db" in said[0]


def test_adopt_command_records_what_it_measured(seed_db, real_trades, capsys, caplog):
    code, out, _ = run_cli(capsys, "adopt", "--db", seed_db, "--format", "json", "--no-progress")
    assert code == 0
    doc = json.loads(out)
    (row,) = doc["symbols"]
    assert row["trades"] == 5000 and row["distinct_ids"] == 5000 and row["id_ranges"] == 1
    assert (row["first_agg_id"], row["last_agg_id"]) == (FIRST_ID, LAST_ID)
    assert row["last_time_ms"] == real_trades[-1].time_ms
    assert row["duplicates"] == 0 and row["empty_batches"] > 0
    assert 0 < row["margin_before_ms"] <= 1250 and row["margin_after_ms"] == 0
    assert doc["trades_per_s"] > 0
    # Adopted: nothing more to do, and readers no longer measure anything.
    code, out, _ = run_cli(capsys, "adopt", "--db", seed_db)
    assert code == 0 and "nothing to adopt" in out
    caplog.set_level(logging.WARNING, logger="tradestore.store")
    with TradeStore(seed_db, read_only=True) as store:
        assert store.stats()["symbols"][SYMBOL]["trades"] == 5000
        assert store.stored_ids(SYMBOL).intervals == [(FIRST_ID, LAST_ID)]
    assert not [r for r in caplog.records if "has no bookkeeping" in r.getMessage()]


def test_import_into_a_seed_db_stores_nothing_twice(seed_db, real_csv, capsys):
    code, out, _ = run_cli(
        capsys, "import", "--create", "--db", seed_db, "--symbol", SYMBOL, real_csv
    )
    assert code == 0
    assert "5,000 trades read, 0 new trades stored, 5,000 already stored" in out
    code, out, _ = run_cli(capsys, "verify", "--db", seed_db, "--symbol", SYMBOL)
    assert code == 0, out
    with TradeStore(seed_db, read_only=True) as store:
        assert store.stats()["symbols"][SYMBOL]["trades"] == 5000


def test_overlapping_imports_store_each_id_once(tmp_path, real_csv, capsys):
    lines = real_csv.read_text().splitlines(keepends=True)
    first_100, first_1000 = tmp_path / "a.csv", tmp_path / "b.csv"
    first_100.write_text("".join(lines[:100]))
    first_1000.write_text("".join(lines[:1000]))
    db = tmp_path / "db"
    base = ["import", "--create", "--db", db, "--symbol", SYMBOL]
    assert "100 new trades stored, 0 already stored" in run_cli(capsys, *base, first_100)[1]
    code, out, _ = run_cli(capsys, *base, first_1000)
    assert code == 0 and "900 new trades stored, 100 already stored" in out
    code, out, _ = run_cli(capsys, *base, real_csv)
    assert code == 0 and "4,000 new trades stored, 1,000 already stored" in out
    assert run_cli(capsys, "verify", "--db", db, "--symbol", SYMBOL)[0] == 0
    with TradeStore(db, read_only=True) as store:
        assert store.stats()["symbols"][SYMBOL]["trades"] == 5000


def test_write_paths_leave_out_stored_ids_whatever_the_keys(seed_db, real_trades):
    """A replay under other keys (per-second batches against the seed's flush-time keys),
    a batch half old and half new, and an id repeated within one batch."""
    with TradeStore(seed_db) as store:
        for batch in per_second(real_trades):
            report = store.write_batches({SYMBOL: batch})
            assert (report.total_new, report.total_already_stored, report.keys) == (
                0,
                len(batch),
                (),
            )
        tail = real_trades[-3:]
        more = [
            AggTrade(LAST_ID + i, Decimal("87000.5"), Decimal("0.1"), tail[-1].time_ms + i, True)
            for i in (1, 2, 2, 3)
        ]
        new, already = store.new_trades(SYMBOL, tail + more)
        assert [t.agg_id for t in new] == [LAST_ID + 1, LAST_ID + 2, LAST_ID + 3]
        assert already == 4
        report = store.write_batches({SYMBOL: tail + more})
        assert (report.new, report.already_stored) == ({SYMBOL: 3}, {SYMBOL: 4})
        assert store.last_agg_id(SYMBOL) == LAST_ID + 3
    with TradeStore(seed_db, read_only=True) as store:
        assert all_ids(store) == [t.agg_id for t in real_trades] + [LAST_ID + i for i in (1, 2, 3)]
        assert verify(store, SYMBOL).ok


def test_import_then_run_keeps_reading_the_same(seed_db, real_trades):
    """Queries answer the same before adoption (measured), after it (recorded), and on a
    database the project wrote itself from the same trades."""
    windows = [(0, MAX_MS)] + [
        (real_trades[i].time_ms, real_trades[j].time_ms) for i, j in ((0, 10), (1000, 2500))
    ]
    with TradeStore(seed_db, read_only=True) as store:
        before = [store.query_trades(SYMBOL, a, b) for a, b in windows]
    TradeStore(seed_db).close()
    with TradeStore(seed_db, read_only=True) as store:
        after = [store.query_trades(SYMBOL, a, b) for a, b in windows]
    assert before == after
    assert before[0] == real_trades


@pytest.mark.parametrize("bad", ["-87000.5", "-0", "-0.00000000", "NaN"])
@pytest.mark.parametrize("field", ["price", "qty"])
def test_negative_amounts_are_refused_alike_by_every_reader(tmp_path, real_trades, bad, field):
    """A value with a negative (or negative-zero) price or quantity is not a trade: every
    reader refuses it naming the key, or skips the same value when asked to."""
    good = per_second(real_trades)[:3]
    rows = [[str(t.price), str(t.qty), t.time_ms, t.agg_id, t.is_buyer_maker] for t in good[1]]
    rows[0][0 if field == "price" else 1] = bad
    import msgpack

    bad_key = seed_key(SYMBOL, good[1][-1].time_ms + 100)
    db = tmp_path / "seed"
    write_seed_style(db, SYMBOL, [good[0], good[2]])
    write_raw(db, [(bad_key, msgpack.packb(rows))])
    window = (good[0][0].time_ms, good[2][-1].time_ms)
    with TradeStore(db, read_only=True) as store:
        for query in (store.query_trades, store.query_columns):
            with pytest.raises(CorruptValue) as exc:
                query(SYMBOL, *window)
            assert exc.value.key == bad_key
    with TradeStore(db, read_only=True, skip_corrupt=True) as store:
        trades = store.query_trades(SYMBOL, *window)
        cols = store.query_columns(SYMBOL, *window)
        assert [t.agg_id for t in trades] == cols.agg_id.tolist()
        assert len(trades) == len(good[0]) + len(good[2])
        assert store.corrupt_keys == {bad_key}
    with TradeStore(db, read_only=True) as store:
        assert verify(store, SYMBOL).undecodable == [bad_key.decode()]
    with TradeStore(db) as store:
        (row,) = store.adoption.symbols
        assert row.undecodable_keys == (bad_key.decode(),)
        assert row.trades == len(good[0]) + len(good[2])
        negative = AggTrade(1, Decimal(bad), Decimal("1"), good[0][0].time_ms, True)
        if field == "qty":
            negative = AggTrade(1, Decimal("1"), Decimal(bad), good[0][0].time_ms, True)
        with pytest.raises(ValueError, match="non-negative"):
            store.store_batch(SYMBOL, [negative])


def test_empty_batches_alone_are_a_symbol_without_trades(tmp_path):
    write_raw(
        tmp_path / "seed",
        [(seed_key("ETHUSDT", 1_767_225_600_000 + i), EMPTY_BATCH) for i in range(3)],
    )
    with TradeStore(tmp_path / "seed", read_only=True) as store:
        stats = store.stats()["symbols"]["ETHUSDT"]
        assert stats["trades"] == 0 and stats["last_agg_id"] is None
        assert store.last_agg_id("ETHUSDT") is None
        assert store.query_trades("ETHUSDT", 0, MAX_MS) == []
    with TradeStore(tmp_path / "seed") as store:
        assert store.adoption.symbols[0].empty_batches == 3
        trade = AggTrade(7, Decimal("1"), Decimal("2"), 1_767_225_600_000, False)
        assert store.store_batch("ETHUSDT", [trade]) is not None
        assert store.last_agg_id("ETHUSDT") == 7
