"""``import``: load data.binance.vision aggTrades files (or our own CSV exports).

Several files and globs per invocation, all checked before anything is written (every
row read, a zip's CRC checked, the header mapped by name, the values and times checked);
the symbol comes from each file's data.binance.vision name
(``BTCUSDT-aggTrades-2026-01-01.zip``) unless ``--symbol`` says it, and a name that
disagrees with ``--symbol`` is refused unless ``--force``. Spot files (no header) go into
a spot database, USD-M and COIN-M futures files (a header row) into a database of that
market. Afterwards the agg ids are checked around every imported range: a hole between
imported files (or between a file and what was stored before) becomes a gap record, so
``gaps`` and every read command's coverage show it; an open gap the import filled is
marked filled.

The record (``tradestore.store.recorded_span``) reaches past a file's last trade (or
before its first) only where something proves it: the file's published ``.CHECKSUM``,
verified, proves it is the whole day (month) its name gives, and the import declares that
period recorded; a stored trade whose agg id continues the file's extends the record by
itself. Otherwise the record ends at the file's last trade, and the import says how much
of the file's day that leaves unrecorded.
"""

from __future__ import annotations

import argparse
import glob
import re
import sys
import time
from calendar import monthrange
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import groupby
from pathlib import Path
from typing import NamedTuple

from tradestore._model import AggTrade
from tradestore._timeparse import format_duration_ms, format_time_ms
from tradestore.binance import (
    COINM,
    FUTURES_FILE,
    SPOT,
    SPOT_FILE,
    USDM,
    CsvFormatError,
    Layout,
    open_text,
    open_trades,
    verify_checksum,
)
from tradestore.cli import _common as c
from tradestore.store import (
    FILLED,
    OPEN,
    Gap,
    MarketMismatch,
    check_symbol,
    declare_recorded,
    recorded_span,
)

