"""The HTML report in a real browser (Debian's headless Chromium): it renders, its
screenshot is a picture and not a blank page, and it asks the network for nothing."""

from __future__ import annotations

import io
import socket

import pytest
import trio

pytest.importorskip("matplotlib", reason="the plot extra: pip install '.[plot]'")

from matplotlib.image import imread  # noqa: E402

from tests.helpers.browser import chromium, open_browser  # noqa: E402
from tests.helpers.plot import shaped_trades, window  # noqa: E402
from tests.helpers.trades import store_with  # noqa: E402
from tradestore.cli import main  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        chromium() is None,
        reason="needs Debian's chromium for the browser test: apt-get install chromium",
    ),
]

WIDTH, HEIGHT = 1280, 1600
BUY_GREEN = (0x26, 0xA6, 0x9A)


def closed_port() -> int:
    """A loopback port nobody listens on: a request to it fails at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_report_renders_offline_in_chromium(tmp_path):
    db = tmp_path / "db"
    store_with(db, shaped_trades()).close()
    start, end = window()
    report = tmp_path / "report.html"
    argv = ["report", "--db", db, "--symbol", "BTCUSDT", "--start", start, "--end", end]
    assert main([str(a) for a in [*argv, "--tick-size", "1", "-o", report]]) == 0
    url = report.resolve().as_uri()

    # A page that does fetch something: the request listener must see it, or its silence
    # about the report would prove nothing.
    control = tmp_path / "control.html"
    fetched = f"http://127.0.0.1:{closed_port()}/picture.png"
    control.write_text(f'<!DOCTYPE html><html><body><img src="{fetched}"></body></html>')

    with trio.fail_after(90):
        async with open_browser(tmp_path / "chromium") as browser:
            page = await browser.new_page(WIDTH, HEIGHT)
            await page.goto(control.resolve().as_uri())
            assert fetched in page.requests

            page = await browser.new_page(WIDTH, HEIGHT)
            await page.goto(url)
            images = await page.evaluate(
                "[...document.images].map(i => [i.complete, i.naturalWidth, i.naturalHeight])"
            )
            sections = await page.evaluate(
                "[...document.querySelectorAll('section h2')].map(h => h.textContent)"
            )
            badge = await page.evaluate("document.querySelector('.badge').textContent")
            shot = await page.screenshot()

    # Nothing but the file itself and the pictures it carries.
    assert page.requests[0] == url
    assert [u for u in page.requests if u != url and not u.startswith("data:")] == []
    # The profile and the candles pictures, each decoded at its size (1200 x 800 px drawn
    # as 864 x 576 pt).
    assert images == [[True, 1152, 768], [True, 1152, 768]]
    assert sections == [
        "Volume profile",
        "Liquidity vacuums",
        "Candles and cumulative volume delta",
        "Record",
        "How this report was made",
    ]
    assert badge == "record complete"

    pixels = imread(io.BytesIO(shot), format="png")
    assert pixels.shape[:2] == (HEIGHT, WIDTH)
    rgb = (pixels[:, :, :3] * 255).round().astype(int)
    background = rgb[5, 5]
    drawn = (abs(rgb - background) > 8).any(axis=2)
    assert drawn.mean() > 0.10, "the screenshot is (nearly) blank"
    # The bars are on screen: taker-buy green fills a good part of the page.
    green = (abs(rgb - BUY_GREEN) <= 10).all(axis=2)
    assert green.sum() > 5_000
