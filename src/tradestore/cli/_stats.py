"""``stats``: what the store holds, per symbol: its recorded span, ids, gaps and size."""

from __future__ import annotations

import argparse
import sys

from tradestore._timeparse import format_time_ms
from tradestore.cli import _common as c
from tradestore.cli._output import Column, emit, field, write_json
from tradestore.store import recorded_span

FIELDS = (
    "symbol",
    "trades",
    "recorded_from",
    "recorded_to",
    "first_trade_time",
    "last_trade_time",
    "first_time_ms",
    "last_time_ms",
    "first_agg_id",
    "last_agg_id",
    "open_gaps",
    "filled_gaps",
    "unfillable_gaps",
    "missing_ids_open",
    "bytes_on_disk_est",
)

COLUMNS = [
    field("symbol"),
    Column("trades", lambda r: f"{r['trades']:,}", right=True),
    Column("recorded (UTC)\nfrom / to", lambda r: f"{r['recorded_from']}\n{r['recorded_to']}"),
    Column(
        "agg ids\nfirst / last", lambda r: f"{r['first_agg_id']}\n{r['last_agg_id']}", right=True
    ),
    Column("gaps", lambda r: _gaps_cell(r), drop=2),
    Column("size\n(est.)", lambda r: human_bytes(r["bytes_on_disk_est"]), right=True, drop=3),
]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "stats",
        help="per symbol: trades, recorded span, first/last ids, gaps, size on disk",
        description="Summarise the store: per symbol the trade count, the span its record "
        "covers (first to last stored trade, or the whole period of an imported "
        "data.binance.vision file), first and last trade time and agg id, open and filled "
        "gaps, and its share of the table files on disk (an estimate by trade count); the "
        "bytes the whole DB directory takes. Every format carries the same fields.",
    )
    c.add_db(p)
    c.add_symbol(p, required=False)
    c.add_limit(p, "symbols")
    c.add_format(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with c.open_reader(args) as store:
        stats = store.stats()
        symbols = stats["symbols"]
        if args.symbol:
            symbol = c.symbol_arg(args)
            if symbol not in symbols:
                raise c.UsageError(f"no trades stored for {symbol} in {args.db}")
            symbols = {symbol: symbols[symbol]}
        spans = {name: recorded_span(store, name) for name in symbols}
    records = [record(name, s, spans[name]) for name, s in symbols.items()]
    limit = c.row_limit(args)
    shown = records if limit is None else records[:limit]
    header = {
        "path": stats["path"],
        "format_version": stats["format_version"],
        "bytes_on_disk": stats["bytes_on_disk"],
        "table_bytes": stats["table_bytes"],
    }
    if args.format == "json":
        # Keyed by symbol; each value is the record the csv and jsonl rows carry.
        write_json({**header, "symbols": {r["symbol"]: r for r in shown}}, sys.stdout)
        return 0
    title = (
        f"{stats['path']}: {len(records)} symbol{'' if len(records) == 1 else 's'}, "
        f"{sum(r['trades'] for r in records):,} trades, "
        f"{human_bytes(stats['bytes_on_disk'])} on disk"
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


def record(symbol: str, s: dict, span: tuple[int, int] | None) -> dict:
    """The same fields in every format (a None time is null in JSON, empty in CSV)."""
    return {
        "symbol": symbol,
        "trades": s["trades"],
        "recorded_from": None if span is None else format_time_ms(span[0]),
        "recorded_to": None if span is None else format_time_ms(span[1]),
        "first_trade_time": _time(s["first_time_ms"]),
        "last_trade_time": _time(s["last_time_ms"]),
        "first_time_ms": s["first_time_ms"],
        "last_time_ms": s["last_time_ms"],
        "first_agg_id": s["first_agg_id"],
        "last_agg_id": s["last_agg_id"],
        "open_gaps": s["open_gaps"],
        "filled_gaps": s["filled_gaps"],
        "unfillable_gaps": s["unfillable_gaps"],
        "missing_ids_open": s["missing_ids_open"],
        "bytes_on_disk_est": s["bytes_on_disk_est"],
    }


def _time(ms: int | None) -> str | None:
    return None if ms is None else format_time_ms(ms)


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
