"""Read data.binance.vision spot aggTrades files (.csv or .zip, optional .CHECKSUM).

Columns (no header in spot files): aggId, price, qty, firstTradeId, lastTradeId,
timestamp, isBuyerMaker, isBestMatch. Timestamps are milliseconds before 2025 and
microseconds from 2025 on; the digit count tells which.
"""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

from tradestore._decimal import is_plain_decimal
from tradestore._model import AggTrade


class CsvFormatError(ValueError):
    """A row or file that is not a Binance aggTrades CSV; the message names the line."""


def verify_checksum(path: Path) -> bool | None:
    """Check ``path`` against a sibling ``<name>.CHECKSUM``: True ok, None when absent."""
    sidecar = path.with_name(path.name + ".CHECKSUM")
    if not sidecar.is_file():
        return None
    fields = sidecar.read_text(encoding="ascii", errors="replace").split()
    if not fields or len(fields[0]) != 64:
        raise CsvFormatError(f"{sidecar}: not a sha256 checksum file")
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != fields[0].lower():
        raise CsvFormatError(f"{path}: sha256 does not match {sidecar.name} (corrupt download?)")
    return True


@contextmanager
def open_text(path: Path) -> Iterator[tuple[io.TextIOBase, int]]:
    """The CSV text of ``path`` (a .csv, or a .zip holding one .csv) and its byte size."""
    if path.suffix.lower() == ".zip":
        try:
            archive = zipfile.ZipFile(path)
        except zipfile.BadZipFile as exc:
            raise CsvFormatError(f"{path}: not a zip file ({exc})") from None
        with archive:
            names = [n for n in archive.namelist() if n.lower().endswith(".csv")]
            if len(names) != 1:
                raise CsvFormatError(f"{path}: expected one .csv inside, found {len(names)}")
            size = archive.getinfo(names[0]).file_size
            with archive.open(names[0]) as raw:
                yield io.TextIOWrapper(raw, encoding="ascii", newline=""), size
    else:
        with path.open("r", encoding="ascii", newline="") as fh:
            yield fh, path.stat().st_size


def read_trades(text: io.TextIOBase, name: str = "<csv>") -> Iterator[tuple[int, AggTrade]]:
    """(line number, trade) for every row; CsvFormatError names the first bad line."""
    try:
        for lineno, row in enumerate(csv.reader(text), start=1):
            if not row:
                continue
            if lineno == 1 and not row[0].strip().isdigit():
                continue  # a header line (futures files have one): skip it
            yield lineno, _row_trade(row, f"{name}:{lineno}")
    except UnicodeDecodeError as exc:
        raise CsvFormatError(f"{name}: not ASCII text ({exc.reason})") from None
    except csv.Error as exc:
        raise CsvFormatError(f"{name}: {exc}") from None


def _row_trade(row: list[str], where: str) -> AggTrade:
    if len(row) < 7:
        raise CsvFormatError(f"{where}: expected at least 7 columns, found {len(row)}")
    agg, price, qty, _first, _last, stamp, maker = (c.strip() for c in row[:7])
    if not agg.isdigit():
        raise CsvFormatError(f"{where}: aggId {agg!r} is not a non-negative integer")
    for label, value in (("price", price), ("qty", qty)):
        if not is_plain_decimal(value):
            raise CsvFormatError(f"{where}: {label} {value!r} is not a plain decimal")
    if not stamp.isdigit():
        raise CsvFormatError(f"{where}: timestamp {stamp!r} is not an integer")
    time_ms = timestamp_ms(stamp, where)
    flag = maker.lower()
    if flag not in ("true", "false"):
        raise CsvFormatError(f"{where}: isBuyerMaker {maker!r} is not True/False")
    return AggTrade(int(agg), Decimal(price), Decimal(qty), time_ms, flag == "true")


def timestamp_ms(stamp: str, where: str = "") -> int:
    """Milliseconds from a 13-digit (ms) or 16-digit (µs, spot files from 2025) stamp."""
    if len(stamp) <= 13:
        return int(stamp)
    if len(stamp) <= 16:
        return int(stamp) // 1000
    raise CsvFormatError(f"{where}: timestamp {stamp!r} has {len(stamp)} digits (want 13 or 16)")
