"""One look for every picture, and the one way pictures are written.

Figures are built with ``matplotlib.figure.Figure`` directly, never through pyplot: no
global figure registry, no interactive backend, nothing to close. Saving picks the
non-interactive canvas from the format (Agg for PNG, the SVG backend for SVG). Fonts are
fixed to DejaVu Sans, which matplotlib ships, so a picture looks the same on every
machine, and SVG text is drawn as paths, so an SVG needs no font to display.
"""

from __future__ import annotations

import io
import os
import tempfile
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import matplotlib
from matplotlib.figure import Figure

DPI = 100
FORMATS = ("png", "svg")
DEFAULT_SIZE = (1200, 800)  # pixels of a PNG; an SVG has the same size in points * 4/3
MIN_SIDE, MAX_SIDE = 300, 10_000

# Taker buys green and taker sells red, as on every exchange's tape.
BUY = "#26a69a"
SELL = "#ef5350"
POC = "#ff6f00"
VALUE_AREA = "#e3f2fd"
VACUUM = "#8e24aa"
HOLE = "#d50000"
NOT_RECORDED = "#9e9e9e"
RECORDED = "#c8e6c9"
TEXT = "#212121"
MUTED = "#616161"

RC: dict[str, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 10,
    "svg.fonttype": "path",
    # Element ids derived from a fixed salt: the same data draws the same SVG bytes.
    "svg.hashsalt": "tradestore",
    "axes.edgecolor": "#9e9e9e",
    "axes.labelcolor": TEXT,
    "xtick.color": MUTED,
    "ytick.color": MUTED,
}


@dataclass(frozen=True, slots=True)
class PictureSize:
    """A picture's size in pixels (PNG at 100 dpi; SVG in points at the same aspect)."""

    width: int
    height: int

    @classmethod
    def parse(cls, text: str) -> PictureSize:
        """``1200x800`` -> PictureSize(1200, 800); a clear ValueError otherwise."""
        parts = text.lower().replace("×", "x").split("x")
        try:
            width, height = (int(p) for p in parts)
        except ValueError:
            raise ValueError(f"{text!r} is not WIDTHxHEIGHT in pixels, e.g. 1200x800") from None
        for side in (width, height):
            if not MIN_SIDE <= side <= MAX_SIDE:
                raise ValueError(f"each side must be {MIN_SIDE} to {MAX_SIDE} pixels, not {side}")
        return cls(width, height)

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"


DEFAULT = PictureSize(*DEFAULT_SIZE)


@contextmanager
def style() -> Iterator[None]:
    """The project's matplotlib settings, for building and for saving a figure."""
    with matplotlib.rc_context(cast(Any, RC)):  # stubs type the keys as literals
        yield


def new_figure(size: PictureSize = DEFAULT) -> Figure:
    """An empty figure of ``size`` pixels (call inside ``style()``)."""
    return Figure(figsize=(size.width / DPI, size.height / DPI), dpi=DPI, layout="constrained")


def picture_format(path: str | os.PathLike[str]) -> str:
    """``png`` or ``svg`` from the file name; ValueError for anything else."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise ValueError(f"{os.fspath(path)}: a picture must end in .png or .svg")
    return suffix


def figure_bytes(fig: Figure, fmt: str) -> bytes:
    """The figure encoded as PNG or SVG, reproducibly (no creation date in the file)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown picture format {fmt!r}: png or svg")
    metadata = {"Date": None} if fmt == "svg" else {"Software": None}
    buf = io.BytesIO()
    with style():
        fig.savefig(buf, format=fmt, dpi=DPI, metadata=metadata)
    return buf.getvalue()


def save_figure(fig: Figure, path: str | os.PathLike[str]) -> int:
    """Write the figure to path (PNG or SVG by its suffix) atomically; the bytes written.

    The picture goes to a temporary file beside the target first, so a failure never
    leaves half a picture under the name the user asked for."""
    data = figure_bytes(fig, picture_format(path))
    write_atomic(Path(path), data)
    return len(data)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace path with data in one rename (the folder must exist)."""
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # what open() would have made, not mkstemp's 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def titles(fig: Figure, ax: Any, heading: str, line: str, coverage: Any) -> None:
    """The picture's ``heading`` and, above the axes, its summary ``line`` followed by the
    record's coverage (in the hole colour when the record is incomplete)."""
    fig.suptitle(heading, fontsize=13, fontweight="bold", color=TEXT)
    complete = coverage is None or coverage.complete
    if coverage is not None:
        # About 7 px per character of 9 pt DejaVu Sans at 100 dpi, from the axes' left edge.
        chars = max(40, int((fig.get_figwidth() * fig.dpi - 120) / 7.2))
        line += "\n" + "\n".join(textwrap.wrap(coverage.summary(), chars))
    ax.set_title(line, fontsize=9, color=MUTED if complete else HOLE, loc="left")


def record_handles(coverage: Any, holes: Sequence[Any]) -> list:
    """Legend entries for the time outside the record (``coverage``: None leaves it out)
    and for the holes in it."""
    from matplotlib.patches import Patch

    handles: list = []
    if coverage is not None and coverage.not_recorded:
        handles.append(
            Patch(facecolor="#eeeeee", edgecolor=NOT_RECORDED, hatch="xx", label="not recorded")
        )
    if holes:
        handles.append(Patch(facecolor="none", edgecolor=HOLE, hatch="\\\\", label="record hole"))
    return handles
