"""Pictures of candles and footprints: drawn where the data puts them, holes in the
record marked, unreadable grids refused before any work, and the report's candles."""

from __future__ import annotations

import pytest

pytest.importorskip("matplotlib", reason="the plot extra: pip install '.[plot]'")

from decimal import Decimal  # noqa: E402

from matplotlib.image import imread  # noqa: E402

from tests.helpers.cli import run_cli  # noqa: E402
from tests.helpers.plot import svg_boxes, svg_size  # noqa: E402
from tests.helpers.trades import T0, store_with  # noqa: E402
from tradestore import AggTrade  # noqa: E402
from tradestore.store import OPEN, Gap  # noqa: E402

MINUTE = 60_000
# Each minute trades base .. base + 0.9 (110 trades); minute 5 holds the highest price and a
# taker buy of 50 at 108.5, the largest buy of any price and minute.
BASES = (100, 102, 101, 105, 103, 108, 104, 102, 101, 100)
BIG = (5, Decimal("108.5"))
TOL = 0.6  # SVG points


def bar_trades() -> list[AggTrade]:
    trades = []
    agg_id = 1_000
    for m, base in enumerate(BASES):
        for k in range(110):
            price = Decimal(base) + Decimal(k % 10) / 10
            trades.append(AggTrade(agg_id, price, Decimal("1.5"), T0 + m * MINUTE + k * 500,
                                   is_buyer_maker=bool(k % 3)))  # fmt: skip
            agg_id += 1
        if m == BIG[0]:
            trades.append(AggTrade(agg_id, BIG[1], Decimal(50), T0 + m * MINUTE + 55_000, False))
            agg_id += 1
    return trades


WINDOW = ["--start", str(T0), "--end", str(T0 + len(BASES) * MINUTE - 1)]


@pytest.fixture
def bars_db(tmp_path):
    db = tmp_path / "db"
    store_with(db, bar_trades()).close()
    return db


@pytest.fixture
def holed_db(tmp_path):
    """The same trades without ten agg ids of minute 3, recorded as an open gap."""
    trades = bar_trades()
    hole = trades[350:360]
    kept = trades[:350] + trades[360:]
    db = tmp_path / "holed"
    with store_with(db, kept) as store:
        store.put_gap("BTCUSDT", Gap(hole[0].agg_id, hole[-1].agg_id, kept[349].time_ms,
                                     kept[350].time_ms, kept[350].time_ms, OPEN))  # fmt: skip
    return db


def test_candles_picture_puts_each_high_and_the_volume_where_the_data_does(
    bars_db, tmp_path, capsys
):
    svg, png = tmp_path / "c.svg", tmp_path / "c.png"
    for out in (svg, png):
        code, _, err = run_cli(capsys, "candles", "--db", bars_db, "--symbol", "BTCUSDT",
                               *WINDOW, "--plot", out, "--format", "json")  # fmt: skip
        assert code == 0, err
    pixels = imread(png)
    assert pixels.shape[:2] == (800, 1200)
    assert ((pixels[:, :, :3] * 255).round() < 250).any(axis=2).mean() > 0.05
    assert svg_size(svg.read_bytes()) == ("864pt", "576pt")
    boxes = svg_boxes(svg.read_bytes())
    highs = [base + 0.9 for base in BASES]
    # The wicks' tops are one linear map of the highs (y grows downward), and the highest
    # candle's wick (minute 5) reaches highest.
    tops = [boxes[f"candle-{i}-wick"].top for i in range(len(BASES))]
    scale = (tops[1] - tops[0]) / (highs[1] - highs[0])
    for i, high in enumerate(highs):
        assert tops[i] == pytest.approx(tops[0] + (high - highs[0]) * scale, abs=TOL)
        bottom = boxes[f"candle-{i}-wick"].bottom
        assert bottom == pytest.approx(tops[0] + (BASES[i] - highs[0]) * scale, abs=TOL)
    assert min(range(len(tops)), key=tops.__getitem__) == BIG[0]
    # Candles left to right in time, the panels below share their x.
    lefts = [boxes[f"candle-{i}"].left for i in range(len(BASES))]
    assert lefts == sorted(lefts)
    for i in range(len(BASES)):
        assert boxes[f"volume-{i}-buy"].left == pytest.approx(lefts[i], abs=TOL)
    # Minute 5's taker-buy bar is the tallest (its 50 bought at once).
    heights = [boxes[f"volume-{i}-buy"].bottom - boxes[f"volume-{i}-buy"].top
               for i in range(len(BASES))]  # fmt: skip
    assert max(range(len(heights)), key=heights.__getitem__) == BIG[0]
    assert "cvd" in boxes and "cvd-axes" in boxes
    assert not [k for k in boxes if "hole" in k]


