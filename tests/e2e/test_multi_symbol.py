"""Several symbols at once: ``candles``, ``cvd`` and ``query`` with ``--symbols A,B`` print
one result keyed by symbol whose every part is exactly what ``--symbol`` prints for that
symbol, in every format; the library's ``*_by_symbol`` functions equal the one-symbol
functions; a bad symbol list is refused with exit 2 and one line."""

from __future__ import annotations

import csv
import io
import json
from contextlib import contextmanager

import numpy as np
import pytest

from tests.helpers.api import sample_store
from tests.helpers.cli import run_cli
from tests.helpers.trades import T0, make_trades
from tradestore import TradeStore
from tradestore.analytics import (
    candles,
    candles_by_symbol,
    check_symbols,
    columns_by_symbol,
    cumulative_volume_delta,
    cvd_by_symbol,
    trades_by_symbol,
)

# As typed (any case), in an order that is not sorted: the answer keeps it.
TYPED = "ethusdt,BTCUSDT,SolUsdt"
SYMBOLS = ["ETHUSDT", "BTCUSDT", "SOLUSDT"]
WINDOW = ["--start", "2026-01-01", "--hours", "0.25"]
START, END = T0, T0 + 900_000 - 1

# (command, its flags besides --symbol/--symbols and --format): minute candles come from
# the rollups, 15 s candles from the trades; --limit holds for each symbol.
QUESTIONS = {
    "candles 1m": ["candles", *WINDOW, "--interval", "1m"],
    "candles 15s": ["candles", *WINDOW, "--interval", "15s", "--limit", "7"],
    "cvd 5m": ["cvd", *WINDOW, "--interval", "5m"],
    "cvd 1s": ["cvd", *WINDOW, "--interval", "1s", "--limit", "all"],
    "query": ["query", *WINDOW],
    "query --limit": ["query", *WINDOW, "--limit", "5"],
    "query binance keys": ["query", *WINDOW, "--keys", "binance", "--limit", "3"],
}


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    """BTCUSDT (with a recorded hole), ETHUSDT (its record ends inside the window) and
    SOLUSDT, on disk."""
    db = sample_store(tmp_path_factory.mktemp("multi") / "db").db
    with TradeStore(db) as store:
        trades = make_trades(3_000, start_id=500, start_ms=T0 + 1_234, step_ms=250)
        for i in range(0, len(trades), 100):
            store.store_batch("SOLUSDT", trades[i : i + 100])
    return db


@pytest.fixture(autouse=True)
def wide(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)  # tables as piped: never narrowed


def one(capsys, db, question, fmt, symbol) -> tuple[str, str]:
    code, out, err = run_cli(capsys, *question, "--db", db, "--format", fmt, "--symbol", symbol)
    assert code == 0, err
    return out, err


def many(capsys, db, question, fmt, symbols=TYPED) -> tuple[str, str]:
    code, out, err = run_cli(capsys, *question, "--db", db, "--format", fmt, "--symbols", symbols)
    assert code == 0, err
    return out, err


@pytest.mark.parametrize("name", QUESTIONS)
def test_json_is_one_document_keyed_by_symbol(db, capsys, name):
    question = QUESTIONS[name]
    out, err = many(capsys, db, question, "json")
    document = json.loads(out)
    assert list(document) == ["symbols", "by_symbol"]
    assert document["symbols"] == SYMBOLS
    assert list(document["by_symbol"]) == SYMBOLS
    for symbol in SYMBOLS:
        alone, _ = one(capsys, db, question, "json", symbol)
        assert document["by_symbol"][symbol] == json.loads(alone), symbol
    assert err == "".join(one(capsys, db, question, "json", s)[1] for s in SYMBOLS)


