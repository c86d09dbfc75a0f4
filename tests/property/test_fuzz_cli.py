"""Fuzzing the command line: random argv for every command through tradestore.cli.main.

Every argv must end in exit status 0, 1 or 2 (or argparse's SystemExit 0/2 for --help,
--version and bad usage), with no traceback on stderr and no exception escaping main().
Flags and their values are drawn from each command's own argparse definition, with values
that are valid, borderline and junk; paths all point inside the test's directory, which
is also the working directory, so nothing is written elsewhere. The store is a fresh copy
of a small real one for every example (trades for two symbols, an open gap, and a third
symbol with an undecodable value).

Commands that run until a signal are made to stop at once: ``run`` always gets
``--print-config``, ``demo`` always ends with ``--rate 0`` (a usage error after its other
arguments are parsed), ``fake-exchange`` and ``serve`` are pointed at a port this test
holds (bind fails, exit 1) after their whole configuration was validated, ``mcp`` finds
its standard input unreadable (pytest's) and ``backfill`` talks to a local REST stub that
answers every page with ``[]``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import io
import json
import logging
import os
import shutil
import socket
import threading
import time
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tradestore import AggTrade, TradeStore
from tradestore.cli import COMMANDS, build_parser, main
from tradestore.store._gaps import Gap
from tradestore.store._keys import trade_key

# Real argv cannot hold NUL; lone surrogates only arise from undecodable bytes (below).
TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12
)
# FUZZ_SCALE=20 for a long run by hand (fuzz/README.md)
SCALE = int(os.environ.get("FUZZ_SCALE", "1"))
SETTINGS = settings(
    max_examples=60 * SCALE,
    deadline=None,
    # the fixtures set up files, a server and a held port once per command, not per example
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
NOW_MS = int(time.time() * 1000)


class _EmptyRest(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the name http.server dispatches to
        body = b"[]"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def rest_url():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EmptyRest)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture(scope="module")
def held_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture(scope="module")
def template_db(tmp_path_factory) -> Path:
    """BTCUSDT and ETHUSDT: 1200 trades each in the last 40 minutes (enough for a profile),
    an open gap; BADUSDT: two good batches around an undecodable value."""
    path = tmp_path_factory.mktemp("template") / "db"
    with TradeStore(path) as store:
        for symbol, base in (("BTCUSDT", Decimal("87000")), ("ETHUSDT", Decimal("3000"))):
            agg_id = 1000
            for batch in range(6):
                t0 = NOW_MS - 40 * 60_000 + batch * 300_000
                trades = []
                for i in range(200):
                    step = Decimal((i * 7 + batch) % 13) / 100
                    trade = AggTrade(agg_id, base + step, Decimal("0.015"), t0 + 10 * i, i % 3 == 0)
                    trades.append(trade)
                    agg_id += 1
                store.store_batch(symbol, trades)
            agg_id += 5  # a hole of 5 ids, recorded open
        store.put_gap("BTCUSDT", Gap(1300, 1304, NOW_MS - 900_000, NOW_MS - 899_000, NOW_MS))
        one = Decimal("1.5")
        store.store_batch("BADUSDT", [AggTrade(1, one, one, NOW_MS - 60_000, True)])
        store.db[trade_key("BADUSDT", NOW_MS - 30_000)] = b"\x91\x95\xa3abc"
        store.store_batch("BADUSDT", [AggTrade(3, one, one, NOW_MS - 10_000, False)])
    return path


def _files(root: Path) -> dict[str, Path]:
    """Inputs for path flags: valid, empty, garbage, wrong kind, missing."""
    files = root / "files"
    files.mkdir()
    rows = [
        f"{900 + i},87000.{i:02d}000000,0.01000000,{5000 + i},{5000 + i},{1767225600039409 + i * 1000},True,True"
        for i in range(20)
    ]
    (files / "trades.csv").write_text("\n".join(rows) + "\n")
    with zipfile.ZipFile(files / "trades.zip", "w") as archive:
        archive.writestr("BTCUSDT-aggTrades-2026-01-01.csv", "\n".join(rows) + "\n")
    (files / "empty.csv").write_text("")
    (files / "bad.csv").write_text("a,b,c\n1,2\nx,y,z,w,v,u,t,s\n")
    (files / "noise.bin").write_bytes(bytes(range(256)) * 4)
    (files / "bad.zip").write_bytes(b"PK\x03\x04 not really a zip")
    (files / "ok.toml").write_text('symbols = "BTCUSDT"\nretention_days = 3\n')
    (files / "bad.toml").write_text('symbols = [1, 2\nretention_days = "x"\n')
    (files / "types.toml").write_text('symbols = 5\nmetrics_addr = 7\nendpoint = "ftp://x"\n')
    (files / "adir").mkdir()
    return {p.name: p for p in files.iterdir()}


def _value(action, world, command: str) -> st.SearchStrategy[str]:
    """Candidate values for one argparse option."""
    return _raw_value(action, world)


def _raw_value(action, world) -> st.SearchStrategy[str]:
    dest = action.dest
    paths = st.sampled_from(world["paths"])
    if action.choices:
        return st.one_of(st.sampled_from(list(action.choices)), TEXT)
    if dest == "config":  # binary files: see test_run_config_not_utf8
        return st.one_of(st.sampled_from(world["text_paths"]), TEXT)
    if dest in ("db", "file", "output", "csv", "replay_db", "sent_log", "token_file"):
        return st.one_of(paths, paths, TEXT)
    if dest in ("start", "end", "before", "start_time"):
        return st.one_of(
            st.integers(-(2**64), 2**64).map(str),
            st.integers(NOW_MS - 3_600_000, NOW_MS).map(str),
            st.sampled_from(["2026-01-01T00:00:00Z", "2026-01-01T00:00:00+05:30", "2026-13-40",
                             "2026-01-01", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z",
                             "1970-01-01T00:00:00.000001Z", "now", "-0", "1e12", "nan"]),
            TEXT,
        )  # fmt: skip
    if dest in ("symbol", "symbols"):
        return st.one_of(
            st.sampled_from(["BTCUSDT", "ETHUSDT", "btcusdt", "BTCUSDT,ETHUSDT", "NOPEUSDT", "BADUSDT",
                             ",", "BTC:USDT", "BTC/USDT", "X" * 300, "ÉTHUSDT", " BTCUSDT"]),
            TEXT,
        )  # fmt: skip
    if dest == "rest_endpoint":
        return st.sampled_from(
            [world["rest_url"], world["rest_url"] + "/", "ftp://x", "", "http//x"]
        )
    if dest == "endpoint":
        return st.sampled_from(["ws://127.0.0.1:1", "wss://x:99999", "http://x", "", "not a url"])
    if dest in ("metrics_addr", "api_addr", "addr"):
        return st.sampled_from(
            ["127.0.0.1:0", "127.0.0.1", ":", "[::1]:0", "x:-1", "1.2.3.4:99999"]
        )
    if action.type is int:
        return st.one_of(
            st.integers(-5, 30).map(str),
            st.sampled_from(["1000", "1300", "1304", str(2**63), str(-(2**63) - 1), "10" * 40]),
            st.sampled_from(["0x10", "1e3", "1.5", "", " 7", "٣"]),
        )
    if action.type is float:
        return st.one_of(
            st.floats().map(repr),
            st.sampled_from(["nan", "inf", "-inf", "1e308", "1e-320", "-0", "0.001", "168", "169"]),
            TEXT,
        )
    return st.one_of(st.sampled_from(["127.0.0.1", "0.0.0.0", "::1", "0.5", "1", "-1"]), TEXT)


@st.composite
def argvs(draw, command: str, world) -> list[str]:
    sub = world["subparsers"][command]
    argv = draw(st.sampled_from([[]] * 8 + [["-v"], ["-vv"]] + [["--version"], ["--help"]])) + [
        command
    ]
    # A command with actions of its own (``rollups rebuild|status``): mostly one of them,
    # with its options; sometimes none (argparse's "required" refusal).
    nested = [a for a in sub._actions if isinstance(a, argparse._SubParsersAction)]
    if nested and draw(st.integers(0, 9)) < 9:
        action_name = draw(st.sampled_from(sorted(nested[0].choices)))
        argv.append(action_name)
        sub = nested[0].choices[action_name]
    options = [a for a in sub._actions if a.option_strings and a.dest != "help"]
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["option"] * 16 + ["junk", "junk", "undecodable", "help"]))
        if kind == "junk":
            argv.append(draw(st.one_of(TEXT, st.sampled_from(["--", "-", "--nope", "-x"]))))
            continue
        if kind == "help":
            argv.append("--help")
            continue
        if kind == "undecodable":  # how Python hands over argv bytes that are not UTF-8
            argv.append(os.fsdecode(b"\xff\xfeBTC"))
            continue
        if not options:
            continue
        action = draw(st.sampled_from(options))
        flag = draw(st.sampled_from(action.option_strings))
        if action.nargs == 0:
            argv.append(flag)
            continue
        value = draw(_value(action, world, command))
        if draw(st.booleans()) and flag.startswith("--"):
            argv.append(f"{flag}={value}")
        else:
            argv += [flag, value]
    for action in options:
        if action.required and draw(st.integers(0, 9)) < 8:  # mostly get past "required"
            argv += [action.option_strings[-1], draw(_value(action, world, command))]
    if command == "import" and draw(st.booleans()):
        argv.append(str(draw(st.sampled_from(world["paths"]))))
    return argv + world["suffix"](command, argv)


@pytest.fixture
def world(tmp_path, template_db, rest_url, held_port, monkeypatch):
    for name in list(os.environ):
        if name.startswith("TRADESTORE_") and name != "TRADESTORE_NO_EXTENSIONS":
            monkeypatch.delenv(name)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # relative paths and the default ./tradestore-data land here

    def reset() -> None:
        """The same starting directory for every example, so each replays exactly."""
        for child in work.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
        _files(work)
        shutil.copytree(template_db, work / "db")

    reset()
    files = sorted(str(p.relative_to(work)) for p in (work / "files").iterdir())
    paths = ["db", "db", "missing/db", "fresh", *files, "out.csv", "adir-out/x.jsonl",
             str(tmp_path / "absent" / "db")]  # fmt: skip
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices

    def suffix(command: str, argv: list[str]) -> list[str]:
        if command == "run":
            return ["--print-config"]
        if command == "demo":
            return ["--rate", "0"]
        if command == "fake-exchange":
            return ["--host", "127.0.0.1", "--port", str(held_port)]
        if command == "serve":  # every setting checked, then the bind fails: exit 1
            return ["--addr", f"127.0.0.1:{held_port}"]
        if command == "backfill" and not any(a.startswith("--rest") for a in argv):
            return ["--rest-endpoint", rest_url]
        return []

    return {
        "paths": paths,
        "text_paths": [p for p in paths if not p.endswith((".zip", ".bin"))],
        "reset": reset,
        "rest_url": rest_url,
        "subparsers": subparsers,
        "suffix": suffix,
    }


def run_main(argv: list[str]) -> tuple[int, str, str]:
    """main(argv) with stdout/stderr as strict UTF-8 text streams, like a real terminal."""
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict", write_through=True)
    err = io.TextIOWrapper(
        io.BytesIO(), encoding="utf-8", errors="backslashreplace", write_through=True
    )
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse: --help/--version (0) or usage (2)
                assert exc.code in (0, 2), exc.code
                code = exc.code
    finally:
        root.handlers[:], root.level = saved
    return code, out.buffer.getvalue().decode(), err.buffer.getvalue().decode()


@pytest.mark.parametrize("command", sorted(COMMANDS))
@SETTINGS
@given(data=st.data())
def test_cli_argv(command, world, data):
    world["reset"]()
    argv = data.draw(argvs(command, world), label="argv")
    code, out, err = run_main(argv)
    event(f"exit {code}")
    assert code in (0, 1, 2), (argv, code, err)
    assert "Traceback" not in err, (argv, err)
    if code == 2 and "--help" not in argv and "--version" not in argv:
        assert err.strip(), (argv, "exit 2 without a message")


def test_run_print_config_is_toml(world):
    """The one forced suffix with real output: it must be the config, in TOML."""
    import tomllib

    code, out, err = run_main(
        ["run", "--config", str(Path("files/ok.toml").resolve()), "--print-config"]
    )
    assert code == 0, err
    assert tomllib.loads(out)["symbols"] in ("BTCUSDT", ["BTCUSDT"])
    assert json.dumps(tomllib.loads(out))  # plain data only


def test_run_config_not_utf8(world):
    code, _out, err = run_main(["run", "--config", "files/noise.bin", "--print-config"])
    assert code == 2 and "noise.bin" in err


@pytest.mark.parametrize("db", ["files/trades.csv", "files/trades.csv/db"])
@pytest.mark.parametrize("command", ["prune", "backfill", "import"])
def test_writer_db_is_a_file(world, command, db):
    extra = {
        "prune": [],
        "backfill": ["--rest-endpoint", world["rest_url"]],
        "import": ["--symbol", "BTCUSDT", "files/trades.csv"],
    }[command]
    code, _out, err = run_main([command, "--db", db, *extra])
    assert code == 2 and "Traceback" not in err and db in err


@pytest.mark.parametrize("output", ["files/adir", "", "."])
def test_export_output_is_a_directory(world, output):
    code, _out, err = run_main(["export", "--db", "db", "--symbol", "BTCUSDT", "--output", output])
    assert code == 2 and "Traceback" not in err


@pytest.mark.parametrize("days", ["nan", "inf", "1e308", "739945"])
def test_prune_days_out_of_range(world, days):
    code, _out, err = run_main(["prune", "--db", "db", "--days", days])
    assert code == 2 and "--days" in err


@pytest.mark.parametrize("hours", ["inf", "1e300"])
@pytest.mark.parametrize("command", ["query", "export"])
def test_hours_out_of_range(world, command, hours):
    output = ["--output", "out.csv"] if command == "export" else []
    code, _out, err = run_main(
        [command, "--db", "db", "--symbol", "BTCUSDT", "--hours", hours, *output]
    )
    assert code == 2 and "--hours" in err
