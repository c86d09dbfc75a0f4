"""The market map: one tile per symbol of a screen, sized by volume, coloured by a column.

A squarified treemap (the ``squarify`` layout: tiles as close to square as the areas
allow, largest first from the top left) whose tile areas are the symbols' quote volumes
over the screen's window, so where the market's money traded is seen at once. The colour
is one column of the screen: the taker-buy share (a diverging scale centred on 0.5,
red sell-heavy, green buy-heavy, symmetric about the middle and as wide as 95% of the
symbols need: the rest take its end colours, the bar's arrows say so), or the distance from the
last price to the window's point of control or to the nearest naked POC of an earlier day
(a sequential scale, near bright, far dark; past the 90th percentile of the distances
drawn the darkest colour, the bar's arrow says so). A tile names its symbol, and its
value below it, when the text fits; a tile whose row has no value for the colour (too few
trades for a POC, no naked POC found) is grey; a symbol without a trade in the window
has no area and is left out; a tile whose record has a hole in the window (agg ids
missing, an unfilled gap) is hatched, and the title counts the symbols whose record does
not span the whole window (time outside the record is the same for a whole recording,
so hatching it would hide every colour). The title says which.

SVG ids for readers and tests: ``market-axes`` (the map's frame), ``tile-<SYMBOL>`` per
tile, ``label-<SYMBOL>`` per labelled tile.
"""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO

import squarify  # type: ignore[import-untyped]  # the package ships no annotations
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Colormap, LinearSegmentedColormap, Normalize, to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from tradestore._timeparse import format_time_ms
from tradestore.analytics import ScreenResult, ScreenRow
from tradestore.plot import _style as s

# --plot-colour NAME -> the screen's column it colours by.
MAP_COLOURS = {
    "buy_share": "buy_share",
    "dist_poc": "dist_poc_pct",
    "dist_naked_poc": "dist_naked_poc_pct",
}
DEFAULT_COLOUR = "buy_share"
NO_VALUE = "#bdbdbd"
EDGE = "#ffffff"
POOLED = "#e0e0e0"
MIN_TILE_AREA = 1.0  # px²: symbols whose tile would be smaller share one tile
CHUNK = 400  # tiles laid out by one squarify call (its recursion depth is bounded by it)
DIST_CLIP = 0.90  # the distance scale ends at this quantile of the distances drawn
MIN_SHARE_SPAN = 0.02  # the buy-share scale spans at least 0.5 ± this
SHARE_CLIP = 0.95  # ... and at most what this quantile of the deviations from 0.5 needs
MIN_FONT, MAX_FONT = 6.5, 20.0  # points
PX_PER_PT = s.DPI / 72

_SHARE_MAP = LinearSegmentedColormap.from_list("buy_share", [s.SELL, "#f5f5f5", s.BUY])


@dataclass(frozen=True, slots=True)
class _Scale:
    """How a column's values become colours, and what the colour bar says."""

    cmap: Colormap
    norm: Normalize
    label: str
    missing: str  # what a grey tile means
    extend: str  # the colour bar's arrows ("neither", "max")
    percent: bool  # tick labels as % of 1 (the buy share) or as they are (% already)


def check_colour(colour: str) -> str:
    """The column ``colour`` names; ValueError names the choices."""
    if colour not in MAP_COLOURS:
        raise ValueError(f"unknown colour {colour!r}: one of {', '.join(MAP_COLOURS)}")
    return MAP_COLOURS[colour]