# query's binance csv is data.binance.vision's headerless layout: refused with several.
@pytest.mark.parametrize("name", [name for name in QUESTIONS if "binance" not in name])
def test_csv_is_every_symbols_rows_led_by_a_symbol_column(db, capsys, name):
    question = QUESTIONS[name]
    out, err = many(capsys, db, question, "csv")
    header, *rows = list(csv.reader(io.StringIO(out)))
    expected = []
    alone_err = ""
    for symbol in SYMBOLS:
        alone, e = one(capsys, db, question, "csv", symbol)
        alone_header, *alone_rows = list(csv.reader(io.StringIO(alone)))
        assert header == ["symbol", *alone_header]
        expected += [[symbol, *row] for row in alone_rows]
        alone_err += e
    assert rows == expected
    assert len({row[0] for row in rows}) == len(SYMBOLS)  # every symbol has rows
    assert err == alone_err  # the same notes on stderr, symbol by symbol


@pytest.mark.parametrize("name", QUESTIONS)
def test_jsonl_is_every_symbols_records_with_their_symbol(db, capsys, name):
    question = QUESTIONS[name]
    out, err = many(capsys, db, question, "jsonl")
    expected = []
    for symbol in SYMBOLS:
        alone, _ = one(capsys, db, question, "jsonl", symbol)
        expected += [{"symbol": symbol, **json.loads(line)} for line in alone.splitlines()]
    records = [json.loads(line) for line in out.splitlines()]
    assert records == expected
    assert all(list(r)[0] == "symbol" for r in records)


@pytest.mark.parametrize("name", QUESTIONS)
def test_a_table_per_symbol_as_each_alone(db, capsys, name):
    question = QUESTIONS[name]
    out, err = many(capsys, db, question, "table")
    tables = [one(capsys, db, question, "table", s) for s in SYMBOLS]
    assert out == "\n".join(table for table, _ in tables)
    assert err == "".join(e for _, e in tables)


def test_one_symbol_in_symbols_is_the_keyed_document(db, capsys):
    out, _ = many(capsys, db, QUESTIONS["cvd 5m"], "json", symbols="BTCUSDT")
    alone, _ = one(capsys, db, QUESTIONS["cvd 5m"], "json", "BTCUSDT")
    assert json.loads(out) == {"symbols": ["BTCUSDT"], "by_symbol": {"BTCUSDT": json.loads(alone)}}


@pytest.mark.parametrize("command", ["candles", "cvd", "query"])
def test_a_symbol_never_stored_is_refused_as_with_symbol(db, capsys, command):
    code, out, err = run_cli(capsys, command, "--db", db, "--symbol", "ethusdx")
    assert code == 2
    code_many, out_many, err_many = run_cli(
        capsys, command, "--db", db, "--symbols", "BTCUSDT,ethusdx"
    )
    assert (code_many, out_many, err_many) == (2, "", err)
    assert "no trades were ever stored for ETHUSDX" in err


BAD = [
    (
        ["--symbol", "BTCUSDT", "--symbols", "BTCUSDT,ETHUSDT"],
        "give --symbol or --symbols, not both",
    ),
    ([], "give --symbol S (or --symbols S,S,... for several)"),
    (["--symbols", ""], "--symbols: no symbol given (e.g. --symbols BTCUSDT,ETHUSDT)"),
    (["--symbols", " , "], "--symbols: no symbol given (e.g. --symbols BTCUSDT,ETHUSDT)"),
    (
        ["--symbols", "BTCUSDT,,ETHUSDT"],
        "--symbols BTCUSDT,,ETHUSDT: an empty name between the commas",
    ),
    (["--symbols", "BTCUSDT,ETHUSDT,btcusdt"], "--symbols: BTCUSDT is named twice in the symbols"),
    (
        ["--symbols", "BTCUSDT,BTC-USDT"],
        "--symbols: invalid symbol 'BTC-USDT': expected 2-30 letters or digits (inner _ "
        "allowed), e.g. BTCUSDT or BTCUSD_PERP",
    ),
]


@pytest.mark.parametrize("command", ["candles", "cvd", "query"])
@pytest.mark.parametrize(("flags", "message"), BAD, ids=lambda x: " ".join(x) or "none")
def test_a_bad_symbol_list_exits_2_in_one_line(db, capsys, command, flags, message):
    code, out, err = run_cli(capsys, command, "--db", db, *flags)
    assert (code, out, err) == (2, "", f"tradestore-trio {command}: {message}\n")


