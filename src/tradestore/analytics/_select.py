"""Choosing and ordering a screen's rows: ``--where`` conditions, ``--sort`` and ``--top``.

The columns are the screen's (``COLUMNS``); a condition compares a row's exact value (a
Decimal for prices and volumes) with the number given, so ``volume>1e6`` means exactly
that. docs/ANALYTICS.md ("Screen") states the rules.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol, TypeVar

# The row's columns, in order (a CSV's header, the JSON row's keys before ``coverage``).
COLUMNS = (
    "symbol",
    "last_price",
    "volume",
    "base_volume",
    "buy_volume",
    "sell_volume",
    "buy_share",
    "cvd",
    "trade_count",
    "first_trade_time",
    "last_trade_time",
    "bin_size",
    "poc",
    "value_area_low",
    "value_area_high",
    "in_value_area",
    "dist_poc_pct",
    "in_vacuum",
    "vacuum_above_low",
    "vacuum_above_high",
    "dist_vacuum_above_pct",
    "dist_vacuum_above_bins",
    "vacuum_below_low",
    "vacuum_below_high",
    "dist_vacuum_below_pct",
    "dist_vacuum_below_bins",
    "naked_poc",
    "naked_poc_day",
    "dist_naked_poc_pct",
    "naked_poc_count",
    "data_complete",
    "recorded",
    "note",
)
# Columns whose natural order is nearest first (the rest sort largest first).
ASCENDING = frozenset(
    {
        "symbol",
        "dist_poc_pct",
        "dist_vacuum_above_pct",
        "dist_vacuum_above_bins",
        "dist_vacuum_below_pct",
        "dist_vacuum_below_bins",
        "dist_naked_poc_pct",
    }
)
TEXT = frozenset(
    {"symbol", "first_trade_time", "last_trade_time", "naked_poc_day", "recorded", "note"}
)
DEFAULT_SORT = "volume"


class HasValues(Protocol):
    """A row: its symbol and its columns' values."""

    @property
    def symbol(self) -> str: ...

    def values(self) -> dict[str, Any]: ...


RowT = TypeVar("RowT", bound=HasValues)


_CONDITION = re.compile(r"^\s*(!|not\s+)?([a-z_]+)\s*(?:(<=|>=|==|!=|<|>|=)\s*(\S+))?\s*$")
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


def parse_where(text: str) -> Callable[[dict[str, Any]], bool]:
    """A row filter from conditions joined by ``,`` or ``and`` (all must hold): a flag
    column (``in_vacuum``, ``!in_value_area``, ``not data_complete``), or a column, an
    operator (< <= > >= == !=) and a number (``dist_poc_pct<0.5``, ``volume>1e6``) or,
    for text columns, a word (``recorded==full``). A row whose column is empty (null)
    fails every condition on it. ValueError names an unknown column or bad condition."""
    parts = [p for p in re.split(r",|\s+and\s+", text.strip()) if p.strip()]
    if not parts:
        raise ValueError("--where: no condition given")
    tests = [_condition(part) for part in parts]

    def keep(values: dict[str, Any]) -> bool:
        return all(test(values) for test in tests)

    return keep


def _condition(part: str) -> Callable[[dict[str, Any]], bool]:
    found = _CONDITION.match(part)
    if found is None:
        raise ValueError(
            f"--where: cannot read {part.strip()!r}: give COLUMN, !COLUMN or COLUMN<NUMBER "
            "(operators < <= > >= == !=)"
        )
    negate, column, op, operand = found.groups()
    if column not in COLUMNS:
        raise ValueError(f"--where: unknown column {column!r}; columns: {', '.join(COLUMNS)}")
    if op is None:
        want = not negate

        def flag(values: dict[str, Any]) -> bool:
            value = values[column]
            return value is not None and bool(value) is want

        return flag
    if negate:
        raise ValueError(f"--where: {part.strip()!r}: negate a flag column only")
    compare = _OPS[op]
    if column in TEXT:
        word = operand
        if op not in ("=", "==", "!="):
            raise ValueError(f"--where: {column} is text: compare it with == or !=")

        def text(values: dict[str, Any]) -> bool:
            value = values[column]
            return value is not None and compare(str(value).upper(), word.upper())

        return text
    try:
        number = Decimal(operand)
    except InvalidOperation:
        if operand.lower() in ("true", "false"):
            number = Decimal(operand.lower() == "true")
        else:
            raise ValueError(f"--where: {operand!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"--where: {operand!r} is not a finite number")

    def numeric(values: dict[str, Any]) -> bool:
        value = values[column]
        if value is None:
            return False
        return compare(Decimal(value) if isinstance(value, float) else value, number)

    return numeric


def check_sort(column: str | None, order: str | None) -> tuple[str, bool]:
    """(column, descending) of a sort request; ValueError names a bad one."""
    column = column or DEFAULT_SORT
    if column not in COLUMNS:
        raise ValueError(f"unknown sort column {column!r}; columns: {', '.join(COLUMNS)}")
    if order not in (None, "asc", "desc"):
        raise ValueError(f"order must be asc or desc, not {order!r}")
    descending = column not in ASCENDING if order is None else order == "desc"
    return column, descending


def select_rows(
    rows: Iterable[RowT],
    *,
    where: str | None = None,
    sort: str | None = None,
    order: str | None = None,
    top: int | None = None,
) -> list[RowT]:
    """The rows ``where`` keeps (``parse_where``), sorted by the column ``sort`` (default
    volume; ``order`` asc/desc, default largest first but for the symbol and the
    distances, nearest first; empty values last, ties by symbol), at most ``top``."""
    keep = parse_where(where) if where else None
    column, descending = check_sort(sort, order)
    if top is not None and (not isinstance(top, int) or top < 0):
        raise ValueError("top must be a whole number, 0 or more")
    pairs = [(row, row.values()) for row in rows]
    if keep is not None:
        pairs = [(row, values) for row, values in pairs if keep(values)]
    filled = [(r, v) for r, v in pairs if v[column] is not None]
    empty = [(r, v) for r, v in pairs if v[column] is None]
    filled.sort(key=lambda rv: rv[0].symbol)
    filled.sort(key=lambda rv: _key(rv[1][column]), reverse=descending)
    ordered = [r for r, _ in filled] + sorted((r for r, _ in empty), key=lambda r: r.symbol)
    return ordered if top is None else ordered[:top]


def _key(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return Decimal(value)
    return value