# data.binance.vision names its files SYMBOL-aggTrades-YYYY-MM-DD (daily) or -YYYY-MM
# (monthly); a name that only starts that way (a renamed extract) still gives the symbol.
# COIN-M symbols hold an underscore (BTCUSD_PERP).
NAME = re.compile(r"([A-Za-z0-9_]{2,30}?)-aggTrades-(.*)")
MARKET_NAMES = (SPOT.name, USDM.name, COINM.name)
PERIOD = re.compile(r"(\d{4})-(\d{2})(?:-(\d{2}))?\.(?:csv|zip)", re.IGNORECASE)
GLOB_CHARS = re.compile(r"[*?\[]")
STEP_MS = 60_000  # how much trade time the search for a stored neighbour decodes at once


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "import",
        help="import data.binance.vision aggTrades files (.csv/.zip; several, or a glob)",
        description="Import aggTrades files from data.binance.vision (.csv, or the .zip as "
        "downloaded): spot files (no header row), USD-M and COIN-M futures files (a header "
        "row, read by column name), or CSV files written by `query`/`export`. Give several "
        "files or a quoted glob ('BTCUSDT-aggTrades-2026-01-*.zip'). Each file's symbol comes "
        "from its data.binance.vision name unless --symbol is given; a name for another "
        "symbol is refused unless --force. Every file is checked before anything is written "
        "(a zip's CRC, the header's columns, prices and quantities above zero, agg ids "
        "increasing, times inside the day or month the name gives); trades are stored one "
        "batch per second of trade time. The record covers a daily (monthly) file's whole "
        "day (month) only when its sibling FILE.CHECKSUM, as data.binance.vision publishes "
        "it, is there and matches, or when stored trades continue its agg ids; otherwise it "
        "ends at the file's last trade, and the import says so. An agg id already in the store is never stored again, whatever "
        "wrote it: importing the same trades twice stores nothing the second time, and the "
        "summary says how many trades were new and how many already stored. "
        "Agg ids missing between the imported files (or between them and what was stored "
        "before) are recorded as gaps, so `gaps` and the read commands report them.",
    )
    c.add_db(p, create=True)
    c.add_symbol(p, required=False)
    p.add_argument(
        "--force",
        action="store_true",
        help="import a file into --symbol even though its name is for another symbol",
    )
    p.add_argument(
        "--market",
        choices=MARKET_NAMES,
        help="the market the files are from (default: the database's; for a new database "
        "spot for files without a header row, usdm for futures files, coinm when the symbol "
        "holds an underscore, e.g. BTCUSD_PERP)",
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
    proven: bool = False  # its .CHECKSUM was there and matched: the whole period is in it
    layout: Layout | None = None  # known after the checking pass
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
            src.proven = verify_checksum(src.path) is True
            _scan(src, None, progress, "checking")
            if src.rows == 0:
                raise c.UsageError(f"{src.path}: no trades in file")
        choose_market(args.market, None, sources)  # refused before a database is created
        symbols = sorted({src.symbol for src in sources})
        with c.open_writer(args) as store:
            held = store.market()
            market, how = choose_market(args.market, held, sources, db=args.db)
            store.claim_market(market)
            for src in sources:
                _scan(src, store, progress, "importing")
            lines = [_settle(store, s, [x for x in sources if x.symbol == s]) for s in symbols]
            warnings = [w for src in sources for w in _unrecorded(store, src)]
    except (CsvFormatError, MarketMismatch) as exc:
        raise c.UsageError(str(exc)) from None
    files = f"{len(sources)} file{'s' if len(sources) > 1 else ''}"
    print(f"imported {files} into {args.db} ({market}{how}):")
    for line in lines:
        print("  " + line)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def choose_market(
    requested: str | None, held: str | None, sources: list[Source], *, db: object = None
) -> tuple[str, str]:
    """(market, how it was chosen when inferred) for ``sources`` into a database holding
    ``held`` (None: new or empty); UsageError for a file of another market."""
    futures = [s for s in sources if s.layout is not None and s.layout.kind == FUTURES_FILE]
    spot = [s for s in sources if s.layout is not None and s.layout.kind == SPOT_FILE]
    how = ""
    if requested is not None:
        market, said = requested, f"--market is {requested}"
    elif held is not None:
        market, said = held, f"{db} holds {held} trades"
    elif futures:
        market = COINM.name if any("_" in s.symbol for s in futures) else USDM.name
        said = f"the market was inferred as {market}"
        how = f", inferred from the futures header{'s' if len(futures) > 1 else ''}"
        if spot:
            raise c.UsageError(
                f"{spot[0].path.name} is a spot file (no header row) and "
                f"{futures[0].path.name} a futures file: import them into separate databases"
            )
    else:
        market, said = SPOT.name, "the market is spot"
    if requested is not None and held is not None and requested != held:
        raise c.UsageError(
            f"{db} holds {held} trades; it cannot take {requested} trades (use one database "
            "per market)"
        )
    if market == SPOT.name and futures:
        raise c.UsageError(
            f"{futures[0].path.name} is a futures file (its header row says so), but {said}: "
            "import it into a usdm or coinm database (--market)"
        )
    if market != SPOT.name and spot:
        raise c.UsageError(
            f"{spot[0].path.name} is a spot file (no header row), but {said}: import it "
            "into a spot database"
        )
    return market, how


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
        layout, rows = open_trades(text, src.path.name)
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
            if checking:
                src.layout = layout
                rows = _watch(rows, src)
            trades = (t for _lineno, t in rows)
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


def _watch(rows: Iterator[tuple[int, AggTrade]], src: Source) -> Iterator[tuple[int, AggTrade]]:
    """Pass the rows through, noting the first trade, the last and every jump in agg ids;
    a trade outside the day (month) the file's name gives refuses the file."""
    prev = None
    lo, hi = src.period or (None, None)
    for lineno, t in rows:
        if lo is not None and hi is not None and not lo <= t.time_ms <= hi:
            raise CsvFormatError(
                f"{src.path.name}:{lineno}: trade time {format_time_ms(t.time_ms)} is outside "
                f"{format_time_ms(lo)} .. {format_time_ms(hi)}, the period its name gives"
            )
        if prev is None:
            src.first = t
        elif t.agg_id > prev.agg_id + 1:
            src.holes.append(_gap(prev, t, "agg ids missing inside the imported file"))
        prev = t
        yield lineno, t
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
        if src.proven and src.period and src.first and src.last:
            start, end = src.period
            declare_recorded(store, symbol, start, end, (src.first.time_ms, src.last.time_ms))
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


def _unrecorded(store, src: Source) -> list[str]:
    """What of a file's day (month) the record leaves out at either end, decided by the
    one rule (``recorded_span``), for the import's warnings; [] when it holds it all."""
    if src.period is None or src.first is None or src.last is None:
        return []
    lo, hi = src.period
    record = recorded_span(store, src.symbol)
    if record is None:
        return []
    period = "month" if hi - lo >= 86_400_000 else "day"
    why = "(no .CHECKSUM to prove the file whole)"
    notes = []
    if lo < record[0] == src.first.time_ms:
        notes.append(
            f"{src.path.name}: file starts {_length(record[0] - lo)} after its {period} "
            f"begins; the start of the {period} is not recorded {why}"
        )
    if record[1] == src.last.time_ms < hi:
        notes.append(
            f"{src.path.name}: file ends {_length(hi + 1 - record[1])} before its {period}; "
            f"the rest of the {period} is not recorded {why}"
        )
    return notes


def _length(ms: int) -> str:
    """23 h 47 min; shorter lengths as format_duration_ms writes them."""
    if ms < 3_600_000:
        return format_duration_ms(ms)
    hours, minutes = divmod(ms // 60_000, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


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
