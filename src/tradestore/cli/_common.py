"""Arguments and output shared by the commands."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tradestore._errors import BadInput
from tradestore._window import (
    FLAG_NAMES,
    WindowLimit,
    duration_ms,
    resolve_window,
    time_ms,
)
from tradestore.cli._output import DEFAULT_TABLE_ROWS, FORMATS
from tradestore.store import DEFAULT_PATH as DEFAULT_DB
from tradestore.store import check_symbol


class UsageError(BadInput):
    """Bad arguments or input: printed as one line, exit status 2 (``cli._errors``)."""


def add_db(parser: argparse.ArgumentParser, *, create: bool = False) -> None:
    """--db; with ``create``, also --create (a one-shot writer that may start a new store)."""
    parser.add_argument(
        "--db",
        default=DEFAULT_DB,
        metavar="PATH",
        help=f"the trade store directory (default: ./{DEFAULT_DB})",
    )
    if create:
        parser.add_argument(
            "--create",
            action="store_true",
            help="make a new trade store at --db when there is none (a missing path or an "
            "empty folder); without it, a missing store is an error",
        )


def add_symbol(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument("--symbol", required=required, metavar="S", help="e.g. BTCUSDT")


def add_format(parser: argparse.ArgumentParser, choices: Sequence[str] = FORMATS) -> None:
    parser.add_argument(
        "--format",
        choices=choices,
        default="table",
        help="output format (default: table; docs/OUTPUT.md has the shapes)",
    )


def add_limit(parser: argparse.ArgumentParser, what: str = "rows") -> None:
    parser.add_argument(
        "--limit",
        type=_limit,
        default=None,
        metavar="N|all",
        help=f"print at most N {what} (default: {DEFAULT_TABLE_ROWS} in a table, all in "
        "json, jsonl and csv)",
    )


_ALL = -1  # --limit all (None: --limit not given)


def _limit(text: str) -> int:
    if text.strip().lower() == "all":
        return _ALL
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of rows or 'all'") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0 (or 'all')")
    return value


def row_limit(args: argparse.Namespace) -> int | None:
    """The --limit in force: as given, else a screenful for a table and no limit otherwise."""
    if args.limit is not None:
        return None if args.limit == _ALL else args.limit
    return DEFAULT_TABLE_ROWS if args.format == "table" else None


def add_window(
    parser: argparse.ArgumentParser,
    default_hours: float | None = 1.0,
    limit: WindowLimit | None = None,
) -> None:
    """--start (alias --since)/--end/--hours. ``default_hours=None``: without flags the
    window is everything stored (the command passes the stored span to ``window_args``).
    ``limit``: the longest window the command takes (for the help; ``window_args`` checks)."""
    everything = default_hours is None
    parser.add_argument(
        "--start",
        "--since",
        metavar="TIME",
        help="window start, inclusive: epoch s or ms, ISO-8601, now-1d, or a duration such "
        "as 2h (exactly that long, up to the end)"
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
        help="window length, any positive number of hours: the N hours from --start (the "
        "last millisecond is 1 ms before --start + N h), or up to --end"
        + ("" if everything else f" (default: {default_hours:g})")
        + ("" if limit is None else f"; at most {limit.max_hours:g}: {limit.reason}"),
    )
    parser.add_argument(
        "--days",
        type=float,
        metavar="N",
        help="window length in days (N x 24 hours), like --hours",
    )
    parser.set_defaults(default_hours=default_hours)


def symbol_arg(args: argparse.Namespace) -> str:
    try:
        return check_symbol(args.symbol)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def time_arg(text: str, flag: str, *, now: int | None = None) -> int:
    """``flag``'s time in epoch ms; a WindowError (exit 2, ``cli._errors``) names it."""
    return time_ms(text, flag, now=now)


def window_args(
    args: argparse.Namespace,
    stored: tuple[int, int] | None = None,
    limit: WindowLimit | None = None,
) -> tuple[int, int]:
    """(start_ms, end_ms) from --start/--end/--hours; both inclusive, and N hours end
    1 ms before start + N h. The rule (any two of the three fix the window; ``--start 2h``
    is a length) and the ``limit`` are ``tradestore._window``'s; ``stored`` = (first, last)
    trade time for a command whose window defaults to everything stored. A window that
    cannot be read or is not allowed is a WindowError (exit 2)."""
    hours = args.hours
    days = getattr(args, "days", None)
    if days is not None:
        if hours is not None:
            raise UsageError("give --hours or --days, not both")
        hours = days * 24
    return resolve_window(
        args.start,
        args.end,
        hours,
        default_hours=args.default_hours,
        stored=stored,
        names=FLAG_NAMES,
        limit=limit,
    )


