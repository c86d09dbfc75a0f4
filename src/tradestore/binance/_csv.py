"""Read data.binance.vision aggTrades files (.csv or .zip, optional .CHECKSUM), and write
their spot rows.

Spot files have no header; their columns are aggId, price, qty, firstTradeId, lastTradeId,
timestamp, isBuyerMaker, isBestMatch, with timestamps in milliseconds before 2025 and
microseconds from 2025 on (the digit count tells which). USD-M and COIN-M futures files
start with a header row (``agg_trade_id,price,quantity,first_trade_id,last_trade_id,
transact_time,is_buyer_maker``) and carry milliseconds. A header is read by column name
(Binance's spellings and ours, ``agg_id,price,qty,time_ms,is_buyer_maker``): a column it
does not know, or one it needs and does not find, refuses the file.

Every value is checked as it is read: price and quantity above zero, agg ids strictly
increasing. A zip member whose CRC fails is named as a corrupt archive even when a damaged
byte first shows up as a bad row (the CRC is only checked at the member's end).
"""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from tradestore._errors import BadInput
from tradestore._model import AggTrade, decimal_text
from tradestore.codec._decimal import is_plain_decimal

# What a file's first line says it is (Layout.kind).
SPOT_FILE, FUTURES_FILE, OUR_FILE = "spot", "futures", "ours"

# Header names (compared in lower case) -> the field they hold; None: read and ignored.
# Binance's futures spelling, its spot documentation's camelCase, and our own exports.
HEADER_NAMES: dict[str, str | None] = {
    "agg_trade_id": "agg_id",
    "aggid": "agg_id",
    "agg_id": "agg_id",
    "price": "price",
    "quantity": "qty",
    "qty": "qty",
    "first_trade_id": None,
    "firsttradeid": None,
    "last_trade_id": None,
    "lasttradeid": None,
    "transact_time": "time",
    "timestamp": "time",
    "time_ms": "time",
    "is_buyer_maker": "maker",
    "isbuyermaker": "maker",
    "is_best_match": None,
    "isbestmatch": None,
}
NEEDED = ("agg_id", "price", "qty", "time", "maker")
# Which layout a header's name for the time column stands for.
TIME_KIND = {"transact_time": FUTURES_FILE, "timestamp": SPOT_FILE, "time_ms": OUR_FILE}
# Spot files stamp trades in microseconds from 2025-01-01 00:00 UTC on (ms before).
MICROS_FROM_MS = 1_735_689_600_000


class CsvFormatError(BadInput, ValueError):
    """A row or file that is not a Binance aggTrades CSV; the message names the line."""


@dataclass(frozen=True)
class Layout:
    """Where a file keeps each field: ``kind`` is spot (no header, or Binance's spot
    names), futures (Binance's futures header) or ours (a CSV written by export)."""

    kind: str
    agg_id: int = 0
    price: int = 1
    qty: int = 2
    time: int = 5
    maker: int = 6
    width: int | None = None  # a header's column count; None: at least 7 columns

    @property
    def header(self) -> bool:
        return self.width is not None


SPOT_LAYOUT = Layout(SPOT_FILE)


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
    """The CSV text of ``path`` (a .csv, or a .zip holding one .csv) and its byte size.
    Reading a zip member to its end checks its CRC: a failure, or a ValueError raised
    while reading a member whose CRC fails, becomes CsvFormatError("corrupt archive ...")."""
    if path.suffix.lower() != ".zip":
        with path.open("r", encoding="ascii", newline="") as fh:
            yield fh, path.stat().st_size
        return
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise CsvFormatError(f"{path}: not a zip file ({exc})") from None
    with archive:
        names = [n for n in archive.namelist() if n.lower().endswith(".csv")]
        if len(names) != 1:
            raise CsvFormatError(f"{path}: expected one .csv inside, found {len(names)}")
        member = names[0]
        size = archive.getinfo(member).file_size
        try:
            raw = archive.open(member)
        except (zipfile.BadZipFile, zlib.error) as exc:
            raise _corrupt(path, member, exc) from None
        with raw:
            try:
                yield io.TextIOWrapper(raw, encoding="ascii", newline=""), size
            except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                raise _corrupt(path, member, exc) from None
            except ValueError:
                # A damaged byte reads as a bad row long before the member's end, where
                # its CRC is checked: read on, and blame the archive if the check fails.
                _check_rest(raw, path, member)
                raise


def _check_rest(raw, path: Path, member: str) -> None:
    try:
        while raw.read(1 << 20):
            pass
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise _corrupt(path, member, exc) from None
    except ValueError:
        return  # closed: nothing more to learn


def _corrupt(path: Path, member: str, exc: Exception) -> CsvFormatError:
    where = f"corrupt archive: {member} in {path.name}"
    if isinstance(exc, zipfile.BadZipFile) and "CRC" in str(exc):
        return CsvFormatError(f"{where} fails its CRC check")
    if isinstance(exc, zlib.error):
        return CsvFormatError(f"{where}: its compressed data cannot be read ({exc})")
    if isinstance(exc, EOFError):
        return CsvFormatError(f"{where}: it ends before its compressed data does")
    return CsvFormatError(f"{where}: {exc}")


