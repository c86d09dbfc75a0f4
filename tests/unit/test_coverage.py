"""Not recorded is not "no trades": every read command and the API tell them apart."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import pytest

from tests.helpers.cli import official_zip, run_cli
from tradestore import AggTrade, TradeStore
from tradestore.analytics import volume_profile
from tradestore.store import recorded_span, window_coverage

FIRST_MS, LAST_MS = 1767225600039, 1767226339347  # the sample's first and last trade
DAY_START, DAY_END = 1767225600000, 1767311999999  # 2026-01-01, all of it


@pytest.fixture
def btc_db(tmp_path, capsys, real_csv):
    """The real sample imported as BTCUSDT (its name is not an official daily name)."""
    db = tmp_path / "db"
    assert run_cli(capsys, "import", "--create", "--db", db, real_csv)[0] == 0
    return db


def test_query_a_symbol_never_recorded(btc_db, capsys):
    """A symbol never stored is a mistake (exit 2, tests/unit/test_unknown_symbol.py); a
    window before the record of a stored one is NOT RECORDED in every format."""
    window = ["--start", "2026-01-01T00:00:00Z", "--end", "2026-01-01T00:01:00Z"]
    code, out, err = run_cli(capsys, "query", "--db", btc_db, "--symbol", "ETHUSDT", *window)
    assert (code, out) == (2, "")
    assert (
        err == "tradestore-trio query: no trades were ever stored for ETHUSDT (stored: BTCUSDT)\n"
    )

    window = ["--start", "2025-12-31T23:00:00Z", "--end", "2025-12-31T23:01:00Z"]
    base = ["query", "--db", btc_db, "--symbol", "BTCUSDT", *window]
    code, out, err = run_cli(capsys, *base)
    assert code == 0 and err == ""
    assert "0 trades; NOT RECORDED: the record runs" in " ".join(out.split())
    assert "complete" not in out

    code, out, err = run_cli(capsys, *base, "--format", "json")
    doc = json.loads(out)
    assert doc["trades"] == [] and doc["count"] == 0
    cover = doc["coverage"]
    assert (cover["complete"], cover["recorded"]) == (False, "none")
    assert cover["not_recorded"] == [
        {"from": "2025-12-31T23:00:00.000Z", "to": "2025-12-31T23:01:00.000Z"}
    ]
    assert err.startswith("note: BTCUSDT") and "NOT RECORDED" in err and err.count("\n") == 1

    code, out, err = run_cli(capsys, *base, "--format", "csv")
    assert out == "agg_id,price,qty,time_ms,is_buyer_maker\n"  # the header, even when empty
    assert "NOT RECORDED" in err
    code, out, err = run_cli(capsys, *base, "--format", "jsonl")
    assert out == "" and "NOT RECORDED" in err


def test_query_outside_and_across_the_record(btc_db, capsys):
    base = ["query", "--db", btc_db, "--symbol", "BTCUSDT"]
    # The default window (the last hour) of a historical store: nothing there was recorded.
    code, out, _ = run_cli(capsys, *base)
    text = " ".join(out.split())
    assert code == 0
    assert "0 trades; NOT RECORDED: the record runs 2026-01-01T00:00:00.039Z .. " in text

    # From before the first trade: the first 39 ms are not recorded; the rest is whole.
    code, out, _ = run_cli(capsys, *base, "--start", "2026-01-01", "--end", FIRST_MS + 999)
    text = " ".join(out.split())
    assert "PARTLY NOT RECORDED: the record starts 2026-01-01T00:00:00.039Z" in text
    assert "(the window's first 39 ms are before it)" in text

    code, out, _ = run_cli(
        capsys, *base, "--start", LAST_MS - 1000, "--end", LAST_MS + 60_000, "--format", "json"
    )
    cover = json.loads(out)["coverage"]
    assert cover["recorded"] == "partial" and cover["complete"] is False
    assert cover["not_recorded"] == [
        {"from": "2026-01-01T00:12:19.348Z", "to": "2026-01-01T00:13:19.347Z"}
    ]


def test_recorded_and_nothing_traded_is_complete(tmp_path, capsys):
    db = tmp_path / "db"
    t0 = 1_767_225_600_000
    with TradeStore(db) as store:
        store.store_batch("BTCUSDT", [AggTrade(1, Decimal(1), Decimal(1), t0, False)])
        store.store_batch("BTCUSDT", [AggTrade(2, Decimal(1), Decimal(1), t0 + 60_000, True)])
    code, out, err = run_cli(
        capsys, "query", "--db", db, "--symbol", "BTCUSDT", "--start", t0 + 1, "--end",
        t0 + 59_999, "--format", "csv",
    )  # fmt: skip
    assert code == 0 and out == "agg_id,price,qty,time_ms,is_buyer_maker\n"
    assert "0 trades; record complete" in err  # an empty result always says which it is
    with TradeStore(db, read_only=True) as store:
        cover = window_coverage(store, "BTCUSDT", t0 + 1, t0 + 59_999)
        assert cover.complete and cover.recorded == "full" and cover.trades == 0
        cover = window_coverage(store, "ETHUSDT", t0, t0 + 1)
        assert not cover.complete and cover.recorded == "none"


def test_profile_and_vacuums_of_an_unrecorded_window(btc_db, capsys):
    for command in ("profile", "vacuums"):
        code, _, err = run_cli(capsys, command, "--db", btc_db, "--symbol", "BTCUSDT")
        assert code == 2
        assert "insufficient data: 0 BTCUSDT trades" in err
        assert "NOT RECORDED: the record runs" in " ".join(err.split())
    with TradeStore(btc_db, read_only=True) as store:
        profile = volume_profile(store, "BTCUSDT", FIRST_MS - 1000, LAST_MS, bins=10)
    assert profile.coverage.recorded == "partial"
    assert profile.to_json()["coverage"]["not_recorded"][0]["to"] == "2026-01-01T00:00:00.038Z"


def test_an_official_daily_file_declares_its_whole_day(tmp_path, capsys, real_csv):
    """data.binance.vision's BTCUSDT-aggTrades-2026-01-01.zip, proven whole by the
    .CHECKSUM published beside it, holds every trade of that day: the day is recorded from
    00:00:00.000, though its first trade came at .039."""
    db = tmp_path / "db"
    archive = official_zip(real_csv, tmp_path, checksum=True)
    code, _, err = run_cli(capsys, "import", "--create", "--db", db, archive)
    assert code == 0 and err == ""  # proven whole: nothing to warn about
    with TradeStore(db, read_only=True) as store:
        assert recorded_span(store, "BTCUSDT") == (DAY_START, DAY_END)
    code, out, _ = run_cli(
        capsys, "query", "--db", db, "--symbol", "BTCUSDT", "--start", "2026-01-01",
        "--end", "2026-01-01T00:00:01Z",
    )  # fmt: skip
    assert "7 trades; record complete" in out
    code, out, _ = run_cli(capsys, "stats", "--db", db, "--format", "csv")
    row = next(csv.DictReader(io.StringIO(out)))
    assert (row["recorded_from"], row["recorded_to"]) == (
        "2026-01-01T00:00:00.000Z",
        "2026-01-01T23:59:59.999Z",
    )
    assert row["first_trade_time"] == "2026-01-01T00:00:00.039Z"

    # Prune the start of the day: the rollups remember it, so the record still holds
    # the whole day, and a query of the pruned minutes says their trades are gone.
    assert run_cli(capsys, "prune", "--db", db, "--before", "2026-01-01T00:06:00Z")[0] == 0
    with TradeStore(db, read_only=True) as store:
        first, _last = store.trade_time_span("BTCUSDT")
        assert first > DAY_START + 5 * 60_000
        assert recorded_span(store, "BTCUSDT") == (DAY_START, DAY_END)
    code, out, _ = run_cli(
        capsys, "query", "--db", db, "--symbol", "BTCUSDT", "--start", "2026-01-01",
        "--end", "2026-01-01T00:00:01Z",
    )  # fmt: skip
    assert "0 trades; record INCOMPLETE: TRADES PRUNED" in " ".join(out.split())

    # With their rollups too: the record starts at the first trade still stored.
    code, out, _ = run_cli(
        capsys, "prune", "--db", db, "--before", "2026-01-01T00:07:00Z", "--with-rollups"
    )
    assert code == 0
    with TradeStore(db, read_only=True) as store:
        first, _last = store.trade_time_span("BTCUSDT")
        assert first > DAY_START + 6 * 60_000
        assert recorded_span(store, "BTCUSDT") == (first, DAY_END)


def test_trade_time_span_and_the_bounds_around_a_time(tmp_path):
    """The seeks the coverage and the import's neighbour search stand on."""
    t0 = 1_767_225_600_000
    db = tmp_path / "db"
    with TradeStore(db) as store:
        assert store.trade_time_span("BTCUSDT") is None
        assert store.prev_trade_bound("BTCUSDT", t0) is None
        for i, t in enumerate((t0, t0 + 5_000, t0 + 3_600_000)):
            store.store_batch(
                "BTCUSDT",
                [AggTrade(3 * i + k + 1, Decimal(1), Decimal(1), t + k, False) for k in range(3)],
            )
        assert store.trade_time_span("BTCUSDT") == (t0, t0 + 3_600_002)
        # prev: a time at or after the last trade at or before to_ms, never after to_ms
        assert t0 + 5_002 <= store.prev_trade_bound("BTCUSDT", t0 + 3_000_000) <= t0 + 3_000_000
        assert store.prev_trade_bound("BTCUSDT", t0 - 1) is None
        # next: a time at or before the first trade at or after from_ms
        assert t0 + 5_003 <= store.next_trade_bound("BTCUSDT", t0 + 5_003) <= t0 + 3_600_000


def test_verify_does_not_pass_what_was_never_recorded(btc_db, capsys):
    code, out, err = run_cli(capsys, "verify", "--db", btc_db, "--symbol", "ETHUSDT")
    assert (code, out) == (2, "") and "no trades were ever stored for ETHUSDT" in err
    code, out, _ = run_cli(capsys, "verify", "--db", btc_db, "--symbol", "BTCUSDT", "--hours", "1")
    assert code == 1 and "NOT RECORDED: the record runs 2026-01-01T00:00:00.039Z" in out
    code, out, _ = run_cli(
        capsys, "verify", "--db", btc_db, "--symbol", "BTCUSDT", "--format", "json"
    )
    doc = json.loads(out)
    assert code == 0 and doc["ok"] is True and doc["recorded"] == "full"