def market_map_figure(
    result: ScreenResult,
    *,
    colour: str = DEFAULT_COLOUR,
    size: s.PictureSize = s.DEFAULT,
) -> Figure:
    """The market map of ``result`` (a ``screen``'s rows, filtered or cut as they are),
    coloured by ``colour`` (``MAP_COLOURS``), ``size`` in pixels. ValueError for an unknown
    colour."""
    column = check_colour(colour)
    with s.style():
        fig = s.new_figure(size)
        ax = fig.add_subplot()
        tiles = [row for row in result.rows if row.volume > 0]
        tiles.sort(key=lambda row: row.symbol)
        tiles.sort(key=lambda row: row.volume, reverse=True)
        scale = _scale(colour, [_value(row, column) for row in tiles])
        # The map's own units are about pixels of the axes, so a label's fit is judged
        # in pixels; equal aspect keeps a square tile square whatever the margins.
        width, height = size.width * 0.86, size.height * 0.80
        drawn = _draw_tiles(ax, tiles, column, scale, width, height)
        _title(fig, ax, result, tiles, drawn, colour)
        bar = fig.colorbar(
            ScalarMappable(norm=scale.norm, cmap=scale.cmap),
            ax=ax,
            location="right",
            shrink=0.9,
            pad=0.01,
            extend=scale.extend,
        )
        bar.set_label(scale.label, fontsize=9)
        if scale.percent:
            bar.ax.yaxis.set_major_formatter(lambda v, _pos: f"{v:.0%}")
        handles = _legend(tiles, column, scale, drawn)
        if handles:
            fig.legend(
                handles=handles, loc="outside lower center", ncols=3, frameon=False, fontsize=9
            )
    return fig


def draw_market_map(
    result: ScreenResult,
    path_or_file: str | os.PathLike[str] | IO[bytes],
    *,
    colour: str = DEFAULT_COLOUR,
    format: str | None = None,
    size: s.PictureSize = s.DEFAULT,
) -> int:
    """Draw the market map of ``result`` into a file (a path: PNG or SVG by its suffix,
    written atomically; or a binary file object, ``format`` then required) and return the
    bytes written. ``format`` ("png"/"svg") given with a path must match its suffix.
    ValueError for an unknown colour or format."""
    if isinstance(path_or_file, (str, os.PathLike)):
        suffix = s.picture_format(path_or_file)
        if format is not None and format != suffix:
            raise ValueError(f"{os.fspath(path_or_file)}: the format is {format}, not {suffix}")
        fmt = suffix
    else:
        if format is None:
            raise ValueError("give format='png' or 'svg' to draw into a file object")
        fmt = format
    if fmt not in s.FORMATS:
        raise ValueError(f"unknown picture format {fmt!r}: png or svg")
    check_colour(colour)
    data = s.figure_bytes(market_map_figure(result, colour=colour, size=size), fmt)
    if isinstance(path_or_file, (str, os.PathLike)):
        s.write_atomic(Path(path_or_file), data)
    else:
        path_or_file.write(data)
    return len(data)


@dataclass(frozen=True, slots=True)
class _Drawn:
    tiles: int  # symbols with a tile of their own
    labelled: int
    pooled: int  # symbols sharing the last tile, each under MIN_TILE_AREA


def _draw_tiles(
    ax: Axes,
    tiles: Sequence[ScreenRow],
    column: str,
    scale: _Scale,
    width: float,
    height: float,
) -> _Drawn:
    """Lay ``tiles`` (volume > 0, largest first) out on ``ax`` over width x height units
    of about a pixel each."""
    ax.patch.set_gid("market-axes")
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)  # the largest tile top left, as a page is read
    ax.set_aspect("equal", adjustable="box")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    if not tiles:
        ax.text(
            width / 2,
            height / 2,
            "no symbol traded in the window",
            ha="center",
            va="center",
            color=s.MUTED,
        )
        return _Drawn(0, 0, 0)
    volumes = [float(row.volume) for row in tiles]
    drawn = _drawn(volumes, width * height)
    boxes = layout(volumes[:drawn] + [sum(volumes[drawn:])] * (drawn < len(tiles)), width, height)
    labelled = 0
    for row, (x, y, dx, dy) in zip(tiles[:drawn], boxes[:drawn], strict=True):
        value = _value(row, column)
        face = NO_VALUE if value is None else scale.cmap(scale.norm(value))
        edge = min(1.0, max(0.2, min(dx, dy) / 40))  # thin lines between small tiles
        tile = Rectangle(
            (x, y),
            dx,
            dy,
            facecolor=face,
            edgecolor=EDGE,
            linewidth=edge,
            gid=f"tile-{row.symbol}",
        )
        ax.add_patch(tile)
        if _has_hole(row):
            ax.add_patch(
                Rectangle(
                    (x, y),
                    dx,
                    dy,
                    facecolor="none",
                    edgecolor=(*to_rgb(s.HOLE), 0.45),
                    hatch="//",
                    linewidth=0,
                    gid=f"incomplete-{row.symbol}",
                )
            )
        name = row.symbol
        labelled += _label(ax, name, _value_text(value, scale), face, (x, y, dx, dy), name)
    pooled = len(tiles) - drawn
    if pooled:
        x, y, dx, dy = boxes[-1]
        ax.add_patch(
            Rectangle(
                (x, y), dx, dy, facecolor=POOLED, edgecolor=EDGE, linewidth=0.2, gid="tile-others"
            )
        )
        _label(ax, f"+{pooled:,}", "more", POOLED, (x, y, dx, dy), "others")
    return _Drawn(drawn, labelled, pooled)


