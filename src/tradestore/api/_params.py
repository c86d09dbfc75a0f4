"""The arguments of a tool: one declaration gives the JSON schema (MCP), the OpenAPI
parameter (HTTP) and the reading of a value from either.

Over HTTP every value arrives as query-string text; over MCP as JSON. Both are read by
the same rules, and leniently where a client may reasonably send the other form (``"100"``
for an integer, ``true`` or ``"true"`` for a flag); anything else is a ``BadArgument``
naming the parameter.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tradestore.api._errors import BadArgument

# kind -> the JSON schema "type" of a value of that kind
_JSON_TYPES: dict[str, Any] = {
    "string": "string",
    "integer": "integer",
    "number": "number",
    # A window's length: a number whose bounds are the window's (tradestore._window), checked
    # with the window so that the refusal is the same however the window was given.
    "length": "number",
    "boolean": "boolean",
    # A time is text (ISO-8601, now-2h, 2h) or an epoch number (10 digits s, 13 ms).
    "time": ["string", "integer"],
    # An exact decimal: text ("0.01") or a JSON number (read through its shortest text).
    "decimal": ["string", "number"],
}
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


@dataclass(frozen=True, slots=True)
class Param:
    """One argument: its name (the command line's flag without ``--``), kind, meaning and
    bounds. ``default`` None with ``required`` False: the tool decides (e.g. "now")."""

    name: str
    kind: str
    description: str
    default: Any = None
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in _JSON_TYPES:
            raise ValueError(f"unknown parameter kind {self.kind!r}")

    def schema(self) -> dict[str, Any]:
        """The JSON schema of the value (also an OpenAPI 3.1 parameter schema)."""
        doc: dict[str, Any] = {"type": _JSON_TYPES[self.kind], "description": self.description}
        if self.default is not None:
            doc["default"] = self.default
        if self.minimum is not None:
            doc["minimum"] = self.minimum
        if self.maximum is not None:
            doc["maximum"] = self.maximum
        if self.exclusive_minimum is not None:
            doc["exclusiveMinimum"] = self.exclusive_minimum
        return doc

    def read(self, value: Any) -> Any:
        """The value as the tool uses it: str, int, float or bool (times and decimals as
        text, for the parsers that own their rules)."""
        name = self.name
        kind = self.kind
        if isinstance(value, str):
            value = value.strip()
        if kind == "string":
            if not isinstance(value, str) or not value:
                raise BadArgument(f"{name}: expected text, got {value!r}")
            return value
        if kind == "time":
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                return str(value)
            if isinstance(value, str) and value:
                return value
            raise BadArgument(f"{name}: expected a time (ISO-8601, epoch s or ms), got {value!r}")
        if kind == "decimal":
            if isinstance(value, int | float) and not isinstance(value, bool):
                if not math.isfinite(value):
                    raise BadArgument(f"{name}: expected a decimal number, got {value!r}")
                return repr(value) if isinstance(value, float) else str(value)
            if isinstance(value, str) and value:
                return value
            raise BadArgument(f"{name}: expected a decimal number, got {value!r}")
        if kind == "boolean":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
                return value.lower() in _TRUE
            raise BadArgument(f"{name}: expected true or false, got {value!r}")
        number = self._number(value)
        if kind != "length":
            self._check_bounds(number)
        return number

    def _number(self, value: Any) -> int | float:
        name = self.name
        if isinstance(value, bool):
            raise BadArgument(f"{name}: expected a number, got {value!r}")
        if self.kind == "integer":
            if isinstance(value, int):
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)
            if isinstance(value, str):
                try:
                    return int(value)
                except ValueError:
                    pass
            raise BadArgument(f"{name}: expected an integer, got {value!r}")
        try:
            number = float(value) if isinstance(value, str | int | float) else math.nan
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise BadArgument(f"{name}: expected a finite number, got {value!r}")
        return number

    def _check_bounds(self, number: float) -> None:
        low, high, above = self.minimum, self.maximum, self.exclusive_minimum
        if (
            (low is not None and number < low)
            or (high is not None and number > high)
            or (above is not None and number <= above)
        ):
            raise BadArgument(f"{self.name} must be {self._range()}, not {number:g}")

    def _range(self) -> str:
        low, high, above = self.minimum, self.maximum, self.exclusive_minimum
        if low is not None and high is not None:
            return f"between {low:g} and {high:g}"
        parts = []
        if above is not None:
            parts.append(f"above {above:g}")
        elif low is not None:
            parts.append(f"at least {low:g}")
        if high is not None:
            parts.append(f"at most {high:g}")
        return " and ".join(parts)


def read_arguments(params: Sequence[Param], raw: Mapping[str, Any], tool: str) -> dict[str, Any]:
    """Every parameter's value (its default when not given; None for an optional one
    without default), refusing unknown names and missing required ones. An empty
    string (``?end=``) counts as not given."""
    known = {p.name: p for p in params}
    unknown = sorted(set(raw) - known.keys())
    if unknown:
        names = ", ".join(p.name for p in params)
        raise BadArgument(
            f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: "
            f"{tool} takes {names}"
        )
    values: dict[str, Any] = {}
    for p in params:
        value = raw.get(p.name)
        if value is None or value == "":
            if p.required:
                raise BadArgument(f"{p.name} is required")
            values[p.name] = p.default
        else:
            values[p.name] = p.read(value)
    return values
