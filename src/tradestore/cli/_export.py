"""``export``: a symbol's trades to CSV (data.binance.vision layout), JSONL or Parquet."""

from __future__ import annotations

import argparse
import json
import os
from contextlib import nullcontext
from pathlib import Path

from tradestore._model import decimal_text
from tradestore._timeparse import format_time_ms
from tradestore.cli import _common as c

CHUNK_MS = 3_600_000
# data.binance.vision spot files switched from ms to µs timestamps on 2025-01-01.
MICROS_FROM_MS = 1_735_689_600_000


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export",
        help="write a symbol's trades to CSV, JSONL or Parquet",
        description="Export trades (all of them, or --start/--end or --hours). CSV uses the "
        "data.binance.vision aggTrades layout (no header; aggId,price,qty,firstTradeId,"
        "lastTradeId,timestamp,isBuyerMaker,isBestMatch; timestamps in µs from 2025 as in the "
        "official files) so it can be diffed against them; firstTradeId/lastTradeId are not "
        "recorded by the stream format and are left empty. Parquet needs the 'parquet' extra "
        "(pip install 'tradestore-trio[parquet]'). The output appears only when complete.",
    )
    c.add_db(p)
    c.add_symbol(p)
    c.add_window(p, default_hours=None)
    p.add_argument("--format", choices=("csv", "jsonl", "parquet"), default="csv")
    p.add_argument("--output", "-o", type=Path, required=True, metavar="FILE")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    symbol = c.symbol_arg(args)
    if args.format == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise c.UsageError(
                "Parquet export needs pyarrow: pip install 'tradestore-trio[parquet]'"
            ) from None
    if not args.output.name or args.output.is_dir():
        raise c.UsageError(f"--output {str(args.output)!r} is a directory; name a file")
    if args.output.parent and not args.output.parent.is_dir():
        raise c.UsageError(f"{args.output.parent}: no such directory")
    with c.open_reader(args) as store:
        info = store.stats()["symbols"].get(symbol)
        if info is None:
            raise c.UsageError(f"no trades stored for {symbol} in {args.db}")
        start, end = c.window_args(args, stored=(info["first_time_ms"], info["last_time_ms"]))
        tmp = args.output.with_name(f".{args.output.name}.partial")
        try:
            count = _write(store, symbol, start, end, args.format, tmp, not args.no_progress)
            os.replace(tmp, args.output)
        finally:
            tmp.unlink(missing_ok=True)
        status = c.report_corrupt(store)
    print(
        f"{count} {symbol} trades {format_time_ms(start)} .. {format_time_ms(end)} -> {args.output}"
    )
    return status


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


def _write(store, symbol: str, start: int, end: int, fmt: str, path: Path, progress: bool) -> int:
    from rich.progress import BarColumn, Progress, TimeRemainingColumn

    count = 0
    bar = Progress(
        f"[bold]export[/] {symbol}",
        BarColumn(),
        "{task.percentage:>3.0f}%",
        TimeRemainingColumn(),
        disable=not progress or end - start < 6 * CHUNK_MS,
        transient=True,
    )
    writer = _ParquetWriter(path) if fmt == "parquet" else None
    with (
        bar,
        open(path, "w", encoding="ascii", newline="") if writer is None else nullcontext() as fh,
    ):
        task = bar.add_task("export", total=end - start + 1)
        for hi, trades in _chunks(store, symbol, start, end):
            if fmt == "csv":
                fh.writelines(_csv_line(t) for t in trades)
            elif fmt == "jsonl":
                fh.writelines(_json_line(t) for t in trades)
            else:
                writer.write(trades)
            count += len(trades)
            bar.update(task, completed=hi - start + 1)
    if writer is not None:
        writer.close()
    return count


def _csv_line(t) -> str:
    stamp = t.time_ms * 1000 if t.time_ms >= MICROS_FROM_MS else t.time_ms
    return f"{t.agg_id},{decimal_text(t.price)},{decimal_text(t.qty)},,,{stamp},{t.is_buyer_maker},True\n"


def _json_line(t) -> str:
    return (
        json.dumps(
            {
                "a": t.agg_id,
                "p": decimal_text(t.price),
                "q": decimal_text(t.qty),
                "T": t.time_ms,
                "m": t.is_buyer_maker,
            }
        )
        + "\n"
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