def add_archive(parser: argparse.ArgumentParser) -> None:
    """--archive DEST (or --config's archive_to) and its cache: reads go to the store and
    the archive as one record."""
    group = parser.add_argument_group(
        "history in the archive",
        "answer from the store and the Parquet archive together (tradestore.archive.History): "
        "days whose trades or rollups the store no longer holds, or symbols another shard "
        "recorded, are read from the archive, exactly as if they were hot",
    )
    group.add_argument(
        "--archive",
        metavar="DEST",
        help="the archive to read too: a path or s3://bucket/prefix",
    )
    group.add_argument(
        "--config",
        metavar="FILE",
        help="a recorder config (TOML) whose archive_to is the archive (--archive wins)",
    )
    group.add_argument(
        "--archive-cache",
        metavar="DIR",
        help="where files fetched from a remote archive are kept (default: the user's cache "
        "folder, tradestore-archive)",
    )
    group.add_argument(
        "--archive-cache-mb",
        type=float,
        default=2048.0,
        metavar="MB",
        help="the most the archive cache keeps, least recently used dropped first (default 2048)",
    )


def archive_reader(args: argparse.Namespace, market: str):
    """The ArchiveReader named by --archive (or --config's archive_to); None: none given."""
    url = getattr(args, "archive", None)
    config = getattr(args, "config", None)
    if url is None and config is not None:
        from tradestore.recorder import ConfigError, RecorderConfig

        try:
            url = RecorderConfig.load(config_file=config).archive_to
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
        if url is None:
            raise UsageError(f"{config} sets no archive_to: give --archive DEST")
    if url is None:
        return None
    try:
        from tradestore.archive import ArchiveReader, DestinationError
    except ImportError as exc:  # pragma: no cover - the extra is missing
        raise UsageError(f"reading the archive needs pyarrow: {exc}") from None
    if not (math.isfinite(args.archive_cache_mb) and 0 < args.archive_cache_mb <= 2**40):
        raise UsageError("--archive-cache-mb must be a positive number of megabytes")
    cache = getattr(args, "archive_cache", None)
    try:
        return ArchiveReader(
            str(url),
            market,
            cache_dir=Path(cache) if cache else None,
            cache_bytes=int(args.archive_cache_mb * 1024 * 1024),
        )
    except DestinationError as exc:
        raise UsageError(str(exc)) from None


def archive_for_server(args: argparse.Namespace):
    """The ArchiveReader of --archive/--config for a server over --db (None: none): the
    market is the store's when it exists yet, else spot."""
    if getattr(args, "archive", None) is None and getattr(args, "config", None) is None:
        return None
    market = "spot"  # until the store exists
    if (Path(args.db) / "CURRENT").is_file():
        from tradestore.store import StoreError, TradeStore

        try:
            with TradeStore(Path(args.db), read_only=True) as store:
                market = store.market() or "spot"
        except StoreError as exc:
            raise UsageError(str(exc)) from None
    return archive_reader(args, market)


def open_reader(args: argparse.Namespace, *, symbol: str | None = None):
    """Open the store read-only (a RocksDB secondary), so a running daemon is no obstacle,
    and with --archive the store and the archive as one record (``History``). With
    ``symbol``, a symbol never stored is a usage error (``require_symbol``)."""
    from tradestore.store import NoStore, StoreError, TradeStore, check_store_path

    path = Path(args.db)
    try:
        check_store_path(path, write=False)
        # One undecodable value must not hide the rest: commands report skipped keys.
        store = TradeStore(path, read_only=True, skip_corrupt=True)
    except (NoStore, FileNotFoundError):
        raise UsageError(f"no trade store at {path} (use --db PATH)") from None
    except StoreError as exc:  # UnusablePath among them
        raise UsageError(str(exc)) from None
    wants = getattr(args, "archive", None) is not None or getattr(args, "config", None) is not None
    if wants and hasattr(args, "archive_cache_mb"):  # a command taking add_archive's flags
        try:
            from tradestore.archive import History, store_market

            archive = archive_reader(args, store_market(store))
        except BaseException:
            store.close()
            raise
        if archive is not None:
            return _known(History(store, archive, owns_store=True), symbol)
    return _known(store, symbol)


def open_writer(args: argparse.Namespace, *, progress: bool = True):
    """Open the store for writing. Only an existing store is opened, unless the command
    has --create and it was given (a missing path or an empty folder then becomes a new
    store); a path that is a file or a folder holding other things is refused before
    anything is written. A database written by another program (or by 0.1) is adopted
    on this first writable open, and a symbol without price-level rollups gets them: one
    pass each, with a progress bar on a terminal."""
    from tradestore.store import NoStore, StoreError, TradeStore, UnusablePath, check_store_path

    create = getattr(args, "create", None)
    try:
        check_store_path(args.db, create=bool(create))
        with (
            adoption_progress(enabled=progress) as on_adopt,
            progress_bar("rollups", enabled=progress) as on_rollups,
        ):
            store = TradeStore(Path(args.db), on_adopt=on_adopt, on_rollups=on_rollups)
    except NoStore as exc:
        # create is None: the command never makes a store (prune, adopt, rollups).
        hint = "--create makes a new one" if create is False else "use --db PATH"
        raise UsageError(f"{exc}; {hint}") from None
    except UnusablePath as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:  # a race with whoever changed the path since the check
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
    built = store.rollup_build
    if built is not None and built.symbols and getattr(args, "command", None) != "rollups":
        print(
            f"built the price-level rollups of {len(built.symbols)} symbols of {args.db} from "
            f"{built.trades} trades in {built.seconds:.1f} s (see `tradestore-trio rollups "
            "--help`)",
            file=sys.stderr,
        )
    return store