def test_footprint_grid_puts_the_largest_buy_in_its_cell(bars_db, tmp_path, capsys):
    out = tmp_path / "f.svg"
    code, stdout, err = run_cli(
        capsys, "footprint", "--db", bars_db, "--symbol", "BTCUSDT", *WINDOW,
        "--interval", "1m", "--tick-size", "0.5", "--plot", out,
    )  # fmt: skip
    assert code == 0, err
    assert "BTCUSDT 1m footprint" in stdout  # the table is still printed
    boxes = svg_boxes(out.read_bytes())
    frame = boxes["footprint-axes"]
    columns, rows = len(BASES), 18  # 100 .. 108.5 in bins of 0.5
    row = int((BIG[1] - 100) / Decimal("0.5"))
    cell = boxes[f"cell-{BIG[0]}-{row}-buy"]
    x_unit = (frame.right - frame.left) / columns
    y_unit = (frame.bottom - frame.top) / rows
    assert cell.left == pytest.approx(frame.left + (BIG[0] + 0.5) * x_unit, abs=TOL)
    assert (cell.top + cell.bottom) / 2 == pytest.approx(
        frame.bottom - (row + 0.5) * y_unit, abs=TOL
    )
    # That cell is also the POC of its candle; every candle has one.
    poc = boxes[f"poc-{BIG[0]}"]
    assert poc.top <= cell.top and cell.bottom <= poc.bottom
    assert sorted(k for k in boxes if k.startswith("poc-")) == sorted(
        f"poc-{i}" for i in range(columns)
    )
    # The record ends at the last trade, half a minute before the window: only the last
    # candle is partly outside it, and nothing is missing.
    assert [k for k in boxes if "hole" in k or "not-recorded" in k] == ["not-recorded-candle-9"]


def test_a_hole_in_the_record_is_marked_on_candles_and_footprint(holed_db, tmp_path, capsys):
    candles, grid = tmp_path / "c.svg", tmp_path / "f.svg"
    code, _, err = run_cli(capsys, "candles", "--db", holed_db, "--symbol", "BTCUSDT",
                           *WINDOW, "--plot", candles)  # fmt: skip
    assert code == 0, err
    code, _, err = run_cli(capsys, "footprint", "--db", holed_db, "--symbol", "BTCUSDT", *WINDOW,
                           "--interval", "1m", "--tick-size", "1", "--plot", grid)  # fmt: skip
    assert code == 0, err
    boxes = svg_boxes(candles.read_bytes())
    hole = boxes["candles-hole-0"]
    minute3 = boxes["candle-3"]
    assert hole.left <= minute3.right and minute3.left <= hole.right  # over minute 3's candle
    assert "hole-time-0" in boxes  # and on the record strip
    marked = [k for k in svg_boxes(grid.read_bytes()) if k.startswith("hole-candle-")]
    assert marked == ["hole-candle-3"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--hours", "2", "--interval", "1m"], "120 candles are too many"),
        (
            ["--interval", "1m", "--tick-size", "0.01"],
            "891 price rows are too many for a readable footprint grid",
        ),
    ],
)
def test_unreadable_footprint_grids_exit_2_and_write_nothing(
    extra, message, bars_db, tmp_path, capsys
):
    out = tmp_path / "f.png"
    window = ["--start", str(T0)] if "--hours" in extra else WINDOW
    code, stdout, err = run_cli(capsys, "footprint", "--db", bars_db, "--symbol", "BTCUSDT",
                                *window, *extra, "--plot", out)  # fmt: skip
    assert code == 2 and message in err and "(at most" in err
    assert stdout == "" and not out.exists()


def test_report_shows_the_candles_with_their_cumulative_delta(bars_db, tmp_path, capsys):
    import json
    import re

    report = tmp_path / "r.html"
    code, _, err = run_cli(capsys, "report", "--db", bars_db, "--symbol", "BTCUSDT", *WINDOW,
                           "-o", report)  # fmt: skip
    assert code == 0, err
    page = report.read_text()
    assert '<section id="candles">' in page and '<section id="profile">' in page
    assert page.count('<img src="data:image/svg+xml;base64,') == 2
    block = re.search(r'<script type="application/json" id="tradestore-data">(.*?)</script>',
                      page, re.S)  # fmt: skip
    assert block is not None
    data = json.loads(block.group(1))
    assert data["candles"]["interval"] == "1m" and data["candles"]["candle_count"] == len(BASES)
    delta = sum(Decimal(c["buy_volume"]) - Decimal(c["sell_volume"])
                for c in data["candles"]["candles"])  # fmt: skip
    assert f"{delta.normalize():f} (taker buys minus taker sells)" in page
