"""The market map (one tile per symbol of a screen, sized by quote volume) and the
report's market screen, over a real store of a few symbols: the tiles must be as large
as the volumes make them and coloured as the rows say, not merely drawn."""

from __future__ import annotations

import base64
import io
import math
import random
import re
import sys
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

pytest.importorskip("matplotlib", reason="the plot extra: pip install '.[plot]'")
pytest.importorskip("squarify", reason="the plot extra: pip install '.[plot]'")

from matplotlib.image import imread  # noqa: E402

import tradestore  # noqa: E402
from tests.helpers.archive import DAY_MS, FIRST_DAY, day_trades, write  # noqa: E402
from tests.helpers.cli import run_cli  # noqa: E402
from tests.helpers.plot import hide_matplotlib, svg_boxes, svg_size  # noqa: E402
from tests.unit.test_plot import report_data  # noqa: E402
from tradestore import TradeStore  # noqa: E402
from tradestore.analytics import ScreenResult, decimal_str, screen  # noqa: E402
from tradestore.archive import day_start_ms  # noqa: E402
from tradestore.cli._report import MAP_COLOURS, SCREEN_TOP  # noqa: E402
from tradestore.plot import MAP_COLOURS as PLOT_COLOURS  # noqa: E402
from tradestore.plot import draw_market_map, market_map_figure  # noqa: E402
from tradestore.plot._market import NO_VALUE, POOLED, layout  # noqa: E402
from tradestore.plot._report import SCREEN_TOP as PLOT_TOP  # noqa: E402

# Trades per day: XRPUSDT has too few for a profile (no POC: a grey tile by distance);
# DOGEUSDT trades on the first day only (no tile over the second).
SYMBOLS = {"BTCUSDT": (3000, 1), "ETHUSDT": (1500, 100_000), "XRPUSDT": (40, 300_000)}
DAY = FIRST_DAY + timedelta(days=1)
START = day_start_ms(DAY)
END = START + DAY_MS - 1
TOL = 0.01


@pytest.fixture(scope="module")
def market_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("market") / "db"
    with TradeStore(db) as store:
        for symbol, (n, first_id) in SYMBOLS.items():
            trades = []
            for d in range(3):  # two whole days and the third's first trades
                day = FIRST_DAY + timedelta(days=d)
                trades += day_trades(symbol, day, n, first_id + d * n)[: n if d < 2 else 5]
            if symbol == "ETHUSDT":  # a hole in the record on the day screened
                trades = [t for t in trades if not 2000 <= t.agg_id - first_id < 2010]
            write(store, symbol, trades)
        write(store, "DOGEUSDT", day_trades("DOGEUSDT", FIRST_DAY, 1200, 500_000))
    return db


@pytest.fixture(scope="module")
def result(market_db) -> ScreenResult:
    with TradeStore(market_db, read_only=True) as store:
        return screen(store, "ALL", START, END)


def tiles(svg: bytes) -> dict:
    return {k[5:]: box for k, box in svg_boxes(svg).items() if k.startswith("tile-")}


def fills(svg: bytes) -> dict[str, str]:
    """tile id -> its fill colour."""
    found = re.finditer(rb'<g id="tile-([A-Z]+)">\s*<path[^>]*?style="fill: (#[0-9a-f]{6})', svg)
    return {m.group(1).decode(): m.group(2).decode() for m in found}


