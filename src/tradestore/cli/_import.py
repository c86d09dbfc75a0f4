"""``import``: load data.binance.vision aggTrades files (or our own CSV exports).

Several files and globs per invocation, all checked before anything is written; the symbol
comes from each file's data.binance.vision name (``BTCUSDT-aggTrades-2026-01-01.zip``)
unless ``--symbol`` says it, and a name that disagrees with ``--symbol`` is refused unless
``--force``. Afterwards the agg ids are checked around every imported range: a hole
between imported files (or between a file and what was stored before) becomes a gap record,
so ``gaps`` and every read command's coverage show it; an open gap the import filled is
marked filled. A complete daily or monthly file declares its whole period recorded.
"""

from __future__ import annotations

import argparse
import glob
import re
import time
from calendar import monthrange
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain, groupby
from pathlib import Path
from typing import NamedTuple

from tradestore._model import AggTrade
from tradestore._timeparse import format_time_ms
from tradestore.binance import CsvFormatError, open_text, read_trades, verify_checksum
from tradestore.cli import _common as c
from tradestore.cli import _trades
from tradestore.store import FILLED, OPEN, Gap, check_symbol, declare_recorded

# data.binance.vision names its files SYMBOL-aggTrades-YYYY-MM-DD (daily) or -YYYY-MM
# (monthly); a name that only starts that way (a renamed extract) still gives the symbol.
NAME = re.compile(r"([A-Za-z0-9]{2,30})-aggTrades-(.*)")
PERIOD = re.compile(r"(\d{4})-(\d{2})(?:-(\d{2}))?\.(?:csv|zip)", re.IGNORECASE)
GLOB_CHARS = re.compile(r"[*?\[]")
STEP_MS = 60_000  # how much trade time the search for a stored neighbour decodes at once


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "import",
        help="import data.binance.vision aggTrades files (.csv/.zip; several, or a glob)",
        description="Import spot aggTrades files from data.binance.vision (.csv, or the "
        ".zip as downloaded), or CSV files written by `query`/`export`. Give several files "
        "or a quoted glob ('BTCUSDT-aggTrades-2026-01-*.zip'). Each file's symbol comes from "
        "its data.binance.vision name unless --symbol is given; a name for another symbol is "
        "refused unless --force. A sibling FILE.CHECKSUM is verified when present. Every "
        "file is validated before anything is written; trades are stored one batch per "
        "second of trade time. An agg id already in the store is never stored again, whatever "
        "wrote it: importing the same trades twice stores nothing the second time, and the "
        "summary says how many trades were new and how many already stored. "
        "Agg ids missing between the imported files (or between them and what was stored "
        "before) are recorded as gaps, so `gaps` and the read commands report them.",
    )
    c.add_db(p)
    c.add_symbol(p, required=False)
    p.add_argument(
        "--force",
        action="store_true",
        help="import a file into --symbol even though its name is for another symbol",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help=".csv or .zip files, or globs")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


@dataclass
class Source:
    """One file to import and what checking it found."""

    path: Path
    symbol: str
    period: tuple[int, int] | None  # the UTC day or month its official name covers
    rows: int = 0
    first: AggTrade | None = None
    last: AggTrade | None = None
    holes: list[Gap] = field(default_factory=list)  # agg ids missing inside the file
    new: int = 0  # trades the store took (their agg ids were not stored yet)
    already_stored: int = 0  # trades left out: their agg ids were stored already


def run(args: argparse.Namespace) -> int:
    wanted = c.symbol_arg(args) if args.symbol else None
    sources = [_source(path, wanted, args.force) for path in expand(args.files)]
    progress = not args.no_progress
    try:
        for src in sources:  # pass 1: every row of every file, so a bad file writes nothing
            verify_checksum(src.path)
            _scan(src, None, progress, "checking")
            if src.rows == 0:
                raise c.UsageError(f"{src.path}: no trades in file")
        symbols = sorted({src.symbol for src in sources})
        with c.open_writer(args) as store:
            for src in sources:
                _scan(src, store, progress, "importing")
            lines = [_settle(store, s, [x for x in sources if x.symbol == s]) for s in symbols]
    except (CsvFormatError, _trades.TradeCsvError) as exc:
        raise c.UsageError(str(exc)) from None
    files = f"{len(sources)} file{'s' if len(sources) > 1 else ''}"
    print(f"imported {files} into {args.db}:")
    for line in lines:
        print("  " + line)
    return 0


