"""Pictures and the HTML report, driven through the command line over a store whose
profile is known by construction (tests/helpers/plot.py): the point of control and the
vacuum must be drawn where the data puts them, not merely drawn."""

from __future__ import annotations

import base64
import json
import re

import pytest

pytest.importorskip("matplotlib", reason="the plot extra: pip install '.[plot]'")

from matplotlib.image import imread  # noqa: E402

from tests.helpers.cli import run_cli  # noqa: E402
from tests.helpers.plot import (  # noqa: E402
    BINS,
    LOW,
    PER_BIN,
    POC_BIN,
    VACUUM_BINS,
    hide_matplotlib,
    shaped_trades,
    svg_boxes,
    svg_size,
    window,
)
from tests.helpers.trades import store_with  # noqa: E402
from tradestore import TradeStore  # noqa: E402
from tradestore.analytics import candles, find_vacuums, volume_profile  # noqa: E402
from tradestore.store import OPEN, Gap  # noqa: E402

TOL = 0.01  # SVG coordinates are written with 6 decimals


@pytest.fixture
def shaped_db(tmp_path):
    db = tmp_path / "db"
    store_with(db, shaped_trades()).close()
    return db


def window_args():
    start, end = window()
    return ["--start", str(start), "--end", str(end), "--tick-size", "1"]


def price_y(boxes, price: float) -> float:
    """Where the axes put ``price``: the bars' frame spans LOW .. LOW + BINS."""
    frame = boxes["profile-axes"]
    return frame.bottom - (price - LOW) / BINS * (frame.bottom - frame.top)


def test_profile_svg_puts_poc_and_vacuum_where_the_data_does(shaped_db, tmp_path, capsys):
    out = tmp_path / "profile.svg"
    code, stdout, err = run_cli(
        capsys, "profile", "--db", shaped_db, "--symbol", "BTCUSDT", *window_args(), "--plot", out
    )
    assert code == 0, err
    assert "POC 104.5" in stdout  # the table is still printed
    assert f"wrote {out} (1200x800 SVG" in err
    svg = out.read_bytes()
    assert svg_size(svg) == ("864pt", "576pt")  # 1200x800 px at 100 dpi, in points
    boxes = svg_boxes(svg)

    # One bar per bin, higher prices higher up, each bin exactly where its price is.
    for i in range(BINS):
        for side in ("buy", "sell"):
            bar = boxes[f"bin-{i}-{side}"]
            assert bar.bottom == pytest.approx(price_y(boxes, LOW + i), abs=TOL)
            assert bar.top == pytest.approx(price_y(boxes, LOW + i + 1), abs=TOL)
    # Buy and sell split each bar in half (alternate trades are taker buys).
    buy, sell = boxes[f"bin-{POC_BIN}-buy"], boxes[f"bin-{POC_BIN}-sell"]
    assert buy.right == pytest.approx(sell.left, abs=TOL)
    assert buy.right - buy.left == pytest.approx(sell.right - sell.left, abs=TOL)

    # The POC frame is the bar of bin 104 .. 105, and that bar is the longest.
    poc = boxes["poc"]
    assert poc.bottom == pytest.approx(price_y(boxes, LOW + POC_BIN), abs=TOL)
    assert poc.top == pytest.approx(price_y(boxes, LOW + POC_BIN + 1), abs=TOL)
    assert poc.right == pytest.approx(sell.right, abs=TOL)
    longest = max(range(BINS), key=lambda i: boxes[f"bin-{i}-sell"].right)
    assert longest == POC_BIN

    # The one vacuum spans bins 108 .. 110 across the whole frame; nothing else is one.
    # (Both of its bins are thin: one hatched run covers it all.)
    assert [k for k in boxes if k.startswith("vacuum-")] == ["vacuum-0", "vacuum-0-thin-0"]
    frame = boxes["profile-axes"]
    for vacuum in (boxes["vacuum-0"], boxes["vacuum-0-thin-0"]):
        assert vacuum.bottom == pytest.approx(price_y(boxes, LOW + VACUUM_BINS[0]), abs=TOL)
        assert vacuum.top == pytest.approx(price_y(boxes, LOW + VACUUM_BINS[-1] + 1), abs=TOL)
        assert (vacuum.left, vacuum.right) == pytest.approx((frame.left, frame.right), abs=TOL)
    # The value area band holds the POC; a complete record marks no hole.
    assert boxes["value-area"].top <= poc.top and poc.bottom <= boxes["value-area"].bottom
    assert not [k for k in boxes if k.startswith("hole")]
    assert "record" in boxes and not [k for k in boxes if k.startswith("not-recorded")]


