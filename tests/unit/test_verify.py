"""``verify`` and ``gaps`` through the CLI on real stores with planted defects."""

from __future__ import annotations

import json

from tests.helpers.cli import run_cli
from tests.helpers.trades import T0, make_trades
from tradestore import Gap, TradeStore
from tradestore.codec._pure.encode import encode_batch


def test_clean_store_verifies(tmp_path, capsys):
    with TradeStore(tmp_path / "db") as store:
        for i in range(5):
            store.store_batch(
                "BTCUSDT", make_trades(100, start_id=1 + i * 100, start_ms=T0 + i * 1000)
            )
    code, out, _ = run_cli(
        capsys, "verify", "--db", tmp_path / "db", "--symbol", "BTCUSDT", "--format", "json"
    )
    assert code == 0
    doc = json.loads(out)
    assert doc["ok"] and doc["trades"] == 500
    assert (doc["first_agg_id"], doc["last_agg_id"]) == (1, 500)


def test_verify_names_holes_duplicates_bad_values_and_disorder(tmp_path, capsys):
    db = tmp_path / "db"
    with TradeStore(db) as store:
        store.store_batch("BTCUSDT", make_trades(10, start_id=1, start_ms=T0))
        store.store_batch(
            "BTCUSDT", make_trades(10, start_id=21, start_ms=T0 + 1000)
        )  # 11..20 missing
        # 28..30 twice: written past the store, as a writer that did not check ids would
        store.db.put(
            b"trades:BTCUSDT:%d" % (T0 + 2000),
            encode_batch(make_trades(5, start_id=28, start_ms=T0 + 2000)),
        )
        store.store_batch(
            "BTCUSDT", make_trades(5, start_id=35, start_ms=T0 + 3000)
        )  # 33..34 missing
        store.put_gap("BTCUSDT", Gap(11, 20, T0 + 90, T0 + 1000, T0 + 1001))
        store.db.put(b"trades:BTCUSDT:%d" % (T0 + 1500), b"\xc1garbage")
    code, out, _ = run_cli(capsys, "verify", "--db", db, "--symbol", "BTCUSDT", "--format", "json")
    assert code == 1
    doc = json.loads(out)
    assert [(h["first_id"], h["last_id"], h["recorded_gap"]) for h in doc["holes"]] == [
        (11, 20, "open"),
        (33, 34, "not recorded"),
    ]
    assert doc["missing_ids"] == 12
    assert doc["duplicates"] == 3
    assert doc["undecodable_keys"] == [f"trades:BTCUSDT:{T0 + 1500}"]
    assert doc["out_of_order_keys"] == [f"trades:BTCUSDT:{T0 + 2000}"]

    code, out, _ = run_cli(capsys, "verify", "--db", db, "--symbol", "BTCUSDT")
    assert code == 1 and "PROBLEMS FOUND" in out and "11..20 (gap record: open)" in out

    # A window that avoids the defects is clean.
    code, out, _ = run_cli(
        capsys,
        "verify",
        "--db",
        db,
        "--symbol",
        "BTCUSDT",
        "--start",
        T0,
        "--end",
        T0 + 500,
    )
    assert code == 0, out


def test_gaps_command(tmp_path, capsys):
    db = tmp_path / "db"
    with TradeStore(db) as store:
        store.store_batch("ETHUSDT", make_trades(3))
        store.put_gap("ETHUSDT", Gap(100, 149, T0, T0 + 5000, T0 + 6000))
        store.put_gap(
            "ETHUSDT",
            Gap(7, 9, T0, T0 + 50, T0 + 60).with_status("filled", filled_ms=T0 + 99),
        )
    code, out, _ = run_cli(capsys, "gaps", "--db", db, "--format", "json")
    assert code == 0
    rows = json.loads(out)["gaps"]
    assert [(r["first_id"], r["last_id"], r["missing"], r["status"]) for r in rows] == [
        (7, 9, 3, "filled"),
        (100, 149, 50, "open"),
    ]
    code, out, _ = run_cli(capsys, "gaps", "--db", db, "--open", "--format", "jsonl")
    assert [json.loads(line)["first_id"] for line in out.splitlines()] == [100]


def test_query_table_says_whether_the_window_is_complete(tmp_path, capsys):
    db = tmp_path / "db"
    with TradeStore(db) as store:
        store.store_batch("BTCUSDT", make_trades(10, start_id=1, start_ms=T0))
        store.store_batch("BTCUSDT", make_trades(10, start_id=16, start_ms=T0 + 1000))
        store.store_batch("BTCUSDT", make_trades(10, start_id=26, start_ms=T0 + 60_000))
        store.put_gap("BTCUSDT", Gap(26, 30, T0 + 1090, T0 + 1200, T0 + 1300))

    def query(start, end):
        code, out, _ = run_cli(
            capsys, "query", "--db", db, "--symbol", "BTCUSDT", "--start", start, "--end", end
        )
        assert code == 0
        return " ".join(out.split())  # the title may wrap

    assert "record complete" in query(T0, T0 + 90)
    assert "INCOMPLETE: 5 agg ids missing" in query(T0, T0 + 1090)
    # No trades at all, but an unfilled gap lies there: "not recorded", not "nothing happened".
    assert "INCOMPLETE: 1 unfilled gap overlaps" in query(T0 + 1150, T0 + 1160)
    assert "record complete" in query(T0 + 2000, T0 + 3000)


def test_profile_says_whether_its_window_is_complete(tmp_path, capsys):
    db = tmp_path / "db"
    with TradeStore(db) as store:
        for i in range(24):
            first = 1 + i * 100 + (5 if i == 18 else 0)  # ids 1801..1805 never stored
            store.store_batch(
                "BTCUSDT",
                make_trades(100 - (5 if i == 18 else 0), start_id=first, start_ms=T0 + i * 1000),
            )
    base = ["--db", db, "--symbol", "BTCUSDT"]
    code, out, _ = run_cli(
        capsys, "profile", *base, "--start", T0, "--end", T0 + 11_999, "--format", "json"
    )
    assert code == 0
    doc = json.loads(out)
    assert doc["data_complete"] is True and doc["trade_count"] == 1200
    code, out, _ = run_cli(capsys, "profile", *base, "--start", T0, "--end", T0 + 30_000)
    assert code == 0
    # The window runs past the last stored trade (23.99 s) and 5 ids are missing inside.
    text = " ".join(out.split())
    assert "PARTLY NOT RECORDED: the record ends 2026-01-01T00:00:23.990Z" in text
    assert "5 agg ids missing" in text
    code, out, _ = run_cli(
        capsys, "vacuums", *base, "--start", T0, "--end", T0 + 30_000, "--format", "json"
    )
    assert code == 0 and json.loads(out)["data_complete"] is False