def expand(patterns: Iterable[str]) -> list[Path]:
    """The files named, each once, in the order given (a glob's matches sorted by name)."""
    paths: list[Path] = []
    for pattern in patterns:
        path = Path(pattern)
        if path.is_file():
            paths.append(path)
            continue
        if GLOB_CHARS.search(pattern):
            matches = sorted(Path(m) for m in glob.glob(pattern) if Path(m).is_file())
            if not matches:
                raise c.UsageError(f"{pattern}: no file matches")
            paths += matches
            continue
        if path.is_dir():
            raise c.UsageError(f"{path}: is a directory (give its files, or a glob)")
        raise c.UsageError(f"{path}: no such file")
    unique: dict[Path, Path] = {}
    for path in paths:
        unique.setdefault(path.resolve(), path)
    return list(unique.values())


def name_symbol(path: Path) -> tuple[str | None, tuple[int, int] | None]:
    """(symbol, period) from a data.binance.vision file name; period only for an official
    daily or monthly name (a whole UTC day or month, in ms, inclusive)."""
    match = NAME.fullmatch(path.name)
    if not match:
        return None, None
    try:
        symbol = check_symbol(match.group(1))
    except ValueError:
        return None, None
    return symbol, _period(match.group(2))


def _period(rest: str) -> tuple[int, int] | None:
    match = PERIOD.fullmatch(rest)
    if not match:
        return None
    year, month, day = match.groups()
    try:
        if day is None:
            first = datetime(int(year), int(month), 1, tzinfo=UTC)
            days = monthrange(int(year), int(month))[1]
        else:
            first = datetime(int(year), int(month), int(day), tzinfo=UTC)
            days = 1
    except ValueError:
        return None
    start = int(first.timestamp() * 1000)
    return start, start + days * 86_400_000 - 1


def _source(path: Path, wanted: str | None, force: bool) -> Source:
    named, period = name_symbol(path)
    if wanted is None:
        if named is None:
            raise c.UsageError(
                f"{path.name}: the symbol cannot be told from the file name "
                "(SYMBOL-aggTrades-DATE.zip); give --symbol"
            )
        return Source(path, named, period)
    if named is not None and named != wanted:
        if not force:
            raise c.UsageError(
                f"{path.name} is named for {named}, not {wanted} (--force imports it as "
                f"{wanted} anyway)"
            )
        period = None  # the name describes another symbol's file: claim nothing from it
    return Source(path, wanted, period)


def _scan(src: Source, store, progress: bool, label: str) -> None:
    """Read every row of src; with a store also write one batch per second of trade time.
    The checking pass records the file's first and last trade and the holes inside it."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    checking = store is None
    n = 0
    with open_text(src.path) as (text, size):
        bar = Progress(
            f"[bold]{label}[/] {src.path.name}",
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            disable=not progress or size < 8 << 20,
            transient=True,
        )
        with bar:
            task = bar.add_task(label, total=size)
            trades = _trades_of(text, src.path.name)
            if checking:
                trades = _watch(trades, src)
            for _second, group in groupby(trades, key=lambda t: t.time_ms // 1000):
                batch = list(group)
                n += len(batch)
                if not checking:
                    report = store.write_batches({src.symbol: batch})
                    src.new += report.total_new
                    src.already_stored += report.total_already_stored
                if n % 50_000 < len(batch):
                    bar.update(task, completed=_position(text, size))
    if checking:
        src.rows = n


def _trades_of(text, name: str) -> Iterator[AggTrade]:
    """The trades of a data.binance.vision CSV, or of a CSV in our own layout (its header
    says which)."""
    first = text.readline()
    if _trades.is_our_header(first):
        return (t for _n, t in _trades.read_our_csv(chain([first], text), name))
    return (t for _n, t in read_trades(chain([first], text), name))


def _watch(trades: Iterator[AggTrade], src: Source) -> Iterator[AggTrade]:
    """Pass the trades through, noting the first, the last and every jump in agg ids."""
    prev = None
    for t in trades:
        if prev is None:
            src.first = t
        elif t.agg_id > prev.agg_id + 1:
            src.holes.append(_gap(prev, t, "agg ids missing inside the imported file"))
        prev = t
        yield t
    src.last = prev


def _gap(before: AggTrade | Point, after: AggTrade | Point, reason: str) -> Gap:
    return Gap(
        before.agg_id + 1,
        after.agg_id - 1,
        before.time_ms,
        after.time_ms,
        int(time.time() * 1000),
        OPEN,
        reason,
    )


def _position(text, size: int) -> int:
    try:
        return min(text.buffer.tell(), size)
    except (AttributeError, OSError, ValueError):
        return 0


# ------------------------------------------------------------------ after the writes


def _settle(store, symbol: str, sources: list[Source]) -> str:
    """Record the holes around and inside what was imported, close the gaps it filled,
    declare the complete periods recorded; the symbol's line of the summary."""
    new_gaps: dict[int, Gap] = {}
    for src in sources:
        for hole in src.holes:
            new_gaps.setdefault(hole.first_id, hole)
    for lo, hi in _ranges(sources):
        for hole in _holes_around(store, symbol, lo, hi):
            new_gaps.setdefault(hole.first_id, hole)
    existing = store.gaps(symbol)
    recorded = []
    for gap in sorted(new_gaps.values(), key=lambda g: g.first_id):
        if any(g.first_id <= gap.last_id and gap.first_id <= g.last_id for g in existing):
            continue  # already on record (open, filled or unfillable): keep what it says
        store.put_gap(symbol, gap)
        recorded.append(gap)
    filled = _close_filled(store, symbol, existing, sources)
    for src in sources:
        if src.period and src.first and src.last:
            lo, hi = src.period
            if lo <= src.first.time_ms and src.last.time_ms <= hi:
                declare_recorded(store, symbol, lo, hi, (src.first.time_ms, src.last.time_ms))
    read = sum(src.rows for src in sources)
    new = sum(src.new for src in sources)
    already = sum(src.already_stored for src in sources)
    line = f"{symbol}: {read:,} trades read, {new:,} new trades stored, {already:,} already stored"
    if recorded:
        missing = sum(g.size for g in recorded)
        line += (
            f"; {len(recorded)} gap{'s' if len(recorded) > 1 else ''} recorded "
            f"({missing:,} agg ids not in the files: "
            + ", ".join(
                f"{g.first_id}..{g.last_id} between {format_time_ms(g.after_time_ms)} and "
                f"{format_time_ms(g.before_time_ms)}"
                for g in recorded[:3]
            )
            + (", ..." if len(recorded) > 3 else "")
            + "; `tradestore-trio gaps` lists them)"
        )
    if filled:
        line += f"; {filled} open gap{'s' if filled > 1 else ''} filled"
    return line


