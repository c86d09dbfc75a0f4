"""screen over a real store of several symbols and days: every row equals the
single-symbol commands (profile, vacuums, cvd) for that symbol and window and an exact
computation from the raw trades written in this test (Decimal and Fraction, its own
binning, value area, vacuum and naked-POC rules); --where/--sort/--top, every format,
the HTTP API, MCP, the library's frames, the archive, and bad input exiting 2."""

from __future__ import annotations

import csv
import io
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import httpx
import pytest
import trio
from mcp.client import Client

from tests.helpers.api import cli_json, serving_api
from tests.helpers.archive import DAY_MS, FIRST_DAY, write
from tests.helpers.cli import run_cli
from tradestore import AggTrade, TradeStore
from tradestore.analytics import screen
from tradestore.api import StoreReader
from tradestore.api._mcp import build_server
from tradestore.archive import day_start_ms

DAY0 = day_start_ms(FIRST_DAY)
DAYS = 4  # whole days D0..D3, then a tail of trades early on D4
PER_DAY = 2400


def _day_trades(rng, first_id, day, n, price_of):
    start = DAY0 + day * DAY_MS
    out = []
    for i in range(n):
        out.append(
            AggTrade(
                agg_id=first_id + i,
                price=price_of(rng, i).quantize(Decimal("0.01")),
                qty=Decimal(rng.randint(1, 5000)) / 1000,
                time_ms=start + i * (DAY_MS // n) + rng.randint(0, 999),
                is_buyer_maker=rng.random() < 0.45,
            )
        )
    return out


def _series(name, seed, price_of, *, n=PER_DAY, days=DAYS, tail=60, skip=()):
    rng = random.Random(seed)
    trades, next_id = [], 1000
    for day in range(days + 1):
        count = n if day < days else tail
        chunk = _day_trades(rng, next_id, day, count, lambda r, i, d=day: price_of(r, d, i))
        next_id += count
        trades += [t for t in chunk if t.agg_id not in skip]
    return name, trades


def _bimodal(r, day, i):
    # Two busy ranges with a thin stretch between: a vacuum at 111..119.
    if i % 97 == 0:
        return Decimal(r.uniform(111, 119))
    return Decimal(r.uniform(100, 110) if r.random() < 0.5 else r.uniform(120, 130))


SERIES = dict(
    [
        # Each day higher: every earlier day's POC stays untraded (naked).
        _series("TRENDUSDT", 1, lambda r, d, i: Decimal(100 + 10 * d) + Decimal(r.uniform(-2, 2))),
        # Every day over the same range: no POC stays naked.
        _series("RANGEUSDT", 2, lambda r, d, i: Decimal(r.uniform(90, 110))),
        _series("GAPSUSDT", 3, _bimodal, skip=set(range(3000, 3040))),  # ids never stored
        _series("VOIDUSDT", 4, _bimodal),
        _series("THINBTC", 5, lambda r, d, i: Decimal(r.uniform(1, 2)), n=150, tail=5),
    ]
)


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("screen") / "db"
    with TradeStore(path) as store:
        for symbol, trades in SERIES.items():
            write(store, symbol, trades)
    return path


# -------------------------------------------------------------- the oracle


def _nice(span: Decimal, bins: int) -> Decimal:
    width = Decimal("0.00000001")
    while True:
        for step in (1, 2, 5):
            if step * width * bins >= span:
                return step * width
        width *= 10


@dataclass
class Profile:
    origin: Decimal
    width: Decimal
    volumes: list[Decimal]
    poc: int
    va: tuple[int, int]


def _profile(trades, bins=100) -> Profile:
    lo, hi = min(t.price for t in trades), max(t.price for t in trades)
    width = _nice(hi - lo, bins)
    first = (lo / width).to_integral_value(rounding="ROUND_FLOOR")
    last = (hi / width).to_integral_value(rounding="ROUND_FLOOR")
    volumes = [Decimal(0)] * int(last - first + 1)
    for t in trades:
        volumes[int((t.price / width).to_integral_value(rounding="ROUND_FLOOR") - first)] += t.qty
    poc = volumes.index(max(volumes))
    total, lo_i, hi_i = sum(volumes), poc, poc
    held = volumes[poc]
    while held * 10 < 7 * total:
        up = volumes[hi_i + 1] if hi_i + 1 < len(volumes) else None
        down = volumes[lo_i - 1] if lo_i > 0 else None
        if up is not None and (down is None or up >= down):
            hi_i, held = hi_i + 1, held + up
        else:
            lo_i, held = lo_i - 1, held + down
    return Profile(first * width, width, volumes, poc, (lo_i, hi_i))


def _vacuums(p: Profile) -> list[tuple[int, int]]:
    """(first bin, last bin) of each vacuum: thin runs (< 0.2 x median), merged when at
    most 2 bins apart and every bin between is below the median."""
    ordered = sorted(p.volumes)
    n = len(ordered)
    median = Fraction(ordered[n // 2] + ordered[(n - 1) // 2]) / 2
    thin = [Fraction(v) < median / 5 for v in p.volumes]
    runs = []
    for i, is_thin in enumerate(thin):
        if is_thin and runs and runs[-1][1] == i - 1:
            runs[-1][1] = i
        elif is_thin:
            runs.append([i, i])
    out: list[list[int]] = []
    for a, b in runs:
        if out and a - out[-1][1] - 1 <= 2:
            between = range(out[-1][1] + 1, a)
            if all(Fraction(p.volumes[i]) < median for i in between):
                out[-1][1] = b
                continue
        out.append([a, b])
    return [(a, b) for a, b in out]


def _pct(distance: Decimal, of: Decimal) -> float:
    return round(float(Fraction(distance) / Fraction(of) * 100), 4)


def oracle(symbol: str, start: int, end: int, naked_days: int = 20) -> dict:
    trades = [t for t in SERIES[symbol] if start <= t.time_ms <= end]
    last = max(trades, key=lambda t: t.agg_id).price
    base = sum(t.qty for t in trades)
    buy = sum(t.qty for t in trades if not t.is_buyer_maker)
    row = {
        "trade_count": len(trades),
        "last_price": last,
        "volume": sum(t.price * t.qty for t in trades),
        "base_volume": base,
        "buy_volume": buy,
        "cvd": buy - (base - buy),
        "buy_share": round(float(Fraction(buy) / Fraction(base)), 6),
    }
    # Naked POCs: each earlier day's POC that no later trade (up to end) reached.
    end_day = DAY0 + (end - DAY0) // DAY_MS * DAY_MS
    naked = []
    for day in range(end_day - naked_days * DAY_MS, end_day, DAY_MS):
        of_day = [t for t in SERIES[symbol] if day <= t.time_ms < day + DAY_MS]
        if len(of_day) < 1000:
            continue
        p = _profile(of_day)
        poc = p.origin + p.width * p.poc + p.width / 2
        later = [t.price for t in SERIES[symbol] if day + DAY_MS <= t.time_ms <= end]
        if not later or not min(later) <= poc <= max(later):
            naked.append((abs(poc - last), day, poc))
    row["naked_poc_count"] = len(naked)
    if naked:
        _dist, day, poc = min(naked)
        row.update(naked_poc=poc, naked_poc_day_ms=day, dist_naked_poc_pct=_pct(_dist, last))
    if len(trades) < 1000:
        return row
    p = _profile(trades)
    at = int((last - p.origin) // p.width)
    poc = p.origin + p.width * p.poc + p.width / 2
    row.update(
        poc=poc,
        value_area_low=p.origin + p.width * p.va[0],
        value_area_high=p.origin + p.width * (p.va[1] + 1),
        in_value_area=p.va[0] <= at <= p.va[1],
        dist_poc_pct=_pct(abs(poc - last), last),
    )
    vacuums = _vacuums(p)
    row["in_vacuum"] = any(a <= at <= b for a, b in vacuums)
    above = [(a, b) for a, b in vacuums if a > at]
    below = [(a, b) for a, b in vacuums if b < at]
    row["above"] = above and (
        p.origin + p.width * above[0][0],
        _pct(p.origin + p.width * above[0][0] - last, last),
        above[0][0] - at,
    )
    row["below"] = below and (
        p.origin + p.width * (below[-1][1] + 1),
        _pct(last - p.origin - p.width * (below[-1][1] + 1), last),
        at - below[-1][1],
    )
    return row


WINDOWS = [
    pytest.param(DAY0 + 2 * DAY_MS, DAY0 + 3 * DAY_MS - 1, id="one-utc-day"),
    pytest.param(DAY0 + DAY_MS + 18_793_117, DAY0 + 3 * DAY_MS + 61_200_000, id="rolling"),
    pytest.param(DAY0, DAY0 + 5 * DAY_MS - 1, id="everything"),
    pytest.param(DAY0 + 3 * DAY_MS + 3_600_000, DAY0 + 4 * DAY_MS + 7_200_000, id="to-the-tail"),
]


@pytest.mark.parametrize(("start", "end"), WINDOWS)
def test_each_row_is_the_raw_computation(db, start, end):
    with TradeStore(db, read_only=True) as store:
        result = screen(store, "ALL", start, end)
    assert [r.symbol for r in result.rows] == sorted(SERIES)
    for row in result.rows:
        want = oracle(row.symbol, start, end)
        for key in ("trade_count", "last_price", "volume", "base_volume", "buy_volume"):
            assert getattr(row, key) == want[key], (row.symbol, key)
        assert row.cvd == want["cvd"] and row.buy_share == want["buy_share"]
        assert row.naked_poc_count == want["naked_poc_count"], row.symbol
        assert row.naked_poc == want.get("naked_poc"), row.symbol
        assert row.naked_poc_day_ms == want.get("naked_poc_day_ms")
        assert row.dist_naked_poc_pct == want.get("dist_naked_poc_pct")
        for key in ("poc", "value_area_low", "value_area_high", "in_value_area", "in_vacuum"):
            assert getattr(row, key) == want.get(key), (row.symbol, key)
        assert row.dist_poc_pct == want.get("dist_poc_pct")
        if "poc" not in want:
            assert row.note and "1000" in row.note and row.vacuum_above is None
            continue
        above, below = row.vacuum_above, row.vacuum_below
        got_above = above and (above.price_low, above.distance_pct, above.distance_bins)
        got_below = below and (below.price_high, below.distance_pct, below.distance_bins)
        assert (got_above or []) == (want["above"] or []), row.symbol
        assert (got_below or []) == (want["below"] or []), row.symbol


def test_the_data_shows_what_a_screen_is_for(db):
    """The sample is not degenerate: the trend leaves naked POCs, the bimodal symbols
    have a vacuum, the gaps and the thin symbol show in their rows."""
    with TradeStore(db, read_only=True) as store:
        rows = {r.symbol: r for r in screen(store, None, DAY0, DAY0 + 4 * DAY_MS - 1).rows}
    assert rows["TRENDUSDT"].naked_poc_count == 3 and rows["RANGEUSDT"].naked_poc_count == 0
    assert rows["TRENDUSDT"].naked_poc_day_ms == DAY0 + 2 * DAY_MS
    assert (
        rows["VOIDUSDT"].vacuum_above
        or rows["VOIDUSDT"].vacuum_below
        or (rows["VOIDUSDT"].in_vacuum)
    )
    assert not rows["GAPSUSDT"].data_complete and rows["GAPSUSDT"].coverage.missing_ids == 40
    assert rows["VOIDUSDT"].coverage.missing_ids == 0
    assert rows["THINBTC"].poc is None and rows["THINBTC"].trade_count == 600


@pytest.mark.parametrize(("start", "end"), WINDOWS[:3])
def test_each_row_is_the_single_symbol_commands(db, capsys, start, end):
    flags = ["--db", db, "--start", start, "--end", end]
    doc = cli_json(capsys, "screen", *flags, "--symbols", "ALL", "--sort", "symbol")
    assert doc["symbols_screened"] == len(SERIES) == doc["row_count"]
    for row in doc["rows"]:
        symbol = row["symbol"]
        cvd = cli_json(capsys, "cvd", *flags, "--symbol", symbol, "--interval", "1h")
        assert (row["cvd"], row["buy_volume"], row["sell_volume"], row["trade_count"]) == (
            cvd["delta"],
            cvd["buy_volume"],
            cvd["sell_volume"],
            cvd["trade_count"],
        )
        assert row["coverage"] == cvd["coverage"]
        if row["poc"] is None:
            code, _out, err = run_cli(capsys, "profile", *flags, "--symbol", symbol)
            assert code == 2 and "insufficient data" in err
            continue
        profile = cli_json(capsys, "profile", *flags, "--symbol", symbol)
        assert row["poc"] == profile["point_of_control"]
        assert row["value_area_low"] == profile["value_area_low"]
        assert row["value_area_high"] == profile["value_area_high"]
        assert row["base_volume"] == profile["total_volume"]
        assert row["bin_size"] == profile["bin_size"]
        assert row["coverage"] == profile["coverage"]
        vacuums = cli_json(capsys, "vacuums", *flags, "--symbol", symbol)["vacuums"]
        last = Decimal(row["last_price"])
        ranges = [(Decimal(v["price_range_low"]), Decimal(v["price_range_high"])) for v in vacuums]
        above = [lo for lo, hi in ranges if lo > last]
        below = [hi for lo, hi in ranges if hi <= last]
        inside = [lo for lo, hi in ranges if lo <= last < hi]
        assert row["in_vacuum"] == bool(inside)
        assert row["vacuum_above_low"] == (str(min(above).normalize()) if above else None) or (
            above and Decimal(row["vacuum_above_low"]) == min(above)
        )
        assert (Decimal(row["vacuum_below_high"]) if row["vacuum_below_high"] else None) == (
            max(below) if below else None
        )


def test_where_sort_and_top(db, capsys):
    flags = ["--db", db, "--start", DAY0, "--end", DAY0 + 4 * DAY_MS - 1]
    every = cli_json(capsys, "screen", *flags)["rows"]
    volumes = [Decimal(r["volume"]) for r in every]
    assert volumes == sorted(volumes, reverse=True)  # volume, largest first, by default
    doc = cli_json(capsys, "screen", *flags, "--where", "volume>1e5, in_value_area")
    assert [r["symbol"] for r in doc["rows"]] == [
        r["symbol"] for r in every if Decimal(r["volume"]) > 100_000 and r["in_value_area"]
    ]
    nearest = cli_json(
        capsys, "screen", *flags, "--sort", "dist_naked_poc_pct", "--top", "1"
    )  # fmt: skip
    assert [r["symbol"] for r in nearest["rows"]] == ["TRENDUSDT"]
    assert nearest["symbols_screened"] == len(SERIES) and nearest["row_count"] == 1
    thin_last = cli_json(capsys, "screen", *flags, "--sort", "poc", "--order", "asc")["rows"]
    assert thin_last[-1]["symbol"] == "THINBTC"  # no POC: empty values sort last
    recorded = ["--db", db, "--start", DAY0 + 1000, "--end", DAY0 + 4 * DAY_MS - 1]
    pattern = cli_json(
        capsys, "screen", *recorded, "--symbols", "*USDT", "--where", "!data_complete"
    )  # fmt: skip
    assert [r["symbol"] for r in pattern["rows"]] == ["GAPSUSDT"]
    listed = cli_json(
        capsys, "screen", *flags, "--symbols", "voidusdt,TRENDUSDT", "--sort", "symbol"
    )
    assert [r["symbol"] for r in listed["rows"]] == ["TRENDUSDT", "VOIDUSDT"]


def test_every_format_holds_the_same_rows(db, capsys):
    flags = ["--db", str(db), "--start", str(DAY0), "--days", "4", "--sort", "symbol"]
    rows = cli_json(capsys, "screen", *flags)["rows"]
    code, out, _err = run_cli(capsys, "screen", *flags, "--format", "csv")
    assert code == 0
    table = list(csv.DictReader(io.StringIO(out)))
    assert [r["symbol"] for r in table] == [r["symbol"] for r in rows]
    assert [r["poc"] for r in table] == [r["poc"] or "" for r in rows]
    code, out, _err = run_cli(capsys, "screen", *flags, "--format", "jsonl")
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines == [{k: v for k, v in r.items() if k != "coverage"} for r in rows]
    code, out, err = run_cli(capsys, "screen", *flags)
    assert code == 0 and "TRENDUSDT" in out and "5 of 5 symbols" in out
    assert "GAPSUSDT" in out.splitlines()[-1]  # the footer names the incomplete record


def test_the_library_hands_rows_to_pandas_and_polars(db):
    with TradeStore(db, read_only=True) as store:
        result = screen(store, ["TRENDUSDT", "THINBTC"], DAY0, DAY0 + 4 * DAY_MS - 1)
    frame = result.to_pandas()
    assert list(frame["symbol"]) == ["TRENDUSDT", "THINBTC"]
    assert frame["trade_count"].tolist() == [4 * PER_DAY, 600]
    assert frame["poc"].isna().tolist() == [False, True]
    polars = result.to_polars()
    assert polars["volume"].to_list() == [float(r.volume) for r in result.rows]


async def test_the_api_and_mcp_answer_the_command_lines_screen(db, capsys):
    flags = ["--db", db, "--start", DAY0 + 3600_000, "--end", DAY0 + 4 * DAY_MS - 1]
    want = cli_json(capsys, "screen", *flags, "--where", "in_value_area", "--top", "3")
    params = {"start": DAY0 + 3600_000, "end": DAY0 + 4 * DAY_MS - 1}
    params |= {"where": "in_value_area", "top": 3}
    with trio.fail_after(60):
        async with serving_api(db) as url, httpx.AsyncClient(base_url=url) as client:
            response = await client.get("/api/v1/screen", params=params)
            assert response.status_code == 200, response.text
            assert response.json() == want
            bad = await client.get("/api/v1/screen", params={"where": "nosuch>1"})
            assert bad.status_code == 400 and "nosuch" in bad.text
            unknown = await client.get("/api/v1/screen", params={"symbols": "NOPEUSDT"})
            assert unknown.status_code == 404
        reader = StoreReader(db)
        try:
            async with Client(build_server(reader)) as session:
                result = await session.call_tool("screen_market", params)
                assert not result.is_error, result.content[0].text
                assert json.loads(result.content[0].text) == want
        finally:
            reader.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--symbols", "NOPEUSDT"], "NOPEUSDT"),
        (["--symbols", "*XYZ"], "no stored symbol matches"),
        (["--symbols", "BAD SYMBOL"], "--symbols"),
        (["--where", "volume>>1"], "--where"),
        (["--where", "nosuch"], "unknown column"),
        (["--where", "symbol<3"], "text"),
        (["--sort", "nosuch"], "invalid choice"),
        (["--naked-days", "-1"], "--naked-days"),
        (["--bins", "0"], "--bins"),
        (["--top", "-2"], "--top"),
        (["--plot", "/nonexistent/dir/map.png"], "does not exist"),
    ],
)
def test_bad_input_exits_2_and_says_why(db, capsys, args, message):
    try:
        code, _out, err = run_cli(capsys, "screen", "--db", str(db), *args)
    except SystemExit as exc:  # argparse's own refusals
        code, err = exc.code, capsys.readouterr().err
    assert code == 2, err
    assert message in err and "Traceback" not in err


def test_the_window_is_every_commands_window(db, capsys):
    """--days and --hours mean what they mean elsewhere: the last millisecond is 1 ms
    before start + N."""
    start = datetime(2026, 3, 2, tzinfo=UTC)
    doc = cli_json(capsys, "screen", "--db", db, "--start", start.isoformat(), "--days", "2")
    assert doc["time_period_start"] == "2026-03-02T00:00:00.000Z"
    end = start + timedelta(days=2) - timedelta(milliseconds=1)
    assert doc["time_period_end"] == end.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def test_the_archive_answers_the_days_the_store_no_longer_holds(tmp_path, capsys):
    """Over a store whose first days are pruned (trades and rollups) and archived, the
    screen with --archive is the screen of the store that still holds every trade."""
    pytest.importorskip("pyarrow")
    from tests.helpers.archive import build_tiers

    tiers = build_tiers(tmp_path, "BTCUSDT", days=4)
    capsys.readouterr()  # the archive command's report
    window = ["--start", DAY0, "--end", DAY0 + 4 * DAY_MS - 1, "--naked-days", "3"]
    want = cli_json(capsys, "screen", "--db", tiers.full, *window)
    got = cli_json(capsys, "screen", "--db", tiers.tiered, "--archive", tiers.archive, *window)
    strip = lambda doc: [{k: v for k, v in r.items() if k != "coverage"} for r in doc["rows"]]  # noqa: E731
    assert strip(got) == strip(want) and got["rows"][0]["trade_count"] == 4 * 3000
    assert got["rows"][0]["coverage"]["archived"]


def test_plot_draws_the_screen_as_a_market_map(db, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    pytest.importorskip("squarify")
    flags = ["screen", "--db", str(db), "--start", str(DAY0), "--days", "4", "--format", "csv"]
    png, svg = tmp_path / "map.png", tmp_path / "map.svg"
    code, out, err = run_cli(capsys, *flags, "--plot", str(png), "--colour", "dist_poc")
    assert code == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"wrote {png}" in err
    assert out.startswith("symbol,")  # the rows are printed as asked, beside the picture
    code, _out, err = run_cli(capsys, *flags, "--plot", str(svg), "--where", "trade_count>1000")
    assert code == 0, err
    text = svg.read_text()
    assert "TRENDUSDT" in text and "THINBTC" not in text  # the rows --where kept
