"""Arguments and output shared by the commands."""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tradestore._timeparse import parse_time_ms
from tradestore.store import DEFAULT_PATH as DEFAULT_DB
from tradestore.store import check_symbol

# Windows longer than a century are typos (or inf/nan), not requests: refuse them early.
MAX_HOURS = 100 * 366 * 24
FORMATS = ("table", "json", "jsonl", "csv")


class UsageError(Exception):
    """Bad arguments or input: printed as one line, exit status 2."""


def add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        default=DEFAULT_DB,
        metavar="PATH",
        help=f"the trade store directory (default: ./{DEFAULT_DB})",
    )


def add_symbol(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument("--symbol", required=required, metavar="S", help="e.g. BTCUSDT")


def add_format(parser: argparse.ArgumentParser, choices: Sequence[str] = FORMATS) -> None:
    parser.add_argument(
        "--format", choices=choices, default="table", help="output format (default: table)"
    )


def add_window(parser: argparse.ArgumentParser, default_hours: float | None = 1.0) -> None:
    """--start/--end/--hours. ``default_hours=None``: without flags the window is everything
    stored (the command passes the stored span to ``window_args``)."""
    everything = default_hours is None
    parser.add_argument(
        "--start",
        metavar="TIME",
        help="window start: epoch ms or ISO-8601"
        + (" (default: the first stored trade)" if everything else ""),
    )
    parser.add_argument(
        "--end",
        metavar="TIME",
        help="window end, inclusive (default: "
        + ("the last stored trade)" if everything else "now)"),
    )
    parser.add_argument(
        "--hours",
        type=float,
        metavar="N",
        help="window of the last N hours ending at --end"
        + ("" if everything else f" (default: {default_hours:g})"),
    )
    parser.set_defaults(default_hours=default_hours)


def symbol_arg(args: argparse.Namespace) -> str:
    try:
        return check_symbol(args.symbol)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def time_arg(text: str, flag: str) -> int:
    try:
        return parse_time_ms(text)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None


def window_args(args: argparse.Namespace, stored: tuple[int, int] | None = None) -> tuple[int, int]:
    """(start_ms, end_ms) from --start/--end/--hours; both inclusive.

    A missing end is now, or the last stored trade for a command whose window defaults to
    everything stored (``stored`` = (first, last) trade time); a missing start is
    ``--hours`` (or the command's default hours) before the end, or the first stored trade.
    """
    if args.start and args.hours is not None:
        raise UsageError("give --start or --hours, not both")
    if args.end:
        end = time_arg(args.end, "--end")
    elif stored is not None:
        end = stored[1]
    else:
        end = int(time.time() * 1000)
    if args.start:
        start = time_arg(args.start, "--start")
    else:
        hours = args.hours if args.hours is not None else args.default_hours
        if hours is not None:
            start = end - hours_ms(hours)
        elif stored is not None:
            start = stored[0]
        else:
            raise UsageError("give --start or --hours")
    if end < start:
        raise UsageError("--end is before --start")
    return start, end


def hours_ms(hours: float) -> int:
    """--hours as milliseconds, refusing nan, inf, zero, negatives and absurd spans."""
    if not 0 < hours <= MAX_HOURS:
        raise UsageError(f"--hours must be a positive number of hours up to {MAX_HOURS}")
    return int(hours * 3_600_000)


def open_reader(args: argparse.Namespace):
    """Open the store read-only (a RocksDB secondary), so a running daemon is no obstacle."""
    from tradestore.store import StoreError, TradeStore

    path = Path(args.db)
    try:
        # One undecodable value must not hide the rest: commands report skipped keys.
        return TradeStore(path, read_only=True, skip_corrupt=True)
    except FileNotFoundError:
        raise UsageError(f"no trade store at {path} (use --db PATH)") from None
    except StoreError as exc:
        raise UsageError(str(exc)) from None


def open_writer(args: argparse.Namespace, *, progress: bool = True):
    """Open the store for writing. A database written by another program (or by 0.1) is
    adopted on this first writable open: one pass, with a progress bar on a terminal."""
    from tradestore.store import StoreError, TradeStore

    try:
        with adoption_progress(enabled=progress) as on_adopt:
            store = TradeStore(Path(args.db), on_adopt=on_adopt)
    except OSError as exc:  # --db names a file, or a path below one
        raise UsageError(f"cannot use --db {args.db}: {exc.strerror or exc}") from None
    except StoreError as exc:
        if "lock" in str(exc).lower():
            raise UsageError(
                f"{args.db} is in use by another process (a running daemon?)"
            ) from None
        raise UsageError(str(exc)) from None
    report = store.adoption
    if report is not None and report.symbols and getattr(args, "command", None) != "adopt":
        print(
            f"adopted {args.db}: {len(report.symbols)} symbols written without bookkeeping, "
            f"{report.trades} trades measured in {report.seconds:.1f} s "
            "(see `tradestore-trio adopt --help`)",
            file=sys.stderr,
        )
    return store


@contextmanager
def adoption_progress(enabled: bool = True) -> Iterator[Callable[[Any], None]]:
    """A callback for TradeStore's adoption pass drawing a progress bar on stderr (only
    once the pass has run a moment, and only on a terminal)."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn("[bold]adopting[/] {task.description}"),
        BarColumn(),
        TextColumn("{task.fields[trades]:,} trades"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not enabled or not sys.stderr.isatty(),
    )
    task = None

    def on_adopt(p) -> None:
        nonlocal task
        if task is None:
            bar.start()
            task = bar.add_task(p.symbol, total=1.0, trades=0)
        bar.update(task, completed=p.fraction, description=p.symbol, trades=p.trades)

    try:
        yield on_adopt
    finally:
        bar.stop()


def report_corrupt(store) -> int:
    """Name every value a read had to skip on stderr; the exit status (1 if any)."""
    for key in sorted(store.corrupt_keys):
        print(
            f"warning: undecodable value skipped at {key.decode('ascii', 'replace')}",
            file=sys.stderr,
        )
    return 1 if store.corrupt_keys else 0


def emit(rows: Sequence[dict], fmt: str, *, title: str | None = None, out=None) -> None:
    """Print rows (dicts with the same keys) as a table, JSON array, JSON lines or CSV."""
    out = out or sys.stdout
    if fmt == "json":
        json.dump(list(rows), out, indent=2, default=str)
        out.write("\n")
    elif fmt == "jsonl":
        for row in rows:
            out.write(json.dumps(row, default=str) + "\n")
    elif fmt == "csv":
        if rows:
            writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
    else:
        print_table(rows, title=title, out=out)


def print_table(rows: Sequence[dict], *, title: str | None = None, out=None) -> None:
    from rich.console import Console
    from rich.table import Table

    out = out or sys.stdout
    # Piped output is not cut to 80 columns: people grep and diff it.
    width = None if out.isatty() else 1000
    console = Console(file=out, highlight=False, width=width)
    table = Table(title=title, show_lines=False)
    if not rows:
        console.print(f"{title + ': ' if title else ''}no rows")
        return
    for name in rows[0]:
        table.add_column(name, justify="right" if _numeric(rows[0][name]) else "left")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row.values()))
    console.print(table)


def _numeric(value) -> bool:
    from decimal import Decimal

    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)
