"""``verify``: audit a symbol's stored trades; exit 1 when anything is wrong."""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tradestore._model import AggTrade
from tradestore._timeparse import format_time_ms, is_duration
from tradestore.binance import (
    FUTURES_FILE,
    OUR_FILE,
    SPOT_FILE,
    CsvFormatError,
    Layout,
    open_text,
    open_trades,
    verify_checksum,
)
from tradestore.cli import _common as c
from tradestore.store import (
    DAY_MS,
    MAX_MS,
    TradeColumns,
    coverage_from_range,
    recorded_span,
)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "verify",
        help="check a symbol's trades for id holes, duplicates, bad values, disorder",
        description="Walk the stored trades of one symbol (optionally only --start..--end) and "
        "report agg-id holes, ids stored more than once, values that cannot be decoded (by "
        "key), batches out of id order, and price-level rollups that disagree with a "
        "recomputation from the trades. Holes inside a closed gap record (rows the exchange "
        "marks invalid, ranges it cannot return) are listed as explained. Exit 0 when clean, "
        "1 when anything else is found (an open gap still counts: backfill has not closed it), "
        "or when nothing was ever recorded in the window (a mistyped symbol?). "
        "With --archive DEST it compares each closed UTC day the store holds (every symbol, "
        "or --symbol; the days of --start..--end, or up to --through) with its Parquet "
        "partition instead, trade by trade: 'ok' (identical), 'archived' (the store holds "
        "part of the day, all of it archived), or a problem: 'missing', 'stale' (the store "
        "has trades the partition lacks: archive again), 'mismatch', 'corrupt' (exit 1). "
        "With --against FILE it certifies one UTC day against Binance's published daily "
        "aggTrades file (data.binance.vision; read as `import` reads it, headers by name, "
        "every value checked): per agg id of the day, those missing from our record, those "
        "only we hold, and those whose price, quantity, time or side differ (with the first "
        "examples). Our side is the store's trades of the day, or the archived partition "
        "(--archive DEST, or the archive_to of --config) when the store no longer holds it. "
        "A day that matches is recorded as certified (shown by `stats`, coverage and the "
        "footer of the day's partition when it is archived next; a later write into the day "
        "drops it). Binance's own defects are reported as such and never change our record: "
        "a .CHECKSUM beside the file that does not match (the comparison still runs on the "
        "content), rows repeated in the file (compared once). Spot files stamp trades in "
        "microseconds from 2025 on, the store in milliseconds: a time matches when "
        "floor(us / 1000) equals ours, and the report says how many carry sub-millisecond "
        "digits. Exit 0 when the day is certified (also when a read-only or busy store "
        "cannot record it: it says so), 1 when anything differs, 2 when the file cannot be "
        "read, is of another symbol or market, or names a day we never recorded.",
    )
    c.add_db(p)
    c.add_symbol(p, required=False)
    c.add_window(p, default_hours=None)
    c.add_format(p, choices=("table", "json"))
    archive = p.add_argument_group("comparing with the archive")
    archive.add_argument(
        "--archive",
        metavar="DEST",
        help="compare with the Parquet archive at DEST (a path or s3://)",
    )
    archive.add_argument(
        "--through", metavar="DATE", help="the last UTC day to compare (default: yesterday)"
    )
    archive.add_argument(
        "--market", default=None, help="the partitions' market= (default: the store's, else spot)"
    )
    against = p.add_argument_group("certifying a day against Binance's published file")
    against.add_argument(
        "--against",
        metavar="FILE",
        help="compare the stored (or, with --archive or the config's archive_to, archived) "
        "UTC day of Binance's daily aggTrades file FILE (.zip or .csv, e.g. "
        "BTCUSDT-aggTrades-2026-01-01.zip) and record the day as certified when they match",
    )
    against.add_argument(
        "--config",
        metavar="FILE",
        help="with --against: a TOML config whose archive_to is the archive to read a day "
        "the store no longer holds (--archive DEST, if given, is used instead)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tradestore.store import verify

    if args.against is not None:
        return run_against(args)
    if args.config is not None:
        raise c.UsageError("--config goes with --against FILE")
    if args.archive is not None:
        return run_archive(args)
    if args.through is not None or args.market is not None:
        raise c.UsageError("--through and --market go with --archive DEST")
    if args.symbol is None:
        raise c.UsageError("--symbol is required (or --archive DEST to compare with an archive)")
    symbol = c.symbol_arg(args)
    # Everything by default: an audit of the whole record, whatever its span; a length
    # (--hours, or --start 2h) counts back from now (the stored span is not known without
    # reading it).
    length = args.hours is not None or (args.start is not None and is_duration(args.start))
    everything = (0, int(time.time() * 1000) if length else MAX_MS)
    start, end = c.window_args(args, stored=everything)
    whole = args.start is None and args.end is None and not length
    with c.open_reader(args, symbol=symbol) as store:
        report = verify(store, symbol, start, end)
        record = recorded_span(store, symbol)
    # The audit covers what is stored; say when the window asked for was not (all) recorded.
    # By default the window is the whole record, so only a record that is missing counts.
    if whole and record is not None:
        start, end = record
    cover = coverage_from_range(
        report.first_id, report.last_id, report.trades, [], start, end, record=record
    )
    nothing = cover.recorded == "none"
    doc: dict[str, Any] = {
        **report.to_dict(),
        "recorded": cover.recorded,
        "record": cover.summary(),
    }
    if args.format == "json":
        print(json.dumps(doc, indent=2))
    else:
        verdict = "NOT RECORDED" if nothing else "OK" if report.ok else "PROBLEMS FOUND"
        print(
            f"{symbol}: {verdict}: {report.trades} trades in {report.batches} batches "
            f"({report.empty_batches} empty)"
            + (f", ids {report.first_id}..{report.last_id}" if report.trades else "")
        )
        if cover.recorded != "full":
            print(f"  window: {cover.summary()}")
        print(
            f"  id holes: {len(report.holes)} ({report.missing_ids} ids missing), "
            f"{len(report.unexplained_holes)} not explained by a closed gap record"
        )
        for hole in doc["holes"][:20]:
            reason = f": {hole['gap_reason']}" if "gap_reason" in hole else ""
            print(
                f"    {hole['first_id']}..{hole['last_id']} (gap record: {hole['recorded_gap']}{reason})"
            )
        print(f"  duplicate ids: {report.duplicates}")
        print(f"  undecodable values: {len(report.undecodable)}")
        for key in report.undecodable[:20]:
            print(f"    {key}")
        print(f"  batches out of order: {len(report.out_of_order)}")
        for key in report.out_of_order[:20]:
            print(f"    {key}")
        if report.rollups == "kept":
            print(
                f"  rollups: {len(report.rollup_mismatches)} disagree with the trades"
                + (
                    " (`tradestore-trio rollups rebuild` recomputes them)"
                    if report.rollup_mismatches
                    else ""
                )
            )
            for m in report.rollup_mismatches[:20]:
                print(f"    {m.key}: {m.problem}")
        else:
            print(f"  rollups: {report.rollups} (analytics read the trades)")
    return 0 if report.ok and not nothing else 1


def run_archive(args: argparse.Namespace) -> int:
    from tradestore.archive import day_of
    from tradestore.cli._archive import day_arg, destination, require_archive, symbols_arg

    archive = require_archive()
    dest = destination(args.archive)
    through = day_arg(args.through, "--through")
    since = None
    if args.start is not None or args.end is not None or args.hours is not None:
        start, end = c.window_args(args, stored=(0, int(time.time() * 1000)))
        since, last = day_of(start), day_of(end)
        through = last if through is None else min(through, last)
    symbols = symbols_arg([args.symbol] if args.symbol else None)
    checks = []
    with c.open_reader(args) as store:
        c.require_known(store, *(symbols or ()))
        market = args.market or archive.store_market(store)
        for check in archive.verify_archive(
            store, dest, market=market, symbols=symbols, through=through, since=since
        ):
            checks.append(check)
            if args.format == "table":
                print(_check_line(check), flush=True)
    problems = [ch for ch in checks if not ch.safe_to_delete]
    if args.format == "json":
        print(json.dumps([ch.to_dict() for ch in checks], indent=2))
    else:
        print(
            f"{len(checks)} days compared with {archive.redact(args.archive)}: "
            f"{len(checks) - len(problems)} archived, {len(problems)} with problems"
        )
    return 1 if problems else 0


def _check_line(check) -> str:
    archived = "-" if check.archive_rows is None else f"{check.archive_rows:,}"
    line = f"{check.key.symbol} {check.key.day}: {check.verdict}, {check.store_rows:,} stored, {archived} archived"
    return line + (f"\n  {check.detail}" if check.detail else "")


# ------------------------------------------------------------------ --against Binance's file

EXAMPLES = 5  # differing trades shown per field, runs of missing or extra ids listed
CHUNK = 65_536  # trades of Binance's file converted to columns at a time


def run_against(args: argparse.Namespace) -> int:
    from tradestore.archive import day_end_ms, day_start_ms
    from tradestore.store import CertifiedFile, StoreError, certify_day

    if args.through is not None or any(v is not None for v in (args.start, args.end, args.hours)):
        raise c.UsageError("--against FILE compares the file's UTC day: no window or --through")
    path = Path(args.against)
    if not path.is_file():
        raise c.UsageError(f"{path}: no such file")
    symbol, period = _file_symbol(path, args.symbol)
    try:
        published = read_published(path)
    except CsvFormatError as exc:
        raise c.UsageError(str(exc)) from None
    day = _file_day(published, period)
    lo, hi = day_start_ms(day), day_end_ms(day)
    with c.open_reader(args, symbol=symbol) as store:
        _check_market(store.market(), published.kind, path.name, args.db)
        market = args.market or store.market() or "spot"
        ours, source, dest = _our_day(args, store, symbol, day, market, (lo, hi))
    result = compare(published.cols, ours)
    notes = []
    cert = None
    if result.matches:
        facts = CertifiedFile(
            path.name,
            published.sha256,
            len(published.cols),
            int(published.cols.agg_id[0]),
            int(published.cols.agg_id[-1]),
            tuple(published.defects()),
            source,
        )
        try:
            with c.open_writer(args, progress=False) as writer:
                cert = certify_day(writer, symbol, day, facts)
        except (c.UsageError, StoreError) as exc:
            notes.append(f"the certification could not be recorded: {exc}")
        if cert is not None and dest is not None:
            notes += _footer_note(dest, market, cert)
    doc = _against_doc(symbol, day, published, result, source, cert, notes)
    if args.format == "json":
        print(json.dumps(doc, indent=2))
    else:
        _print_against(doc)
    return 0 if result.matches else 1


def _file_symbol(path: Path, wanted: str | None) -> tuple[str, tuple[int, int] | None]:
    """(symbol, the period its name gives) of a data.binance.vision file; a --symbol that
    the name contradicts is bad input (the file is another symbol's)."""
    from tradestore.cli._import import name_symbol
    from tradestore.store import check_symbol

    named, period = name_symbol(path)
    if wanted is not None:
        try:
            wanted = check_symbol(wanted)
        except ValueError as exc:
            raise c.UsageError(str(exc)) from None
        if named is not None and named != wanted:
            raise c.UsageError(f"{path.name} is Binance's file of {named}, not {wanted}")
        return wanted, period
    if named is None:
        raise c.UsageError(
            f"{path.name}: the symbol cannot be told from the file name "
            "(SYMBOL-aggTrades-YYYY-MM-DD.zip); give --symbol"
        )
    return named, period


def _file_day(published: Published, period: tuple[int, int] | None):
    """The UTC day of the file's trades, which must be one, and the one its name gives."""
    from tradestore.archive import day_of, day_start_ms

    cols = published.cols
    name = published.path.name
    if not len(cols):
        raise c.UsageError(f"{name}: no trades in the file")
    first, last = day_of(int(cols.time_ms.min())), day_of(int(cols.time_ms.max()))
    if first != last:
        raise c.UsageError(
            f"{name}: its trades run from {first} to {last} (UTC); a daily file holds one day"
        )
    if period is not None:
        lo, hi = period
        if hi - lo + 1 != DAY_MS:
            raise c.UsageError(f"{name}: a monthly file; --against takes a daily file")
        if lo != day_start_ms(first):
            raise c.UsageError(f"{name}: its name says {day_of(lo)}, its trades are of {first}")
    return first


def _check_market(held: str | None, kind: str, name: str, db) -> None:
    if kind == OUR_FILE:
        raise c.UsageError(f"{name}: a CSV exported by tradestore-trio, not Binance's file")
    if kind == SPOT_FILE and held not in (None, "spot"):
        raise c.UsageError(f"{name} is a spot file (no header row); {db} holds {held} trades")
    if kind == FUTURES_FILE and held in (None, "spot"):
        raise c.UsageError(
            f"{name} is a futures file (its header row says so); {db} holds spot trades"
        )


def _our_day(args, store, symbol: str, day, market: str, window: tuple[int, int]):
    """(our trades of the day, "store" or "archive", the archive's Destination or None):
    the store's, unless retention has taken (part of) the day and the archive has it."""
    from tradestore.store import FROM_ARCHIVE, FROM_STORE

    lo, hi = window
    cols = store.query_columns(symbol, lo, hi)
    edge = store.retention_edge(symbol)
    whole = edge is None or edge <= lo
    dest = _archive_dest(args)
    if len(cols) and whole:
        return cols, FROM_STORE, dest
    if dest is not None:
        from tradestore.archive import DestinationError, PartitionKey, from_table, redact

        try:
            table = dest.read_table(PartitionKey(market, symbol, day))
        except DestinationError as exc:
            raise c.UsageError(str(exc)) from None
        if table is not None:
            return from_table(table), FROM_ARCHIVE, dest
        where = f" nor in the archive {redact(dest.url)} (market={market})"
    else:
        where = " (and no archive to look in: --archive DEST, or --config with archive_to)"
    if len(cols):
        return cols, FROM_STORE, dest  # all that is left of the day: compared as it is
    raise c.UsageError(f"{symbol} {day}: no trades of that day in {args.db}{where}")


def _archive_dest(args):
    """The archive named by --archive, else by the archive_to of --config; None: none."""
    url = args.archive
    if url is None and args.config is not None:
        from tradestore.recorder import ConfigError, RecorderConfig

        try:
            url = RecorderConfig.load(config_file=args.config).archive_to
        except ConfigError as exc:
            raise c.UsageError(str(exc)) from None
    if url is None:
        return None
    from tradestore.cli._archive import destination

    return destination(str(url))


def _footer_note(dest, market: str, cert) -> list[str]:
    """A partition already written keeps its footer: say that it predates the
    certification, unless it carries one of the same file already."""
    from tradestore.archive import PartitionKey

    info = dest.read_info(PartitionKey(market, cert.symbol, cert.day))
    if info is None or (info.certified or {}).get("sha256") == cert.facts.sha256:
        return []
    return [
        f"the archived partition of {cert.day} was written before this certification: its footer "
        "(never changed once written) does not carry it until the day is archived again "
        "(`tradestore-trio archive --force`, while the store holds the day)"
    ]


# ------------------------------------------------------------------ Binance's file


@dataclass
class Published:
    """Binance's file as read: its trades (each agg id once) and what was found in it."""

    path: Path
    kind: str  # spot or futures (its layout)
    sha256: str
    checksum: str  # ok, absent, or what is wrong with the .CHECKSUM beside it
    cols: TradeColumns
    repeated: list[int] = field(default_factory=list)  # agg ids of rows repeated verbatim
    conflicting: list[int] = field(default_factory=list)  # repeated with other values
    micros: bool = False  # its stamps are in microseconds
    sub_ms: int = 0  # stamps with sub-millisecond digits

    def defects(self) -> list[str]:
        """Binance's own defects: a .CHECKSUM that does not match, repeated rows."""
        found = []
        if self.checksum not in (CHECKSUM_OK, CHECKSUM_ABSENT):
            found.append(self.checksum)
        for label, ids in (
            ("repeated", self.repeated),
            ("repeated with different values", self.conflicting),
        ):
            if ids:
                found.append(
                    f"{len(ids)} row{'s' if len(ids) > 1 else ''} {label} (agg ids "
                    f"{_id_list(ids)}); compared once, the first row of each"
                )
        return found


CHECKSUM_OK, CHECKSUM_ABSENT = "ok", "absent"


def read_published(path: Path) -> Published:
    """Read Binance's file with import's reader (CsvFormatError on a bad file), each agg
    id's first row once; the rest of Binance's defects are noted, not refused."""
    from tradestore.store import encode_batch

    sha256 = _sha256(path)
    try:
        checksum = CHECKSUM_OK if verify_checksum(path) else CHECKSUM_ABSENT
    except CsvFormatError as exc:
        checksum = f"{exc}: the comparison ran on the file's content as published"
    parts = []
    with open_text(path) as (text, _size):
        lines = OnceEach(text)
        layout, rows = open_trades(lines, path.name)  # type: ignore[arg-type]
        lines.layout = layout
        chunk: list[AggTrade] = []
        for _lineno, trade in rows:
            chunk.append(trade)
            if len(chunk) == CHUNK:
                parts.append(_columns(encode_batch(chunk), MAX_MS))
                chunk = []
        if chunk:
            parts.append(_columns(encode_batch(chunk), MAX_MS))
    return Published(
        path,
        layout.kind,
        sha256,
        checksum,
        TradeColumns.concat(parts),
        lines.repeated,
        lines.conflicting,
        lines.micros,
        lines.sub_ms,
    )


def _columns(value: bytes, max_ms: int) -> TradeColumns:
    """The trades of one encoded value as columns: the store's own conversion, so prices
    and quantities compare exactly as the store holds them."""
    from tradestore.codec._twins import decode_columns

    return TradeColumns(*decode_columns([(b"binance-file", value)], 0, max_ms))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class OnceEach:
    """The file's lines as the reader reads them, each agg id's first row once.

    Binance's files sometimes repeat a row. The reader refuses agg ids that do not
    increase, so a row whose agg id was read shortly before reaches it as an empty line
    (which it skips, still counting lines: its messages keep the file's line numbers),
    and is noted: repeated verbatim, or with other values. The time column tells the
    unit: 16 digits are microseconds (spot files from 2025 on)."""

    RECENT = 4096  # rows remembered (at least) to tell a repeated row from ids out of order

    def __init__(self, text) -> None:
        self.text = text
        self.layout: Layout | None = None  # set once the reader has read the first line
        self.first = ""
        self.repeated: list[int] = []
        self.conflicting: list[int] = []
        self.micros = False
        self.sub_ms = 0
        # The rows read lately by agg id, in two generations: the older one is dropped
        # whole when the newer one is full.
        self._recent: dict[int, str] = {}
        self._older: dict[int, str] = {}
        self._prev = -1

    def readline(self) -> str:
        self.first = self.text.readline()
        return self.first

    def __iter__(self) -> Iterator[str]:
        assert self.layout is not None
        agg_col, time_col = self.layout.agg_id, self.layout.time
        keep = self._keep
        if not self.layout.header and self.first:
            keep(self.first, agg_col, time_col)  # a trade row: the reader has it already
        for line in self.text:
            yield line if keep(line, agg_col, time_col) else "\n"

    def _keep(self, line: str, agg_col: int, time_col: int) -> bool:
        """False for a row repeating a recent agg id; True for every other line (the reader
        judges it)."""
        fields = line.split(",", max(agg_col, time_col) + 1)
        if len(fields) <= max(agg_col, time_col):
            return True
        agg = fields[agg_col].strip()
        if not agg.isdigit():
            return True
        agg_id = int(agg)
        if agg_id <= self._prev:
            first = self._recent.get(agg_id) or self._older.get(agg_id)
            if first is None:
                return True  # out of order, not a repeat: the reader refuses the file
            same = first.rstrip("\r\n") == line.rstrip("\r\n")
            (self.repeated if same else self.conflicting).append(agg_id)
            return False
        self._prev = agg_id
        recent = self._recent
        recent[agg_id] = line
        if len(recent) >= self.RECENT:
            self._older, self._recent = recent, {}
        stamp = fields[time_col].strip()
        if len(stamp) > 13:
            self.micros = True
            if not stamp.endswith("000"):
                self.sub_ms += 1
        return True


# ------------------------------------------------------------------ the comparison


@dataclass(frozen=True)
class DayComparison:
    """Binance's trades of a day against ours, by agg id."""

    binance: int
    ours: int
    missing: np.ndarray  # agg ids in Binance's file, not in ours
    extra: np.ndarray  # agg ids in ours, not in Binance's file
    # field -> (how many agg ids differ in it, the first few (agg id, Binance's, ours))
    differing: dict[str, tuple[int, list[tuple[int, Any, Any]]]]

    @property
    def matches(self) -> bool:
        return (
            self.binance > 0
            and not len(self.missing)
            and not len(self.extra)
            and not any(n for n, _ in self.differing.values())
        )


COMPARED = (("price", "price"), ("qty", "qty"), ("time", "time_ms"), ("maker", "is_buyer_maker"))


def compare(theirs: TradeColumns, ours: TradeColumns) -> DayComparison:
    """Per agg id: missing, extra, and the fields that differ (both ascending, distinct)."""
    common, at_theirs, at_ours = np.intersect1d(
        theirs.agg_id, ours.agg_id, assume_unique=True, return_indices=True
    )
    differing = {}
    for label, name in COMPARED:
        a = getattr(theirs, name)[at_theirs]
        b = getattr(ours, name)[at_ours]
        where = np.flatnonzero(a != b)
        examples = [
            (int(common[i]), _shown(label, a[i]), _shown(label, b[i])) for i in where[:EXAMPLES]
        ]
        differing[label] = (int(where.shape[0]), examples)
    return DayComparison(
        len(theirs),
        len(ours),
        np.setdiff1d(theirs.agg_id, ours.agg_id, assume_unique=True),
        np.setdiff1d(ours.agg_id, theirs.agg_id, assume_unique=True),
        differing,
    )


def _shown(label: str, value) -> Any:
    from tradestore.codec._fixed import format_fixed

    if label in ("price", "qty"):
        return format_fixed(int(value))
    if label == "time":
        return format_time_ms(int(value))
    return bool(value)


def _runs(ids: np.ndarray) -> list[tuple[int, int]]:
    """Ascending ids as runs of consecutive ones, (first, last)."""
    if not len(ids):
        return []
    breaks = np.flatnonzero(np.diff(ids) != 1)
    starts = np.concatenate(([0], breaks + 1))
    ends = np.concatenate((breaks, [len(ids) - 1]))
    return [(int(ids[s]), int(ids[e])) for s, e in zip(starts, ends, strict=True)]


def _id_list(ids: list[int]) -> str:
    shown = ", ".join(str(i) for i in ids[:EXAMPLES])
    return shown + (f", ... ({len(ids)} in all)" if len(ids) > EXAMPLES else "")


def _against_doc(symbol, day, published, result, source, cert, notes) -> dict[str, Any]:
    def ids(found: np.ndarray) -> dict[str, Any]:
        runs = _runs(found)
        return {
            "count": int(len(found)),
            "runs": [list(r) for r in runs[:EXAMPLES]],
            "more_runs": max(0, len(runs) - EXAMPLES),
        }

    cols = published.cols
    return {
        "symbol": symbol,
        "date": day.isoformat(),
        "file": published.path.name,
        "sha256": published.sha256,
        "verdict": "certified" if result.matches else "differences",
        "binance": {
            "trades": result.binance,
            "first_agg_id": int(cols.agg_id[0]),
            "last_agg_id": int(cols.agg_id[-1]),
            "checksum": published.checksum,
            "defects": published.defects(),
            "repeated_rows": published.repeated,
            "conflicting_rows": published.conflicting,
            "time_unit": "us" if published.micros else "ms",
            "sub_ms_trades": published.sub_ms,
        },
        "ours": {"source": source, "trades": result.ours},
        "missing": ids(result.missing),
        "extra": ids(result.extra),
        "differing": {
            label: {
                "count": n,
                "examples": [{"agg_id": i, "binance": a, "ours": b} for i, a, b in examples],
            }
            for label, (n, examples) in result.differing.items()
        },
        "certified": None if cert is None else cert.as_dict(),
        "notes": notes,
    }


def _print_against(doc: dict[str, Any]) -> None:
    b = doc["binance"]
    verdict = "CERTIFIED" if doc["verdict"] == "certified" else "DIFFERENCES FOUND"
    print(
        f"{doc['symbol']} {doc['date']} against {doc['file']}: {verdict}: Binance's file has "
        f"{b['trades']:,} trades (agg ids {b['first_agg_id']}..{b['last_agg_id']}), ours "
        f"{doc['ours']['trades']:,} (from the {doc['ours']['source']})"
    )
    check = {CHECKSUM_OK: "matches its .CHECKSUM", CHECKSUM_ABSENT: "no .CHECKSUM beside it"}
    print(
        f"  Binance's file: sha256 {doc['sha256']}, {check.get(b['checksum'], 'its .CHECKSUM does NOT match')}"
    )
    for defect in b["defects"]:
        print(f"  DEFECT OF BINANCE'S FILE: {defect}")
    if b["time_unit"] == "us":
        print(
            f"  times: microseconds in the file, {b['sub_ms_trades']:,} with sub-millisecond "
            "digits; compared at the millisecond (floor(us / 1000)), as the store holds them"
        )
    for key, label in (
        ("missing", "missing (in Binance's file, not ours)"),
        ("extra", "extra (ours, not in Binance's file)"),
    ):
        found = doc[key]
        runs = ", ".join(f"{lo}..{hi}" if lo != hi else str(lo) for lo, hi in found["runs"])
        more = f", ... {found['more_runs']} more runs" if found["more_runs"] else ""
        print(f"  {label}: {found['count']:,}" + (f": {runs}{more}" if found["count"] else ""))
    differing = doc["differing"]
    print("  differing: " + ", ".join(f"{k} {d['count']:,}" for k, d in differing.items()))
    for label, diff in differing.items():
        for ex in diff["examples"]:
            print(
                f"    {label} of agg id {ex['agg_id']}: Binance {ex['binance']}, ours {ex['ours']}"
            )
    if doc["certified"] is not None:
        print(f"  recorded as certified ({doc['ours']['source']} compared with the file)")
    for note in doc["notes"]:
        print(f"  note: {note}")