def test_what_has_no_several_symbols_form_is_refused(db, capsys, tmp_path):
    picture = tmp_path / "c.svg"
    code, out, err = run_cli(capsys, "candles", "--db", db, "--symbols", TYPED, "--plot", picture)
    assert (code, out) == (2, "")
    assert err == "tradestore-trio candles: --plot draws one symbol: give --symbol, not --symbols\n"
    assert not picture.exists()
    code, out, err = run_cli(
        capsys, "query", "--db", db, "--symbols", TYPED, "--keys", "binance", "--format", "csv"
    )
    assert (code, out) == (2, "")
    assert "data.binance.vision layout, which has no symbol column" in err


def test_the_library_answers_each_symbol_as_alone(db):
    with TradeStore(db, read_only=True) as store:
        for interval in (60_000, 15_000):
            by = candles_by_symbol(store, TYPED.split(","), START, END, interval)
            assert list(by) == SYMBOLS
            assert by == {s: candles(store, s, START, END, interval) for s in SYMBOLS}
            raw = candles_by_symbol(store, SYMBOLS, START, END, interval, use_rollups=False)
            assert raw == by
        by_cvd = cvd_by_symbol(store, SYMBOLS, START, END, 300_000)
        assert by_cvd == {
            s: cumulative_volume_delta(store, s, START, END, 300_000) for s in SYMBOLS
        }
        assert all(by_cvd[s].trade_count for s in SYMBOLS)
        trades = trades_by_symbol(store, SYMBOLS, START, END)
        assert trades == {s: store.query_trades(s, START, END) for s in SYMBOLS}
        assert trades_by_symbol(store, SYMBOLS, START, END, limit=4) == {
            s: store.query_trades(s, START, END, 4) for s in SYMBOLS
        }
        columns = columns_by_symbol(store, SYMBOLS, START, END)
        assert list(columns) == SYMBOLS
        for symbol in SYMBOLS:
            alone = store.query_columns(symbol, START, END)
            for got, want in zip(columns[symbol].arrays(), alone.arrays(), strict=True):
                assert np.array_equal(got, want)
            assert columns[symbol].agg_id.tolist() == [t.agg_id for t in trades[symbol]]


@pytest.mark.parametrize(
    ("symbols", "error", "message"),
    [
        ([], ValueError, "no symbol given"),
        (["BTCUSDT", "ETHUSDT", "btcusdt"], ValueError, "BTCUSDT is named twice"),
        (["BTCUSDT", "BTC/USDT"], ValueError, "invalid symbol 'BTC/USDT'"),
        ("BTCUSDT", TypeError, "not one string"),
    ],
)
def test_the_library_refuses_a_bad_symbol_list(db, symbols, error, message):
    with pytest.raises(error, match=message):
        check_symbols(symbols)
    with TradeStore(db, read_only=True) as store:
        for ask in (candles_by_symbol, cvd_by_symbol, trades_by_symbol, columns_by_symbol):
            with pytest.raises(error, match=message):
                ask(store, symbols, START, END)


class Watched:
    """A store whose reads note whether they ran inside its ``reading()``."""

    def __init__(self, store):
        self.store = store
        self.readings = 0
        self.depth = 0
        self.outside: list[str] = []

    @contextmanager
    def reading(self):
        with self.store.reading():
            self.readings += self.depth == 0
            self.depth += 1
            try:
                yield self
            finally:
                self.depth -= 1

    def query_trades(self, symbol, *args):
        if not self.depth:
            self.outside.append(symbol)
        return self.store.query_trades(symbol, *args)

    def __getattr__(self, name):
        return getattr(self.store, name)


def test_every_symbol_is_read_from_one_snapshot(db):
    with TradeStore(db, read_only=True) as store:
        watched = Watched(store)
        trades = trades_by_symbol(watched, SYMBOLS, START, END)
        assert (watched.readings, watched.outside) == (1, [])
        assert [len(trades[s]) for s in SYMBOLS] == [
            len(store.query_trades(s, START, END)) for s in SYMBOLS
        ]
        candles_by_symbol(watched, SYMBOLS, START, END, 15_000)
        assert watched.readings == 2  # the one-symbol reads nest inside the one snapshot