def layout(
    sizes: Sequence[float], width: float, height: float
) -> list[tuple[float, float, float, float]]:
    """The squarified boxes (x, y, dx, dy) of ``sizes`` (positive, largest first) over
    width x height, in their order. squarify recurses once per row of tiles, so a long
    tail of tiny sizes would outgrow Python's stack: past ``CHUNK`` tiles the rest is laid
    out as one last tile (bottom right, where the smallest go), then inside it, and so on."""
    boxes: list[tuple[float, float, float, float]] = []
    x, y, dx, dy = 0.0, 0.0, float(width), float(height)
    rest = list(sizes)
    while rest:
        head, rest = rest[:CHUNK], rest[CHUNK:]
        chunk = head + ([sum(rest)] if rest else [])
        placed = squarify.squarify(squarify.normalize_sizes(chunk, dx, dy), x, y, dx, dy)
        boxes += [(b["x"], b["y"], b["dx"], b["dy"]) for b in placed[: len(head)]]
        if rest:
            last = placed[-1]
            x, y, dx, dy = last["x"], last["y"], last["dx"], last["dy"]
    return boxes


def _drawn(volumes: Sequence[float], area: float) -> int:
    """How many of ``volumes`` (largest first) get a tile of their own: those of at least
    ``MIN_TILE_AREA`` of ``area``'s units; the rest (two or more) share one tile."""
    total = sum(volumes)
    drawn = len(volumes)
    while drawn and volumes[drawn - 1] / total * area < MIN_TILE_AREA:
        drawn -= 1
    return drawn if len(volumes) - drawn >= 2 else len(volumes)


def _label(
    ax: Axes, name: str, value: str, face, box: tuple[float, float, float, float], gid: str
) -> bool:
    """Write ``name`` (and ``value`` below it when there is room) in the tile ``box``;
    whether the tile was big enough for the name."""
    x, y, dx, dy = box
    # DejaVu Sans capitals: about 0.72 em a character; a line about 1.25 em high.
    by_width = 0.9 * dx / (0.72 * max(len(name), 6) * PX_PER_PT)
    two = min(by_width, 0.85 * dy / (2.5 * PX_PER_PT), MAX_FONT)
    one = min(by_width, 0.85 * dy / (1.25 * PX_PER_PT), MAX_FONT)
    if one < MIN_FONT:
        return False
    text = name
    size = one
    if two >= MIN_FONT:
        text = f"{name}\n{value}"
        size = two
    r, g, b = to_rgb(face)
    light = 0.299 * r + 0.587 * g + 0.114 * b > 0.55
    label = ax.text(
        x + dx / 2,
        y + dy / 2,
        text,
        ha="center",
        va="center",
        fontsize=size,
        linespacing=1.1,
        color=s.TEXT if light else "#ffffff",
        clip_on=True,
    )
    label.set_gid(f"label-{gid}")
    return True


def _has_hole(row: ScreenRow) -> bool:
    """Trades of the window are missing inside the symbol's record."""
    return bool(row.coverage.missing_ids or row.coverage.open_gaps)


def _value(row: ScreenRow, column: str) -> float | None:
    value = getattr(row, column)
    return None if value is None else float(value)


def _value_text(value: float | None, scale: _Scale) -> str:
    if value is None:
        return "–"
    return f"{value:.1%} buy" if scale.percent else f"{value:.2f}%"


