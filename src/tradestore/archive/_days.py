"""UTC days as the archive cuts them: a day is [00:00:00.000, 23:59:59.999] UTC by trade time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

DAY_MS = 86_400_000
_EPOCH = date(1970, 1, 1)


def day_of(ms: int) -> date:
    return _EPOCH + timedelta(days=ms // DAY_MS)


def day_start_ms(day: date) -> int:
    return (day - _EPOCH).days * DAY_MS


def day_end_ms(day: date) -> int:
    """The last millisecond of ``day`` (inclusive)."""
    return day_start_ms(day) + DAY_MS - 1


def last_closed_day(now_ms: int, grace_ms: int = 0) -> date:
    """The newest day that ended at least ``grace_ms`` before ``now_ms``."""
    return day_of(now_ms - grace_ms) - timedelta(days=1)


def days(first: date, last: date):
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def parse_day(text: str) -> date:
    """YYYY-MM-DD (a UTC day); ValueError with a readable message otherwise."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
