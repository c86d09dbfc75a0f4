"""A store whose profile is known by construction, and reading pictures back.

``shaped_trades`` lays trades over 20 one-unit price bins 100..119 so that the point of
control is bin 104 and bins 108-109 are the one liquidity vacuum; ``svg_boxes`` reads the
elements a picture names by id back as pixel boxes."""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from decimal import Decimal

import tradestore
from tests.helpers.trades import T0
from tradestore import AggTrade

BINS = 20
LOW = 100  # price of bin 0's lower edge; bins are 1 wide (--tick-size 1)
POC_BIN = 4  # 104 .. 105
VACUUM_BINS = (8, 9)  # 108 .. 110
PER_BIN = 60  # trades per bin: 1200 in all, above the analytics' 1000
STEP_MS = 50


def bin_qty(i: int) -> str:
    if i == POC_BIN:
        return "1"
    if i in VACUUM_BINS:
        return "0.001"
    return "0.2"


def shaped_trades(first_id: int = 1_000) -> list[AggTrade]:
    """Trade k (agg id first_id + k) is in bin k % 20 at its centre, taker buy in even rounds of 20."""
    trades = []
    for k in range(BINS * PER_BIN):
        i = k % BINS
        trades.append(
            AggTrade(
                agg_id=first_id + k,
                price=Decimal(LOW + i) + Decimal("0.5"),
                qty=Decimal(bin_qty(i)),
                time_ms=T0 + k * STEP_MS,
                is_buyer_maker=bool(k // BINS % 2),
            )
        )
    return trades


def window() -> tuple[int, int]:
    """The shaped trades' own span, so the window lies wholly in the record."""
    return T0, T0 + (BINS * PER_BIN - 1) * STEP_MS


@dataclass(frozen=True)
class Box:
    """A pixel box in SVG user units (points): y grows downward."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def top(self) -> float:
        return min(self.y0, self.y1)

    @property
    def bottom(self) -> float:
        return max(self.y0, self.y1)

    @property
    def left(self) -> float:
        return min(self.x0, self.x1)

    @property
    def right(self) -> float:
        return max(self.x0, self.x1)


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")
_SVG = "{http://www.w3.org/2000/svg}"


def svg_boxes(svg: bytes | str) -> dict[str, Box]:
    """Every element with an id whose first path is drawn: id -> the path's bounding box."""
    root = ET.fromstring(svg)
    boxes = {}
    for group in root.iter(f"{_SVG}g"):
        ident = group.get("id")
        path = group.find(f"{_SVG}path")
        if ident is None or path is None or not path.get("d"):
            continue
        numbers = [float(n) for n in _NUMBER.findall(path.get("d", ""))]
        xs, ys = numbers[0::2], numbers[1::2]
        if xs and ys:
            boxes[ident] = Box(min(xs), min(ys), max(xs), max(ys))
    return boxes


def svg_size(svg: bytes | str) -> tuple[str, str]:
    root = ET.fromstring(svg)
    return root.get("width", ""), root.get("height", "")


def hide_matplotlib(monkeypatch) -> None:
    """Make this test's process an install without the plot extra: importing matplotlib
    (or the package's plot part, which needs it) fails as it would there."""
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith(("matplotlib.", "tradestore.plot")):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.delattr(tradestore, "plot", raising=False)  # `from tradestore import plot`
