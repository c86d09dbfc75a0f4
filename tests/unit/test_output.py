"""One output contract: tables that fit 80 columns uncut, the same keys in every format,
CSV headers always, a default row limit that says what it left out, -o - for stdout."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import pytest

from tests.helpers.cli import run_cli
from tradestore import AggTrade, TradeStore
from tradestore.store import Gap

T0 = 1_767_225_600_000
TRADE_KEYS = ["agg_id", "price", "qty", "time_ms", "is_buyer_maker"]
# A meme coin: tiny prices, enormous quantities, long ids.
MEME_PRICE, MEME_QTY = "0.00000123", "123456789012.12345678"


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "db"
    with TradeStore(path) as store:
        store.store_batch(
            "BTCUSDT",
            [
                AggTrade(3_800_397_495 + i, Decimal("87648.21000000"), Decimal("0.08185000"),
                         T0 + i * 100, i % 2 == 0)
                for i in range(250)
            ],
        )  # fmt: skip
        store.store_batch(
            "PEPEUSDT",
            [AggTrade(1_234_567_890_123 + i, Decimal(MEME_PRICE), Decimal(MEME_QTY), T0 + i, True)
             for i in range(3)],
        )  # fmt: skip
        store.put_gap(
            "BTCUSDT",
            Gap(3_800_397_745, 3_800_397_799, T0 + 24_900, T0 + 30_000, T0 + 31_000,
                reason="connection lost; backfill pending: a long reason that needs room"),
        )  # fmt: skip
    return path


def lines_of(out: str) -> list[str]:
    return out.rstrip("\n").split("\n")


def test_tables_fit_80_columns_uncut(db, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    for argv in (
        ["query", "--symbol", "PEPEUSDT", "--start", T0, "--end", T0 + 10],
        ["query", "--symbol", "BTCUSDT", "--start", T0, "--end", T0 + 1000],
        ["stats"],
        ["gaps"],
    ):
        code, out, _ = run_cli(capsys, *argv, "--db", db)
        assert code == 0
        assert all(len(line) <= 80 for line in lines_of(out)), out
        assert "…" not in out and "..." not in out.replace(" .. ", "")
    # Every figure is there in full.
    code, out, _ = run_cli(capsys, "query", "--db", db, "--symbol", "PEPEUSDT", "--start", T0,
                           "--end", T0 + 10)  # fmt: skip
    assert MEME_PRICE in out and MEME_QTY in out and "1234567890123" in out
    assert "2026-01-01T00:00:00.002Z" in out
    assert "left out to fit 80 columns: taker" in out  # fewer columns, never cut ones
    code, out, _ = run_cli(capsys, "stats", "--db", db)
    for text in ("2026-01-01T00:00:00.000Z", "2026-01-01T00:00:24.900Z", "3800397495",
                 "3800397744", "1234567890125", "250", "1 open"):  # fmt: skip
        assert text in out
    code, out, _ = run_cli(capsys, "gaps", "--db", db)
    assert (
        "3800397745" in out and "3800397799" in out and "left out to fit 80 columns: reason" in out
    )


def test_piped_tables_are_not_narrowed(db, capsys, monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    code, out, _ = run_cli(capsys, "gaps", "--db", db)
    assert "a long reason that needs room" in out and "left out" not in out


def test_a_table_shows_a_screenful_and_says_how_many_more(db, capsys):
    base = ["query", "--db", db, "--symbol", "BTCUSDT", "--start", T0, "--end", T0 + 60_000]
    code, out, _ = run_cli(capsys, *base)
    rows = [line for line in lines_of(out) if line[:1].isdigit()]
    assert len(rows) == 100 and "250 trades" in out
    assert "... 150 more rows (use --limit N, --limit all or --format csv)" in out
    code, out, _ = run_cli(capsys, *base, "--limit", "all")
    assert len([line for line in lines_of(out) if line[:1].isdigit()]) == 250
    assert "more rows" not in out
    code, out, _ = run_cli(capsys, *base, "--format", "csv")  # machine formats: everything
    assert len(lines_of(out)) == 251
    code, out, _ = run_cli(capsys, *base, "--format", "csv", "--limit", "7")
    assert len(lines_of(out)) == 8
    code, out, _ = run_cli(capsys, "stats", "--db", db, "--limit", "1")
    assert "BTCUSDT" in out and "PEPEUSDT" not in out and "1 more rows" in out


def test_trade_records_have_the_same_keys_everywhere(db, capsys, tmp_path):
    window = ["--symbol", "BTCUSDT", "--start", T0, "--end", T0 + 1000]
    code, out, _ = run_cli(capsys, "query", "--db", db, *window, "--format", "jsonl")
    query_rows = [json.loads(line) for line in lines_of(out)]
    code, out, _ = run_cli(capsys, "query", "--db", db, *window, "--format", "json")
    assert json.loads(out)["trades"] == query_rows
    code, out, _ = run_cli(capsys, "query", "--db", db, *window, "--format", "csv")
    assert list(csv.DictReader(io.StringIO(out))) == [
        {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in r.items()}
        for r in query_rows
    ]
    code, out, err = run_cli(capsys, "export", "--db", db, *window, "--format", "jsonl", "-o", "-")
    assert code == 0 and [json.loads(line) for line in lines_of(out)] == query_rows
    assert "11 BTCUSDT trades" in err and "standard output" in err
    assert not (tmp_path / "-").exists()
    assert list(query_rows[0]) == TRADE_KEYS
    assert query_rows[0] == {"agg_id": 3800397495, "price": "87648.21000000",
                             "qty": "0.08185000", "time_ms": T0, "is_buyer_maker": True}  # fmt: skip

    # Binance's own keys, on request, the same in both commands.
    code, out, _ = run_cli(
        capsys, "query", "--db", db, *window, "--format", "jsonl", "--keys", "binance"
    )
    binance = [json.loads(line) for line in lines_of(out)]
    code, out, _ = run_cli(capsys, "export", "--db", db, *window, "--format", "jsonl",
                           "--keys", "binance", "-o", "-")  # fmt: skip
    assert [json.loads(line) for line in lines_of(out)] == binance
    assert binance[0] == {
        "a": 3800397495,
        "p": "87648.21000000",
        "q": "0.08185000",
        "T": T0,
        "m": True,
    }
    code, out, _ = run_cli(capsys, "export", "--db", db, *window, "-o", "-")
    assert out.split("\n")[0] == ",".join(TRADE_KEYS)


def test_csv_always_has_its_header(db, capsys, tmp_path):
    empty = tmp_path / "empty"
    TradeStore(empty).close()
    cases = [
        (["query", "--db", db, "--symbol", "BTCUSDT", "--start", T0 - 7_200_000, "--hours", "1"],
         ",".join(TRADE_KEYS)),
        (["gaps", "--db", empty], "symbol,first_id,last_id,missing,from,to,status,reason"),
        (["stats", "--db", empty], "symbol,trades,recorded_from,recorded_to,"),
        (["prune", "--db", empty, "--days", "7"], "symbol,trades_removed"),
        (["export", "--db", db, "--symbol", "BTCUSDT", "--start", T0 - 10, "--end", T0 - 1, "-o", "-"],
         ",".join(TRADE_KEYS)),
    ]  # fmt: skip
    for argv, header in cases:
        code, out, err = run_cli(capsys, *argv, "--format", "csv")
        assert code == 0, err
        assert out.split("\n")[0].startswith(header) and out.count("\n") == 1, (argv, out)


def test_stats_carries_the_same_fields_in_every_format(db, capsys):
    code, out, _ = run_cli(capsys, "stats", "--db", db, "--format", "json")
    doc = json.loads(out)
    by_json = doc["symbols"]
    code, out, _ = run_cli(capsys, "stats", "--db", db, "--format", "jsonl")
    by_jsonl = {r["symbol"]: r for r in map(json.loads, lines_of(out))}
    code, out, _ = run_cli(capsys, "stats", "--db", db, "--format", "csv")
    by_csv = {r["symbol"]: r for r in csv.DictReader(io.StringIO(out))}
    assert by_json == by_jsonl
    assert set(by_csv) == set(by_json) == {"BTCUSDT", "PEPEUSDT"}
    for symbol, record in by_json.items():
        assert list(by_csv[symbol]) == list(record)
        assert by_csv[symbol] == {k: "" if v is None else str(v) for k, v in record.items()}
    btc = by_json["BTCUSDT"]
    assert (btc["recorded_from"], btc["recorded_to"]) == (
        "2026-01-01T00:00:00.000Z",
        "2026-01-01T00:00:24.900Z",
    )
    assert (btc["trades"], btc["open_gaps"], btc["missing_ids_open"]) == (250, 1, 55)


def test_profile_and_vacuums_in_every_format(tmp_path, capsys, monkeypatch):
    db = tmp_path / "db"
    with TradeStore(db) as store:
        trades = [
            AggTrade(i, Decimal(100 + (i % 7) * (i % 3)), Decimal("0.5"), T0 + i * 10, i % 4 == 0)
            for i in range(1, 1501)
        ]
        store.store_batch("BTCUSDT", trades)
    base = [
        "--db",
        db,
        "--symbol",
        "BTCUSDT",
        "--start",
        T0 + 10,
        "--end",
        T0 + 15_000,
        "--bins",
        "20",
    ]
    code, out, _ = run_cli(capsys, "profile", *base, "--format", "json")
    histogram = json.loads(out)["histogram"]
    code, out, err = run_cli(capsys, "profile", *base, "--format", "csv")
    assert code == 0 and list(csv.DictReader(io.StringIO(out))) == [
        {k: str(v) for k, v in b.items()} for b in histogram
    ]
    code, out, _ = run_cli(capsys, "profile", *base, "--format", "jsonl")
    assert [json.loads(line) for line in lines_of(out)] == histogram
    for width in ("80", "50"):  # the bars shrink to fit; nothing else is cut
        monkeypatch.setenv("COLUMNS", width)
        code, out, _ = run_cli(capsys, "profile", *base)
        assert code == 0 and all(len(line) <= int(width) for line in lines_of(out)), out
        assert all(b["volume"] in out for b in histogram)
    monkeypatch.delenv("COLUMNS")
    code, out, _ = run_cli(capsys, "vacuums", *base, "--format", "json")
    vacuums = json.loads(out)["vacuums"]
    assert vacuums and json.loads(out)["coverage"]["complete"] is True
    code, out, _ = run_cli(capsys, "vacuums", *base, "--format", "jsonl")
    assert [json.loads(line) for line in lines_of(out)] == [
        {**v, "detection_timestamp": json.loads(line)["detection_timestamp"]}
        for v, line in zip(vacuums, lines_of(out), strict=True)
    ]
    code, out, _ = run_cli(capsys, "vacuums", *base, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["price_range_low"] for r in rows] == [v["price_range_low"] for v in vacuums]


def test_help_shows_percent_signs_once(capsys):
    with pytest.raises(SystemExit):
        run_cli(capsys, "profile", "--help")
    out = capsys.readouterr().out
    assert "70%" in " ".join(out.split()) and "%%" not in out
