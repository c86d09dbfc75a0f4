"""``tradestore-trio run``: config precedence, --print-config, and a real daemon process
recording from the fake exchange, stopped by SIGTERM with every sent id stored once."""

from __future__ import annotations

import os
import signal
import tomllib

import pytest
import trio

from tests.helpers import wait_for, wait_for_async
from tests.helpers.daemon import (
    accepted_up_to,
    kill_daemon,
    metrics_url,
    start_daemon,
    stop_daemon,
    wait_for_log,
)
from tests.helpers.store import stored_count, stored_ids
from tradestore.cli import main
from tradestore.fake import FakeExchangeConfig, open_fake_exchange
from tradestore.recorder import RecorderConfig


@pytest.fixture
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("TRADESTORE_") and name != "TRADESTORE_NO_EXTENSIONS":
            monkeypatch.delenv(name)
    return monkeypatch


def printed_config(capsys, argv) -> dict:
    assert main(["run", "--print-config", *argv]) == 0
    return tomllib.loads(capsys.readouterr().out)


def test_defaults_work_against_the_real_binance(clean_env, capsys):
    cfg = printed_config(capsys, [])
    assert cfg["symbols"] == ["BTCUSDT", "ETHUSDT"]
    assert cfg["endpoint"] == "wss://stream.binance.com:9443"
    assert cfg["rest_endpoint"] == "https://api.binance.com"
    assert cfg["db"] == "tradestore-data"
    assert cfg["retention_days"] == 7.0
    assert cfg["max_streams_per_connection"] == 200
    assert cfg["backfill"] is True
    assert "metrics_addr" not in cfg  # unset: printed as a comment


def test_precedence_toml_then_env_then_flags(clean_env, capsys, tmp_path):
    toml = tmp_path / "rec.toml"
    toml.write_text(
        'db = "/from/toml"\nsymbols = ["solusdt"]\nretention_days = 3\n'
        'endpoint = "ws://127.0.0.1:9"\nflush_interval = 2.5\n'
    )
    clean_env.setenv("TRADESTORE_DB", "/from/env")
    clean_env.setenv("TRADESTORE_RETENTION_DAYS", "5")
    clean_env.setenv("TRADESTORE_BACKFILL", "false")
    cfg = printed_config(capsys, ["--config", str(toml), "--db", "/from/flag"])
    assert cfg["db"] == "/from/flag"  # flag > env > toml
    assert cfg["retention_days"] == 5.0  # env > toml
    assert cfg["symbols"] == ["SOLUSDT"]  # toml > default
    assert cfg["endpoint"] == "ws://127.0.0.1:9"
    assert cfg["flush_interval"] == 2.5
    assert cfg["backfill"] is False
    # Flags not given override nothing: the env value of retention stays.
    cfg = printed_config(capsys, ["--config", str(toml), "--retention-days", "1"])
    assert (cfg["db"], cfg["retention_days"]) == ("/from/env", 1.0)


def test_every_flag_maps_onto_the_config(clean_env, capsys):
    cfg = printed_config(
        capsys,
        [
            "--db",
            "d",
            "--symbols",
            "bnbusdt, xrpusdt",
            "--endpoint",
            "ws://127.0.0.1:1234/",
            "--rest-endpoint",
            "http://127.0.0.1:1234",
            "--metrics-addr",
            "127.0.0.1:9100",
            "--no-backfill",
            "--log-format",
            "json",
            "--retention-days",
            "0",
            "--per-symbol-streams",
        ],
    )
    assert cfg == {
        **cfg,
        "db": "d",
        "symbols": ["BNBUSDT", "XRPUSDT"],
        "endpoint": "ws://127.0.0.1:1234",
        "rest_endpoint": "http://127.0.0.1:1234",
        "metrics_addr": "127.0.0.1:9100",
        "backfill": False,
        "log_format": "json",
        "retention_days": 0.0,
        "per_symbol_streams": True,
    }


