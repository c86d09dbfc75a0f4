"""One output contract for every read command (docs/OUTPUT.md describes the shapes).

A command hands over *records*: dicts with the same keys, in the same order, whose
values are JSON types (decimals as exact strings, times as RFC 3339 text or epoch ms).

- ``json``: one document (an object) per command; its list of records sits under the
  command's own name for them (``trades``, ``gaps``, ``bins`` ...), beside what describes
  the whole result (the window, its coverage, totals).
- ``jsonl``: the records, one JSON object per line; nothing else.
- ``csv``: the records under a header of their keys, also when there is no record.
- ``table``: for a person. Plain text that fits the terminal: a column is left out (and
  named below the table) rather than cut, a cell may take two lines, and nothing is ever
  shortened with an ellipsis. Piped output is never narrowed unless ``COLUMNS`` says so.
  A table shows a bounded number of rows (``--limit``) and says how many more there are.

The machine formats stream: records may be a generator, written as they come.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import textwrap
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

FORMATS = ("table", "json", "jsonl", "csv")
# Rows a table shows unless --limit says otherwise: about two screens; the machine formats
# print every row.
DEFAULT_TABLE_ROWS = 100
GUTTER = "  "


@dataclass(frozen=True, slots=True)
class Column:
    """A column of a table: its heading, how a record becomes its cell, its alignment.

    A cell (or heading) may hold a line break: the row then takes two lines. ``drop`` ranks
    the columns a narrow terminal leaves out first (highest first); 0 is never left out.
    """

    header: str
    cell: Callable[[dict], str]
    right: bool = False
    drop: int = 0


def field(key: str, header: str | None = None, *, right: bool = False, drop: int = 0) -> Column:
    """A column showing one record key as it is."""
    return Column(header or key, lambda record: text(record[key]), right, drop)


def text(value: Any) -> str:
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def emit(
    fmt: str,
    records: Iterable[dict],
    *,
    fields: Sequence[str],
    columns: Sequence[Column] | None = None,
    document: dict | None = None,
    rows_key: str = "rows",
    title: str | None = None,
    footer: Sequence[str] = (),
    more: int = 0,
    after: Callable[[], dict] | None = None,
    out: TextIO | None = None,
) -> None:
    """Write ``records`` (dicts keyed by ``fields``) in ``fmt``.

    ``document`` is the JSON object around the records (they go under ``rows_key``);
    ``after()`` adds keys that are known only once the records were written (totals of a
    streamed result). ``title`` and ``footer`` frame a table; ``more`` is how many
    records were left out by the row limit (a table says so).
    """
    out = out or sys.stdout
    if fmt == "json":
        write_json({**(document or {}), rows_key: iter(records)}, out, after)
    elif fmt == "jsonl":
        dumps = json.dumps
        write = out.write
        for record in records:
            write(dumps(record) + "\n")
    elif fmt == "csv":
        write_csv(records, fields, out)
    else:
        rows = list(records)
        width = terminal_width(out)
        lines = wrap(title, width) if title else []
        table, dropped = render_table(rows, columns or [field(k) for k in fields], width)
        lines += table or ["(no rows)"]
        if more:
            lines.append(f"... {more:,} more rows (use --limit N, --limit all or --format csv)")
        if dropped:
            lines += wrap(
                f"left out to fit {width} columns: {', '.join(dropped)} "
                "(a wider terminal or --format csv shows them)",
                width,
            )
        for line in footer:
            lines += wrap(line, width)
        out.write("\n".join(lines) + "\n")


def write_csv(records: Iterable[dict], fields: Sequence[str], out: TextIO) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(fields)
    keys = list(fields)
    writer.writerows([_csv(record[k]) for k in keys] for record in records)


def _csv(value: Any) -> Any:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return value


def write_json(document: dict, out: TextIO, after: Callable[[], dict] | None = None) -> None:
    """``document`` as indented JSON; an iterator value is streamed as an array with one
    element per line, so a large result never has to be held as one string. The keys of
    ``after()`` follow, computed once everything before them was written."""
    out.write("{")
    first = True

    def write_items(items: Iterable[tuple[str, Any]]) -> None:
        nonlocal first
        for key, value in items:
            out.write(("\n" if first else ",\n") + "  " + json.dumps(key) + ": ")
            first = False
            if isinstance(value, Iterator):
                _write_array(value, out)
            else:
                out.write(json.dumps(value, indent=2).replace("\n", "\n  "))

    write_items(document.items())
    if after is not None:
        write_items(after().items())
    out.write("\n}\n")


def _write_array(items: Iterator, out: TextIO) -> None:
    dumps = json.dumps
    write = out.write
    opened = False
    for item in items:
        write(("[\n    " if not opened else ",\n    ") + dumps(item))
        opened = True
    write("\n  ]" if opened else "[]")


def terminal_width(out: TextIO) -> int | None:
    """The width a table must fit: ``COLUMNS`` if set, else the terminal's; None (no
    limit) when the output is not a terminal."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return max(int(columns), 20)
    try:
        if out.isatty():
            return max(os.get_terminal_size(out.fileno()).columns, 20)
    except (AttributeError, OSError, ValueError):
        pass
    return None