def _scale(colour: str, values: Sequence[float | None]) -> _Scale:
    present = sorted(v for v in values if v is not None)
    if colour == "buy_share":
        # Symmetric about balance, as wide as all but the most lopsided symbols need
        # (a few thin pairs at 0% or 100% would wash out everyone else's colour).
        deviations = sorted(abs(v - 0.5) for v in present)
        span = _quantile(deviations, SHARE_CLIP)
        span = min(0.5, max(MIN_SHARE_SPAN, math.ceil(span * 100) / 100))
        beyond = bool(deviations) and deviations[-1] > span
        return _Scale(
            _SHARE_MAP,
            Normalize(0.5 - span, 0.5 + span),
            "taker-buy share of the volume (50%: balanced)",
            "no taker-buy share",
            "both" if beyond else "neither",
            True,
        )
    what = "the window's POC" if colour == "dist_poc" else "the nearest naked POC"
    top = max(_quantile(present, DIST_CLIP) if present else 1.0, 0.01)
    return _Scale(
        _reversed("viridis"),
        Normalize(0.0, top),
        f"distance from the last price to {what}, % (near: bright)",
        "no POC (too few trades)" if colour == "dist_poc" else "no naked POC found",
        "max" if present and present[-1] > top else "neither",
        False,
    )


def _quantile(ordered: Sequence[float], q: float) -> float:
    """The value at fraction q of ``ordered`` (ascending; 0.0 when empty)."""
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def _reversed(name: str) -> Colormap:
    from matplotlib import colormaps

    return colormaps[name].reversed()


def _title(
    fig: Figure,
    ax: Axes,
    result: ScreenResult,
    tiles: Sequence[ScreenRow],
    drawn: _Drawn,
    colour: str,
) -> None:
    heading = f"Market map  {format_time_ms(result.start_ms)} .. {format_time_ms(result.end_ms)}"
    screened = result.screened if result.screened is not None else len(result.rows)
    shown = f"{len(result.rows):,} symbols"
    if screened != len(result.rows):
        shown = f"{len(result.rows):,} of {screened:,} symbols screened"
    total = sum((row.volume for row in tiles), Decimal(0))
    line = (
        f"{shown}: tile area = quote volume ({_compact(total)} in all), colour = "
        f"{colour.replace('_', ' ')}  ·  {drawn.tiles - drawn.labelled:,} of "
        f"{drawn.tiles:,} tiles too small to label"
    )
    if drawn.pooled:
        line += f"  ·  {drawn.pooled:,} under a pixel share the grey tile '+{drawn.pooled:,}'"
    idle = len(result.rows) - len(tiles)
    if idle:
        line += f"  ·  {idle:,} without a trade in the window left out"
    outside = sum(row.coverage.recorded != "full" for row in result.rows)
    if outside:
        line += f"  ·  the window reaches outside the record of {outside:,}"
    chars = max(40, int((fig.get_figwidth() * fig.dpi - 120) / 7.2))  # as s.titles wraps
    s.titles(fig, ax, heading, "\n".join(textwrap.wrap(line, chars)), None)


def _compact(volume: Decimal) -> str:
    """A quote volume in three figures: 1.23B, 45.6M, 789k, 12.3."""
    for unit, size in (("T", 12), ("B", 9), ("M", 6), ("k", 3)):
        if volume >= Decimal(10) ** size:
            return f"{float(volume.scaleb(-size)):.3g}{unit}"
    return f"{float(volume):.3g}"


def _legend(tiles: Sequence[ScreenRow], column: str, scale: _Scale, drawn: _Drawn) -> list:
    handles: list = []
    own = tiles[: drawn.tiles]
    missing = sum(_value(row, column) is None for row in own)
    if missing:
        handles.append(Patch(color=NO_VALUE, label=f"{scale.missing} ({missing:,})"))
    incomplete = sum(_has_hole(row) for row in own)
    if incomplete:
        handles.append(
            Patch(
                facecolor="none",
                edgecolor=s.HOLE,
                hatch="//",
                label=f"trades missing from the record ({incomplete:,})",
            )
        )
    if drawn.pooled:
        handles.append(Patch(color=POOLED, label=f"{drawn.pooled:,} symbols under a pixel each"))
    return handles
