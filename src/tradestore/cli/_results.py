"""How an analysis's result is printed: what its record covers (a table's footer, or a
note on stderr beside csv and jsonl), and a result by interval as one row per interval."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from tradestore.cli import _common as c
from tradestore.cli._output import Column, emit


def coverage_footer(result) -> list[str]:
    """The table's footer: the summary of the result's record, when it has one."""
    return [] if result.coverage is None else [result.coverage.summary()]


def note_coverage(result) -> None:
    """A one-line stderr note when a csv/jsonl result rests on an incomplete record."""
    if result.coverage is not None and not result.coverage.complete:
        c.note(f"{result.symbol}: {result.coverage.summary()}")


def emit_by_interval(
    args: argparse.Namespace,
    result,
    *,
    rows_key: str,
    fields: Sequence[str],
    columns: Sequence[Column],
    title: Callable[[dict, int], str],
) -> None:
    """A result by interval (candles, cvd) in --format: json is the result's document
    with its rows under ``rows_key``; the others a row per interval, as many as --limit
    shows. ``title(document, rows)`` heads the table."""
    doc = result.to_json()
    records = doc.pop(rows_key)
    shown, more = c.limited(args, records)
    emit(
        args.format,
        shown,
        fields=fields,
        columns=columns,
        document=doc,
        rows_key=rows_key,
        title=title(doc, len(records)),
        footer=coverage_footer(result),
        more=more,
    )
    if args.format in ("csv", "jsonl"):
        note_coverage(result)
