"""``export``: a symbol's trades to CSV, JSONL or Parquet, in a file or on standard output."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tradestore._errors import TradestoreError
from tradestore._model import decimal_text
from tradestore._timeparse import format_time_ms
from tradestore.binance import spot_csv_line
from tradestore.cli import _common as c
from tradestore.cli import _trades
from tradestore.cli._output import terminal_width, wrap
from tradestore.cli._trades import CHUNK_MS
from tradestore.store import coverage_in

if TYPE_CHECKING:
    from tradestore.store import TradeStore

FORMATS = ("csv", "jsonl", "parquet")
# How a file's name ends -> (format, zipped); the longest ending is looked up first.
SUFFIXES = {
    ".csv.zip": ("csv", True),
    ".csv": ("csv", False),
    ".jsonl": ("jsonl", False),
    ".parquet": ("parquet", False),
}
PARQUET_EXTRA = "pip install 'tradestore-trio[parquet]'"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export",
        help="write a symbol's trades to CSV, JSONL or Parquet",
        description="Export trades (all of them, or --start/--end or --hours) to a file, or "
        "to standard output with -o -. The file's name chooses the format: .csv, .csv.zip "
        "(the CSV in a zip), .jsonl or .parquet; --format, when given, must agree with it "
        "(and chooses for -o - or a name without one of these endings). CSV and JSONL "
        "records carry the same keys as every other command's (agg_id, price, qty, time_ms, "
        "is_buyer_maker; CSV with its header); --keys binance gives Binance's own: a/p/q/T/m "
        "in JSONL, and in CSV the data.binance.vision aggTrades layout (no header; aggId,"
        "price,qty,firstTradeId,lastTradeId,timestamp,isBuyerMaker,isBestMatch; timestamps "
        "in µs from 2025 as in the official files; first/last trade ids empty: every stream "
        "frame carries them, the stored record does not keep them) so it can be diffed "
        "against them. Both CSV layouts import back. Parquet is the archive's layout, "
        "written by the archive's writer (agg_id int64, price/qty decimal(18,8), time "
        "timestamp(ms, UTC), is_buyer_maker) and needs the 'parquet' extra (pip install "
        "'tradestore-trio[parquet]'). A file appears only when complete: it is written "
        "beside its final name and renamed at the end, and nothing is left when writing "
        "fails.",
    )
    c.add_db(p)
    c.add_archive(p)
    c.add_symbol(p)
    c.add_window(p, default_hours=None)
    p.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="csv, jsonl or parquet (default: from the file's name; csv for -o -)",
    )
    _trades.add_keys(p)
    p.add_argument(
        "--output", "-o", required=True, metavar="FILE", help="the file to write, - for stdout"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    symbol = c.symbol_arg(args)
    to_stdout = args.output == "-"
    fmt, zipped = output_format(args.output, args.format)
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise c.UsageError(f"Parquet export needs pyarrow: {PARQUET_EXTRA}") from None
    output = Path(args.output)
    if not to_stdout:
        if not output.name or output.is_dir():
            raise c.UsageError(f"--output {args.output!r} is a directory; name a file")
        parent = output.parent
        if parent.exists() and not parent.is_dir():
            raise c.UsageError(f"cannot write {output}: {parent} is not a directory")
        if not parent.is_dir():
            raise c.UsageError(f"cannot write {output}: {parent}: no such directory")
    with c.open_reader(args, symbol=symbol) as store:
        span = store.trade_time_span(symbol)
        if span is None:  # stored once, every trade pruned since
            raise c.UsageError(
                f"no trades of {symbol} are stored now in {args.db}"
                + ("" if args.archive else " (give --archive DEST to read the archive's)")
            )
        start, end = c.window_args(args, stored=span)
        # Trades of the window that neither the store nor the archive holds any more are
        # said, with where they are (their rollups stay; the archive has the trades).
        pruned = coverage_in(store, symbol, None, None, 0, start, end, raw=True).pruned_note()
        # The progress bar and the summary go to stderr when the trades go to stdout.
        progress = not args.no_progress and not to_stdout
        job = _Job(store, symbol, start, end, fmt, args.keys, progress)
        if to_stdout:
            count = _write(job, sys.stdout)
        else:
            count = _write_file(job, output, zipped)
        status = c.report_corrupt(store)
    summary = sys.stderr if to_stdout else sys.stdout
    line = (
        f"{count} {symbol} trades {format_time_ms(start)} .. {format_time_ms(end)} -> "
        f"{'standard output' if to_stdout else output}"
    )
    print("\n".join(wrap(line, terminal_width(summary))), file=summary)
    if pruned is not None:
        print(f"warning: {pruned}", file=sys.stderr)
    return status


def output_format(output: str, given: str | None) -> tuple[str, bool]:
    """(format, zipped) of ``-o OUTPUT`` with ``--format GIVEN`` (None: not given): the
    name's ending decides, and a --format that says otherwise is refused."""
    if output == "-":
        fmt = given or "csv"
        if fmt == "parquet":
            raise c.UsageError("Parquet is written to a file: give -o FILE.parquet")
        return fmt, False
    name = Path(output).name.lower()
    ending = next((e for e in SUFFIXES if name.endswith(e) and len(name) > len(e)), None)
    endings = ", ".join(sorted(SUFFIXES))
    if ending is None:
        if name.endswith(".zip"):
            raise c.UsageError(f"-o {output}: a zip export holds CSV: name it FILE.csv.zip")
        if given is None:
            raise c.UsageError(
                f"-o {output}: cannot tell the format from the name; end it in one of "
                f"{endings}, or give --format"
            )
        return given, False
    fmt, zipped = SUFFIXES[ending]
    if given is not None and given != fmt:
        raise c.UsageError(
            f"--format {given} contradicts -o {output} (a {ending} file is {fmt}); drop "
            "--format or rename the file"
        )
    return fmt, zipped


