"""``stats``: what the store holds, per symbol: its recorded span, ids, gaps, the days
certified against Binance's files, and size."""

from __future__ import annotations

import argparse
import sys

from tradestore.api._documents import STATS_FIELDS, stats_document, stats_records
from tradestore.cli import _common as c
from tradestore.cli._output import Column, emit, field, write_json

FIELDS = STATS_FIELDS

COLUMNS = [
    field("symbol"),
    Column("trades", lambda r: f"{r['trades']:,}", right=True),
    Column(
        "recorded (UTC)\nfrom / to",
        lambda r: f"{_cell(r['recorded_from'])}\n{_cell(r['recorded_to'])}",
    ),
    Column(
        "agg ids\nfirst / last",
        lambda r: f"{_cell(r['first_agg_id'])}\n{_cell(r['last_agg_id'])}",
        right=True,
    ),
    Column("gaps", lambda r: _gaps_cell(r), drop=2),
    Column(
        "certified\ndays / last",
        lambda r: f"{r['certified_days']}\n{_cell(r['last_certified'])}",
        right=True,
        drop=2,
    ),
    Column("size\n(est.)", lambda r: human_bytes(r["bytes_on_disk_est"]), right=True, drop=3),
]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "stats",
        help="per symbol: trades, recorded span, first/last ids, gaps, size on disk",
        description="Summarise the store: per symbol the trade count, the span its record "
        "covers (first to last stored trade, or the whole period of an imported "
        "data.binance.vision file), first and last trade time and agg id, open and filled "
        "gaps, the UTC days certified against Binance's published files (`verify --against`: "
        "how many still hold, and the last), and its share of the table files on disk (an estimate by trade count); the "
        "bytes the whole DB directory takes. Every format carries the same fields.",
    )
    c.add_db(p)
    c.add_symbol(p, required=False)
    c.add_limit(p, "symbols")
    c.add_format(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tradestore.api import NotFound

    symbol = c.symbol_arg(args) if args.symbol else None
    with c.open_reader(args, symbol=symbol) as store:
        try:
            header, records = stats_records(store, symbol)
        except NotFound as exc:
            raise c.UsageError(f"{exc} in {args.db}") from None
    limit = c.row_limit(args)
    shown = records if limit is None else records[:limit]
    if args.format == "json":
        # Keyed by symbol; each value is the record the csv and jsonl rows carry.
        write_json(stats_document(header, shown), sys.stdout)
        return 0
    title = (
        f"{header['path']}: {len(records)} symbol{'' if len(records) == 1 else 's'}, "
        f"{sum(r['trades'] for r in records):,} trades, "
        f"{human_bytes(header['bytes_on_disk'])} on disk"
    )
    emit(
        args.format,
        shown,
        fields=FIELDS,
        columns=COLUMNS,
        title=title,
        more=len(records) - len(shown),
    )
    return 0


def _cell(value) -> str:
    """A value of the table; none (a symbol whose trades were all pruned) is a dash."""
    return "-" if value is None else str(value)


def _gaps_cell(r: dict) -> str:
    text = f"{r['open_gaps']} open\n{r['filled_gaps']} filled"
    if r["unfillable_gaps"]:
        text += f", {r['unfillable_gaps']} unfillable"
    return text


def human_bytes(n: int) -> str:
    """1023 B, 89.9 KiB, 1.2 GiB: binary units, one decimal."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
