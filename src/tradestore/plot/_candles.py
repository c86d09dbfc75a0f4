"""Candles as a picture: price candles, volume below them, cumulative volume delta below
that, and the window's record along the bottom, all on one time axis.

Each candle is a wick from its low to its high and a body from its open to its close,
green when it closed at or above its open and red below. The volume bars split into taker
buys (green, from the axis) and taker sells (red, on top). The cumulative volume delta is
the running taker-buy minus taker-sell volume at each candle's close. Time the record
misses is marked on the candles themselves (hatched red over a hole in the agg ids, grey
where nothing was recorded), so a quiet stretch that is missing data is never read as a
quiet market; the strip at the bottom is the profile picture's record strip.

SVG ids for readers and tests: ``candles-axes``, ``volume-axes``, ``cvd-axes`` (the
panels' frames); per candle i (oldest first) ``candle-<i>`` (the body), ``candle-<i>-wick``,
``volume-<i>-buy``, ``volume-<i>-sell``; ``cvd`` (the line) and ``cvd-zero``;
``candles-hole-<k>`` and ``candles-not-recorded-<k>`` on the candles; the strip's
``record``, ``not-recorded-<k>`` and ``hole-time-<k>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from tradestore._timeparse import format_time_ms
from tradestore.analytics import CandleSeries, decimal_str, interval_label
from tradestore.plot import _style as s
from tradestore.plot._holes import RecordHole
from tradestore.plot._profile import MIN_HOLE_WIDTH, chart_date, draw_record_strip

MAX_BARS = 2000  # beyond this many candles: outlines (a line and a band), not bars
BODY = 0.7  # of the interval: the body's width
WICK = 0.12  # of the interval: the wick's width
DAY_MS = 86_400_000


def candles_figure(
    series: CandleSeries,
    *,
    holes: Sequence[RecordHole] = (),
    size: s.PictureSize = s.DEFAULT,
) -> Figure:
    """The picture of ``series``: candles, volume and cumulative volume delta on a shared
    time axis, with the record's ``holes`` (``record_holes`` finds them) marked."""
    with s.style():
        fig = s.new_figure(size)
        grid = fig.add_gridspec(4, 1, height_ratios=[9, 3, 3, 1])
        strip = fig.add_subplot(grid[3])
        ax = fig.add_subplot(grid[0], sharex=strip)
        volume = fig.add_subplot(grid[1], sharex=strip)
        cvd = fig.add_subplot(grid[2], sharex=strip)
        _title(fig, ax, series)
        draw_candles(ax, series, holes=holes)
        draw_volume(volume, series)
        draw_cvd(cvd, series)
        draw_record_strip(strip, series, holes)
        for upper in (ax, volume, cvd):
            upper.tick_params(axis="x", labelbottom=False)
        fig.legend(
            handles=_legend(series, holes), loc="outside lower center", ncols=6, frameon=False
        )
    return fig


def _centres(series: CandleSeries) -> list[float]:
    half = series.interval_ms / 2
    return [chart_date(c.open_time_ms + half) for c in series.candles]


def draw_candles(ax: Axes, series: CandleSeries, *, holes: Sequence[RecordHole] = ()) -> None:
    """Wicks and bodies of the candles on ``ax`` (x: matplotlib dates), and the time the
    record misses."""
    ax.patch.set_gid("candles-axes")
    ax.set_ylabel("price")
    ax.ticklabel_format(axis="y", style="plain", useOffset=False)
    ax.grid(axis="y", color="#eeeeee", linewidth=0.8)
    ax.set_axisbelow(True)
    candles = series.candles
    x = _centres(series)
    days = series.interval_ms / DAY_MS
    if candles:
        low = min(c.low for c in candles)
        high = max(c.high for c in candles)
        pad = (high - low) * Decimal("0.05") or high * Decimal("0.001") or Decimal(1)
        ax.set_ylim(float(low - pad), float(high + pad))
    if len(candles) <= MAX_BARS:
        colours = [s.BUY if c.close >= c.open else s.SELL for c in candles]
        wicks = ax.bar(
            x,
            [float(c.high - c.low) for c in candles],
            bottom=[float(c.low) for c in candles],
            width=days * WICK,
            color=colours,
            linewidth=0,
        )
        bodies = ax.bar(
            x,
            [float(abs(c.close - c.open)) for c in candles],
            bottom=[float(min(c.open, c.close)) for c in candles],
            width=days * BODY,
            color=colours,
            edgecolor=colours,
            linewidth=0.5,  # a doji (open == close) still shows as a line
        )
        for i, (w, b) in enumerate(zip(wicks.patches, bodies.patches, strict=True)):
            w.set_gid(f"candle-{i}-wick")
            b.set_gid(f"candle-{i}")
    else:  # ten thousand bars would take long and show nothing more: the range and close
        ax.fill_between(
            x,
            [float(c.low) for c in candles],
            [float(c.high) for c in candles],
            color="#b0bec5",
            linewidth=0,
            gid="high-low",
        )
        ax.plot(x, [float(c.close) for c in candles], color=s.TEXT, linewidth=0.8, gid="close")
    _mark_record(ax, series, holes)


