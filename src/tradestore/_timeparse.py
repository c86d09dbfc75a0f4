"""Times as people type them, and as every result prints them.

On the command line a time is one of:

- epoch **seconds** (10 digits, optionally with a fraction: ``1767225600``, ``1767225600.25``),
  **milliseconds** (13 digits), microseconds (16) or nanoseconds (19): the digit count says
  which, so ``date +%s`` and the ms of an API both work; other lengths are refused;
- ISO-8601, UTC unless an offset is given: ``2026-01-01``, ``2026-01-01T09:30:00+01:00``;
- ``now``, or ``now`` plus or minus a duration: ``now-1d``, ``now-2h30m``.

A duration is one or more ``<number><unit>`` with units ``ms s m h d w``: ``90s``, ``1h30m``.

The library takes integers in milliseconds. ``check_epoch_ms`` refuses a bound that can only
be epoch seconds (10^9 <= n < 10^11 ms would be in 1970-1973, before any exchange existed),
so passing seconds is an error, never a silent query of January 1970.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# digits of an epoch number -> its units per millisecond (10 digits are seconds)
_UNITS_PER_MS = {13: 1, 16: 1000, 19: 1_000_000}
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)(ms|s|m|h|d|w))+")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_RELATIVE = re.compile(r"now\s*(?:([+-])\s*(\S+))?")
_SECONDS = re.compile(r"(\d{10})(?:\.(\d{1,9}))?")
# Epoch-seconds values read as milliseconds would fall here: 1970-01-12 .. 1973-03-03.
SECONDS_AS_MS = (10**9, 10**11)
FORMS = "epoch seconds or ms, ISO-8601 (2026-01-01T00:00:00Z), now or now-2h"


def now_ms() -> int:
    return int(time.time() * 1000)


def is_duration(text: str) -> bool:
    return _DURATION.fullmatch(text.strip().lower()) is not None


def parse_duration_ms(text: str) -> int:
    """``90s``, ``15m``, ``2h``, ``1d``, ``1h30m``, ``0.5h`` -> milliseconds (> 0)."""
    spec = text.strip().lower()
    if not _DURATION.fullmatch(spec):
        raise ValueError(
            f"invalid duration {text!r}: use a number and a unit (ms, s, m, h, d, w) "
            "such as 90s, 2h or 1h30m"
        )
    total = sum(float(number) * _UNIT_MS[unit] for number, unit in _DURATION_PART.findall(spec))
    if not 0 < total < 10**15:
        raise ValueError(f"duration {text!r} is not a positive length of time")
    return round(total)


def parse_time_ms(text: str, *, now: int | None = None) -> int:
    """A time as typed (see the module docstring) -> unix milliseconds."""
    text = text.strip()
    lower = text.lower()
    if lower.startswith("now"):
        return _relative(text, lower, now_ms() if now is None else now)
    if text.isascii() and text.isdigit():
        return _epoch(text)
    seconds = _SECONDS.fullmatch(text)
    if seconds:
        whole, fraction = seconds.groups()
        return int(whole) * 1000 + int((fraction or "0").ljust(3, "0")[:3])
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"invalid time {text!r}: use {FORMS}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _epoch(digits: str) -> int:
    value = int(digits)
    n = len(str(value))
    if value == 0:
        return 0
    if n == 10:
        return value * 1000  # epoch seconds, as `date +%s` prints them
    if n in _UNITS_PER_MS:
        return value // _UNITS_PER_MS[n]
    raise ValueError(
        f"{digits!r} has {n} digits: give epoch seconds (10 digits), milliseconds (13), "
        "microseconds (16) or nanoseconds (19), or an ISO-8601 time"
    )


def _relative(text: str, lower: str, now: int) -> int:
    match = _RELATIVE.fullmatch(lower)
    if not match:
        raise ValueError(f"invalid time {text!r}: use now, now-2h or now-1d12h")
    sign, duration = match.groups()
    if sign is None:
        return now
    ms = parse_duration_ms(duration)
    return now - ms if sign == "-" else now + ms


def check_epoch_ms(value: int, name: str) -> None:
    """Refuse a time in milliseconds that can only be epoch seconds (see SECONDS_AS_MS)."""
    if SECONDS_AS_MS[0] <= value < SECONDS_AS_MS[1]:
        raise ValueError(
            f"{name}={value} looks like epoch seconds ({format_time_ms(value * 1000)}); "
            f"times are epoch milliseconds: {value * 1000}"
        )


# The last second formatted: consecutive trades mostly share it (a table of 20,000 rows
# formats its times about 5x faster). One tuple, replaced whole, so threads never mix.
_last_second: tuple[int, str] = (0, "1970-01-01T00:00:00")


def format_time_ms(ms: int | None) -> str:
    """RFC 3339 UTC with milliseconds, as every result prints times: 2026-01-01T00:00:00.039Z."""
    if ms is None:
        return "-"
    second, milli = divmod(ms, 1000)
    cached = _last_second
    if second != cached[0]:
        try:
            text = (_EPOCH + timedelta(seconds=second)).strftime("%Y-%m-%dT%H:%M:%S")
        except OverflowError:
            return f"{ms} ms (beyond year 1..9999)"
        cached = _set_last_second(second, text)
    return f"{cached[1]}.{milli:03d}Z"


def _set_last_second(second: int, text: str) -> tuple[int, str]:
    global _last_second
    _last_second = (second, text)
    return _last_second


def format_duration_ms(ms: int) -> str:
    """A length of time for a person: 39 ms, 0.6 s, 47 min, 3.5 h, 2.1 days."""
    if ms < 1000:
        return f"{ms} ms"
    if ms < 60_000:
        return f"{ms / 1000:.3g} s"
    if ms < 3_600_000:
        return f"{ms / 60_000:.3g} min"
    if ms < 2 * 86_400_000:
        return f"{ms / 3_600_000:.3g} h"
    return f"{ms / 86_400_000:.3g} days"
