"""The rollups as a user meets them on the command line, over a real RocksDB: a database
the Rust recorder wrote (no rollups) gets them on its first writable open; candles,
footprint, cvd and composite answer exactly what the raw trades give; verify catches a
rollup that disagrees with its trades, and ``rollups rebuild`` repairs it."""

from __future__ import annotations

import json

import rocksdict

from tests.helpers.cli import run_cli
from tests.helpers.seed import write_seed_style
from tests.helpers.trades import T0, make_trades, store_with
from tradestore import TradeStore
from tradestore.analytics import candles, composite_profile, cumulative_volume_delta, footprint
from tradestore.store import _keys

SYMBOL = "BTCUSDT"
# 3 h 18 min of trades every 1.7 s: crosses minutes and hours at odd offsets.
TRADES = make_trades(7_000, start_id=500, start_ms=T0 + 1_234, step_ms=1_700)
START, END = T0, TRADES[-1].time_ms + 5_000


def _window_flags(start: int = START, end: int = END) -> list[str]:
    return ["--start", str(start), "--end", str(end)]


def _json(capsys, *argv) -> dict:
    code, out, err = run_cli(capsys, *argv, "--format", "json")
    assert code == 0, err
    return json.loads(out)


def _undated(doc: dict) -> dict:
    """The document without the moment it was computed (coverage says "as of")."""
    return {k: v for k, v in doc.items() if k != "coverage"}


def test_seed_database_gets_rollups_on_first_writable_open(tmp_path, capsys):
    db = tmp_path / "db"
    write_seed_style(db, SYMBOL, [TRADES[i : i + 90] for i in range(0, len(TRADES), 90)])
    code, out, _ = run_cli(capsys, "rollups", "status", "--db", db, "--format", "json")
    assert code == 0
    assert json.loads(out)["symbols"][0]["rollups"] == "none"  # a reader builds nothing

    with TradeStore(db) as store:  # the first writable open adopts, then builds
        assert store.rollup_build is not None
        assert store.rollup_build.trades == len(TRADES)
        assert store.rollup_state(SYMBOL) is not None and store.rollup_state(SYMBOL).kept
        raw = {
            "candles": candles(store, SYMBOL, START, END, 60_000, use_rollups=False).to_json(),
            "footprint": footprint(
                store, SYMBOL, START, END, 900_000, tick_size="1", use_rollups=False
            ).to_json(),
            "cvd": cumulative_volume_delta(
                store, SYMBOL, START, END, 300_000, use_rollups=False
            ).to_json(),
        }

    status = _json(capsys, "rollups", "status", "--db", db)["symbols"][0]
    assert status["rollups"] == "kept" and status["hours"] >= 3 and status["minutes"] >= 180
    got = {
        "candles": _json(capsys, "candles", "--db", db, "--symbol", SYMBOL, *_window_flags()),
        "footprint": _json(
            capsys,
            "footprint",
            "--db",
            db,
            "--symbol",
            SYMBOL,
            "--interval",
            "15m",
            "--tick-size",
            "1",
            *_window_flags(),
        ),  # fmt: skip
        "cvd": _json(
            capsys, "cvd", "--db", db, "--symbol", SYMBOL, "--interval", "5m", *_window_flags()
        ),
    }
    for name in raw:
        assert _undated(got[name]) == _undated(raw[name]), name
    minutes = {t.time_ms // 60_000 for t in TRADES}  # every minute with trades, none invented
    assert len(got["candles"]["candles"]) == len(minutes) > 180
    assert sum(c["trade_count"] for c in got["candles"]["candles"]) == len(TRADES)


def test_composite_command_equals_the_raw_computation(tmp_path, capsys):
    # Two days: the second day's trades at the same times of day.
    day = 86_400_000
    second = make_trades(len(TRADES), start_id=TRADES[-1].agg_id + 1, start_ms=T0 + day + 1_234,
                         step_ms=1_700)  # fmt: skip
    end = second[-1].time_ms + 1
    store_with(tmp_path / "db", TRADES + second).close()
    doc = _json(
        capsys, "composite", "--db", tmp_path / "db", "--symbol", SYMBOL, "--days", "2",
        "--end", str(end), "--tick-size", "5",
    )  # fmt: skip
    with TradeStore(tmp_path / "db", read_only=True) as store:
        raw = composite_profile(store, SYMBOL, T0, end, tick_size="5", use_rollups=False)
    assert _undated(doc) == _undated(json.loads(json.dumps(raw.to_json())))
    assert [s["trade_count"] for s in doc["sessions"]] == [len(TRADES), len(TRADES)]


def test_verify_catches_a_tampered_rollup_and_rebuild_repairs_it(tmp_path, capsys):
    db = tmp_path / "db"
    store_with(db, TRADES).close()
    code, out, _ = run_cli(capsys, "verify", "--db", db, "--symbol", SYMBOL)
    assert code == 0 and "rollups: 0 disagree" in out

    # Swap in another minute's value: a well-formed rollup that is wrong for its key.
    raw = rocksdict.Rdict(str(db), rocksdict.Options(raw_mode=True))
    try:
        prefix = _keys.rollup_prefix(_keys.MINUTE, SYMBOL)
        minutes = [k for k in raw.keys(from_key=prefix) if k.startswith(prefix)]
        assert len(minutes) > 100
        tampered = minutes[40]
        raw.put(tampered, raw.get(minutes[41]))
    finally:
        raw.close()

    code, out, _ = run_cli(capsys, "verify", "--db", db, "--symbol", SYMBOL)
    assert code == 1
    assert "rollups: 1 disagree with the trades" in out and "rollups rebuild" in out
    assert tampered.decode() in out
    code, out, _ = run_cli(capsys, "verify", "--db", db, "--symbol", SYMBOL, "--format", "json")
    assert [m["key"] for m in json.loads(out)["rollup_mismatches"]] == [tampered.decode()]

    code, out, err = run_cli(
        capsys, "rollups", "rebuild", "--db", db, "--symbol", SYMBOL, "--no-progress",
        "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["trades"] == len(TRADES)
    code, out, _ = run_cli(capsys, "verify", "--db", db, "--symbol", SYMBOL)
    assert code == 0 and "rollups: 0 disagree" in out


def test_bad_intervals_are_usage_errors(tmp_path, capsys):
    store_with(tmp_path / "db", TRADES[:100]).close()
    for argv, message in (
        (["candles", "--interval", "500ms"], "at least 1s"),
        (["candles", "--interval", "soon"], "--interval"),
        (["footprint", "--interval", "90s"], "whole number of minutes"),
    ):
        code, _, err = run_cli(capsys, *argv, "--db", tmp_path / "db", "--symbol", SYMBOL)
        assert code == 2 and message in err, (argv, err)
        assert len(err.strip().splitlines()) == 1