def check_db(path: str | Path, *, create: bool) -> None:
    """A usage error, before anything is written, when ``path`` cannot hold the store (a
    daemon's --db: a missing path or an empty folder becomes a new store with ``create``)."""
    from tradestore.store import UnusablePath, check_store_path

    try:
        check_store_path(path, create=create)
    except UnusablePath as exc:
        raise UsageError(str(exc)) from None


def _known(store, symbol: str | None):
    """``store``, once ``symbol`` (if any) is known to it; else closed, and a usage error."""
    if symbol is not None:
        try:
            require_known(store, symbol)
        except UsageError:
            store.close()
            raise
    return store


def require_known(store, *symbols: str) -> None:
    """A usage error, in ``tradestore.store.require_symbol``'s words, for the first of
    ``symbols`` of which no trade was ever stored."""
    from tradestore.store import UnknownSymbol, require_symbol

    for symbol in symbols:
        try:
            require_symbol(store, symbol)
        except UnknownSymbol as exc:
            raise UsageError(str(exc)) from None


def adoption_progress(enabled: bool = True):
    """A callback for TradeStore's adoption pass drawing a progress bar on stderr."""
    return progress_bar("adopting", enabled=enabled)


@contextmanager
def progress_bar(label: str, enabled: bool = True) -> Iterator[Callable[[Any], None]]:
    """A callback for a pass over every trade (adoption, a rollup build) drawing a progress
    bar on stderr (only once the pass has run a moment, and only on a terminal); it takes
    objects with ``symbol``, ``fraction`` and ``trades``."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn(f"[bold]{label}[/] {{task.description}}"),
        BarColumn(),
        TextColumn("{task.fields[trades]:,} trades"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not enabled or not sys.stderr.isatty(),
    )
    task = None

    def on_progress(p) -> None:
        nonlocal task
        if task is None:
            bar.start()
            task = bar.add_task(p.symbol, total=1.0, trades=0)
        bar.update(task, completed=p.fraction, description=p.symbol, trades=p.trades)

    try:
        yield on_progress
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


def note(text: str) -> None:
    """A one-line remark on stderr, beside a machine-readable result on stdout."""
    print(f"note: {text}", file=sys.stderr)


def add_interval(parser: argparse.ArgumentParser, default: str, *, minutes: bool = False) -> None:
    parser.add_argument(
        "--interval",
        default=default,
        metavar="DURATION",
        help=f"length of each candle, e.g. 1s, 15s, 1m, 15m, 1h, 4h, 1d (default: {default}"
        + ("; a whole number of minutes)" if minutes else "; at least 1 s)"),
    )


def interval_arg(args: argparse.Namespace, *, minutes: bool = False) -> int:
    """--interval in ms: at least 1 s (a whole number of minutes with ``minutes``)."""
    ms = duration_ms(args.interval, "--interval")
    if ms < 1000:
        raise UsageError("--interval must be at least 1s")
    if minutes and ms % 60_000:
        raise UsageError(f"--interval must be a whole number of minutes, not {args.interval}")
    return ms


def check_span(start_ms: int, end_ms: int, interval_ms: int, limit: int = 1_000_000) -> None:
    """Refuse a window that would make more than ``limit`` candles (a typo, most likely)."""
    count = end_ms // interval_ms - start_ms // interval_ms + 1
    if count > limit:
        raise UsageError(
            f"{count:,} intervals in the window: at most {limit:,} (a longer --interval?)"
        )


def interval_window_args(
    args: argparse.Namespace, *, minutes: bool = False, limit: int = 1_000_000
) -> tuple[str, int, int, int]:
    """(symbol, interval, start, end) of a by-interval command: --symbol, --interval and a
    window making at most ``limit`` intervals."""
    symbol = symbol_arg(args)
    interval = interval_arg(args, minutes=minutes)
    start, end = window_args(args)
    check_span(start, end, interval, limit=limit)
    return symbol, interval, start, end


def check_tick_size(args: argparse.Namespace) -> None:
    """Refuse a --tick-size that is not a positive price (an absent one is fine)."""
    if args.tick_size is not None:
        from tradestore.analytics import tick_to_fixed

        try:
            tick_to_fixed(args.tick_size)
        except ValueError as exc:
            raise UsageError(f"--tick-size: {exc}") from None


def limited(args: argparse.Namespace, records: list) -> tuple[list, int]:
    """(the records --limit shows, how many it leaves out)."""
    limit = row_limit(args)
    shown = records if limit is None else records[:limit]
    return shown, len(records) - len(shown)