def read_layout(first_line: str, name: str = "<csv>") -> Layout:
    """The layout a file's first line announces: a trade row (all digits before the first
    comma) means a spot file without header; anything else must be a header whose every
    column is known and which names every column a trade needs."""
    try:
        row = next(csv.reader([first_line]), [])
    except csv.Error as exc:
        raise CsvFormatError(f"{name}:1: {exc}") from None
    if not row or row[0].strip().isdigit():
        return SPOT_LAYOUT
    names = [c.strip().lstrip("\ufeff").lower() for c in row]
    unknown = [row[i].strip() for i, n in enumerate(names) if n not in HEADER_NAMES]
    if len(unknown) == len(names):
        raise CsvFormatError(
            f"{name}:1: neither a trade row nor a header: {first_line.strip()[:80]!r}"
        )
    if unknown:
        raise CsvFormatError(
            f"{name}:1: unknown column{'s' if len(unknown) > 1 else ''} in the header: "
            f"{', '.join(unknown)} (known: {', '.join(HEADER_NAMES)})"
        )
    where: dict[str, int] = {}
    for i, n in enumerate(names):
        field = HEADER_NAMES[n]
        if field is None:
            continue
        if field in where:
            raise CsvFormatError(f"{name}:1: two columns in the header hold the {field}")
        where[field] = i
    missing = [f for f in NEEDED if f not in where]
    if missing:
        raise CsvFormatError(
            f"{name}:1: the header has no column for {', '.join(missing)} "
            "(e.g. agg_trade_id, price, quantity, transact_time, is_buyer_maker)"
        )
    return Layout(
        TIME_KIND[names[where["time"]]],
        where["agg_id"],
        where["price"],
        where["qty"],
        where["time"],
        where["maker"],
        len(row),
    )


def read_trades(text: io.TextIOBase, name: str = "<csv>") -> Iterator[tuple[int, AggTrade]]:
    """(line number, trade) for every row; CsvFormatError names the first bad line."""
    return open_trades(text, name)[1]


def open_trades(
    text: io.TextIOBase, name: str = "<csv>"
) -> tuple[Layout, Iterator[tuple[int, AggTrade]]]:
    """The file's layout (read from its first line now) and its (line number, trade)s."""
    try:
        first = text.readline()
    except UnicodeDecodeError as exc:
        raise CsvFormatError(f"{name}: not ASCII text ({exc.reason})") from None
    layout = read_layout(first, name)
    return layout, _rows(first, text, layout, name)


def _rows(
    first: str, text: io.TextIOBase, layout: Layout, name: str
) -> Iterator[tuple[int, AggTrade]]:
    prev = -1
    lines = text if layout.header else _chain(first, text)
    start = 2 if layout.header else 1
    try:
        for lineno, row in enumerate(csv.reader(lines), start=start):
            if not row:
                continue
            where = f"{name}:{lineno}"
            trade = _row_trade(row, layout, where)
            if trade.agg_id <= prev:
                raise CsvFormatError(
                    f"{where}: agg id {trade.agg_id} does not follow {prev} (agg ids must increase)"
                )
            prev = trade.agg_id
            yield lineno, trade
    except UnicodeDecodeError as exc:
        raise CsvFormatError(f"{name}: not ASCII text ({exc.reason})") from None
    except csv.Error as exc:
        raise CsvFormatError(f"{name}: {exc}") from None


def _chain(first: str, text: io.TextIOBase) -> Iterator[str]:
    yield first
    yield from text


def _row_trade(row: list[str], layout: Layout, where: str) -> AggTrade:
    if layout.width is None:
        if len(row) < 7:
            raise CsvFormatError(f"{where}: expected at least 7 columns, found {len(row)}")
    elif len(row) != layout.width:
        raise CsvFormatError(f"{where}: expected {layout.width} columns, found {len(row)}")
    agg, price, qty, stamp, maker = (
        row[i].strip() for i in (layout.agg_id, layout.price, layout.qty, layout.time, layout.maker)
    )
    if not agg.isascii() or not agg.isdigit():
        raise CsvFormatError(f"{where}: aggId {agg!r} is not a non-negative integer")
    values = []
    for label, value in (("price", price), ("qty", qty)):
        if not is_plain_decimal(value):
            raise CsvFormatError(f"{where}: {label} {value!r} is not a plain decimal")
        number = Decimal(value)
        if number <= 0:
            raise CsvFormatError(f"{where}: {label} {value!r} is not above zero")
        values.append(number)
    if not stamp.isascii() or not stamp.isdigit():
        raise CsvFormatError(f"{where}: timestamp {stamp!r} is not an integer")
    time_ms = timestamp_ms(stamp, where)
    flag = maker.lower()
    if flag not in ("true", "false"):
        raise CsvFormatError(f"{where}: isBuyerMaker {maker!r} is not True/False")
    return AggTrade(int(agg), values[0], values[1], time_ms, flag == "true")


def timestamp_ms(stamp: str, where: str = "") -> int:
    """Milliseconds from a 13-digit (ms) or 16-digit (µs, spot files from 2025) stamp."""
    if len(stamp) <= 13:
        return int(stamp)
    if len(stamp) <= 16:
        return int(stamp) // 1000
    raise CsvFormatError(f"{where}: timestamp {stamp!r} has {len(stamp)} digits (want 13 or 16)")


def spot_csv_line(trade: AggTrade) -> str:
    """``trade`` as a row of a data.binance.vision spot file (no header; µs from 2025).
    The first and last trade ids are not recorded: those two columns are empty."""
    stamp = trade.time_ms * 1000 if trade.time_ms >= MICROS_FROM_MS else trade.time_ms
    return (
        f"{trade.agg_id},{decimal_text(trade.price)},{decimal_text(trade.qty)},,,{stamp},"
        f"{trade.is_buyer_maker},True\n"
    )
