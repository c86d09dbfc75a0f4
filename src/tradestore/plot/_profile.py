"""The volume profile as a picture: volume by price, POC, value area, vacuums, holes.

Horizontal bars, one per price bin, highest price on top, each split into taker buys
(green, from the axis) and taker sells (red, after them). The point of control is framed,
the value area is a pale band, liquidity vacuums are violet bands (their thin bins
hatched), and the price
bands the market crossed while the record has a hole are hatched red, so a thin area that
is missing data is never read as a vacuum. A strip below the bars is the window's time
axis: pale green where the record is whole, grey where nothing was recorded, red where
trades are missing.

The elements a reader (or a test) looks for carry SVG ids: ``profile-axes`` (the bars'
frame), ``bin-<i>-buy``/``bin-<i>-sell`` (bin i, lowest price first), ``poc``,
``value-area``, ``vacuum-<k>`` (with ``vacuum-<k>-thin-<j>`` per run of thin bins),
``hole-<k>``, ``record``, ``not-recorded-<k>``,
``hole-time-<k>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

from matplotlib import dates as mdates
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from tradestore._timeparse import format_time_ms
from tradestore.analytics import VacuumReport, VolumeProfile, decimal_str
from tradestore.plot import _style as s
from tradestore.plot._holes import RecordHole, vacuum_doubt
from tradestore.store import Coverage

MAX_BARS = 2000  # beyond this many bins the bars are drawn as two filled outlines
MAX_LABELLED_VACUUMS = 12
MIN_HOLE_WIDTH = 0.004  # of the window: a hole of one second still shows on a day's strip


def profile_figure(
    profile: VolumeProfile,
    *,
    vacuums: VacuumReport | None = None,
    holes: Sequence[RecordHole] = (),
    size: s.PictureSize = s.DEFAULT,
) -> Figure:
    """The picture of ``profile``, with ``vacuums`` shaded and the record's ``holes``
    marked (``record_holes`` finds them); ``size`` in pixels."""
    with s.style():
        fig = s.new_figure(size)
        grid = fig.add_gridspec(2, 1, height_ratios=[16, 1])
        ax = fig.add_subplot(grid[0])
        strip = fig.add_subplot(grid[1])
        _title(fig, ax, profile)
        draw_profile(ax, profile, vacuums=vacuums, holes=holes)
        draw_record_strip(strip, profile, holes)
        fig.legend(
            handles=_legend(vacuums, holes),
            loc="outside lower center",
            ncols=6,
            frameon=False,
            fontsize=9,
        )
    return fig


def draw_profile(
    ax: Axes,
    profile: VolumeProfile,
    *,
    vacuums: VacuumReport | None = None,
    holes: Sequence[RecordHole] = (),
) -> None:
    """Draw the bars, POC, value area, vacuums and hole bands on ``ax``."""
    bins = profile.bins
    width = float(profile.bin_size)
    lows = [float(b.price_low) for b in bins]
    volume = [float(b.volume) for b in bins]
    buy = [float(b.buy_volume) for b in bins]
    sell = [float(b.sell_volume) for b in bins]
    bottom, top = lows[0], float(bins[-1].price_high)
    most = max(volume) or 1.0

    ax.patch.set_gid("profile-axes")
    ax.set_ylim(bottom, top)
    ax.set_xlim(0, most * 1.18)  # room for the labels right of the longest bar
    ax.ticklabel_format(axis="both", style="plain", useOffset=False)  # prices in full
    ax.set_xlabel("volume traded (taker buy + taker sell)")
    ax.set_ylabel("price")
    ax.grid(axis="x", color="#eeeeee", linewidth=0.8)
    ax.set_axisbelow(True)

    if len(bins) <= MAX_BARS:
        buys = ax.barh(lows, buy, height=width, align="edge", color=s.BUY, linewidth=0)
        sells = ax.barh(lows, sell, left=buy, height=width, align="edge", color=s.SELL, linewidth=0)
        for i, (b, r) in enumerate(zip(buys.patches, sells.patches, strict=True)):
            b.set_gid(f"bin-{i}-buy")
            r.set_gid(f"bin-{i}-sell")
    else:  # a million one-pixel bars would take minutes: draw the two outlines instead
        edges = [*lows, top]
        ax.stairs(volume, edges, orientation="horizontal", fill=True, color=s.SELL, gid="sells")
        ax.stairs(buy, edges, orientation="horizontal", fill=True, color=s.BUY, gid="buys")

    va = ax.axhspan(
        float(profile.value_area_low),
        float(profile.value_area_high),
        color=s.VALUE_AREA,
        zorder=0,
        linewidth=0,
    )
    va.set_gid("value-area")
    right = most * 1.17
    for price, name in ((profile.value_area_high, "VAH"), (profile.value_area_low, "VAL")):
        ax.text(
            right,
            float(price),
            f"{name} {decimal_str(price)}",
            ha="right",
            va="top" if name == "VAH" else "bottom",
            fontsize=8,
            color=s.MUTED,
        )

    poc_bin = bins[profile.poc_index]
    poc = Rectangle(
        (0, float(poc_bin.price_low)),
        float(poc_bin.volume),
        width,
        fill=False,
        edgecolor=s.POC,
        linewidth=2,
        zorder=4,
        gid="poc",
    )
    ax.add_patch(poc)
    ax.axhline(
        float(profile.point_of_control), color=s.POC, linewidth=0.8, linestyle="--", zorder=3
    )
    ax.annotate(
        f"POC {decimal_str(profile.point_of_control)}",
        (float(poc_bin.volume), float(profile.point_of_control)),
        xytext=(6, 0),
        textcoords="offset points",
        va="center",
        fontsize=9,
        fontweight="bold",
        color=s.POC,
        zorder=5,
    )

    holes = list(holes)
    coverage = profile.coverage
    if vacuums is not None:
        for k, v in enumerate(vacuums.vacuums):
            doubt = vacuum_doubt(v.price_low, v.price_high, holes, coverage)
            band = ax.axhspan(
                float(v.price_low),
                float(v.price_high),
                facecolor=(*_rgb(s.VACUUM), 0.10),
                linewidth=0,
                zorder=2,
            )
            band.set_gid(f"vacuum-{k}")
            # Hatched: the thin bins themselves (a merged vacuum also spans the bins between
            # its runs). The hatch is a patch of its own: an SVG fill's opacity would fade it.
            for j, (lo, hi) in enumerate(_thin_runs(profile, v.price_low, v.price_high, vacuums)):
                thin = ax.axhspan(
                    lo,
                    hi,
                    facecolor="none",
                    edgecolor=(*_rgb(s.VACUUM), 0.55),
                    hatch="///",
                    linewidth=0.6,
                    zorder=2,
                )
                thin.set_gid(f"vacuum-{k}-thin-{j}")
            if k < MAX_LABELLED_VACUUMS:
                text = f"vacuum −{v.volume_deficit_pct:.0f}%"
                if doubt:
                    text += " (doubtful: the record is incomplete)"
                ax.text(
                    most * 0.02,
                    (float(v.price_low) + float(v.price_high)) / 2,
                    text,
                    va="center",
                    fontsize=8,
                    color=s.HOLE if doubt else s.VACUUM,
                    zorder=5,
                )
    for k, h in enumerate(holes):
        band_prices = h.price_band
        if band_prices is None:
            continue
        # At least the bins holding the prices on either side of the hole.
        lo = float(band_prices[0] // profile.bin_size * profile.bin_size)
        hi = float((band_prices[1] // profile.bin_size + 1) * profile.bin_size)
        mark = ax.axhspan(
            lo,
            hi,
            facecolor="none",
            edgecolor=s.HOLE,
            hatch="\\\\",
            linewidth=0.8,
            zorder=2,
        )
        mark.set_gid(f"hole-{k}")
        ax.text(
            right,
            (lo + hi) / 2,
            f"{h.size:,} ids missing",
            ha="right",
            va="center",
            fontsize=8,
            color=s.HOLE,
            zorder=5,
        )


class Windowed(Protocol):
    """A result over a window with its coverage: a profile, candles, a footprint."""

    @property
    def start_ms(self) -> int: ...
    @property
    def end_ms(self) -> int: ...
    @property
    def coverage(self) -> Coverage | None: ...


def draw_record_strip(ax: Axes, profile: Windowed, holes: Sequence[RecordHole]) -> None:
    """The window's time axis: recorded (green), not recorded (grey), holes (red)."""
    start, end = profile.start_ms, profile.end_ms
    ax.set_xlim(chart_date(start), chart_date(end + 1))
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    ax.set_ylabel("record", rotation=0, ha="right", va="center", fontsize=8)
    locator = mdates.AutoDateLocator(tz=UTC)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=UTC))
    ax.tick_params(axis="x", labelsize=8)
    cover = profile.coverage
    if cover is None:
        return
    lo = max(start, cover.recorded_from_ms) if cover.recorded_from_ms is not None else None
    hi = min(end, cover.recorded_to_ms) if cover.recorded_to_ms is not None else None
    if lo is not None and hi is not None and lo <= hi:
        ax.axvspan(chart_date(lo), chart_date(hi + 1), color=s.RECORDED, linewidth=0).set_gid(
            "record"
        )
    for k, (a, b) in enumerate(cover.not_recorded):
        span = ax.axvspan(
            chart_date(a),
            chart_date(b + 1),
            facecolor="#eeeeee",
            edgecolor=s.NOT_RECORDED,
            hatch="xx",
            linewidth=0,
        )
        span.set_gid(f"not-recorded-{k}")
    least = (end - start + 1) * MIN_HOLE_WIDTH
    for k, h in enumerate(holes):
        a, b = h.after_ms, h.before_ms
        if b - a < least:
            mid = (a + b) / 2
            a, b = int(mid - least / 2), int(mid + least / 2)
        ax.axvspan(chart_date(a), chart_date(b), color=s.HOLE, linewidth=0).set_gid(
            f"hole-time-{k}"
        )


