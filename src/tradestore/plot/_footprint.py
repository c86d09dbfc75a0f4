"""A footprint as a picture: per candle (a column) and price (a row), taker-sell volume
on the cell's left half and taker-buy volume on its right, as the tape reads them.

A half's colour deepens with its volume (red sells, green buys; the deepest is the
largest volume of any half in the picture), its figure is written in it when the cells
are large enough to read, and each candle's point of control (its row with the most
volume) is framed. Every interval of the window has a column, so a candle without trades
shows as an empty column; a candle whose time overlaps a hole in the record is hatched
red, one outside the record grey.

Only short windows make a readable grid: ``check_grid`` refuses more than MAX_COLUMNS
candles or MAX_ROWS price rows (a coarser tick size, a longer interval or a shorter
window helps).

SVG ids: ``footprint-axes`` (the grid's frame, x from -0.5 to columns - 0.5, y from -0.5
to rows - 0.5, lowest price at the bottom), ``cell-<i>-<j>-buy`` and ``cell-<i>-<j>-sell``
(column i, row j), ``poc-<i>``, ``hole-candle-<i>``, ``not-recorded-candle-<i>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from tradestore._timeparse import format_time_ms
from tradestore.analytics import Footprint, FootprintCandle, decimal_str, interval_label
from tradestore.plot import _style as s
from tradestore.plot._holes import RecordHole

MAX_COLUMNS = 60
MAX_ROWS = 80
CHAR_PX = 4.6  # width of a character of 7 pt DejaVu Sans at 100 dpi, about
MIN_ROW_PX = 11  # a row lower than this gets no figures


def intervals(start_ms: int, end_ms: int, interval_ms: int) -> list[int]:
    """The open times of every interval the window touches, oldest first."""
    first = start_ms - start_ms % interval_ms
    return list(range(first, end_ms + 1, interval_ms))


def price_rows(result: Footprint) -> list[Decimal]:
    """The grid's rows, lowest price first: every bin of ``tick_size`` between the lowest
    and highest traded (empty bins included), else every traded price."""
    prices = {level.price for c in result.candles for level in c.levels}
    if not prices:
        return []
    if result.tick_size is None:
        return sorted(prices)
    low, high, tick = min(prices), max(prices), result.tick_size
    return [low + tick * k for k in range(int((high - low) / tick) + 1)]


def check_grid(columns: int, rows: int | None = None) -> None:
    """ValueError naming the limit when the grid would be too large to read."""
    if columns > MAX_COLUMNS:
        raise ValueError(
            f"{columns} candles are too many for a readable footprint grid (at most "
            f"{MAX_COLUMNS}): a longer interval or a shorter window"
        )
    if rows is not None and rows > MAX_ROWS:
        raise ValueError(
            f"{rows} price rows are too many for a readable footprint grid (at most "
            f"{MAX_ROWS}): a larger tick size or a shorter window"
        )


def footprint_figure(
    result: Footprint,
    *,
    holes: Sequence[RecordHole] = (),
    size: s.PictureSize = s.DEFAULT,
) -> Figure:
    """The footprint grid of ``result`` with the record's ``holes`` marked; ValueError
    when the grid is too large to read (``check_grid``)."""
    opens = intervals(result.start_ms, result.end_ms, result.interval_ms)
    rows = price_rows(result)
    check_grid(len(opens), len(rows))
    with s.style():
        fig = s.new_figure(size)
        ax = fig.add_subplot()
        _title(fig, ax, result)
        draw_footprint(ax, result, opens, rows, holes=holes)
        fig.legend(handles=_legend(result, holes), loc="outside lower center", ncols=5)
    return fig


def draw_footprint(
    ax: Axes,
    result: Footprint,
    opens: Sequence[int],
    rows: Sequence[Decimal],
    *,
    holes: Sequence[RecordHole] = (),
) -> None:
    """The cells, the candles' POCs and the record's marks on ``ax``."""
    ax.patch.set_gid("footprint-axes")
    ax.set_xlim(-0.5, len(opens) - 0.5)
    ax.set_ylim(-0.5, max(len(rows), 1) - 0.5)
    ax.set_ylabel("price")
    column = {ms: i for i, ms in enumerate(opens)}
    row = {price: j for j, price in enumerate(rows)}
    largest = max(
        (max(v.buy_volume, v.sell_volume) for c in result.candles for v in c.levels),
        default=Decimal(0),
    )
    fig = ax.get_figure()
    assert fig is not None
    box = ax.get_position()  # in figure fractions; fig.bbox is the figure in pixels
    width_px = box.width * fig.bbox.width / max(len(opens), 1) / 2
    height_px = box.height * fig.bbox.height / max(len(rows), 1)
    for candle in result.candles:
        i = column[candle.candle.open_time_ms]
        for level in candle.levels:
            j = row[_row_price(level.price, result.tick_size, rows)]
            for side, volume, left, colour in (
                ("sell", level.sell_volume, i - 0.48, s.SELL),
                ("buy", level.buy_volume, i, s.BUY),
            ):
                share = float(volume / largest) if largest else 0.0
                cell = Rectangle(
                    (left, j - 0.45),
                    0.48,
                    0.9,
                    facecolor=colour,
                    alpha=0.12 + 0.88 * share if volume else 0.04,
                    linewidth=0,
                    gid=f"cell-{i}-{j}-{side}",
                )
                ax.add_patch(cell)
                text = _short(volume)
                if height_px >= MIN_ROW_PX and width_px >= CHAR_PX * len(text) + 4:
                    ax.text(
                        left + 0.24,
                        j,
                        text,
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if share > 0.55 else s.TEXT,
                    )
        if candle.levels:
            poc = _poc(candle)
            j = row[_row_price(poc, result.tick_size, rows)]
            ax.add_patch(
                Rectangle(
                    (i - 0.49, j - 0.47),
                    0.98,
                    0.94,
                    fill=False,
                    edgecolor=s.POC,
                    linewidth=1.5,
                    zorder=4,
                    gid=f"poc-{i}",
                )
            )
    _mark_record(ax, result, opens, holes)
    _ticks(ax, result, opens, rows)


def _row_price(price: Decimal, tick: Decimal | None, rows: Sequence[Decimal]) -> Decimal:
    if tick is None:
        return price
    return rows[0] + tick * int((price - rows[0]) / tick)


def _poc(candle: FootprintCandle) -> Decimal:
    """The candle's price with the most volume (the lowest on a tie)."""
    best = candle.levels[0]
    for level in candle.levels:
        if level.buy_volume + level.sell_volume > best.buy_volume + best.sell_volume:
            best = level
    return best.price


