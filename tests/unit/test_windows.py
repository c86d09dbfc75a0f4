"""One window convention and one set of limits, asked of every surface.

A length of N hours from a start ends 1 ms before start + N h, so a complete day asked
as ``--start DAY --hours 24`` is "record complete" through the command line, the HTTP API
and MCP; a limit refuses with the same words whichever surface is asked and however the
window was given; ``composite`` takes the day of ``--end`` whole and says which days were
not recorded."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest
import trio
from mcp.client import Client

from tests.helpers.api import serving_api
from tests.helpers.cli import run_cli
from tests.helpers.trades import T0
from tradestore import AggTrade, TradeStore
from tradestore._window import (
    ANALYTICS,
    FLAG_NAMES,
    HOUR_MS,
    LIMITS,
    WindowError,
    resolve_window,
)
from tradestore.api import TOOLS_BY_NAME
from tradestore.api._mcp import build_server
from tradestore.api._reader import StoreReader

DAY = 86_400_000
NOW = T0 + 10 * DAY + 12_345
SYMBOL = "BTCUSDT"
# Recorded: 2026-01-03, -04, -06 and -07 traded all day (a trade at each day's first and
# last millisecond); nothing traded on -05, but the agg ids run on across it, so it was
# recorded. 2026-01-07 also traded 1,000 times between 12:00 and 12:30.
TRADED_DAYS = (2, 3, 5, 6)
BUSY_HALF_HOUR = T0 + 6 * DAY + 12 * HOUR_MS


def _times() -> list[int]:
    times = []
    for day in TRADED_DAYS:
        times += [T0 + day * DAY + (DAY - 1) * i // 999 for i in range(1000)]
    times += [BUSY_HALF_HOUR + i * 1_700 for i in range(1000)]
    return sorted(times)


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("windows") / "db"
    trades = [
        AggTrade(1 + i, Decimal(87_000 + i % 50), Decimal("0.5"), t, bool(i % 3))
        for i, t in enumerate(_times())
    ]
    with TradeStore(path) as store:
        for i in range(0, len(trades), 500):
            store.store_batch(SYMBOL, trades[i : i + 500])
    return path


# ------------------------------------------------------------------ the convention


@pytest.mark.parametrize(
    ("start", "end", "hours", "window"),
    [
        ("2026-01-01", None, 24, (T0, T0 + DAY - 1)),  # a length: exactly that many ms
        (None, "2026-01-02", 24, (T0 + 1, T0 + DAY)),  # up to an end, the same length
        ("2026-01-01", None, 0.5, (T0, T0 + HOUR_MS // 2 - 1)),
        ("2h", None, None, (NOW - 2 * HOUR_MS + 1, NOW)),  # a bare duration: a length
        ("2h", "2026-01-02", None, (T0 + DAY - 2 * HOUR_MS + 1, T0 + DAY)),
        (None, None, None, (NOW - HOUR_MS + 1, NOW)),  # the default length
        ("2026-01-01", "2026-01-02", None, (T0, T0 + DAY)),  # times: inclusive as given
        ("2026-01-01", "2026-01-01", None, (T0, T0)),
    ],
)
def test_a_length_covers_exactly_that_many_milliseconds(start, end, hours, window):
    assert resolve_window(start, end, hours, default_hours=1, now=NOW) == window
    got = resolve_window(start, end, hours, default_hours=1, now=NOW, limit=ANALYTICS)
    assert got == window


@pytest.mark.parametrize("hours", [0, -1, 1e-9, float("nan"), float("inf"), 1e300])
def test_a_length_is_a_positive_number_of_milliseconds(hours):
    with pytest.raises(WindowError, match="^--hours must be a positive number of hours"):
        resolve_window("2026-01-01", None, hours, default_hours=1, names=FLAG_NAMES)


@pytest.mark.parametrize("limit", list(LIMITS.values()), ids=list(LIMITS))
def test_every_limit_is_the_same_for_a_length_and_for_two_times(limit):
    """The longest window is allowed as --hours and as --start/--end (two midnights a
    week apart are a week); one millisecond more is refused, with the reason."""
    hours = limit.max_hours
    end = T0 + limit.max_ms
    assert resolve_window("2026-01-01", None, hours, default_hours=1, limit=limit)[0] == T0
    assert resolve_window(str(T0), str(end), None, default_hours=1, limit=limit) == (T0, end)
    for start, stop, length in ((str(T0), str(end + 1), None), (str(T0), None, hours + 1)):
        with pytest.raises(WindowError) as refused:
            resolve_window(start, stop, length, default_hours=1, limit=limit)
        text = str(refused.value)
        assert f"at most {hours:g} hours, as {limit.reason}" in text, text


# ------------------------------------------------------- a complete day, every surface

LAST_DAY = {"start": "2026-01-07", "hours": 24}  # the record ends 2026-01-07T23:59:59.999


def test_a_complete_day_by_hours_is_record_complete_on_the_command_line(db, capsys):
    flags = ["--db", db, "--symbol", SYMBOL, "--start", "2026-01-07", "--hours", "24"]
    for command, extra in (
        ("query", []),
        ("profile", []),
        ("vacuums", []),
        ("candles", ["--interval", "1h"]),
        ("cvd", ["--interval", "1h"]),
        ("footprint", ["--interval", "1h", "--tick-size", "10"]),
    ):
        code, out, err = run_cli(capsys, command, *flags, *extra, "--format", "json")
        assert code == 0, (command, err)
        doc = json.loads(out)
        assert doc["coverage"]["summary"] == "record complete", (command, doc["coverage"])
    code, out, err = run_cli(capsys, "profile", *flags)
    assert code == 0 and out.rstrip().endswith("record complete") and "NOT RECORDED" not in out


async def test_a_complete_day_by_hours_is_record_complete_over_http_and_mcp(db):
    with trio.fail_after(60):
        async with serving_api(db) as url, httpx.AsyncClient(base_url=url) as client:
            for path in ("profile", "candles", "trades", "coverage"):
                response = await client.get(
                    f"/api/v1/{path}", params={"symbol": SYMBOL, **LAST_DAY}
                )
                assert response.status_code == 200, response.text
                doc = response.json()
                assert doc["coverage"]["summary"] == "record complete", (path, doc["coverage"])
        reader = StoreReader(db)
        try:
            async with Client(build_server(reader)) as session:
                for tool in ("get_volume_profile", "get_candles", "query_trades", "get_coverage"):
                    result = await session.call_tool(tool, {"symbol": SYMBOL, **LAST_DAY})
                    assert not result.is_error, result.content[0].text
                    doc = json.loads(result.content[0].text)
                    assert doc["coverage"]["summary"] == "record complete", (tool, doc["coverage"])
        finally:
            reader.close()


# ------------------------------------------------------- the same limits, every surface

# (command line flags, API/MCP arguments): each asked of profile, and its answer.
ASKED = [
    (["--start", "2026-01-01", "--hours", "9000"], {"start": "2026-01-01", "hours": 9000}),
    (["--start", "2026-01-01", "--end", "2027-01-03"], {"start": "2026-01-01", "end": "2027-01-03"}),
    (["--start", "2026-01-07T12:00Z", "--hours", "0.5"], {"start": "2026-01-07T12:00Z", "hours": 0.5}),
    (["--start", "2026-01-07T12:00Z", "--end", "2026-01-07T12:29:59.999Z"],
     {"start": "2026-01-07T12:00Z", "end": "2026-01-07T12:29:59.999Z"}),
]  # fmt: skip


async def test_every_surface_gives_the_same_answer_about_a_windows_length(db, capsys):
    """Too long: one message from the command line, the HTTP API and MCP, whether the
    window came as a length or as two times. Half an hour: a profile from all three."""
    answers: dict[str, list] = {"cli": [], "http": [], "mcp": []}
    for flags, _ in ASKED:
        code, out, err = run_cli(capsys, "profile", "--db", db, "--symbol", SYMBOL, *flags,
                                 "--format", "json")  # fmt: skip
        answers["cli"].append(json.loads(out) if code == 0 else err.split(": ", 1)[1].strip())
    with trio.fail_after(60):
        async with serving_api(db) as url, httpx.AsyncClient(base_url=url) as client:
            for _, arguments in ASKED:
                response = await client.get(
                    "/api/v1/profile", params={"symbol": SYMBOL, **arguments}
                )
                doc = response.json()
                answers["http"].append(doc if response.status_code == 200 else doc["message"])
        reader = StoreReader(db)
        try:
            async with Client(build_server(reader)) as session:
                for _, arguments in ASKED:
                    result = await session.call_tool(
                        "get_volume_profile", {"symbol": SYMBOL, **arguments}
                    )
                    text = result.content[0].text
                    answers["mcp"].append(text if result.is_error else json.loads(text))
        finally:
            reader.close()
    assert answers["cli"] == answers["http"] == answers["mcp"]
    too_long, week_and_a_day, half_hour, by_times = answers["cli"]
    assert too_long == (
        "the window is 9000 hours long: at most 8784 hours, as the analytics read at most a "
        "year (366 days) at a time, a day rollup per day"
    )
    assert week_and_a_day.startswith("the window is 8808 hours long: at most 8784 hours")
    assert half_hour == by_times and half_hour["trade_count"] == 1_000 + 21
    assert half_hour["coverage"]["summary"] == "record complete"


def test_the_tools_schema_states_the_length_the_window_check_allows():
    schema = TOOLS_BY_NAME["get_volume_profile"].input_schema()["properties"]["hours"]
    assert schema["exclusiveMinimum"] == 0 and schema["maximum"] == ANALYTICS.max_hours
    assert "minimum" not in schema and ANALYTICS.reason in schema["description"]


# ----------------------------------------------------------------------- composite


def _composite(capsys, db, *flags, fmt="json"):
    code, out, err = run_cli(capsys, "composite", "--db", db, "--symbol", SYMBOL, *flags,
                             "--tick-size", "10", "--format", fmt)  # fmt: skip
    assert code == 0, err
    return json.loads(out) if fmt == "json" else out


def test_composite_takes_the_day_of_end_whole(db, capsys):
    doc = _composite(capsys, db, "--days", "7", "--end", "2026-01-07")
    days = doc["sessions"]
    assert [d["session_start"][:10] for d in days] == [f"2026-01-0{n}" for n in range(1, 8)]
    assert days[-1]["session_end"] == "2026-01-07T23:59:59.999Z"
    assert doc["time_period_end"] == "2026-01-07T23:59:59.999Z"
    assert [d["trade_count"] for d in days] == [None, None, 1000, 1000, 0, 1000, 2000]
    one = _composite(capsys, db, "--days", "1", "--end", "2026-01-03")
    assert [d["trade_count"] for d in one["sessions"]] == [1000]
    # A time of day ends the last day there.
    noon = _composite(capsys, db, "--days", "2", "--end", "2026-01-07T12:00:00Z")
    assert noon["sessions"][-1]["session_end"] == "2026-01-07T12:00:00.000Z"
    assert noon["sessions"][-1]["trade_count"] == 500 + 1


def test_composite_says_which_days_were_not_recorded(db, capsys):
    doc = _composite(capsys, db, "--days", "7", "--end", "2026-01-07")
    first, _, third, _, quiet, *_ = doc["sessions"]
    # Before the record: nobody knows whether it traded, so no figures, not zeros.
    assert first["coverage"]["recorded"] == "none" and first["data_complete"] is False
    assert first["coverage"]["summary"].startswith("NOT RECORDED")
    assert first["volume"] is None and first["trade_count"] is None
    # Recorded and quiet: no trades happened.
    assert quiet["coverage"]["summary"] == "record complete" and quiet["volume"] == "0"
    assert third["coverage"]["summary"] == "record complete"
    table = _composite(capsys, db, "--days", "7", "--end", "2026-01-07", fmt="table")
    rows = {line[:10]: line for line in table.splitlines() if line.startswith("2026-01-0")}
    assert rows["2026-01-01"].rstrip().endswith("NOT RECORDED")
    assert " 0 " not in rows["2026-01-01"]
    assert rows["2026-01-05"].rstrip().endswith("record complete")
    csv = _composite(capsys, db, "--days", "7", "--end", "2026-01-07", "--sessions", fmt="csv")
    lines = csv.splitlines()
    assert lines[0].endswith("data_complete,record")
    assert lines[1].endswith(",false,NOT RECORDED") and lines[5].endswith(",true,record complete")