@dataclass(frozen=True)
class _Job:
    """What to export and how."""

    store: TradeStore
    symbol: str
    start: int
    end: int
    fmt: str
    keys: str
    progress: bool


def _write_file(job: _Job, output: Path, zipped: bool) -> int:
    """Write the export beside ``output`` and rename it there once complete: a reader never
    sees half a file, and a write that fails (no room, no permission, a read-only mount)
    leaves nothing behind and is one line, exit 2."""
    tmp = output.with_name(f".{output.name}.partial")
    try:
        if job.fmt == "parquet":
            count = _write(job, tmp)
        elif zipped:
            with (
                zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf,
                zf.open(output.name[: -len(".zip")], "w", force_zip64=True) as member,
                io.TextIOWrapper(member, encoding="ascii", newline="") as fh,
            ):
                count = _write(job, fh)
        else:
            with open(tmp, "w", encoding="ascii", newline="") as fh:
                count = _write(job, fh)
        os.replace(tmp, output)
    except OSError as exc:
        raise c.UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):  # a read-only mount refuses even this
            tmp.unlink(missing_ok=True)
    return count


def _write(job: _Job, target) -> int:
    """Write the window's trades to ``target`` (a text stream, or a path for Parquet)."""
    from rich.progress import BarColumn, Progress, TimeRemainingColumn

    store, symbol, start, end = job.store, job.symbol, job.start, job.end
    fmt, keys = job.fmt, job.keys
    bar = Progress(
        f"[bold]export[/] {symbol}",
        BarColumn(),
        "{task.percentage:>3.0f}%",
        TimeRemainingColumn(),
        disable=not job.progress or end - start < 6 * CHUNK_MS,
        transient=True,
    )
    if fmt == "parquet":
        return _write_parquet(store, symbol, start, end, target, bar)
    count = 0
    if fmt == "csv" and keys != "binance":
        target.write(",".join(_trades.FIELDS) + "\n")
    with bar:
        task = bar.add_task("export", total=end - start + 1)
        for hi, trades in _chunks(store, symbol, start, end):
            if fmt == "csv":
                line = spot_csv_line if keys == "binance" else _csv_line
                target.writelines(line(t) for t in trades)
            else:
                target.writelines(json.dumps(r) + "\n" for r in _trades.records(trades, keys))
            count += len(trades)
            bar.update(task, completed=hi - start + 1)
    return count


def _write_parquet(store, symbol: str, start: int, end: int, path: Path, bar) -> int:
    """The archive's writer and layout, fed with columns (no Python object per trade);
    ids ascending across chunks, else the whole window is read at once, which sorts and
    de-duplicates."""
    from tradestore.archive import ArchiveValueError, TradeWriter, check_fits

    try:
        with bar, open(path, "wb") as fh:
            writer = TradeWriter(fh)
            try:
                task = bar.add_task("export", total=end - start + 1)
                for hi, cols in _column_chunks(store, symbol, start, end):
                    check_fits(cols, symbol)
                    if (
                        len(cols)
                        and writer.last_id is not None
                        and cols.agg_id[0] <= writer.last_id
                    ):
                        raise _ExportOutOfOrder
                    writer.write(cols)
                    bar.update(task, completed=hi - start + 1)
            finally:
                writer.close()
        return writer.rows
    except _ExportOutOfOrder:
        cols = store.query_columns(symbol, start, end)
        with open(path, "wb") as fh:
            writer = TradeWriter(fh)
            try:
                writer.write(cols)
            finally:
                writer.close()
        return writer.rows
    except ArchiveValueError as exc:
        raise c.UsageError(str(exc)) from None


class _ExportOutOfOrder(TradestoreError):
    """Agg ids not ascending across the export's hour windows."""


def _chunks(store, symbol: str, start: int, end: int):
    """Trades in hour-long windows: bounded memory however long the export; stretches
    with nothing stored are skipped with one seek instead of walked hour by hour."""
    lo = start
    while lo <= end:
        hi = min(lo + CHUNK_MS - 1, end)
        trades = store.query_trades(symbol, lo, hi)
        yield hi, trades
        lo = hi + 1
        if not trades and lo <= end:
            lo = store.next_trade_bound(symbol, lo)
            if lo is None:
                return


def _column_chunks(store, symbol: str, start: int, end: int):
    """Like _chunks, as numpy columns."""
    lo = start
    while lo <= end:
        hi = min(lo + CHUNK_MS - 1, end)
        cols = store.query_columns(symbol, lo, hi)
        yield hi, cols
        lo = hi + 1
        if not len(cols) and lo <= end:
            lo = store.next_trade_bound(symbol, lo)
            if lo is None:
                return


def _csv_line(t) -> str:
    """Our CSV record: agg_id,price,qty,time_ms,is_buyer_maker (as query --format csv)."""
    return (
        f"{t.agg_id},{decimal_text(t.price)},{decimal_text(t.qty)},{t.time_ms},"
        f"{'true' if t.is_buyer_maker else 'false'}\n"
    )
