"""The API's parts in-process: argument reading, cursors, the window rule's names, the
reader's worker limit and its isolation from the threads the recorder uses."""

from __future__ import annotations

import math
import threading

import pytest
import trio

from tests.helpers import wait_for
from tests.helpers.cli import run_cli
from tests.helpers.trades import T0, make_trades, store_with
from tradestore._window import FLAG_NAMES, WindowError, resolve_window
from tradestore.api import (
    TOOLS,
    TOOLS_BY_NAME,
    BadArgument,
    Busy,
    Cursor,
    ExposureError,
    Param,
    StoreReader,
    Unavailable,
    check_exposure,
    read_arguments,
    read_token_file,
)


def test_values_are_read_by_kind_from_text_and_json():
    count = Param("bins", "integer", "", minimum=1, maximum=10)
    assert [count.read(v) for v in ("7", 7, 7.0, " 7 ")] == [7, 7, 7, 7]
    for bad, words in ((True, "expected a number"), ("7.5", "integer"), (0, "between 1 and 10")):
        with pytest.raises(BadArgument, match=words):
            count.read(bad)
    share = Param("value_area", "number", "", maximum=1, exclusive_minimum=0)
    assert share.read("0.7") == 0.7
    for bad in ("nan", math.inf, "0", 0, "1.5", "x"):
        with pytest.raises(BadArgument, match="value_area"):
            share.read(bad)
    flag = Param("open", "boolean", "")
    assert [flag.read(v) for v in ("true", "0", True, "Yes")] == [True, False, True, True]
    when = Param("start", "time", "")
    assert when.read(1767225600000) == "1767225600000" and when.read(" now-2h ") == "now-2h"
    with pytest.raises(BadArgument, match="start: expected a time"):
        when.read(-5)
    tick = Param("tick_size", "decimal", "")
    assert [tick.read(v) for v in (0.1, 10, "0.01")] == ["0.1", "10", "0.01"]


def test_arguments_name_the_unknown_and_the_missing():
    tool = TOOLS_BY_NAME["get_volume_profile"]
    values = read_arguments(tool.params, {"symbol": "BTCUSDT", "end": ""}, tool.name)
    assert values["bins"] == 100 and values["end"] is None and values["value_area"] == 0.7
    with pytest.raises(BadArgument, match="unknown parameters colour, size: get_volume_profile"):
        read_arguments(tool.params, {"symbol": "X", "size": 1, "colour": 2}, tool.name)
    with pytest.raises(BadArgument, match="symbol is required"):
        read_arguments(tool.params, {"hours": 2}, tool.name)


def test_every_tool_has_a_json_schema_for_its_arguments():
    for tool in TOOLS:
        schema = tool.input_schema()
        assert schema["type"] == "object" and schema["additionalProperties"] is False
        assert set(schema["properties"]) == {p.name for p in tool.params}
        assert all(schema["properties"][name] for name in schema["required"])


def test_analytics_requests_are_checked_before_any_reading():
    profile = TOOLS_BY_NAME["get_volume_profile"]
    request = profile.request({"symbol": "btcusdt", "start": "2026-01-01", "hours": "2"})
    assert (request["symbol"], request["start_ms"], request["end_ms"]) == (
        "BTCUSDT",
        T0,
        T0 + 2 * 3_600_000 - 1,  # two hours from the start: its last ms is 1 ms before
    )
    for raw, words in (
        ({"symbol": "BTCUSDT", "start": "2026-01-01", "end": "2027-01-09"}, "at most 8784 hours"),
        (
            {"symbol": "BTCUSDT", "tick_size": "-1"},
            "tick_size: tick size must be a positive number",
        ),
        ({"symbol": "BTCUSDT", "start": "2h", "hours": 3}, "give hours or a duration as start"),
    ):
        with pytest.raises(BadArgument, match=words):
            profile.request(raw)


def test_window_messages_use_the_callers_names():
    with pytest.raises(WindowError, match="^end is before start$"):
        resolve_window("2026-01-02", "2026-01-01", None, default_hours=1)
    with pytest.raises(WindowError, match="^--end is before --start$"):
        resolve_window("2026-01-02", "2026-01-01", None, default_hours=1, names=FLAG_NAMES)