def test_config_file_from_the_environment_and_round_trip(clean_env, capsys, tmp_path):
    first = printed_config(capsys, ["--symbols", "ADAUSDT", "--retention-days", "2"])
    path = tmp_path / "effective.toml"
    path.write_text(RecorderConfig.from_mapping(first).to_toml())
    clean_env.setenv("TRADESTORE_CONFIG", str(path))
    assert printed_config(capsys, []) == first


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("bogus_key = 1\n", "unknown key 'bogus_key'"),
        ('retention_days = "a week"\n', "retention_days"),
        ("max_streams_per_connection = 5000\n", "max_streams_per_connection"),
        ('endpoint = "https://stream.binance.com"\n', "endpoint"),
        ('symbols = ["BTC-USDT"]\n', "symbols"),
        ("flush_interval = 0\n", "flush_interval"),
        ("this is not toml\n", "rec.toml"),
    ],
)
def test_bad_config_exits_2_naming_the_problem(clean_env, capsys, tmp_path, toml, message):
    path = tmp_path / "rec.toml"
    path.write_text(toml)
    assert main(["run", "--config", str(path), "--print-config"]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.startswith("tradestore-trio run: ")


def test_bad_env_value_exits_2(clean_env, capsys):
    clean_env.setenv("TRADESTORE_PER_SYMBOL_STREAMS", "maybe")
    assert main(["run", "--print-config"]) == 2
    assert "per_symbol_streams" in capsys.readouterr().err


def test_missing_config_file_exits_2(clean_env, capsys, tmp_path):
    assert main(["run", "--config", str(tmp_path / "nope.toml")]) == 2
    assert "not found" in capsys.readouterr().err


def test_a_db_that_is_a_file_exits_2(clean_env, tmp_path, capsys):
    """A --db that is a file is bad input: one line, exit 2, the file untouched."""
    blocker = tmp_path / "db"
    blocker.write_text("not a directory")
    argv = ["run", "--db", str(blocker), "--endpoint", "ws://127.0.0.1:9", "--retention-days", "0"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == f"tradestore-trio run: {blocker} is a file, not a trade store folder\n"
    assert blocker.read_text() == "not a directory"


@pytest.mark.parametrize("flush_interval", [1.0, 3600.0])
@pytest.mark.slow
async def test_daemon_process_stores_every_sent_id_exactly_once(tmp_path, flush_interval):
    """The fake exchange sends N trades per symbol to a real ``tradestore-trio run``
    process; after SIGTERM (exit 0) the DB holds every sent id exactly once. With a 1 h
    flush interval nothing is written before the signal: the shutdown flush does it all."""
    n = 400
    symbols = ("BTCUSDT", "ETHUSDT")
    db = tmp_path / "db"
    config = tmp_path / "rec.toml"
    config.write_text(f"flush_interval = {flush_interval}\n")
    log_path = tmp_path / "daemon.log"
    fcfg = FakeExchangeConfig(symbols=symbols, rate=200.0, max_trades=n)
    async with open_fake_exchange(fcfg) as fx:
        argv = [
            "--db",
            str(db),
            "--endpoint",
            fx.ws_url,
            "--rest-endpoint",
            fx.rest_url,
            "--symbols",
            ",".join(symbols),
            "--config",
            str(config),
            "--retention-days",
            "0",
            "--metrics-addr",
            "127.0.0.1:0",
        ]
        proc = await start_daemon(argv, log_path)
        try:
            with trio.fail_after(60):
                base = await metrics_url(log_path)
                for symbol in symbols:
                    await wait_for(lambda s=symbol: len(fx.log.sent_ids(s)) == n, step=0.05)
                # Once the daemon holds the last frame of each symbol, SIGTERM loses nothing.
                last_sent = {s: fx.log.sent_ids(s)[-1] for s in symbols}
                await wait_for_async(lambda: accepted_up_to(base, last_sent))
                if flush_interval == 1.0:
                    await wait_for(lambda: stored_count(db) == 2 * n, step=0.2)
                else:
                    assert stored_count(db) == 0
            await stop_daemon(proc, log_path)
        finally:
            await kill_daemon(proc)
    for symbol in symbols:
        sent = fx.log.sent_ids(symbol)
        assert len(sent) == n
        assert stored_ids(db, symbol) == sent
    text = log_path.read_text()
    assert "shutdown: all buffers flushed" in text
    assert "Traceback" not in text


async def test_second_signal_exits_at_once(monkeypatch):
    """The first signal cancels the daemon (which then flushes); a second one exits the
    process immediately with status 1, without waiting for the flush."""
    from tradestore.cli import _run

    exits = []

    def fake_exit(code):
        exits.append(code)
        raise SystemExit(code)

    monkeypatch.setattr(_run.os, "_exit", fake_exit)

    class TwoSignals:
        def __init__(self):
            self.pending = [signal.SIGTERM, signal.SIGINT]

        def __aiter__(self):
            return self

        async def __anext__(self):
            await trio.lowlevel.checkpoint()
            if not self.pending:
                raise StopAsyncIteration
            return self.pending.pop(0)

    scope = trio.CancelScope()
    with pytest.raises(SystemExit):
        await _run._watch_signals(TwoSignals(), scope)
    assert scope.cancel_called
    assert exits == [1]


async def test_second_daemon_on_the_same_db_exits_1(tmp_path):
    """RocksDB allows one writer: a second daemon says the DB is in use and exits 1."""
    db = tmp_path / "db"
    argv = ["--db", str(db), "--endpoint", "ws://127.0.0.1:9", "--no-backfill"]
    argv += ["--retention-days", "0"]
    first = await start_daemon(argv, tmp_path / "first.log")
    try:
        with trio.fail_after(30):
            # Logged once the store is open: from then on the first daemon holds the lock.
            await wait_for_log(tmp_path / "first.log", r"recording \d+ \w+ symbols")
            second = await start_daemon(argv, tmp_path / "second.log")
            assert await second.wait() == 1
        assert "is in use by another process" in (tmp_path / "second.log").read_text()
        await stop_daemon(first, tmp_path / "first.log")
    finally:
        await kill_daemon(first)
