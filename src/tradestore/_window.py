"""A time window from ``start``, ``end`` and ``hours`` as people give them.

One rule for every front end: the command line's ``--start/--end/--hours``, the HTTP
API's query parameters and the MCP tools' arguments. Only the names in the messages
differ (``--start`` on the command line, ``start`` elsewhere).

Any two of the three fix the window (a ``start`` that is a bare duration, ``2h``, counts
as a length). With fewer: a missing end is now, or the last stored trade for a window that
defaults to everything stored; a missing start is the length (``hours`` or the default)
before the end, or the first stored trade. Both ends are inclusive, in epoch ms.
"""

from __future__ import annotations

from collections.abc import Mapping

from tradestore._timeparse import is_duration, now_ms, parse_duration_ms, parse_time_ms

# Windows longer than a century are typos (or inf/nan), not requests: refuse them early.
MAX_HOURS = 100 * 366 * 24
# The analytics tools' rule (the trading assistant's): windows of 1 to 168 hours.
ANALYTICS_MAX_HOURS = 168
HOUR_MS = 3_600_000

PLAIN_NAMES: Mapping[str, str] = {"start": "start", "end": "end", "hours": "hours"}
FLAG_NAMES: Mapping[str, str] = {"start": "--start", "end": "--end", "hours": "--hours"}


class WindowError(ValueError):
    """A window that cannot be read or is not allowed; the message names the argument."""


def resolve_window(
    start: str | None,
    end: str | None,
    hours: float | None,
    *,
    default_hours: float | None,
    stored: tuple[int, int] | None = None,
    now: int | None = None,
    names: Mapping[str, str] = PLAIN_NAMES,
) -> tuple[int, int]:
    """(start_ms, end_ms) from the three arguments (module docstring).

    ``default_hours`` is the length when neither ``start`` nor ``hours`` is given; None
    means everything stored: ``stored`` = (first, last) trade time then fills the gaps.
    """
    s, e, h = names["start"], names["end"], names["hours"]
    now = now_ms() if now is None else now  # one "now" for every argument
    length = None if hours is None else hours_ms(hours, names)
    if start is not None and is_duration(start):
        if length is not None:
            raise WindowError(f"give {h} or a duration as {s}, not both")
        length = duration_ms(start, s)
        start = None
    if start is not None and end and length is not None:
        raise WindowError(f"give at most two of {s}, {e} and {h}")
    start_ms = None if start is None else time_ms(start, s, now=now)
    if end:
        end_ms = time_ms(end, e, now=now)
    elif start_ms is not None and length is not None:
        end_ms = start_ms + length
    elif stored is not None:
        end_ms = stored[1]
    else:
        end_ms = now
    if start_ms is None:
        if length is None and default_hours is not None:
            length = hours_ms(default_hours, names)
        if length is not None:
            start_ms = end_ms - length
        elif stored is not None:
            start_ms = stored[0]
        else:
            raise WindowError(f"give {s} or {h}")
    if end_ms < start_ms:
        raise WindowError(f"{e} is before {s}")
    return start_ms, end_ms


def bounded_window(
    start: str | None,
    end: str | None,
    hours: float | None,
    *,
    default_hours: float,
    max_hours: float,
    min_hours: float = 0,
    names: Mapping[str, str] = PLAIN_NAMES,
) -> tuple[int, int]:
    """resolve_window for a tool with limits: ``hours`` (when given) within
    [min_hours, max_hours] and above 0, and the window no longer than ``max_hours``."""
    h = names["hours"]
    if hours is not None and not (min_hours <= hours <= max_hours and hours > 0):
        if min_hours > 0:
            raise WindowError(f"{h} must be between {min_hours:g} and {max_hours:g}")
        raise WindowError(f"{h} must be a positive number of hours up to {max_hours:g}")
    start_ms, end_ms = resolve_window(start, end, hours, default_hours=default_hours, names=names)
    if end_ms - start_ms > max_hours * HOUR_MS:
        raise WindowError(f"the window is longer than {max_hours:g} hours")
    return start_ms, end_ms


def time_ms(text: str, name: str, *, now: int | None = None) -> int:
    try:
        return parse_time_ms(text, now=now)
    except ValueError as exc:
        raise WindowError(f"{name}: {exc}") from None


def duration_ms(text: str, name: str) -> int:
    try:
        ms = parse_duration_ms(text)
    except ValueError as exc:
        raise WindowError(f"{name}: {exc}") from None
    if ms > MAX_HOURS * HOUR_MS:
        raise WindowError(f"{name}: {text} is longer than {MAX_HOURS} hours")
    return ms


def hours_ms(hours: float, names: Mapping[str, str] = PLAIN_NAMES) -> int:
    """``hours`` as milliseconds, refusing nan, inf, zero, negatives and absurd spans."""
    if not 0 < hours <= MAX_HOURS:
        raise WindowError(f"{names['hours']} must be a positive number of hours up to {MAX_HOURS}")
    return int(hours * HOUR_MS)