def _mark_record(ax: Axes, series: CandleSeries, holes: Sequence[RecordHole]) -> None:
    cover = series.coverage
    if cover is not None:
        for k, (a, b) in enumerate(cover.not_recorded):
            span = ax.axvspan(
                chart_date(a),
                chart_date(b + 1),
                facecolor="#eeeeee",
                edgecolor=s.NOT_RECORDED,
                hatch="xx",
                linewidth=0,
                zorder=0,
            )
            span.set_gid(f"candles-not-recorded-{k}")
    least = (series.end_ms - series.start_ms + 1) * MIN_HOLE_WIDTH
    for k, h in enumerate(holes):
        a, b = h.after_ms, h.before_ms
        if b - a < least:
            mid = (a + b) / 2
            a, b = int(mid - least / 2), int(mid + least / 2)
        span = ax.axvspan(
            chart_date(a),
            chart_date(b),
            facecolor=(1, 0, 0, 0.08),
            edgecolor=s.HOLE,
            hatch="\\\\",
            linewidth=0.8,
            zorder=3,
        )
        span.set_gid(f"candles-hole-{k}")
        ax.annotate(
            f"{h.size:,} ids missing",
            (chart_date((a + b) / 2), 1),
            xycoords=("data", "axes fraction"),
            xytext=(0, -4),
            textcoords="offset points",
            ha="center",
            va="top",
            fontsize=8,
            color=s.HOLE,
        )


def draw_volume(ax: Axes, series: CandleSeries) -> None:
    """Taker-buy (from the axis) and taker-sell volume (on top) per candle."""
    ax.patch.set_gid("volume-axes")
    ax.set_ylabel("volume")
    ax.grid(axis="y", color="#eeeeee", linewidth=0.8)
    ax.set_axisbelow(True)
    candles = series.candles
    x = _centres(series)
    buy = [float(c.buy_volume) for c in candles]
    sell = [float(c.sell_volume) for c in candles]
    if len(candles) <= MAX_BARS:
        width = series.interval_ms / DAY_MS * BODY
        buys = ax.bar(x, buy, width=width, color=s.BUY, linewidth=0)
        sells = ax.bar(x, sell, bottom=buy, width=width, color=s.SELL, linewidth=0)
        for i, (b, r) in enumerate(zip(buys.patches, sells.patches, strict=True)):
            b.set_gid(f"volume-{i}-buy")
            r.set_gid(f"volume-{i}-sell")
    else:
        total = [b + r for b, r in zip(buy, sell, strict=True)]
        ax.fill_between(x, 0, total, color=s.SELL, linewidth=0, step="mid", gid="sells")
        ax.fill_between(x, 0, buy, color=s.BUY, linewidth=0, step="mid", gid="buys")
    ax.set_ylim(bottom=0)


def cumulative_delta(series: CandleSeries) -> list[Decimal]:
    """The running taker-buy minus taker-sell volume at each candle's close."""
    running = Decimal(0)
    out = []
    for c in series.candles:
        running += c.delta
        out.append(running)
    return out


def draw_cvd(ax: Axes, series: CandleSeries) -> None:
    """The cumulative volume delta from the window's start, at each candle's close."""
    ax.patch.set_gid("cvd-axes")
    ax.set_ylabel("cum. delta")
    ax.grid(axis="y", color="#eeeeee", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.axhline(0, color=s.MUTED, linewidth=0.6, gid="cvd-zero")
    ends = [chart_date(c.open_time_ms + series.interval_ms) for c in series.candles]
    values = [float(v) for v in cumulative_delta(series)]
    if series.candles:  # from 0 at the first candle's open
        xs = [chart_date(series.candles[0].open_time_ms), *ends]
        ax.plot(xs, [0.0, *values], color="#1565c0", linewidth=1.2, gid="cvd")


def _title(fig: Figure, ax: Axes, series: CandleSeries) -> None:
    heading = (
        f"{series.symbol} {interval_label(series.interval_ms)} candles  "
        f"{format_time_ms(series.start_ms)} .. {format_time_ms(series.end_ms)}"
    )
    candles = series.candles
    if candles:
        delta = sum((c.delta for c in candles), Decimal(0))
        line = (
            f"{series.trade_count:,} trades in {len(candles):,} candles  ·  open "
            f"{decimal_str(candles[0].open)}  high {decimal_str(max(c.high for c in candles))}  "
            f"low {decimal_str(min(c.low for c in candles))}  close "
            f"{decimal_str(candles[-1].close)}  ·  delta {decimal_str(delta)}"
        )
    else:
        line = "no trades in the window"
    s.titles(fig, ax, heading, line, series.coverage)


def _legend(series: CandleSeries, holes: Sequence[RecordHole]) -> list:
    handles: list = [
        Patch(color=s.BUY, label="up candle / taker buy"),
        Patch(color=s.SELL, label="down candle / taker sell"),
        Line2D([], [], color="#1565c0", linewidth=1.2, label="cumulative volume delta"),
    ]
    return handles + s.record_handles(series.coverage, holes)