def _thin_runs(profile: VolumeProfile, low, high, vacuums: VacuumReport) -> list:
    """(low, high) prices of each run of thin bins (below the vacuum threshold) within
    [low, high)."""
    runs: list[list[float]] = []
    for b in profile.bins:
        if not (low <= b.price_low < high) or b.volume >= vacuums.threshold_volume:
            continue
        if runs and runs[-1][1] == float(b.price_low):
            runs[-1][1] = float(b.price_high)
        else:
            runs.append([float(b.price_low), float(b.price_high)])
    return [(lo, hi) for lo, hi in runs]


def _title(fig: Figure, ax: Axes, profile: VolumeProfile) -> None:
    heading = (
        f"{profile.symbol} volume profile  {format_time_ms(profile.start_ms)} .. "
        f"{format_time_ms(profile.end_ms)}"
    )
    total = profile.total_volume
    va_pct = float(profile.value_area_volume / total * 100) if total else 100.0
    cover = profile.coverage
    line = (
        f"{profile.trade_count:,} trades, bin {decimal_str(profile.bin_size)}  ·  "
        f"POC {decimal_str(profile.point_of_control)}  ·  value area "
        f"{decimal_str(profile.value_area_low)} .. {decimal_str(profile.value_area_high)} "
        f"({va_pct:.1f}%)"
    )
    s.titles(fig, ax, heading, line, cover)


def _legend(vacuums: VacuumReport | None, holes: Sequence[RecordHole]) -> list:
    handles: list = [
        Patch(color=s.BUY, label="taker buy"),
        Patch(color=s.SELL, label="taker sell"),
        Line2D([], [], color=s.POC, linewidth=2, label="point of control"),
        Patch(color=s.VALUE_AREA, label="value area"),
    ]
    if vacuums is not None and vacuums.vacuums:
        handles.append(
            Patch(facecolor="none", edgecolor=s.VACUUM, hatch="///", label="liquidity vacuum")
        )
    return handles + s.record_handles(None, holes)


def chart_date(ms: float) -> float:
    return float(mdates.date2num(datetime.fromtimestamp(ms / 1000, UTC)))


def _rgb(color: str) -> tuple[float, float, float]:
    from matplotlib.colors import to_rgb

    return to_rgb(color)
