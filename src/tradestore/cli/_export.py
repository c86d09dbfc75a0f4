"""``export``: a symbol's trades to CSV, JSONL or Parquet, in a file or on standard output."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from tradestore._model import decimal_text
from tradestore._timeparse import format_time_ms
from tradestore.cli import _common as c
from tradestore.cli import _trades
from tradestore.cli._output import terminal_width, wrap
from tradestore.cli._trades import CHUNK_MS


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export",
        help="write a symbol's trades to CSV, JSONL or Parquet",
        description="Export trades (all of them, or --start/--end or --hours) to a file, or "
        "to standard output with -o -. CSV and JSONL records carry the same keys as every "
        "other command's (agg_id, price, qty, time_ms, is_buyer_maker; CSV with its header); "
        "--keys binance gives Binance's own: a/p/q/T/m in JSONL, and in CSV the "
        "data.binance.vision aggTrades layout (no header; aggId,price,qty,firstTradeId,"
        "lastTradeId,timestamp,isBuyerMaker,isBestMatch; timestamps in µs from 2025 as in "
        "the official files, first/last trade ids empty: the stream does not carry them) so "
        "it can be diffed against them. Both CSV layouts import back. Parquet needs the "
        "'parquet' extra (pip install 'tradestore-trio[parquet]'). A file appears only "
        "when complete.",
    )
    c.add_db(p)
    c.add_symbol(p)
    c.add_window(p, default_hours=None)
    p.add_argument("--format", choices=("csv", "jsonl", "parquet"), default="csv")
    _trades.add_keys(p)
    p.add_argument(
        "--output", "-o", required=True, metavar="FILE", help="the file to write, - for stdout"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    symbol = c.symbol_arg(args)
    to_stdout = args.output == "-"
    if args.format == "parquet":
        if to_stdout:
            raise c.UsageError("Parquet is written to a file: give -o FILE.parquet")
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise c.UsageError(
                "Parquet export needs pyarrow: pip install 'tradestore-trio[parquet]'"
            ) from None
    output = Path(args.output)
    if not to_stdout:
        if not output.name or output.is_dir():
            raise c.UsageError(f"--output {args.output!r} is a directory; name a file")
        if output.parent and not output.parent.is_dir():
            raise c.UsageError(f"{output.parent}: no such directory")
    with c.open_reader(args) as store:
        info = store.stats()["symbols"].get(symbol)
        if info is None:
            raise c.UsageError(f"no trades stored for {symbol} in {args.db}")
        start, end = c.window_args(args, stored=(info["first_time_ms"], info["last_time_ms"]))
        # The progress bar and the summary go to stderr when the trades go to stdout.
        progress = not args.no_progress and not to_stdout
        if to_stdout:
            count = _write(store, symbol, start, end, args, sys.stdout, progress)
        else:
            tmp = output.with_name(f".{output.name}.partial")
            try:
                if args.format == "parquet":
                    count = _write(store, symbol, start, end, args, tmp, progress)
                else:
                    with open(tmp, "w", encoding="ascii", newline="") as fh:
                        count = _write(store, symbol, start, end, args, fh, progress)
                os.replace(tmp, output)
            finally:
                tmp.unlink(missing_ok=True)
        status = c.report_corrupt(store)
    summary = sys.stderr if to_stdout else sys.stdout
    line = (
        f"{count} {symbol} trades {format_time_ms(start)} .. {format_time_ms(end)} -> "
        f"{'standard output' if to_stdout else output}"
    )
    print("\n".join(wrap(line, terminal_width(summary))), file=summary)
    return status


def _write(store, symbol: str, start: int, end: int, args, target, progress: bool) -> int:
    """Write the window's trades to ``target`` (a text stream, or a path for Parquet)."""
    from rich.progress import BarColumn, Progress, TimeRemainingColumn

    fmt, keys = args.format, args.keys
    bar = Progress(
        f"[bold]export[/] {symbol}",
        BarColumn(),
        "{task.percentage:>3.0f}%",
        TimeRemainingColumn(),
        disable=not progress or end - start < 6 * CHUNK_MS,
        transient=True,
    )
    count = 0
    writer = _ParquetWriter(target) if fmt == "parquet" else None
    if fmt == "csv" and keys != "binance":
        target.write(",".join(_trades.FIELDS) + "\n")
    with bar:
        task = bar.add_task("export", total=end - start + 1)
        for hi, trades in _chunks(store, symbol, start, end):
            if writer is not None:
                writer.write(trades)
            elif fmt == "csv":
                line = _trades.binance_csv_line if keys == "binance" else _csv_line
                target.writelines(line(t) for t in trades)
            else:
                target.writelines(json.dumps(r) + "\n" for r in _trades.records(trades, keys))
            count += len(trades)
            bar.update(task, completed=hi - start + 1)
    if writer is not None:
        writer.close()
    return count


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


def _csv_line(t) -> str:
    """Our CSV record: agg_id,price,qty,time_ms,is_buyer_maker (as query --format csv)."""
    return (
        f"{t.agg_id},{decimal_text(t.price)},{decimal_text(t.qty)},{t.time_ms},"
        f"{'true' if t.is_buyer_maker else 'false'}\n"
    )


class _ParquetWriter:
    """Exact decimals as decimal128(38, 8) columns, so no float rounding creeps in."""

    def __init__(self, path: Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._pa = pa
        self._schema = pa.schema(
            [
                ("agg_id", pa.int64()),
                ("price", pa.decimal128(38, 8)),
                ("qty", pa.decimal128(38, 8)),
                ("time_ms", pa.int64()),
                ("is_buyer_maker", pa.bool_()),
            ]
        )
        self._writer = pq.ParquetWriter(str(path), self._schema, compression="zstd")

    def write(self, trades) -> None:
        if not trades:
            return
        pa = self._pa
        table = pa.table(
            [
                pa.array([t.agg_id for t in trades], pa.int64()),
                pa.array([t.price for t in trades], pa.decimal128(38, 8)),
                pa.array([t.qty for t in trades], pa.decimal128(38, 8)),
                pa.array([t.time_ms for t in trades], pa.int64()),
                pa.array([t.is_buyer_maker for t in trades], pa.bool_()),
            ],
            schema=self._schema,
        )
        self._writer.write_table(table)

    def close(self) -> None:
        self._writer.close()
