"""``--plot FILE.png|FILE.svg`` on the analytics commands, and loading the plot extra.

Nothing here imports matplotlib until a picture is asked for: ``run`` and every other
command stay as light as the recorder's install."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tradestore.cli import _common as c

EXTRA = "pip install 'tradestore-trio[plot]'"
DEFAULT_SIZE = "1200x800"


PROFILE_PICTURE = "the profile (POC, value area, vacuums, holes in the record)"


def add_plot(p: argparse.ArgumentParser, what: str = PROFILE_PICTURE) -> None:
    p.add_argument(
        "--plot",
        metavar="FILE",
        help=f"also draw {what} into FILE.png or FILE.svg; needs matplotlib ({EXTRA})",
    )
    p.add_argument(
        "--plot-size",
        default=DEFAULT_SIZE,
        metavar="WxH",
        help=f"the picture's size in pixels (default: {DEFAULT_SIZE})",
    )


def load_plot(what: str = "--plot"):
    """The ``tradestore.plot`` package, or a usage error naming the missing extra."""
    try:
        import tradestore.plot as plot
    except ImportError as exc:
        missing = getattr(exc, "name", None) or "matplotlib"
        raise c.UsageError(
            f"{what} needs {missing.split('.')[0]}, which is not installed: {EXTRA}"
        ) from None
    return plot


def writable_target(path_text: str, flag: str) -> Path:
    """path_text as a file the command can create: its folder exists and is writable."""
    path = Path(path_text)
    folder = path.parent
    if path.is_dir():
        raise c.UsageError(f"{flag} {path_text}: is a folder, give a file name")
    if not folder.is_dir():
        raise c.UsageError(f"{flag} {path_text}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise c.UsageError(f"{flag} {path_text}: cannot write into {folder}")
    return path


class PlotRequest:
    """A validated --plot: where, how large, and the plot package (matplotlib loaded)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.plot = load_plot()
        try:
            self.format = self.plot.picture_format(args.plot)
            self.size = self.plot.PictureSize.parse(args.plot_size)
        except ValueError as exc:
            raise c.UsageError(f"--plot: {exc}") from None
        self.path = writable_target(args.plot, "--plot")

    def holes(self, store, profile) -> list:
        """The record's holes in a result's window (a profile, candles, a footprint;
        none read when it is complete)."""
        if profile.coverage is None:
            return []
        return self.plot.record_holes(
            store, profile.symbol, profile.start_ms, profile.end_ms, profile.coverage
        )

    def draw(self, vacuums, holes) -> int:
        """Draw the profile of ``vacuums`` (a VacuumReport) with its holes; exit status."""
        return self.save(
            self.plot.profile_figure(vacuums.profile, vacuums=vacuums, holes=holes, size=self.size)
        )

    def save(self, fig) -> int:
        """Write a figure to the --plot file and say so on stderr; the exit status."""
        try:
            written = self.plot.save_figure(fig, self.path)
        except OSError as exc:
            print(
                f"tradestore-trio: cannot write {self.path}: {exc.strerror or exc}", file=sys.stderr
            )
            return 1
        print(
            f"wrote {self.path} ({self.size} {self.format.upper()}, {written:,} bytes)",
            file=sys.stderr,
        )
        return 0


def plot_request(args: argparse.Namespace) -> PlotRequest | None:
    """The validated --plot of args, or None without one (checked before any work)."""
    return None if args.plot is None else PlotRequest(args)
