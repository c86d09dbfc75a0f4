"""One self-contained HTML file: the pictures, the summary tables, the record, provenance.

A report is a list of sections, each with its pictures, tables and notes; a new kind of
picture is one more section builder. The file needs nothing but itself: the pictures are
SVG embedded as ``data:`` URIs (vector, with text drawn as paths), the style sheet is
inline, and there is no script, so it opens offline, in a mail attachment or an archive,
years later. The numbers behind the pictures ride along as a JSON block
(``<script type="application/json" id="tradestore-data">``), which a browser never runs.
"""

from __future__ import annotations

import base64
import html
import json
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import matplotlib

from tradestore import __version__
from tradestore._timeparse import format_duration_ms, format_time_ms
from tradestore.analytics import (
    MERGE_BINS,
    MIN_TRADES,
    CandleSeries,
    ScreenResult,
    VacuumReport,
    VolumeProfile,
    candles,
    decimal_str,
    find_vacuums,
    interval_label,
    screen,
    volume_profile,
)
from tradestore.codec._twins import EXTENSIONS_LOADED
from tradestore.plot import _style as s
from tradestore.plot._candles import candles_figure, cumulative_delta
from tradestore.plot._holes import RecordHole, record_holes, vacuum_doubt
from tradestore.plot._market import DEFAULT_COLOUR, check_colour, market_map_figure
from tradestore.plot._profile import profile_figure
from tradestore.store import Coverage

REPORT_SIZE = s.PictureSize(1200, 800)
# The report's candles: the shortest of these intervals giving at most REPORT_CANDLES.
CANDLE_INTERVALS_MS = tuple(m * 60_000 for m in (1, 2, 5, 10, 15, 30, 60, 120, 240, 360, 720, 1440))
REPORT_CANDLES = 150
SCREEN_TOP = 50  # the screen's table: this many symbols, largest volume first


def report_interval(start_ms: int, end_ms: int) -> int:
    """The candle interval the report draws a window with: about 50 to 150 candles."""
    for interval in CANDLE_INTERVALS_MS:
        if end_ms // interval - start_ms // interval + 1 <= REPORT_CANDLES:
            return interval
    return CANDLE_INTERVALS_MS[-1]


@dataclass(frozen=True, slots=True)
class Picture:
    """An SVG picture and the words a reader gets when it cannot be shown."""

    svg: bytes
    alt: str

    def to_html(self) -> str:
        data = base64.b64encode(self.svg).decode("ascii")
        return f'<img src="data:image/svg+xml;base64,{data}" alt="{_e(self.alt)}">'


@dataclass(frozen=True, slots=True)
class Table:
    """Rows of text under optional headings; ``caption`` says what it is."""

    rows: Sequence[Sequence[str]]
    headings: Sequence[str] = ()
    caption: str = ""
    numeric: frozenset[int] = frozenset()  # columns aligned right
    collapsed: bool = False  # shown behind a <details> toggle

    def to_html(self) -> str:
        parts = ["<table>"]
        if self.headings:
            cells = "".join(
                f"<th{_align(i, self.numeric)}>{_e(h)}</th>" for i, h in enumerate(self.headings)
            )
            parts.append(f"<thead><tr>{cells}</tr></thead>")
        parts.append("<tbody>")
        for row in self.rows:
            if not self.headings and len(row) == 2:  # a key/value table
                parts.append(f"<tr><th scope='row'>{_e(row[0])}</th><td>{_e(row[1])}</td></tr>")
                continue
            cells = "".join(f"<td{_align(i, self.numeric)}>{_e(c)}</td>" for i, c in enumerate(row))
            parts.append(f"<tr>{cells}</tr>")
        parts.append("</tbody></table>")
        table = "".join(parts)
        if self.collapsed:
            return f"<details><summary>{_e(self.caption)}</summary>{table}</details>"
        caption = f"<h3>{_e(self.caption)}</h3>" if self.caption else ""
        return caption + table


@dataclass(frozen=True, slots=True)
class Section:
    """A titled part of the report; ``warning`` paints its notes as a problem."""

    key: str  # the HTML id, e.g. "profile"
    title: str
    pictures: Sequence[Picture] = ()
    tables: Sequence[Table] = ()
    notes: Sequence[str] = ()
    warning: bool = False

    def to_html(self) -> str:
        parts = [f'<section id="{_e(self.key)}"><h2>{_e(self.title)}</h2>']
        cls = "note warn" if self.warning else "note"
        parts += [f'<p class="{cls}">{_e(n)}</p>' for n in self.notes]
        parts += [f"<figure>{p.to_html()}</figure>" for p in self.pictures]
        parts += [t.to_html() for t in self.tables]
        parts.append("</section>")
        return "\n".join(parts)


@dataclass(frozen=True)
class Report:
    """A titled list of sections and the data behind them."""

    title: str
    subtitle: str
    complete: bool  # the window's record is whole
    status: str  # the record's one-line summary
    sections: list[Section] = field(default_factory=list)
    data: dict = field(default_factory=dict)

    def to_html(self) -> str:
        badge = "ok" if self.complete else "bad"
        body = "\n".join(sec.to_html() for sec in self.sections)
        nav = " · ".join(f'<a href="#{_e(sec.key)}">{_e(sec.title)}</a>' for sec in self.sections)
        # "</" cannot end the data block early: JSON lets "/" be escaped.
        data = json.dumps(self.data, indent=1).replace("</", "<\\/")
        return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="tradestore-trio {_e(__version__)}">
<title>{_e(self.title)}</title>
<style>{CSS}</style>
</head>
<body>
<header>
<h1>{_e(self.title)}</h1>
<p class="sub">{_e(self.subtitle)}</p>
<p class="badge {badge}">{_e(self.status)}</p>
<nav>{nav}</nav>
</header>
<main>
{body}
</main>
<script type="application/json" id="tradestore-data">
{data}
</script>
</body>
</html>
"""

    def write(self, path: str | os.PathLike[str]) -> int:
        """Write the HTML file atomically; the bytes written."""
        data = self.to_html().encode("utf-8")
        s.write_atomic(Path(path), data)
        return len(data)


CSS = """
:root { color-scheme: light; }
body { font-family: "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; margin: 0;
  color: #212121; background: #fafafa; }
header, main { max-width: 1240px; margin: 0 auto; padding: 0 20px; }
header { padding-top: 18px; }
h1 { font-size: 1.5em; margin: 0.2em 0; }
h2 { font-size: 1.2em; border-bottom: 1px solid #e0e0e0; padding-bottom: 4px; }
h3 { font-size: 1em; margin: 1.2em 0 0.4em; }
.sub { color: #616161; margin: 0.2em 0 0.6em; }
.badge { display: inline-block; padding: 4px 10px; border-radius: 4px; font-weight: bold; }
.badge.ok { background: #e8f5e9; color: #1b5e20; border: 1px solid #a5d6a7; }
.badge.bad { background: #ffebee; color: #b71c1c; border: 1px solid #ef9a9a; }
nav { margin: 0.8em 0; font-size: 0.9em; }
nav a { color: #1565c0; }
section { background: #fff; border: 1px solid #e0e0e0; border-radius: 6px;
  padding: 4px 18px 14px; margin: 16px 0; }
figure { margin: 8px 0; }
figure img { width: 100%; height: auto; display: block; }
table { border-collapse: collapse; font-size: 0.9em; margin: 6px 0; }
th, td { border: 1px solid #e0e0e0; padding: 3px 8px; text-align: left;
  vertical-align: top; }
thead th { background: #f5f5f5; }
tbody th { background: #fafafa; font-weight: normal; color: #424242; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.note { color: #424242; }
.note.warn { color: #b71c1c; font-weight: bold; }
details { margin: 8px 0; }
summary { cursor: pointer; color: #1565c0; }
"""


def build_report(
    store,
    symbol: str | None,
    start_ms: int,
    end_ms: int,
    *,
    tick_size: Decimal | str | None = None,
    bins: int = 100,
    value_area: float = 0.70,
    threshold: float = 0.20,
    merge_bins: int = MERGE_BINS,
    merge_distance: float | None = None,
    min_trades: int = MIN_TRADES,
    interval_ms: int | None = None,
    screen_symbols: str | Sequence[str] | None = None,
    screen_top: int = SCREEN_TOP,
    screen_colour: str = DEFAULT_COLOUR,
    command: str = "",
    db: str = "",
) -> Report:
    """The report of ``symbol`` over [start_ms, end_ms] (both inclusive) in ``store``.

    With ``screen_symbols`` (``"ALL"``, a pattern such as ``"*USDT"`` or names, as
    ``screen`` takes them) the report also holds the screen of those symbols over the
    same window (``screen_section``: the market map coloured by ``screen_colour``, the
    ``screen_top`` symbols of the largest volume as a table); ``symbol`` None makes a
    report of the screen alone. The screen's profiles use ``bins`` (never ``tick_size``:
    one width does not fit every symbol's price), ``value_area``, ``threshold``,
    ``merge_bins`` and ``min_trades``.

    Raises the analytics' errors (InsufficientData below ``min_trades`` trades, ValueError
    for bad parameters) before anything is drawn. The candles are of ``interval_ms``
    (default: ``report_interval``, about 50 to 150 candles)."""
    began = time.perf_counter()
    if symbol is None and screen_symbols is None:
        raise ValueError("a report needs a symbol, a screen or both")
    if screen_symbols is not None:
        check_colour(screen_colour)
        _check_top(screen_top)
    sections: list[Section] = []
    data: dict = {}
    made: dict[str, str] = {
        "tradestore-trio": __version__,
        "command": command,
        "database": db,
    }
    cover: Coverage | None = None
    holes: list[RecordHole] = []
    trades = 0
    if symbol is not None:
        profile = volume_profile(
            store,
            symbol,
            start_ms,
            end_ms,
            tick_size=tick_size,
            bins=bins,
            value_area=value_area,
            min_trades=min_trades,
        )
        vacuums = find_vacuums(
            profile, threshold=threshold, merge_bins=merge_bins, merge_distance=merge_distance
        )
        cover = profile.coverage
        if cover is not None:
            holes = record_holes(store, profile.symbol, start_ms, end_ms, cover)
        interval = report_interval(start_ms, end_ms) if interval_ms is None else interval_ms
        series = candles(store, profile.symbol, start_ms, end_ms, interval)
        trades = profile.trade_count
        sections += [
            profile_section(profile, vacuums, holes),
            vacuums_section(vacuums, holes),
            candles_section(series, holes),
        ]
        made.update(
            {
                "symbol": profile.symbol,
                "window": _window_text(start_ms, end_ms),
                "bin size": decimal_str(profile.bin_size)
                + (
                    " (--tick-size)"
                    if tick_size is not None
                    else f" (a round width for about {bins} bins)"
                ),
                "value area": f"{value_area:.0%} of the volume",
                "candles": f"{interval_label(interval)} ({len(series.candles):,})",
                "vacuum rule": f"bins below {threshold:g} x the median bin volume, runs at most "
                f"{merge_bins} bins apart merged, never across a bin at or above the median"
                + (
                    ""
                    if merge_distance is None
                    else f", nor {merge_distance:g} x the mid price apart"
                ),
                "trades": f"{profile.trade_count:,}",
            }
        )
        data.update(
            {
                "profile": profile.to_json(),
                "vacuums": vacuums.to_json(),
                "candles": series.to_json(),
                "holes": [_hole_json(h) for h in holes],
            }
        )
    screened: ScreenResult | None = None
    if screen_symbols is not None:
        screened = screen(
            store,
            screen_symbols,
            start_ms,
            end_ms,
            bins=bins,
            value_area=value_area,
            threshold=threshold,
            merge_bins=merge_bins,
            min_trades=min_trades,
        )
        sections.append(screen_section(screened, colour=screen_colour, top=screen_top))
        shown = screened.select(sort="volume", top=screen_top)
        made.setdefault("window", _window_text(start_ms, end_ms))
        made["screen"] = (
            f"{len(screened.rows):,} symbols ({_symbols_text(screen_symbols)}), profiles of "
            f"about {bins} bins, value area {value_area:.0%}, vacuums below {threshold:g} x "
            f"the median bin volume; the map coloured by {screen_colour}, the table the "
            f"{len(shown.rows):,} of the largest volume"
        )
        data["screen"] = shown.to_json()
    if symbol is not None:
        sections.append(record_section(cover, holes))
    made.update(
        {
            "hot path": "compiled (Cython)" if EXTENSIONS_LOADED else "pure Python",
            "pictures": f"matplotlib {matplotlib.__version__}, Python {platform.python_version()}",
            "generated": format_time_ms(int(time.time() * 1000)),
            "took": f"{time.perf_counter() - began:.1f} s",
        }
    )
    sections.append(
        Section(
            "made",
            "How this report was made",
            tables=(Table([(k, v) for k, v in made.items() if v]),),
        )
    )
    data = {"made": made, **data}
    window = f"{format_time_ms(start_ms)} .. {format_time_ms(end_ms)} UTC"
    if symbol is not None:
        complete = cover is None or cover.complete
        return Report(
            title=f"{made['symbol']} market profile",
            subtitle=f"{window}, {trades:,} trades",
            complete=complete,
            status="record complete" if cover is None else cover.summary(),
            sections=sections,
            data=data,
        )
    assert screened is not None
    incomplete = sum(not row.data_complete for row in screened.rows)
    return Report(
        title="Market screen",
        subtitle=f"{window}, {len(screened.rows):,} symbols, "
        f"{sum(row.trade_count for row in screened.rows):,} trades",
        complete=not incomplete,
        status=f"record complete for all {len(screened.rows):,} symbols"
        if not incomplete
        else f"record INCOMPLETE for {incomplete:,} of {len(screened.rows):,} symbols",
        sections=sections,
        data=data,
    )


def _window_text(start_ms: int, end_ms: int) -> str:
    return (
        f"{format_time_ms(start_ms)} .. {format_time_ms(end_ms)} "
        f"({format_duration_ms(end_ms - start_ms + 1)})"
    )


def _symbols_text(symbols: str | Sequence[str]) -> str:
    return symbols if isinstance(symbols, str) else ",".join(symbols)


def _check_top(top: int) -> None:
    if not isinstance(top, int) or isinstance(top, bool) or top < 1:
        raise ValueError(f"the screen's table needs at least 1 row, not {top!r}")


def screen_section(
    result: ScreenResult, *, colour: str = DEFAULT_COLOUR, top: int = SCREEN_TOP
) -> Section:
    """The market map of every row of ``result`` (coloured by ``colour``) and a table of
    the ``top`` rows of the largest volume."""
    check_colour(colour)
    _check_top(top)
    fig = market_map_figure(result, colour=colour, size=REPORT_SIZE)
    shown = result.select(sort="volume", top=top).rows
    rows = [_screen_cells(row) for row in shown]
    incomplete = [row.symbol for row in result.rows if not row.data_complete]
    traded = sum(row.volume > 0 for row in result.rows)
    notes = [
        f"{len(result.rows):,} symbols screened, {traded:,} traded in the window. Each tile "
        "is a symbol, its area the quote volume (price x quantity); "
        + (
            "its colour the taker-buy share, red where takers sold more, green where they "
            "bought more. "
            if colour == "buy_share"
            else "its colour the distance from the last price to the "
            + ("window's point of control" if colour == "dist_poc" else "nearest naked POC")
            + ", bright near, dark far. "
        )
        + "Grey tiles have no value for the colour; hatched tiles miss trades in the record. "
        f"The table lists the {len(rows):,} symbols of the largest volume.",
    ]
    if incomplete:
        named = ", ".join(incomplete[:10]) + (" ..." if len(incomplete) > 10 else "")
        notes.append(
            f"The record is incomplete over the window for {len(incomplete):,} symbols "
            f"({named}): their figures may miss trades."
        )
    table = Table(
        rows,
        headings=(
            "symbol",
            "last price",
            "volume (quote)",
            "taker buy",
            "CVD",
            "POC",
            "VA low",
            "VA high",
            "in VA",
            "in vacuum",
            "to POC",
            "naked POC",
            "to naked POC",
            "record",
        ),
        caption=f"The {len(rows):,} symbols of the largest volume",
        numeric=frozenset({1, 2, 3, 4, 5, 6, 7, 10, 11, 12}),
    )
    alt = (
        f"Market map of {len(result.rows):,} symbols over "
        f"{format_time_ms(result.start_ms)} .. {format_time_ms(result.end_ms)}, sized by "
        f"quote volume, coloured by {colour.replace('_', ' ')}"
    )
    return Section(
        "screen",
        "Market screen",
        pictures=(Picture(s.figure_bytes(fig, "svg"), alt),),
        tables=(table,),
        notes=tuple(notes),
        warning=bool(incomplete),
    )


def _screen_cells(row) -> tuple[str, ...]:
    def dec(value: Decimal | None) -> str:
        return "-" if value is None else decimal_str(value)

    def flag(value: bool | None) -> str:
        return "-" if value is None else ("yes" if value else "no")

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}%"

    cover = row.coverage
    record = "complete" if cover.complete else f"INCOMPLETE ({cover.recorded})"
    return (
        row.symbol,
        dec(row.last_price),
        f"{row.volume:,.2f}",
        "-" if row.buy_share is None else f"{row.buy_share:.1%}",
        decimal_str(row.cvd),
        dec(row.poc),
        dec(row.value_area_low),
        dec(row.value_area_high),
        flag(row.in_value_area),
        flag(row.in_vacuum),
        pct(row.dist_poc_pct),
        dec(row.naked_poc),
        pct(row.dist_naked_poc_pct),
        record,
    )


def profile_section(
    profile: VolumeProfile, vacuums: VacuumReport, holes: Sequence[RecordHole]
) -> Section:
    """The profile picture (vacuums shaded, holes marked) and its summary table."""
    fig = profile_figure(profile, vacuums=vacuums, holes=holes, size=REPORT_SIZE)
    total = profile.total_volume
    va_pct = profile.value_area_volume / total * 100 if total else Decimal(100)

    def share(part: Decimal) -> str:
        pct = part / total * 100 if total else Decimal(0)
        return f"{decimal_str(part)} ({pct:.1f}%)"

    poc = profile.bins[profile.poc_index]
    summary = Table(
        [
            (
                "point of control",
                f"{decimal_str(profile.point_of_control)} (bin "
                f"{decimal_str(poc.price_low)} .. {decimal_str(poc.price_high)}, volume "
                f"{decimal_str(poc.volume)})",
            ),
            (
                "value area",
                f"{decimal_str(profile.value_area_low)} .. "
                f"{decimal_str(profile.value_area_high)} ({va_pct:.1f}% of the volume)",
            ),
            ("total volume", decimal_str(total)),
            ("taker buy volume", share(profile.buy_volume)),
            ("taker sell volume", share(profile.sell_volume)),
            ("trades", f"{profile.trade_count:,}"),
            ("first trade", format_time_ms(profile.first_trade_ms)),
            ("last trade", format_time_ms(profile.last_trade_ms)),
            (
                "price range",
                f"{decimal_str(profile.price_low)} .. {decimal_str(profile.price_high)}",
            ),
            ("bins", f"{len(profile.bins)}, each {decimal_str(profile.bin_size)} wide"),
        ],
        caption="Summary",
    )
    histogram = Table(
        [
            (
                f"{decimal_str(b.price_low)} .. {decimal_str(b.price_high)}",
                decimal_str(b.volume),
                decimal_str(b.buy_volume),
                decimal_str(b.sell_volume),
                f"{b.trade_count:,}",
                _mark(i, profile),
            )
            for i, b in reversed(list(enumerate(profile.bins)))
        ],
        headings=("price", "volume", "taker buy", "taker sell", "trades", ""),
        caption=f"All {len(profile.bins)} bins, highest price first",
        numeric=frozenset({1, 2, 3, 4}),
        collapsed=True,
    )
    alt = (
        f"{profile.symbol} volume profile: POC {decimal_str(profile.point_of_control)}, value "
        f"area {decimal_str(profile.value_area_low)} .. {decimal_str(profile.value_area_high)}"
    )
    return Section(
        "profile",
        "Volume profile",
        pictures=(Picture(s.figure_bytes(fig, "svg"), alt),),
        tables=(summary, histogram),
        notes=(
            "Volume by price: taker buys green, taker sells red. The framed bar is the point "
            "of control, the pale band the value area; violet bands are liquidity vacuums "
            "(their thin bins hatched), hatched red bands prices the market crossed while trades are missing "
            "from the record. The strip below is the window's time: green where recorded, "
            "grey where not recorded, red where trades are missing.",
        ),
    )


def candles_section(series: CandleSeries, holes: Sequence[RecordHole]) -> Section:
    """The candles picture (volume and cumulative volume delta below, the record's holes
    marked) and its summary table."""
    fig = candles_figure(series, holes=holes, size=REPORT_SIZE)
    label = interval_label(series.interval_ms)
    bars = series.candles
    notes = [
        f"{label} candles: green when a candle closed at or above its open, red below. "
        "Below them the volume of each candle (taker buys green, taker sells red) and the "
        "cumulative volume delta (taker buys minus taker sells from the window's start). "
        "Hatched red: time when trades are missing from the record; grey: not recorded."
    ]
    if not bars:
        notes.append("No trade in the window.")
        return Section("candles", "Candles", notes=tuple(notes))
    cvd = cumulative_delta(series)
    lowest, highest = (
        min(range(len(cvd)), key=cvd.__getitem__),
        max(range(len(cvd)), key=cvd.__getitem__),
    )
    top = max(bars, key=lambda c: c.high)
    bottom = min(bars, key=lambda c: c.low)
    summary = Table(
        [
            ("candles", f"{len(bars):,} of {label}"),
            ("open", f"{decimal_str(bars[0].open)} ({format_time_ms(bars[0].open_time_ms)})"),
            ("high", f"{decimal_str(top.high)} (candle of {format_time_ms(top.open_time_ms)})"),
            ("low", f"{decimal_str(bottom.low)} (candle of {format_time_ms(bottom.open_time_ms)})"),
            ("close", decimal_str(bars[-1].close)),
            ("volume delta", f"{decimal_str(cvd[-1])} (taker buys minus taker sells)"),
            (
                "cumulative delta range",
                f"{decimal_str(cvd[lowest])} (after {format_time_ms(bars[lowest].open_time_ms)}) "
                f".. {decimal_str(cvd[highest])} (after "
                f"{format_time_ms(bars[highest].open_time_ms)})",
            ),
        ],
        caption="Summary",
    )
    alt = (
        f"{series.symbol} {label} candles with volume and cumulative volume delta: high "
        f"{decimal_str(top.high)}, low {decimal_str(bottom.low)}, delta {decimal_str(cvd[-1])}"
    )
    return Section(
        "candles",
        "Candles and cumulative volume delta",
        pictures=(Picture(s.figure_bytes(fig, "svg"), alt),),
        tables=(summary,),
        notes=tuple(notes),
    )


def vacuums_section(vacuums: VacuumReport, holes: Sequence[RecordHole]) -> Section:
    """The vacuums as a table, each checked against the record's holes."""
    p = vacuums.profile
    rows = []
    doubtful = 0
    for v in vacuums.vacuums:
        doubt = vacuum_doubt(v.price_low, v.price_high, list(holes), p.coverage)
        doubtful += doubt is not None
        rows.append(
            (
                f"{decimal_str(v.price_low)} .. {decimal_str(v.price_high)}",
                str(v.bin_count),
                decimal_str(v.actual_volume),
                f"{v.volume_deficit_pct:.1f}%",
                v.expected_impact,
                doubt or "record whole",
            )
        )
    notes = [
        f"{len(rows)} price ranges whose bins traded less than "
        f"{decimal_str(vacuums.threshold_volume)} (the threshold times the median bin volume "
        f"{decimal_str(vacuums.median_volume)}); price tends to move fast through them."
    ]
    if doubtful:
        notes.append(
            f"{doubtful} of them may be missing data rather than thin trading: the record "
            "has holes there."
        )
    tables: tuple[Table, ...] = ()
    if rows:
        tables = (
            Table(
                rows,
                headings=("price range", "thin bins", "mean volume", "deficit", "impact", "data"),
                numeric=frozenset({1, 2, 3}),
            ),
        )
    return Section(
        "vacuums", "Liquidity vacuums", tables=tables, notes=notes, warning=bool(doubtful)
    )


def record_section(cover: Coverage | None, holes: Sequence[RecordHole]) -> Section:
    """Whether the window's record is complete, and where it is not."""
    if cover is None:
        return Section("record", "Record", notes=("coverage unknown",))
    runs = [
        "-" if ms is None else format_time_ms(ms)
        for ms in (cover.recorded_from_ms, cover.recorded_to_ms)
    ]
    outside = [f"{format_time_ms(lo)} .. {format_time_ms(hi)}" for lo, hi in cover.not_recorded]
    rows = [
        ("summary", cover.summary()),
        ("window recorded", cover.recorded),
        ("record runs", " .. ".join(runs)),
        ("not recorded", "; ".join(outside) or "-"),
        ("trades in the window", f"{cover.trades:,}"),
        ("agg ids", f"{cover.first_id} .. {cover.last_id}"),
        ("agg ids missing", f"{cover.missing_ids:,}"),
        ("unfilled gap records", str(len(cover.open_gaps))),
    ]
    tables = [Table(rows)]
    if holes:
        tables.append(
            Table(
                [
                    (
                        f"{h.first_id} .. {h.last_id}",
                        f"{h.size:,}",
                        f"{format_time_ms(h.after_ms)} .. {format_time_ms(h.before_ms)}",
                        "unknown"
                        if h.price_band is None
                        else f"{decimal_str(h.price_band[0])} .. {decimal_str(h.price_band[1])}",
                        h.gap or "not recorded as a gap",
                    )
                    for h in holes
                ],
                headings=("agg ids", "missing", "between", "prices crossed", "gap record"),
                caption="Holes",
                numeric=frozenset({1}),
            )
        )
    notes = (
        []
        if not cover.complete
        else [
            "Every agg id between the first and the last stored in the window is accounted "
            "for, and the whole window lies in the recorded span: no trade is missing."
        ]
    )
    unrecorded = sum(b - a + 1 for a, b in cover.not_recorded)
    if unrecorded:
        notes.append(
            f"{format_duration_ms(unrecorded)} of the window lie outside the record: nobody "
            "knows whether trades happened there."
        )
    if cover.missing_ids or cover.open_gaps:
        notes.append(
            f"{cover.missing_ids:,} agg ids are missing inside the record: thin areas of the "
            "profile at the prices of the holes may be missing data, not missing liquidity."
        )
    return Section("record", "Record", tables=tables, notes=notes, warning=not cover.complete)


def _hole_json(h: RecordHole) -> dict:
    band = h.price_band
    return {
        "first_id": h.first_id,
        "last_id": h.last_id,
        "missing": h.size,
        "after": format_time_ms(h.after_ms),
        "before": format_time_ms(h.before_ms),
        "price_low": None if band is None else decimal_str(band[0]),
        "price_high": None if band is None else decimal_str(band[1]),
        "gap": h.gap,
    }


def _mark(i: int, profile: VolumeProfile) -> str:
    if i == profile.poc_index:
        return "POC"
    if profile.value_area_low_index <= i <= profile.value_area_high_index:
        return "value area"
    return ""


def _align(i: int, numeric: frozenset[int]) -> str:
    return ' class="num"' if i in numeric else ""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)
