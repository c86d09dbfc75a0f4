"""Pictures of the analytics and the self-contained HTML report.

Needs matplotlib (``pip install 'tradestore-trio[plot]'``): importing this package
without it raises ImportError, so the recorder and the other commands, which never
import it, stay light. One function per picture, each returning a matplotlib ``Figure``
that ``save_figure`` writes as PNG or SVG; the report (``build_report``) is a list of
sections, one builder per picture with its tables::

    from tradestore.plot import profile_figure, record_holes, save_figure
    report = liquidity_vacuums(store, "BTCUSDT", start_ms, end_ms)
    holes = record_holes(store, "BTCUSDT", start_ms, end_ms, report.profile.coverage)
    save_figure(profile_figure(report.profile, vacuums=report, holes=holes), "day.png")
"""

from tradestore.plot._holes import RecordHole, record_holes, vacuum_doubt
from tradestore.plot._profile import draw_profile, draw_record_strip, profile_figure
from tradestore.plot._report import (
    Picture,
    Report,
    Section,
    Table,
    build_report,
    profile_section,
    record_section,
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
    "DEFAULT",
    "FORMATS",
    "Picture",
    "PictureSize",
    "RecordHole",
    "Report",
    "Section",
    "Table",
    "build_report",
    "draw_profile",
    "draw_record_strip",
    "figure_bytes",
    "picture_format",
    "profile_figure",
    "profile_section",
    "record_holes",
    "record_section",
    "save_figure",
    "vacuum_doubt",
    "vacuums_section",
]