def test_one_tile_per_traded_symbol_sized_by_its_volume(result, tmp_path):
    rows = {row.symbol: row for row in result.rows}
    assert rows["DOGEUSDT"].volume == 0 and rows["XRPUSDT"].poc is None
    out = tmp_path / "map.svg"
    written = draw_market_map(result, out)
    svg = out.read_bytes()
    assert written == len(svg)
    assert svg_size(svg) == ("864pt", "576pt")
    boxes = tiles(svg)
    assert set(boxes) == {"BTCUSDT", "ETHUSDT", "XRPUSDT"}  # DOGEUSDT: no trade, left out
    # The areas are the quote volumes' shares of the whole map, which the tiles fill.
    frame = svg_boxes(svg)["market-axes"]
    whole = (frame.right - frame.left) * (frame.bottom - frame.top)
    area = {k: (b.right - b.left) * (b.bottom - b.top) for k, b in boxes.items()}
    assert sum(area.values()) == pytest.approx(whole, rel=1e-3)
    total = sum(rows[k].volume for k in boxes)
    for symbol, a in area.items():
        assert a / whole == pytest.approx(float(rows[symbol].volume / total), rel=1e-3)
    # The largest top left; the big tiles are named, with their value below.
    assert boxes["BTCUSDT"].left == pytest.approx(frame.left, abs=TOL)
    assert boxes["BTCUSDT"].top == pytest.approx(frame.top, abs=TOL)
    assert b'<g id="label-BTCUSDT">' in svg and b'<g id="label-ETHUSDT">' in svg
    # ETHUSDT misses 10 agg ids: its tile alone is hatched.
    assert rows["ETHUSDT"].coverage.missing_ids == 10
    assert re.findall(rb'<g id="incomplete-([A-Z]+)">', svg) == [b"ETHUSDT"]
    # Coloured by the taker-buy share: more buys than sells is the green side.
    colour = fills(svg)
    assert all(rows[k].buy_share > 0.5 for k in boxes)
    for symbol in boxes:
        r, g, b = (int(colour[symbol][i : i + 2], 16) for i in (1, 3, 5))
        assert g > r, (symbol, colour[symbol])


def test_distance_colours_and_grey_for_no_poc(result):
    buf = io.BytesIO()
    draw_market_map(result, buf, colour="dist_poc", format="svg")
    svg = buf.getvalue()
    colour = fills(svg)
    assert colour["XRPUSDT"] == NO_VALUE  # too few trades for a POC
    rows = {row.symbol: row for row in result.rows}
    near, far = sorted(("BTCUSDT", "ETHUSDT"), key=lambda k: rows[k].dist_poc_pct)
    assert rows[near].dist_poc_pct < rows[far].dist_poc_pct
    # Near is bright: the nearer tile is the lighter one.
    assert _luma(colour[near]) > _luma(colour[far])
    fig = market_map_figure(result, colour="dist_poc")
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "no POC (too few trades) (1)" in legend
    title = fig.axes[0].get_title(loc="left")
    assert "4 symbols" in title and "1 without a trade in the window left out" in title


def _luma(hex_colour: str) -> float:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.299 * r + 0.587 * g + 0.114 * b


def test_png_has_its_size(result, tmp_path):
    out = tmp_path / "map.png"
    written = draw_market_map(result, out, colour="dist_naked_poc", size=_size(1000, 700))
    assert written == out.stat().st_size
    pixels = imread(out)
    assert pixels.shape[:2] == (700, 1000)
    assert ((pixels[:, :, :3] * 255).round() < 250).any(axis=2).mean() > 0.3  # tiles, not white


def _size(width: int, height: int):
    from tradestore.plot import PictureSize

    return PictureSize(width, height)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda r, tmp: draw_market_map(r, tmp / "m.png", colour="red"), "unknown colour 'red'"),
        (lambda r, tmp: draw_market_map(r, tmp / "m.jpg"), "must end in .png or .svg"),
        (lambda r, tmp: draw_market_map(r, tmp / "m.png", format="svg"), "the format is svg"),
        (lambda r, tmp: draw_market_map(r, io.BytesIO()), "give format="),
        (lambda r, tmp: draw_market_map(r, io.BytesIO(), format="gif"), "unknown picture format"),
    ],
)
def test_bad_arguments_are_value_errors_and_write_nothing(call, message, result, tmp_path):
    with pytest.raises(ValueError, match=re.escape(message)):
        call(result, tmp_path)
    assert list(tmp_path.iterdir()) == []


