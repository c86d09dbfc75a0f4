"""Times as people type them on the command line, and seconds refused by the library."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from tests.helpers.cli import run_cli
from tradestore import AggTrade, TradeStore
from tradestore._timeparse import format_time_ms, parse_duration_ms, parse_time_ms
from tradestore.analytics import volume_profile

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
NOW = T0 + 86_400_000


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("1767225600", T0),  # epoch seconds, as `date +%s` prints them
        ("1767225600.25", T0 + 250),
        ("1767225600000", T0),  # milliseconds
        ("1767225600039409", T0 + 39),  # microseconds (data.binance.vision from 2025)
        ("1767225600039409123", T0 + 39),  # nanoseconds
        ("2026-01-01", T0),
        ("2026-01-01T00:00:00Z", T0),
        ("2026-01-01 01:00+01:00", T0),
        ("now", NOW),
        ("now-1d", T0),
        ("NOW - 23h60m", T0),
        ("now+90s", NOW + 90_000),
        ("0", 0),
    ],
)
def test_typed_times(text, ms):
    assert parse_time_ms(text, now=NOW) == ms


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("176722560", "9 digits"),
        ("176722560000", "12 digits"),  # neither seconds nor ms: refused, not guessed
        ("yesterday", "invalid time"),
        ("now-soon", "invalid duration"),
        ("1e12", "invalid time"),
    ],
)
def test_untypable_times_are_refused(text, message):
    with pytest.raises(ValueError, match=message):
        parse_time_ms(text, now=NOW)


def test_durations():
    assert parse_duration_ms("90s") == 90_000
    assert parse_duration_ms("1h30m") == 5_400_000
    assert parse_duration_ms("0.5h") == 1_800_000
    with pytest.raises(ValueError):
        parse_duration_ms("0s")


def test_format_time_ms_is_rfc3339_with_ms():
    assert format_time_ms(T0 + 39) == "2026-01-01T00:00:00.039Z"
    assert format_time_ms(T0 - 1) == "2025-12-31T23:59:59.999Z"
    assert format_time_ms(T0 + 1001) == "2026-01-01T00:00:01.001Z"


def _store(path) -> None:
    with TradeStore(path) as store:
        store.store_batch(
            "BTCUSDT",
            [
                AggTrade(i, Decimal("100.5"), Decimal("1"), T0 + i * 1000, False)
                for i in range(1, 11)
            ],
        )


def test_library_refuses_epoch_seconds(tmp_path):
    """A 10-digit number is plainly seconds: an error naming the ms, never 1970."""
    _store(tmp_path / "db")
    with TradeStore(tmp_path / "db", read_only=True) as store:
        for call in (store.query_trades, store.query_columns):
            with pytest.raises(ValueError, match="looks like epoch seconds.*1767225600000"):
                call("BTCUSDT", 1767225600, 1767225700)
        with pytest.raises(ValueError, match="end_ms=1767226000 looks like epoch seconds"):
            store.query_trades("BTCUSDT", T0, 1767226000)
        with pytest.raises(ValueError, match="looks like epoch seconds"):
            volume_profile(store, "BTCUSDT", 1767225600, 1767229200)
        assert len(store.query_trades("BTCUSDT", T0, T0 + 60_000)) == 10  # ms work as before


def test_cli_takes_seconds_durations_and_two_of_three(tmp_path, capsys):
    db = tmp_path / "db"
    _store(db)
    base = ["query", "--db", db, "--symbol", "BTCUSDT", "--format", "json"]

    def window(*flags):
        code, out, err = run_cli(capsys, *base, *flags)
        assert code == 0, err
        doc = json.loads(out)
        return doc["start_ms"], doc["end_ms"], doc["count"]

    assert window("--start", "1767225600", "--end", "1767225605") == (T0, T0 + 5000, 5)
    # A length covers exactly that many ms: 3.6 s from the start end 1 ms before +3.6 s.
    assert window("--start", "2026-01-01", "--hours", "0.001") == (T0, T0 + 3599, 3)
    assert window("--end", "1767225605", "--hours", "0.001") == (T0 + 1401, T0 + 5000, 4)
    assert window("--since", "2026-01-01T00:00:02Z", "--end", "2026-01-01T00:00:04Z")[2] == 3
    start, end, _ = window("--start", "90s")  # a duration: that long before the end (now)
    assert end - start + 1 == 90_000
    code, _, err = run_cli(capsys, *base, "--start", T0, "--end", T0 + 1, "--hours", "1")
    assert code == 2 and "at most two of --start, --end and --hours" in err
    code, _, err = run_cli(capsys, *base, "--start", "176722560000")
    assert code == 2 and "12 digits" in err
