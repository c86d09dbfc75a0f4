"""``import``: load a data.binance.vision spot aggTrades file into the store."""

from __future__ import annotations

import argparse
from itertools import groupby
from pathlib import Path

from tradestore.binance import CsvFormatError, open_text, read_trades, verify_checksum
from tradestore.cli import _common as c


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "import",
        help="import a data.binance.vision aggTrades .csv or .zip",
        description="Import a spot aggTrades file from data.binance.vision (.csv, or the .zip "
        "as downloaded). A sibling FILE.CHECKSUM is verified when present. The whole file is "
        "validated before anything is written; trades are stored one batch per second of trade "
        "time. An agg id already in the store is never stored again, whatever wrote it (importing "
        "the same file twice stores nothing the second time); the report says how many "
        "trades were new and how many were already stored.",
    )
    c.add_db(p)
    c.add_symbol(p)
    p.add_argument("file", type=Path, help="the .csv or .zip file")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    symbol = c.symbol_arg(args)
    path: Path = args.file
    if not path.is_file():
        raise c.UsageError(f"{path}: no such file")
    try:
        verify_checksum(path)
        # Pass 1 validates every row, so a bad file writes nothing at all.
        n_rows = _scan(path, store=None, progress=not args.no_progress, label="checking")
        if n_rows == 0:
            raise c.UsageError(f"{path}: no trades in file")
        counts = [0, 0]  # new, already stored
        with c.open_writer(args) as store:
            _scan(
                path,
                store=(store, symbol, counts),
                progress=not args.no_progress,
                label="importing",
            )
    except CsvFormatError as exc:
        raise c.UsageError(str(exc)) from None
    new, already = counts
    print(
        f"{path.name}: {n_rows} trades read: {new} new trades stored for {symbol}, "
        f"{already} already stored"
    )
    return 0


def _scan(path: Path, store, progress: bool, label: str) -> int:
    """Read every row; with store=(TradeStore, symbol, [new, already stored]) also write
    one batch per second, counting the trades that were new and those already stored."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    n = 0
    with open_text(path) as (text, size):
        bar = Progress(
            f"[bold]{label}[/] {path.name}",
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            disable=not progress or size < 8 << 20,
            transient=True,
        )
        with bar:
            task = bar.add_task(label, total=size)
            trades = (t for _lineno, t in read_trades(text, path.name))
            for _second, group in groupby(trades, key=lambda t: t.time_ms // 1000):
                batch = list(group)
                n += len(batch)
                if store is not None:
                    db, symbol, counts = store
                    report = db.write_batches({symbol: batch})
                    counts[0] += report.total_new
                    counts[1] += report.total_already_stored
                if n % 50_000 < len(batch):
                    bar.update(task, completed=_position(text, size))
    return n


def _position(text, size: int) -> int:
    try:
        return min(text.buffer.tell(), size)
    except (AttributeError, OSError, ValueError):
        return 0