def test_vacuums_png_has_its_size_and_the_poc_in_its_row(shaped_db, tmp_path, capsys):
    png, svg = tmp_path / "v.png", tmp_path / "v.svg"
    for out in (png, svg):
        code, _, err = run_cli(
            capsys, "vacuums", "--db", shaped_db, "--symbol", "BTCUSDT", *window_args(),
            "--plot", out, "--plot-size", "1000x700", "--format", "json",
        )  # fmt: skip
        assert code == 0, err
    pixels = imread(png)
    assert pixels.shape[:2] == (700, 1000)
    rgb = (pixels[:, :, :3] * 255).round().astype(int)
    not_white = (rgb < 250).any(axis=2)
    assert not_white.mean() > 0.05  # a picture, not a blank page

    def rows_of(colour: tuple[int, int, int], least: int) -> list[int]:
        hit = (abs(rgb - colour) <= 12).all(axis=2)
        return [y for y in range(hit.shape[0]) if hit[y].sum() >= least]

    assert rows_of((0x26, 0xA6, 0x9A), 20) and rows_of((0xEF, 0x53, 0x50), 20)  # buy, sell
    # The POC frame's long orange edges lie on the rows the SVG of the same picture gives
    # bin 104 .. 105 (points -> pixels at 100 dpi).
    boxes = svg_boxes(svg.read_bytes())
    scale = 100 / 72
    top, bottom = boxes["poc"].top * scale, boxes["poc"].bottom * scale
    orange = rows_of((0xFF, 0x6F, 0x00), 100)
    assert orange, "no POC frame drawn"
    assert all(top - 3 <= y <= bottom + 3 for y in orange)


def test_a_hole_in_the_record_is_marked_and_doubts_the_vacuum(tmp_path, capsys):
    # Leave out agg ids whose trades sit in bins 9 .. 13: the stored neighbours of the
    # hole traded at 108.5 (bin 8) and 114.5 (bin 14), so the market crossed 108 .. 115.
    trades = shaped_trades()
    hole = [t for t in trades if 9 + 20 * 7 <= t.agg_id - trades[0].agg_id <= 13 + 20 * 7]
    kept = [t for t in trades if t not in hole]
    db = tmp_path / "db"
    with store_with(db, kept) as store:
        store.put_gap("BTCUSDT", Gap(hole[0].agg_id, hole[-1].agg_id, kept[148].time_ms,
                                     kept[149].time_ms, kept[149].time_ms, OPEN))  # fmt: skip
    out = tmp_path / "holes.svg"
    code, stdout, err = run_cli(
        capsys, "vacuums", "--db", db, "--symbol", "BTCUSDT", *window_args(), "--plot", out
    )
    assert code == 0, err
    assert "record INCOMPLETE: 5 agg ids missing, 1 unfilled gap overlaps" in stdout
    boxes = svg_boxes(out.read_bytes())
    band = boxes["hole-0"]
    assert band.bottom == pytest.approx(price_y(boxes, 108), abs=TOL)
    assert band.top == pytest.approx(price_y(boxes, 115), abs=TOL)
    assert "hole-time-0" in boxes  # and on the time strip

    report = tmp_path / "holes.html"
    code, stdout, err = run_cli(
        capsys, "report", "--db", db, "--symbol", "BTCUSDT", *window_args(), "-o", report
    )
    assert code == 0, err
    page = report.read_text()
    assert "overlaps a hole in the record (5 agg ids missing)" in page
    assert f"{hole[0].agg_id} .. {hole[-1].agg_id}" in page
    data = report_data(page)
    assert data["holes"] == [
        {
            "first_id": hole[0].agg_id,
            "last_id": hole[-1].agg_id,
            "missing": 5,
            "after": data["holes"][0]["after"],
            "before": data["holes"][0]["before"],
            "price_low": "108.5",
            "price_high": "114.5",
            "gap": "open",
        }
    ]
    assert data["profile"]["coverage"]["complete"] is False


def report_data(page: str) -> dict:
    block = re.search(
        r'<script type="application/json" id="tradestore-data">(.*?)</script>', page, re.S
    )
    assert block, "no data block"
    return json.loads(block.group(1))


