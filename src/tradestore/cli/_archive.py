"""``archive``: closed UTC days of the store as Parquet partitions, on disk or S3."""

from __future__ import annotations

import argparse
import json
import sys
import time

from tradestore.cli import _common as c
from tradestore.cli._output import terminal_width, wrap

EPILOG = """\
The dataset is Hive-style, one Parquet file per symbol and UTC day:
  DEST/market=spot/symbol=BTCUSDT/date=2026-11-27/BTCUSDT-2026-11-27.parquet
Read it with e.g. DuckDB:
  SELECT symbol, date, count(*), sum(qty) FROM read_parquet(
    'DEST/market=*/symbol=*/date=*/*.parquet', hive_partitioning=true) GROUP BY ALL;
S3: --to s3://bucket/prefix, with credentials and region from the AWS_* environment
variables or ~/.aws; another S3-compatible server via AWS_ENDPOINT_URL or the URL's
query, e.g. s3://bucket/prefix?endpoint_override=minio:9000&scheme=http.
Exit status: 0 when every day was archived (or already was), 1 when any day failed."""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "archive",
        help="write closed UTC days to a Parquet dataset (local or S3)",
        description="Write each closed UTC day of each symbol as its own partition of one "
        "Parquet dataset (agg_id int64, price/qty decimal(18,8), time timestamp(ms, UTC), "
        "is_buyer_maker; sorted by agg_id). A partition appears whole or not at all and "
        "carries its row count, agg-id range, checksum and whether the day's record is "
        "complete. Days already archived complete are skipped; an incomplete one is merged "
        "with what the store now holds and replaced if that adds trades, so running it again "
        "(after a backfill, or after an interrupted run) is always safe. Needs the "
        "'parquet' extra (pip install 'tradestore-trio[parquet]').",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.add_db(p)
    p.add_argument("--to", required=True, metavar="DEST", help="a directory, or s3://bucket/prefix")
    p.add_argument(
        "--symbol",
        action="append",
        metavar="S",
        help="archive only this symbol (repeat for more; default: every stored symbol)",
    )
    p.add_argument(
        "--through",
        metavar="DATE",
        help="the last UTC day to archive, YYYY-MM-DD or any time (default: yesterday, the "
        "last closed day)",
    )
    p.add_argument(
        "--since", metavar="DATE", help="the first UTC day to consider (default: the first stored)"
    )
    p.add_argument(
        "--market",
        default=None,
        help="the market= value of the partitions (default: the store's market, else spot)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="re-read days already archived complete too (merged, replaced only if changed)",
    )
    p.add_argument(
        "--format",
        choices=("table", "jsonl"),
        default="table",
        help="one line per day as text (default) or JSON",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    archive = require_archive()
    dest = destination(args.to)
    through = day_arg(args.through, "--through")
    since = day_arg(args.since, "--since")
    symbols = symbols_arg(args.symbol)
    try:
        dest.check_writable()
    except archive.DestinationError as exc:
        raise c.UsageError(str(exc)) from None
    failed = written = 0
    began = time.perf_counter()
    with c.open_reader(args) as store:
        c.require_known(store, *(symbols or ()))
        market = args.market or archive.store_market(store)
        archiver = archive.Archiver(store, dest, market=market, force=args.force)
        for result in archiver.run(symbols, through=through, since=since):
            failed += not result.ok
            written += result.action in (archive.WRITTEN, archive.REPLACED)
            print_result(result, args.format)
        status = c.report_corrupt(store)
    if args.format == "table":
        line = (
            f"{written} partitions written, {failed} failed, in "
            f"{time.perf_counter() - began:.1f} s -> {archive.redact(args.to)}"
        )
        print("\n".join(wrap(line, terminal_width(sys.stderr))), file=sys.stderr)
    return 1 if failed else status


def print_result(result, fmt: str) -> None:
    doc = result.to_dict()
    if fmt == "jsonl":
        print(json.dumps(doc), flush=True)
        return
    width = terminal_width(sys.stdout)
    what = f"{doc['symbol']} {doc['date']}: {doc['action']}"
    if result.error:
        lines = [f"{what}: {result.error}"]
    else:
        info = result.info
        size = (
            f", {doc['bytes'] / 1e6:.1f} MB, {doc['bytes_per_trade']} B/trade"
            if doc["bytes"]
            else ""
        )
        state = "complete" if info.complete else "INCOMPLETE"
        lines = [f"{what}, {info.rows:,} trades{size}, {state} ({doc['seconds']:.1f} s)"]
        lines += [f"  {reason}" for reason in info.incomplete_reasons]
    for line in lines:
        print("\n".join(wrap(line, width)), flush=True)


def require_archive():
    """The archive package, or a usage error naming the extra that brings pyarrow."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise c.UsageError(
            "the Parquet archive needs pyarrow: pip install 'tradestore-trio[parquet]'"
        ) from None
    import tradestore.archive

    return tradestore.archive


def symbols_arg(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    from tradestore.store import check_symbol

    try:
        return [check_symbol(s) for s in values]
    except ValueError as exc:
        raise c.UsageError(str(exc)) from None


def destination(url: str):
    archive = require_archive()
    try:
        return archive.Destination(url)
    except archive.DestinationError as exc:
        raise c.UsageError(str(exc)) from None


def day_arg(text: str | None, flag: str):
    """A UTC day: YYYY-MM-DD, or any time the other commands take (its day)."""
    if text is None:
        return None
    from tradestore.archive import day_of, parse_day

    try:
        return parse_day(text)
    except ValueError:
        return day_of(c.time_arg(text, flag))