def _mark_record(
    ax: Axes, result: Footprint, opens: Sequence[int], holes: Sequence[RecordHole]
) -> None:
    step = result.interval_ms
    cover = result.coverage
    unrecorded = [] if cover is None else list(cover.not_recorded)
    for i, start in enumerate(opens):
        end = start + step - 1
        if any(h.after_ms <= end and start <= h.before_ms for h in holes):
            span = ax.axvspan(
                i - 0.5,
                i + 0.5,
                facecolor="none",
                edgecolor=s.HOLE,
                hatch="\\\\",
                linewidth=0.8,
                zorder=3,
            )
            span.set_gid(f"hole-candle-{i}")
        elif any(a <= end and start <= b for a, b in unrecorded):
            span = ax.axvspan(
                i - 0.5,
                i + 0.5,
                facecolor="#eeeeee",
                edgecolor=s.NOT_RECORDED,
                hatch="xx",
                linewidth=0,
                zorder=0,
            )
            span.set_gid(f"not-recorded-candle-{i}")


def _ticks(ax: Axes, result: Footprint, opens: Sequence[int], rows: Sequence[Decimal]) -> None:
    every = max(1, len(opens) // 12)
    ax.set_xticks(range(0, len(opens), every))
    ax.set_xticklabels(
        [format_time_ms(opens[i])[11:16] for i in range(0, len(opens), every)], fontsize=8
    )
    ax.set_xlabel(f"candle open (UTC, {format_time_ms(opens[0])[:10]})" if opens else "")
    every = max(1, len(rows) // 25)
    ax.set_yticks(range(0, len(rows), every))
    ax.set_yticklabels([decimal_str(rows[j]) for j in range(0, len(rows), every)], fontsize=8)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)


def _short(volume: Decimal) -> str:
    """A volume in at most about five characters: 0.0123, 1.23, 12.3, 123, 1.2k."""
    if not volume:
        return ""
    v = float(volume)
    if v >= 10_000:
        return f"{v / 1000:.0f}k"
    if v >= 1000:
        return f"{v / 1000:.1f}k"
    if v >= 100:
        return f"{v:.0f}"
    return f"{v:.3g}"


def _title(fig: Figure, ax: Axes, result: Footprint) -> None:
    heading = (
        f"{result.symbol} {interval_label(result.interval_ms)} footprint  "
        f"{format_time_ms(result.start_ms)} .. {format_time_ms(result.end_ms)}"
    )
    tick = result.tick_size
    bins = "every traded price" if tick is None else f"bins of {decimal_str(tick)}"
    line = (
        f"{result.trade_count:,} trades in {len(result.candles):,} candles, {bins}  ·  "
        "each cell: taker sell | taker buy volume"
    )
    s.titles(fig, ax, heading, line, result.coverage)


def _legend(result: Footprint, holes: Sequence[RecordHole]) -> list:
    handles: list = [
        Patch(color=s.SELL, label="taker sell (left half)"),
        Patch(color=s.BUY, label="taker buy (right half)"),
        Patch(facecolor="none", edgecolor=s.POC, linewidth=1.5, label="candle's POC"),
    ]
    return handles + s.record_handles(result.coverage, holes)
