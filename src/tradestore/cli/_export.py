"""``export``: a symbol's trades to CSV (data.binance.vision layout), JSONL or Parquet."""

from __future__ import annotations

import argparse
import json
import os
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
        "recorded by the stream format and are left empty. Parquet is the archive's layout "
        "(agg_id int64, price/qty decimal(18,8), time timestamp(ms, UTC), is_buyer_maker; "
        "the same writer as `archive`) and needs the 'parquet' extra (pip install "
        "'tradestore-trio[parquet]'). The output appears only when complete.",
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


def _column_chunks(store, symbol: str, start: int, end: int):
    """Like _chunks, as numpy columns (no Python object per trade)."""
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
    if fmt == "parquet":
        return _write_parquet(store, symbol, start, end, path, bar)
    with bar, open(path, "w", encoding="ascii", newline="") as fh:
        task = bar.add_task("export", total=end - start + 1)
        for hi, trades in _chunks(store, symbol, start, end):
            if fmt == "csv":
                fh.writelines(_csv_line(t) for t in trades)
            else:
                fh.writelines(_json_line(t) for t in trades)
            count += len(trades)
            bar.update(task, completed=hi - start + 1)
    return count


def _write_parquet(store, symbol: str, start: int, end: int, path: Path, bar) -> int:
    """The archive's writer and layout, fed with columns; ids ascending across chunks
    (else the whole window is read at once, which sorts and de-duplicates)."""
    from tradestore.archive import ArchiveValueError, TradeWriter

    try:
        with bar, open(path, "wb") as fh:
            writer = TradeWriter(fh)
            try:
                task = bar.add_task("export", total=end - start + 1)
                for hi, cols in _column_chunks(store, symbol, start, end):
                    _check_fits(cols, symbol)
                    if (
                        len(cols)
                        and writer.last_id is not None
                        and cols.agg_id[0] <= writer.last_id
                    ):
                        raise _OutOfOrder
                    writer.write(cols)
                    bar.update(task, completed=hi - start + 1)
            finally:
                writer.close()
        return writer.rows
    except _OutOfOrder:
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


def _check_fits(cols, symbol: str) -> None:
    from tradestore.archive._parquet import check_fits

    check_fits(cols, symbol)


class _OutOfOrder(Exception):
    pass


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