def zipf_rows(result: ScreenResult, n: int, *, seed: int = 7) -> ScreenResult:
    """n rows shaped like a whole market: volumes falling as 1/rank, shares about 0.5."""
    rnd = random.Random(seed)
    template = result.rows[0]
    rows = tuple(
        replace(
            template,
            symbol=f"S{i:04d}USDT",
            volume=Decimal(10**9 // (i + 1)) + 1,
            buy_share=min(1.0, max(0.0, rnd.gauss(0.5, 0.05))),
        )
        for i in range(n)
    )
    return replace(result, rows=rows)


def test_two_thousand_symbols_each_get_a_tile(result):
    market = zipf_rows(result, 2000)
    buf = io.BytesIO()
    draw_market_map(market, buf, format="svg")
    boxes = tiles(buf.getvalue())
    assert len(boxes) == 2000  # 1/rank: the smallest is still above a pixel
    frame = svg_boxes(buf.getvalue())["market-axes"]
    whole = (frame.right - frame.left) * (frame.bottom - frame.top)
    area = sum((b.right - b.left) * (b.bottom - b.top) for b in boxes.values())
    assert area == pytest.approx(whole, rel=1e-3)


def test_tiles_under_a_pixel_share_one_tile(result):
    market = zipf_rows(result, 300)
    rows = tuple(replace(r, volume=Decimal("1e-6")) if i else r for i, r in enumerate(market.rows))
    buf = io.BytesIO()
    draw_market_map(replace(market, rows=rows), buf, format="svg")
    svg = buf.getvalue()
    assert set(tiles(svg)) == {"S0000USDT", "others"}
    assert '<g id="tile-others">' in svg.decode()
    assert POOLED in svg.decode()


@pytest.mark.parametrize(
    "sizes",
    [
        [1 / (i + 1) ** 1.1 for i in range(2000)],  # a market's volumes
        # One giant and a long flat tail: squarify lays the tail one tile a row, deeper
        # than Python's stack allows in one call.
        [1e9] + [1e-3] * 1999,
        [2.0**-i for i in range(40)],  # each tile alone in its row
        [1.0] * 1500,
    ],
)
def test_layout_fills_the_area_exactly_without_overlap(sizes):
    width, height = 1000.0, 640.0
    boxes = layout(sizes, width, height)
    assert len(boxes) == len(sizes)
    total = sum(sizes)
    for (x, y, dx, dy), size in zip(boxes, sizes, strict=True):
        assert dx * dy == pytest.approx(size / total * width * height, rel=1e-6, abs=1e-9)
        # Inside the frame but for float rounding in the giant's sub-pixel tail.
        assert -0.5 <= x and x + dx <= width + 0.5 and -0.5 <= y and y + dy <= height + 0.5
    # No two of the 40 largest overlap (checking all pairs of 2,000 is needlessly slow).
    big = boxes[:40]
    for i, a in enumerate(big):
        for b in big[i + 1 :]:
            overlap_x = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
            overlap_y = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
            assert overlap_x <= 1e-6 or overlap_y <= 1e-6
    assert math.fsum(dx * dy for _, _, dx, dy in boxes) == pytest.approx(width * height)


def test_the_cli_knows_the_plot_packages_choices():
    # The parser cannot import tradestore.plot (matplotlib) to read them.
    assert MAP_COLOURS == tuple(PLOT_COLOURS) and SCREEN_TOP == PLOT_TOP


# ---------------------------------------------------------------------- report --screen


def window_args() -> list[str]:
    return ["--start", str(START), "--end", str(END)]


def test_report_with_the_screen_of_the_market(market_db, result, tmp_path, capsys):
    out = tmp_path / "r.html"
    code, stdout, err = run_cli(
        capsys, "report", "--db", market_db, "--symbol", "BTCUSDT", *window_args(),
        "--screen", "-o", out,
    )  # fmt: skip
    assert code == 0, err
    assert "the screen of ALL" in err
    page = out.read_text()
    section = re.search(r'<section id="screen">(.*?)</section>', page, re.S)
    assert section, "no screen section"
    images = re.findall(r'<img src="data:image/svg\+xml;base64,([^"]+)"', page)
    assert len(images) == 3  # the profile, the candles, the market map
    assert set(tiles(base64.b64decode(images[2]))) == {"BTCUSDT", "ETHUSDT", "XRPUSDT"}
    # One table row per symbol, largest volume first, DOGEUSDT (no trade) last.
    body = section.group(1)
    order = re.findall(r"<tr><td>([A-Z]+USDT)</td>", body)
    assert order == ["BTCUSDT", "ETHUSDT", "XRPUSDT", "DOGEUSDT"]
    btc = next(r for r in result.rows if r.symbol == "BTCUSDT")
    row = re.search(r"<tr><td>BTCUSDT</td>(.*?)</tr>", body).group(1)
    for text in (
        decimal_str(btc.last_price),
        decimal_str(btc.poc),
        f"{btc.buy_share:.1%}",
        f"{btc.dist_poc_pct:.2f}%",
    ):
        assert text in row, text
    # The numbers behind it are the library's screen.
    data = report_data(page)
    assert data["screen"] == result.select(sort="volume", top=SCREEN_TOP).to_json()
    assert data["profile"]["symbol"] == "BTCUSDT"  # the symbol's report is all there
    assert "4 symbols (ALL)" in data["made"]["screen"]


def test_report_of_the_screen_alone(market_db, result, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, stdout, err = run_cli(
        capsys, "report", "--db", market_db, *window_args(), "--screen", "--symbols",
        "*USDT", "--screen-top", "2", "--screen-colour", "dist_poc",
    )  # fmt: skip
    assert code == 0, err
    page = (tmp_path / "market-report.html").read_text()
    assert "wrote market-report.html" in stdout
    assert "<title>Market screen</title>" in page
    assert '<section id="profile">' not in page and '<section id="record">' not in page
    assert re.findall(r"<tr><td>([A-Z]+USDT)</td>", page) == ["BTCUSDT", "ETHUSDT"]
    data = report_data(page)
    assert data["screen"] == result.select(sort="volume", top=2).to_json()
    assert data["screen"]["symbols_screened"] == 4
    # Every symbol's record is partial or whole over the day: the header says which.
    incomplete = sum(not r.data_complete for r in result.rows)
    assert (f"INCOMPLETE for {incomplete} of 4" if incomplete else "complete for all 4") in page


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--screen", "--screen-top", "0"], "--screen-top must be at least 1, not 0"),
        (["--screen", "--screen-top", "-3"], "--screen-top must be at least 1, not -3"),
        (["--screen", "--screen-colour", "red"], "--screen-colour red: one of buy_share, dist_poc"),
        (["--symbols", "ALL"], "--symbols needs --screen"),
        (["--screen-top", "5"], "--screen-top needs --screen"),
        ([], "give --symbol S (or --screen"),
        (["--screen", "--symbols", "*BUSD"], "no stored symbol matches '*BUSD'"),
        (["--screen", "--symbols", "BTC-USDT"], "BTC-USDT"),
        (["--screen", "--symbols", "BTCUSDT,NOPEUSDT"], "NOPEUSDT"),
    ],
)
def test_bad_screen_arguments_exit_2_and_write_nothing(argv, message, market_db, tmp_path, capsys):
    out = tmp_path / "r.html"
    code, stdout, err = run_cli(
        capsys, "report", "--db", market_db, *window_args(), *argv, "-o", out
    )
    assert code == 2, err
    assert message in err
    assert not out.exists()


def test_report_screen_without_matplotlib_exits_2(market_db, tmp_path, capsys, monkeypatch):
    hide_matplotlib(monkeypatch)
    out = tmp_path / "r.html"
    code, _, err = run_cli(
        capsys, "report", "--db", market_db, *window_args(), "--screen", "-o", out
    )
    assert code == 2
    assert "needs matplotlib, which is not installed: pip install 'tradestore-trio[plot]'" in err
    assert not out.exists()


def test_report_screen_without_squarify_names_it(market_db, tmp_path, capsys, monkeypatch):
    # matplotlib installed, the layout library not (an install from before the market map).
    for name in list(sys.modules):
        if name == "squarify" or name.startswith("tradestore.plot"):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "squarify", None)
    monkeypatch.delattr(tradestore, "plot", raising=False)
    out = tmp_path / "r.html"
    code, _, err = run_cli(
        capsys, "report", "--db", market_db, *window_args(), "--screen", "-o", out
    )
    assert code == 2
    assert "needs squarify, which is not installed: pip install 'tradestore-trio[plot]'" in err
    assert not out.exists()
