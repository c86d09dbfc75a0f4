"""Times on the command line: epoch milliseconds or ISO-8601 (UTC unless an offset is given)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_time_ms(text: str) -> int:
    """``1767225600000`` or ``2026-01-01T00:00:00Z`` / ``2026-01-01 00:00`` -> unix ms."""
    text = text.strip()
    if text.isdigit():
        value = int(text)
        if len(text) > 13:
            raise ValueError(f"{text!r} has more than 13 digits: give epoch milliseconds")
        return value
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"invalid time {text!r}: use epoch milliseconds or ISO-8601 such as 2026-01-01T00:00:00Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def format_time_ms(ms: int | None) -> str:
    """RFC 3339 UTC with milliseconds, as every JSON result carries times."""
    if ms is None:
        return "-"
    return (
        datetime.fromtimestamp(ms / 1000, tz=UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )
