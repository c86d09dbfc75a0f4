"""Pictures of the analytics and the self-contained HTML report.

Needs matplotlib (``pip install 'tradestore-trio[plot]'``): importing this package
without it raises ImportError, so the recorder and the other commands, which never
import it, stay light. One function per picture, each returning a matplotlib ``Figure``
that ``save_figure`` writes as PNG or SVG; the report (``build_report``) is a list of
sections, one builder per picture with its tables. ``candles_figure`` draws candles with
volume and cumulative volume delta, ``footprint_figure`` a footprint grid,
``market_map_figure`` (``draw_market_map`` into a file) a screen's symbols as tiles::

    from tradestore.plot import profile_figure, record_holes, save_figure
    report = liquidity_vacuums(store, "BTCUSDT", start_ms, end_ms)
    holes = record_holes(store, "BTCUSDT", start_ms, end_ms, report.profile.coverage)
    save_figure(profile_figure(report.profile, vacuums=report, holes=holes), "day.png")
"""

from tradestore.plot._candles import candles_figure, draw_candles, draw_cvd, draw_volume
from tradestore.plot._footprint import (
    MAX_COLUMNS,
    MAX_ROWS,
    check_grid,
    draw_footprint,
    footprint_figure,
    intervals,
    price_rows,
)
from tradestore.plot._holes import RecordHole, record_holes, vacuum_doubt
from tradestore.plot._market import MAP_COLOURS, draw_market_map, market_map_figure
from tradestore.plot._profile import draw_profile, draw_record_strip, profile_figure
from tradestore.plot._report import (
    Picture,
    Report,
    Section,
    Table,
    build_report,
    candles_section,
    profile_section,
    record_section,
    screen_section,
    vacuums_section,
)
from tradestore.plot._style import (
    DEFAULT,
    FORMATS,
    PictureSize,
    figure_bytes,
    picture_format,
    save_figure,
)

__all__ = [
    "MAP_COLOURS",
    "DEFAULT",
    "FORMATS",
    "MAX_COLUMNS",
    "MAX_ROWS",
    "Picture",
    "PictureSize",
    "RecordHole",
    "Report",
    "Section",
    "Table",
    "build_report",
    "candles_figure",
    "candles_section",
    "check_grid",
    "draw_candles",
    "draw_cvd",
    "draw_footprint",
    "draw_market_map",
    "draw_profile",
    "draw_volume",
    "footprint_figure",
    "draw_record_strip",
    "figure_bytes",
    "intervals",
    "market_map_figure",
    "picture_format",
    "price_rows",
    "profile_figure",
    "profile_section",
    "record_holes",
    "record_section",
    "save_figure",
    "screen_section",
    "vacuum_doubt",
    "vacuums_section",
]