def test_report_is_self_contained_and_says_how_it_was_made(shaped_db, tmp_path, capsys):
    out = tmp_path / "r.html"
    code, stdout, err = run_cli(
        capsys, "report", "--db", shaped_db, "--symbol", "BTCUSDT", *window_args(), "-o", out
    )
    assert code == 0, err
    assert f"wrote {out}" in stdout and "record complete" in stdout
    page = out.read_text()
    # Nothing to fetch: no external reference, no script that runs, pictures inline.
    assert not re.search(r'\b(?:src|href)\s*=\s*"(?!data:|#)', page)
    assert not re.search(r"<script(?![^>]*application/json)", page)
    assert "<link" not in page and "@import" not in page and "url(" not in page
    images = re.findall(r'<img src="data:image/svg\+xml;base64,([^"]+)"', page)
    assert len(images) == 2  # the profile, the candles
    boxes = svg_boxes(base64.b64decode(images[0]))
    assert {"poc", "vacuum-0", "value-area", "profile-axes"} <= set(boxes)
    assert {"candle-0", "volume-0-buy", "cvd"} <= set(svg_boxes(base64.b64decode(images[1])))

    # The numbers are the library's, and the page says how they were made.
    with TradeStore(shaped_db, read_only=True) as store:
        profile = volume_profile(store, "BTCUSDT", *window(), tick_size="1")
        series = candles(store, "BTCUSDT", *window(), 60_000)
    data = report_data(page)
    assert data["profile"] == profile.to_json()
    assert data["candles"] == series.to_json()  # a 1-minute window: 1m candles
    expected = find_vacuums(profile).to_json()["vacuums"]
    for doc in (*data["vacuums"]["vacuums"], *expected):
        doc.pop("detection_timestamp")  # when each was computed
    assert data["vacuums"]["vacuums"] == expected
    assert data["profile"]["trade_count"] == BINS * PER_BIN
    for text in (
        "record complete",
        "104.5",  # POC
        "108 .. 110",  # the vacuum
        "1 (--tick-size)",
        f"{BINS * PER_BIN:,}",
        "tradestore-trio report --db",
        data["made"]["tradestore-trio"],
    ):
        assert text in page, text


def test_report_on_a_real_imported_day(real_csv, tmp_path, capsys):
    db = tmp_path / "db"
    code, _, err = run_cli(
        capsys, "import", "--create", "--db", db, "--symbol", "BTCUSDT", real_csv
    )
    assert code == 0, err
    out = tmp_path / "real.html"
    code, stdout, err = run_cli(
        capsys, "report", "--db", db, "--symbol", "BTCUSDT",
        "--start", "2026-01-01T00:00:00Z", "--hours", "1", "-o", out,
    )  # fmt: skip
    assert code == 0, err
    data = report_data(out.read_text())
    with TradeStore(db, read_only=True) as store:
        first, last = store.trade_time_span("BTCUSDT")
        expected = len(store.query_trades("BTCUSDT", first, last))
    assert data["profile"]["trade_count"] == expected == 5000
    # The sample holds the day's first 5000 trades only: the rest of the hour is outside
    # the record, and the report says so instead of calling thin prices vacuums.
    assert data["profile"]["coverage"]["recorded"] == "partial"
    assert "PARTLY NOT RECORDED" in stdout
    png = tmp_path / "real.png"
    code, _, err = run_cli(
        capsys, "profile", "--db", db, "--symbol", "BTCUSDT",
        "--start", "2026-01-01T00:00:00Z", "--hours", "1", "--plot", png,
    )  # fmt: skip
    assert code == 0, err
    assert imread(png).shape[:2] == (800, 1200)


@pytest.fixture
def no_matplotlib(monkeypatch):
    hide_matplotlib(monkeypatch)


@pytest.mark.parametrize("command", ["profile", "vacuums", "report"])
def test_without_matplotlib_a_clear_message_and_exit_2(
    command, shaped_db, tmp_path, capsys, no_matplotlib
):
    out = tmp_path / ("x.html" if command == "report" else "x.png")
    flag = ["-o", out] if command == "report" else ["--plot", out]
    code, stdout, err = run_cli(
        capsys, command, "--db", shaped_db, "--symbol", "BTCUSDT", *window_args(), *flag
    )
    assert code == 2
    assert "needs matplotlib, which is not installed: pip install 'tradestore-trio[plot]'" in err
    assert len(err.strip().splitlines()) == 1 and stdout == ""
    assert not out.exists()
    # Without a picture the command works as before.
    if command != "report":
        code, stdout, _ = run_cli(
            capsys, command, "--db", shaped_db, "--symbol", "BTCUSDT", *window_args()
        )
        assert code == 0 and "BTCUSDT" in stdout