def wrap(line: str, width: int | None) -> list[str]:
    """A line of prose broken at spaces to fit ``width`` (continuations indented)."""
    if width is None or len(line) <= width:
        return [line]
    return textwrap.wrap(
        line, width, subsequent_indent="  ", break_long_words=False, break_on_hyphens=False
    )


def render_table(
    records: Sequence[dict], columns: Sequence[Column], width: int | None
) -> tuple[list[str], list[str]]:
    """(lines, headings of the columns left out to fit ``width``). No lines: no records."""
    if not records:
        return [], []
    cells = [[col.cell(r) for r in records] for col in columns]
    multi = [
        any("\n" in c for c in column) or "\n" in col.header
        for col, column in zip(columns, cells, strict=True)
    ]
    widths = [
        _width(col.header, column, is_multi)
        for col, column, is_multi in zip(columns, cells, multi, strict=True)
    ]
    keep = list(range(len(columns)))
    dropped: list[str] = []
    if width is not None:
        while _total(widths, keep) > width:
            candidates = [i for i in keep if columns[i].drop > 0]
            if not candidates:
                break
            worst = max(candidates, key=lambda i: (columns[i].drop, i))
            keep.remove(worst)
            dropped.append(columns[worst].header.replace("\n", " "))
        if _total(widths, keep) > width:
            # Even the essential columns do not fit: one record per block, never cut.
            return _records(records, [columns[i] for i in keep], [cells[i] for i in keep]), dropped
    cols = [columns[i] for i in keep]
    cells = [cells[i] for i in keep]
    widths = [widths[i] for i in keep]
    multi = [multi[i] for i in keep]
    lines = _block([col.header for col in cols], cols, widths)
    lines.append(GUTTER.join("─" * w for w in widths))
    if not any(multi):
        spec = GUTTER.join(
            f"{{:{'>' if col.right else '<'}{w}}}" for col, w in zip(cols, widths, strict=True)
        )
        fmt = spec.format
        lines.extend(fmt(*row).rstrip() for row in zip(*cells, strict=True))
    else:
        for row in zip(*cells, strict=True):
            lines.extend(_block(row, cols, widths))
    return lines, dropped


def _width(header: str, column: list[str], multi: bool) -> int:
    if multi:
        return max(len(part) for value in [header, *column] for part in value.split("\n"))
    return max(len(header), max(map(len, column)))


def _total(widths: list[int], keep: list[int]) -> int:
    return sum(widths[i] for i in keep) + len(GUTTER) * (len(keep) - 1)


def _block(values: Sequence[str], cols: Sequence[Column], widths: Sequence[int]) -> list[str]:
    """One row whose cells may hold several lines, as that many text lines."""
    parts = [value.split("\n") for value in values]
    height = max(len(p) for p in parts)
    lines = []
    for n in range(height):
        line = GUTTER.join(
            (p[n] if n < len(p) else "").rjust(w)
            if col.right
            else (p[n] if n < len(p) else "").ljust(w)
            for p, col, w in zip(parts, cols, widths, strict=True)
        )
        lines.append(line.rstrip())
    return lines


def _records(records: Sequence[dict], cols: Sequence[Column], cells: list[list[str]]) -> list[str]:
    """The fallback layout for a terminal too narrow for any table: heading: value lines."""
    label = max(len(col.header.replace("\n", " ")) for col in cols)
    lines: list[str] = []
    for n in range(len(records)):
        if n:
            lines.append("")
        for col, column in zip(cols, cells, strict=True):
            value = column[n].replace("\n", " .. ")
            lines.append(f"{col.header.replace(chr(10), ' '):<{label}}  {value}")
    return lines