def _ranges(sources: list[Source]) -> list[tuple[AggTrade, AggTrade]]:
    """The imported agg-id ranges, overlapping or adjacent ones merged: (first, last) trades."""
    spans = sorted(
        ((s.first, s.last) for s in sources if s.first and s.last), key=lambda p: p[0].agg_id
    )
    merged: list[tuple[AggTrade, AggTrade]] = []
    for first, last in spans:
        if merged and first.agg_id <= merged[-1][1].agg_id + 1:
            if last.agg_id > merged[-1][1].agg_id:
                merged[-1] = (merged[-1][0], last)
        else:
            merged.append((first, last))
    return merged


def _holes_around(store, symbol: str, lo: AggTrade, hi: AggTrade) -> list[Gap]:
    """Holes between an imported range and the nearest stored trades outside it."""
    holes = []
    before = _neighbour(store, symbol, lo, backwards=True)
    if before is not None and before.agg_id < lo.agg_id - 1:
        holes.append(_gap(before, lo, "agg ids not in the imported files"))
    after = _neighbour(store, symbol, hi, backwards=False)
    if after is not None and after.agg_id > hi.agg_id + 1:
        holes.append(_gap(hi, after, "agg ids not in the imported files"))
    return holes


class Point(NamedTuple):
    """A stored trade as far as the gap bookkeeping cares."""

    agg_id: int
    time_ms: int


def _neighbour(store, symbol: str, edge: AggTrade, *, backwards: bool) -> Point | None:
    """The stored trade with the nearest agg id below (or above) ``edge``'s: a minute of
    trades at a time from the edge outwards, jumping over stretches where nothing is stored
    with one seek, so a far neighbour never means decoding what lies between."""
    at = edge.time_ms
    while True:
        lo, hi = (at - STEP_MS, at) if backwards else (at, at + STEP_MS)
        cols = store.query_columns(symbol, lo, hi)
        ids = cols.agg_id
        found = ids[ids < edge.agg_id] if backwards else ids[ids > edge.agg_id]
        if found.shape[0]:
            target = int(found.max() if backwards else found.min())
            i = int((ids == target).nonzero()[0][0])
            return Point(target, int(cols.time_ms[i]))
        if backwards:
            bound = store.prev_trade_bound(symbol, lo - 1)
        else:
            bound = store.next_trade_bound(symbol, hi + 1)
        if bound is None:
            return None
        at = bound


def _close_filled(store, symbol: str, existing: list[Gap], sources: list[Source]) -> int:
    """Mark filled the open gaps whose every agg id is now stored; how many."""
    closed = 0
    for gap in existing:
        if gap.status != OPEN:
            continue
        if not any(
            s.first and s.last and s.first.agg_id <= gap.last_id and gap.first_id <= s.last.agg_id
            for s in sources
        ):
            continue
        ids = store.query_columns(symbol, gap.after_time_ms, gap.before_time_ms).agg_id
        inside = ids[(ids >= gap.first_id) & (ids <= gap.last_id)]
        if int(inside.shape[0]) == gap.size:
            store.put_gap(
                symbol,
                gap.with_status(FILLED, "filled by import", filled_ms=int(time.time() * 1000)),
            )
            closed += 1
    return closed
