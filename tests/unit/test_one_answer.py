"""One question, one answer: every read surface says the same about a window's record.

The same windows (a day file cut short with nothing to prove it whole, the same file proven
by its .CHECKSUM, a proven file with a hole inside, a symbol never stored) are asked of the
command line (query, candles, cvd, footprint, profile, stats), the HTTP API, the MCP tools,
the library, the pictures and the archive. Each answer is reduced to (recorded, complete,
summary), and every surface must give the expected one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import httpx
import pytest
import trio
from mcp.client import Client

from tests.conftest import REAL_CSV
from tests.helpers.api import serving_api
from tests.helpers.cli import official_zip, run_cli
from tradestore import TradeStore
from tradestore.analytics import candles
from tradestore.api._mcp import build_server
from tradestore.api._reader import StoreReader
from tradestore.store import window_coverage

DAY_START = 1767225600000  # 2026-01-01T00:00:00Z
HOUR_MS = 3_600_000
UNKNOWN = "no trades were ever stored for ETHUSDX (stored: BTCUSDT)"


@dataclass(frozen=True)
class Case:
    name: str
    db: str  # which of the databases below
    start: str
    hours: int
    recorded: str  # full | partial | none
    complete: bool
    summary_starts: str

    @property
    def start_ms(self) -> int:
        return DAY_START + (HOUR_MS if self.start.endswith("01:00:00Z") else 0)

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.hours * HOUR_MS - 1

    @property
    def flags(self) -> list[str]:
        return ["--start", self.start, "--hours", str(self.hours)]

    @property
    def params(self) -> dict:
        return {"symbol": "BTCUSDT", "start": self.start, "hours": self.hours}


CASES = [
    # The truncated file: its record is its trades, 00:00:00.039 .. 00:12:19.347.
    Case("truncated, after its end", "truncated", "2026-01-01T01:00:00Z", 1, "none", False,
         "NOT RECORDED: the record runs 2026-01-01T00:00:00.039Z .. 2026-01-01T00:12:19.347Z"),
    Case("truncated, its day", "truncated", "2026-01-01T00:00:00Z", 24, "partial", False,
         "PARTLY NOT RECORDED: the record starts 2026-01-01T00:00:00.039Z"),
    # The same file with its .CHECKSUM: the whole day is recorded; an hour without trades
    # is "no trades happened".
    Case("proven, an empty hour", "proven", "2026-01-01T01:00:00Z", 1, "full", True,
         "record complete"),
    Case("proven, its day", "proven", "2026-01-01T00:00:00Z", 24, "full", True,
         "record complete"),
    # A proven file with 100 agg ids missing inside: recorded, and not whole.
    Case("a hole inside", "gap", "2026-01-01T00:00:00Z", 1, "full", False,
         "record INCOMPLETE: 100 agg ids missing, 1 unfilled gap overlaps"),
]  # fmt: skip


@pytest.fixture(scope="module")
def dbs(tmp_path_factory) -> dict[str, str]:
    """The three databases, each made by `import` as a user would."""
    from tradestore.cli import main

    root = tmp_path_factory.mktemp("one-answer")
    made = {}
    real_csv = REAL_CSV
    rows = real_csv.read_text().splitlines()
    holed = root / "holed.csv"
    holed.write_text("\n".join(rows[:2000] + rows[2100:]) + "\n")
    for folder in ("t", "p", "g"):
        (root / folder).mkdir()
    sources = {
        "truncated": official_zip(real_csv, root / "t"),
        "proven": official_zip(real_csv, root / "p", checksum=True),
        "gap": official_zip(holed, root / "g", checksum=True),
    }
    for name, archive in sources.items():
        db = root / name
        assert main(["import", "--create", "--db", str(db), str(archive), "--no-progress"]) == 0
        made[name] = str(db)
    return made


def answer(coverage: dict) -> tuple[str, bool, str]:
    return coverage["recorded"], coverage["complete"], coverage["summary"]


def expected(case: Case, got: tuple[str, bool, str]) -> bool:
    recorded, complete, summary = got
    return (
        recorded == case.recorded
        and complete == case.complete
        and summary.startswith(case.summary_starts)
    )


def cli_answers(capsys, db: str, case: Case) -> dict[str, tuple[str, bool, str]]:
    """What each read command says about the window (its json coverage)."""
    got = {}
    for command, extra in (
        ("query", []),
        ("candles", ["--interval", "1h"]),
        ("cvd", ["--interval", "1h"]),
        ("footprint", ["--interval", "1h", "--tick-size", "100"]),
    ):
        code, out, err = run_cli(
            capsys, command, "--db", db, "--symbol", "BTCUSDT", *case.flags, *extra,
            "--format", "json",
        )  # fmt: skip
        assert code == 0, (command, err)
        got[command] = answer(json.loads(out)["coverage"])
    code, out, err = run_cli(
        capsys, "profile", "--db", db, "--symbol", "BTCUSDT", *case.flags, "--format", "json"
    )
    if code == 0:
        got["profile"] = answer(json.loads(out)["coverage"])
    else:  # too few trades for a profile: the refusal carries the same summary
        assert code == 2 and "insufficient data" in err, err
        if case.complete:  # "0 trades" is then the whole truth
            assert "RECORDED" not in err and "INCOMPLETE" not in err
        else:
            assert f"({got['query'][2]})" in err
    return got


def library_answers(db: str, case: Case) -> dict[str, tuple[str, bool, str]]:
    got = {}
    with TradeStore(db, read_only=True) as store:
        cover = window_coverage(store, "BTCUSDT", case.start_ms, case.end_ms)
        got["window_coverage"] = answer(cover.to_dict())
        series = candles(store, "BTCUSDT", case.start_ms, case.end_ms, HOUR_MS)
        got["candles()"] = answer(series.coverage.to_dict())
        pytest.importorskip("matplotlib")
        from tradestore.plot import candles_figure

        figure = candles_figure(series)
        title = " ".join(figure.axes[1].get_title(loc="left").split())
        # The picture's title carries the summary (wrapped): the same words, in red when
        # the record is incomplete.
        got["candles picture"] = (
            series.coverage.recorded,
            series.coverage.complete,
            title[title.index(cover.summary()[:20]) :],
        )
        import matplotlib.pyplot as plt

        plt.close(figure)
    return got


async def served_answers(db: str, case: Case) -> dict[str, tuple[str, bool, str]]:
    got = {}
    async with serving_api(db) as url, httpx.AsyncClient(base_url=url) as client:
        for path in ("coverage", "candles", "cvd", "trades"):
            params = dict(case.params)
            if path in ("candles", "cvd"):
                params["interval"] = "1h"
            if path == "trades":  # a page's coverage is its part: one page holds the window
                params["limit"] = 10_000
            response = await client.get(f"/api/v1/{path}", params=params)
            assert response.status_code == 200, response.text
            got[f"GET /{path}"] = answer(response.json()["coverage"])
    reader = StoreReader(db)
    try:
        async with Client(build_server(reader)) as session:
            for tool in ("get_coverage", "get_candles", "get_cvd", "query_trades"):
                arguments = dict(case.params)
                if tool in ("get_candles", "get_cvd"):
                    arguments["interval"] = "1h"
                if tool == "query_trades":
                    arguments["limit"] = 10_000
                result = await session.call_tool(tool, arguments)
                assert not result.is_error, result.content[0].text
                got[f"mcp {tool}"] = answer(json.loads(result.content[0].text)["coverage"])
    finally:
        reader.close()
    return got


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
async def test_every_surface_gives_one_answer(case, dbs, capsys):
    db = dbs[case.db]
    got = cli_answers(capsys, db, case)
    got |= library_answers(db, case)
    with trio.fail_after(60):
        got |= await served_answers(db, case)
    wrong = {surface: a for surface, a in got.items() if not expected(case, a)}
    assert wrong == {}, f"expected {case.recorded}, {case.complete}, {case.summary_starts!r}"
    # Not just the same kind of answer: the same words, everywhere.
    words = {a[2] for surface, a in got.items() if surface != "candles picture"}
    assert len(words) == 1, "\n".join(f"{k}: {v[2]}" for k, v in got.items())


@pytest.mark.parametrize("name", ["truncated", "proven", "gap"])
def test_stats_and_the_archive_agree_with_the_day(name, dbs, capsys, tmp_path):
    """stats gives the record's span that coverage uses; the archive calls the day
    complete exactly when the day's coverage does."""
    pytest.importorskip("pyarrow")
    db = dbs[name]
    with TradeStore(db, read_only=True) as store:
        day = window_coverage(store, "BTCUSDT", DAY_START, DAY_START + 24 * HOUR_MS - 1)
    code, out, err = run_cli(capsys, "stats", "--db", db, "--format", "json")
    assert code == 0, err
    row = json.loads(out)["symbols"]["BTCUSDT"]
    assert (row["recorded_from"], row["recorded_to"]) == (
        day.to_dict()["recorded_from"],
        day.to_dict()["recorded_to"],
    )
    code, out, err = run_cli(
        capsys, "archive", "--db", db, "--to", tmp_path / "archive", "--format", "jsonl"
    )
    assert code == 0, err
    (archived,) = [json.loads(line) for line in out.splitlines()]
    assert archived["complete"] == day.complete


async def test_an_unknown_symbol_is_one_answer_everywhere(dbs, capsys):
    db = dbs["proven"]
    messages = set()
    for command in ("query", "candles", "cvd", "footprint", "profile", "vacuums", "gaps"):
        code, out, err = run_cli(capsys, command, "--db", db, "--symbol", "ETHUSDX")
        assert (code, out) == (2, ""), command
        messages.add(err.split(": ", 1)[1].strip())
    with trio.fail_after(60):
        async with serving_api(db) as url, httpx.AsyncClient(base_url=url) as client:
            response = await client.get("/api/v1/coverage", params={"symbol": "ETHUSDX"})
            assert response.status_code == 404
            messages.add(response.json()["message"])
        reader = StoreReader(db)
        try:
            async with Client(build_server(reader)) as session:
                result = await session.call_tool("get_coverage", {"symbol": "ETHUSDX"})
                assert result.is_error
                messages.add(result.content[0].text)
        finally:
            reader.close()
    assert messages == {UNKNOWN}