@pytest.mark.parametrize(
    "argv, message",
    [
        (["profile", "--plot", "{tmp}/x.jpg"], "a picture must end in .png or .svg"),
        (["profile", "--plot", "{tmp}/nowhere/x.png"], "does not exist"),
        (["vacuums", "--plot", "{tmp}/x.png", "--plot-size", "12x8"], "300 to 10000 pixels"),
        (["vacuums", "--plot", "{tmp}/x.png", "--plot-size", "big"], "WIDTHxHEIGHT"),
        (["report", "-o", "{tmp}"], "is a folder"),
        (["report", "--value-area", "0"], "--value-area must be in (0, 1]"),
        (["report", "--interval", "500ms"], "--interval must be at least 1s"),
        (["report", "--interval", "often"], "--interval"),
    ],
)
def test_bad_picture_arguments_exit_2_before_any_work(argv, message, shaped_db, tmp_path, capsys):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code, _, err = run_cli(capsys, *argv, "--db", shaped_db, "--symbol", "BTCUSDT", *window_args())
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db"]  # nothing written


def test_report_candles_of_the_interval_asked_for(shaped_db, tmp_path, capsys):
    out = tmp_path / "r.html"
    code, _, err = run_cli(
        capsys, "report", "--db", shaped_db, "--symbol", "BTCUSDT", *window_args(),
        "--interval", "5s", "-o", out,
    )  # fmt: skip
    assert code == 0, err
    with TradeStore(shaped_db, read_only=True) as store:
        series = candles(store, "BTCUSDT", *window(), 5_000)
    assert len(series.to_json()["candles"]) > 1
    assert report_data(out.read_text())["candles"] == series.to_json()


def test_report_refuses_more_candles_than_a_picture_holds(shaped_db, tmp_path, capsys):
    start, _ = window()
    code, _, err = run_cli(
        capsys, "report", "--db", shaped_db, "--symbol", "BTCUSDT", "--start", str(start),
        "--hours", "1", "--interval", "1s", "-o", tmp_path / "r.html",
    )  # fmt: skip
    assert code == 2
    assert "3,600 intervals in the window: at most 2,000 (a longer --interval?)" in err
    assert not (tmp_path / "r.html").exists()


def test_report_of_too_few_trades_writes_nothing(shaped_db, tmp_path, capsys):
    out = tmp_path / "r.html"
    start, _ = window()
    code, _, err = run_cli(
        capsys, "report", "--db", shaped_db, "--symbol", "BTCUSDT",
        "--start", str(start), "--end", str(start + 10_000), "-o", out,
    )  # fmt: skip
    assert code == 2
    assert "insufficient data" in err
    assert not out.exists()


def test_holes_at_the_window_edge_and_unrecorded_time_doubt_every_vacuum(tmp_path):
    from dataclasses import replace
    from decimal import Decimal

    from tradestore.plot import record_holes, vacuum_doubt

    trades = shaped_trades(first_id=1_000)
    start, end = window()
    with store_with(tmp_path / "db", trades) as store:
        # A gap record just before the first stored trade: its ids lie outside the window's
        # stored ids, its time inside the window, so the prices it crossed are unknown.
        store.put_gap("BTCUSDT", Gap(990, 999, start - 5, start, start, OPEN))
        profile = volume_profile(store, "BTCUSDT", start, end, tick_size="1")
        holes = record_holes(store, "BTCUSDT", start, end, profile.coverage)
    assert [(h.first_id, h.last_id, h.gap, h.price_band) for h in holes] == [
        (990, 999, "open", None)
    ]
    low, high = Decimal(108), Decimal(110)
    assert vacuum_doubt(low, high, holes, profile.coverage) == (
        "the record has a hole at unknown prices"
    )
    # Time outside the record: a moment casts no doubt, 1% of the window does.
    span = end - start + 1
    brief = replace(profile.coverage, open_gaps=[], start_ms=start - span // 1000)
    assert brief.recorded == "partial"
    assert vacuum_doubt(low, high, [], brief) is None
    long = replace(profile.coverage, open_gaps=[], start_ms=start - span // 50)
    assert vacuum_doubt(low, high, [], long) == "2% of the window was not recorded"
