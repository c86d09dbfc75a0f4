"""Driving the command line in-process, as a user would type it."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

from tradestore.cli import main


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``tradestore-trio ARGV``."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def official_zip(
    csv_path: Path,
    folder: Path,
    symbol: str = "BTCUSDT",
    day: str = "2026-01-01",
    *,
    checksum: bool = False,
) -> Path:
    """``csv_path`` packed as data.binance.vision names it: SYMBOL-aggTrades-DAY.zip; with
    ``checksum`` also the FILE.zip.CHECKSUM it publishes beside it (which proves the file
    holds the whole day: the import then declares the day recorded)."""
    name = f"{symbol}-aggTrades-{day}"
    archive = folder / f"{name}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(csv_path, f"{name}.csv")
    if checksum:
        write_checksum(archive)
    return archive


def write_checksum(path: Path) -> Path:
    """The sidecar data.binance.vision publishes: PATH.CHECKSUM, ``sha256  name``."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    sidecar = path.with_name(path.name + ".CHECKSUM")
    sidecar.write_text(f"{digest}  {path.name}\n")
    return sidecar