def test_cursors_round_trip_and_bad_ones_are_refused():
    assert Cursor.parse(str(Cursor(42, T0))) == Cursor(42, T0)
    assert Cursor.parse("42") == Cursor(42, None)
    for bad in ("", "x", "42-", "-5", "4 2", "42-x"):
        with pytest.raises(BadArgument, match="cursor"):
            Cursor.parse(bad)


def test_exposure_needs_a_token_beyond_loopback(tmp_path):
    for host in ("127.0.0.1", "localhost", "::1", "127.8.9.10"):
        check_exposure(host, None)
    for host in ("0.0.0.0", "::", "192.0.2.7", "example.com"):
        with pytest.raises(ExposureError, match="--token-file"):
            check_exposure(host, None)
        check_exposure(host, "t" * 32)
    short = tmp_path / "short"
    short.write_text("secret\n")
    with pytest.raises(ExposureError, match="at least 16"):
        read_token_file(short)
    good = tmp_path / "token"
    good.write_text("a" * 64 + "\n")
    good.chmod(0o600)
    assert read_token_file(good) == "a" * 64
    with pytest.raises(ExposureError, match="no such file"):
        read_token_file(tmp_path / "missing")


async def test_reader_bounds_its_workers_and_leaves_other_threads_free(tmp_path):
    """Two workers held by slow answers, one request waiting, the next refused as busy;
    meanwhile a thread on Trio's default limiter (the recorder's flushes) runs at once."""
    store_with(tmp_path / "db", make_trades(10)).close()
    reader = StoreReader(tmp_path / "db", workers=2, max_waiting=1)
    release = threading.Event()
    entered = []

    def slow(store):
        entered.append(1)
        release.wait(30)
        return store.symbols()

    answers = []

    async def ask(fn):
        answers.append(await reader.call(fn))

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ask, slow)
            nursery.start_soon(ask, slow)
            await wait_for(lambda: len(entered) == 2)
            nursery.start_soon(ask, lambda store: "queued")
            await wait_for(lambda: reader.statistics().waiting == 1)
            with pytest.raises(Busy, match="1 requests are waiting for the 2 workers"):
                await reader.call(lambda store: "refused")
            assert await trio.to_thread.run_sync(lambda: "free") == "free"
            release.set()
    assert sorted(map(str, answers)) == ["['BTCUSDT']", "['BTCUSDT']", "queued"]
    reader.close()
    with pytest.raises(Unavailable, match="shutting down"):
        await reader.call(lambda store: None)


def test_serve_and_run_refuse_unsafe_or_unreadable_settings(tmp_path, capsys):
    """Each refusal is one line on stderr and exit 2, before anything listens."""
    token = tmp_path / "token"
    token.write_text("t" * 32)
    cases = [
        (["serve", "--addr", "0.0.0.0:0"], "0.0.0.0 is not a loopback address"),
        (["serve", "--addr", "[::]:8765"], ":: is not a loopback address"),
        (["serve", "--addr", "localhost"], "--addr: 'localhost' is not HOST:PORT"),
        (["serve", "--addr", "0.0.0.0:0", "--token-file", tmp_path / "nope"], "no such file"),
        (["serve", "--workers", "0"], "--workers must be at least 1"),
        (["mcp", "--workers", "0"], "--workers must be at least 1"),
        (["run", "--api-addr", "0.0.0.0:8765", "--print-config"], "api_addr: 0.0.0.0 is not a"),
        (["run", "--api-addr", "8765", "--print-config"], "api_addr: '8765' is not HOST:PORT"),
    ]
    for argv, words in cases:
        code, out, err = run_cli(capsys, *argv, "--db", tmp_path / "db")
        assert code == 2, (argv, err)
        assert err.startswith(f"tradestore-trio {argv[0]}: ") and words in err, err
        assert err.count("\n") == 1 and out == ""
    code, out, _err = run_cli(
        capsys, "run", "--api-addr", "127.0.0.1:8765", "--print-config", "--db", tmp_path / "db"
    )
    assert code == 0 and 'api_addr = "127.0.0.1:8765"' in out
