"""A time window from ``start``, ``end`` and ``hours`` as people give them.

One rule for every front end: the command line's ``--start/--end/--hours``, the HTTP
API's query parameters and the MCP tools' arguments. Only the names in the messages
differ (``--start`` on the command line, ``start`` elsewhere).

Any two of the three fix the window (a ``start`` that is a bare duration, ``2h``, counts
as a length). With fewer: a missing end is now, or the last stored trade for a window that
defaults to everything stored; a missing start is the length (``hours`` or the default)
before the end, or the first stored trade. Both ends are inclusive, in epoch ms, and a
length covers exactly that many ms: N hours from a start are [start, start + N h), so the
inclusive end is start + N h - 1 ms; N hours up to an end are [end - N h + 1, end]. A
start and an end given as times are taken as given.

How long a window may be depends on the question, never on how the window was given: the
limits are the rows of ``LIMITS``, each with the reason its refusal states.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tradestore._errors import BadInput
from tradestore._timeparse import is_duration, now_ms, parse_duration_ms, parse_time_ms

HOUR_MS = 3_600_000
# Windows longer than a century are typos (or inf/nan), not requests: refuse them early.
MAX_HOURS = 100 * 366 * 24

PLAIN_NAMES: Mapping[str, str] = {"start": "start", "end": "end", "hours": "hours"}
FLAG_NAMES: Mapping[str, str] = {"start": "--start", "end": "--end", "hours": "--hours"}


class WindowError(BadInput, ValueError):
    """A window that cannot be read or is not allowed; the message names the argument."""


@dataclass(frozen=True, slots=True)
class WindowLimit:
    """The longest window one kind of question takes, and why. Any positive length up to
    it is allowed, however the window was given."""

    max_hours: float
    reason: str

    @property
    def max_ms(self) -> int:
        return round(self.max_hours * HOUR_MS)

    def check(self, start_ms: int, end_ms: int) -> None:
        # The distance between the inclusive ends is measured, so that `--hours 168` and
        # `--start D --end D+7d` (two midnights, as people write a week) are both a week.
        if end_ms - start_ms > self.max_ms:
            raise WindowError(self.refusal(end_ms - start_ms + 1))

    def refusal(self, length_ms: int) -> str:
        return (
            f"the window is {length_ms / HOUR_MS:.10g} hours long: at most "
            f"{self.max_hours:g} hours, as {self.reason}"
        )


# Every limit a window is checked against, one row per kind of question; a question without
# one takes any positive length (a length itself is at most MAX_HOURS).
ANALYTICS = WindowLimit(
    8784, "the analytics read at most a year (366 days) at a time, a day rollup per day"
)
API_ANSWER = WindowLimit(168, "one answer of the API covers at most a week")
TRADES_PAGE = WindowLimit(24, "a page of trades is looked for within at most a day")
FOOTPRINT = WindowLimit(24, "an answer's footprint lists every traded price of every candle")
RAW_INTERVALS = WindowLimit(24, "an interval of whole seconds is summed from the trades")
LIMITS: Mapping[str, WindowLimit] = {
    "analytics": ANALYTICS,
    "api answer": API_ANSWER,
    "trades page": TRADES_PAGE,
    "footprint": FOOTPRINT,
    "raw intervals": RAW_INTERVALS,
}
# The analytics' longest window, in hours (profile, vacuums, report).
ANALYTICS_MAX_HOURS = ANALYTICS.max_hours


def resolve_window(
    start: str | None,
    end: str | None,
    hours: float | None,
    *,
    default_hours: float | None,
    stored: tuple[int, int] | None = None,
    now: int | None = None,
    names: Mapping[str, str] = PLAIN_NAMES,
    limit: WindowLimit | None = None,
) -> tuple[int, int]:
    """(start_ms, end_ms), both inclusive, from the three arguments (module docstring),
    no longer than ``limit`` allows (None: any positive length up to ``MAX_HOURS``).

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
        end_ms = start_ms + length - 1
    elif stored is not None:
        end_ms = stored[1]
    else:
        end_ms = now
    if start_ms is None:
        if length is None and default_hours is not None:
            length = hours_ms(default_hours, names)
        if length is not None:
            start_ms = end_ms - length + 1
        elif stored is not None:
            start_ms = stored[0]
        else:
            raise WindowError(f"give {s} or {h}")
    if end_ms < start_ms:
        raise WindowError(f"{e} is before {s}")
    if limit is not None:
        limit.check(start_ms, end_ms)
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
    """``hours`` as whole milliseconds (at least one), refusing nan, inf, zero, negatives
    and absurd spans."""
    ms = round(hours * HOUR_MS) if 0 < hours <= MAX_HOURS else 0
    if ms < 1:
        raise WindowError(
            f"{names['hours']} must be a positive number of hours (at least 1 ms) up to {MAX_HOURS}"
        )
    return ms
