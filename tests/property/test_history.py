"""One record across the tiers: hot trades, rollups that outlived their trades, and the
archive. For random windows over a store whose oldest day lives only in the archive,
whose next day lives in the store's rollups (trades pruned) and whose last days are hot,
every analytic equals the raw computation over the original trades, read through
``History``; read through the store alone, the summarized day is answered to whole
minutes and says so, and the archived day is not recorded."""

from __future__ import annotations

import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.archive import DAY_MS, FIRST_DAY, build_tiers
from tradestore import TradeStore
from tradestore.analytics import InsufficientData, candles, composite_profile, volume_profile
from tradestore.archive import ArchiveReader, History, day_start_ms
from tradestore.cli import main

pytest.importorskip("pyarrow")

SYMBOL = "BTCUSDT"
DAY0 = day_start_ms(FIRST_DAY)
DAYS = 4


@pytest.fixture(scope="module", params=[False, True], ids=["smooth", "rough"])
def tiers(request):
    """(full store: every trade hot; tiered store; archive root). ``rough``: with holes,
    an open gap and a backfill into a closed day."""
    root = Path(tempfile.mkdtemp(prefix="history-"))
    try:
        built = build_tiers(root, SYMBOL, days=DAYS, rough=request.param)
        yield built.full, built.tiered, built.archive
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _figures(profile):
    return (
        profile.trade_count,
        profile.first_trade_ms,
        profile.last_trade_ms,
        profile.price_low,
        profile.price_high,
        profile.bin_size,
        profile.bins,
        profile.poc_index,
        profile.value_area_low_index,
        profile.value_area_high_index,
    )


EDGE = st.one_of(
    st.integers(DAY0 - 3_600_000, DAY0 + DAYS * DAY_MS + 3_600_000),
    st.integers(0, DAYS).map(lambda d: DAY0 + d * DAY_MS),
    st.integers(0, DAYS * 24).map(lambda h: DAY0 + h * 3_600_000 - 1),
    st.integers(0, DAYS * 1440).map(lambda m: DAY0 + m * 60_000 + 30_000),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(a=EDGE, b=EDGE, tick=st.sampled_from([None, "0.5", "3"]))
def test_history_answers_every_window_as_if_every_trade_were_hot(tiers, a, b, tick):
    full, tiered, archive = tiers
    start, end = min(a, b), max(a, b)
    with (
        TradeStore(full, read_only=True) as whole,
        TradeStore(tiered, read_only=True) as store,
    ):
        history = History(store, ArchiveReader(archive))
        want = (
            volume_profile(
                whole, SYMBOL, start, end, tick_size=tick, min_trades=1, use_rollups=False
            )
            if whole.query_columns(SYMBOL, start, end).agg_id.size
            else None
        )
        if want is None:
            return
        got = volume_profile(history, SYMBOL, start, end, tick_size=tick, min_trades=1)
        assert _figures(got) == _figures(want)
        assert got.coverage.recorded == want.coverage.recorded
        assert not got.coverage.rounded
        assert got.coverage.missing_ids == want.coverage.missing_ids
        assert got.coverage.complete == want.coverage.complete
        # Candles: per minute and per day, from the rollups of every tier.
        for interval in (60_000, DAY_MS):
            mine = candles(history, SYMBOL, start, end, interval)
            theirs = candles(whole, SYMBOL, start, end, interval, use_rollups=False)
            assert mine.candles == theirs.candles


def test_a_composite_across_the_three_tiers(tiers):
    full, tiered, archive = tiers
    start, end = DAY0, DAY0 + DAYS * DAY_MS - 1
    with (
        TradeStore(full, read_only=True) as whole,
        TradeStore(tiered, read_only=True) as store,
    ):
        history = History(store, ArchiveReader(archive))
        got = composite_profile(history, SYMBOL, start, end, tick_size="0.5")
        want = composite_profile(whole, SYMBOL, start, end, tick_size="0.5", use_rollups=False)
        assert _figures(got.profile) == _figures(want.profile)

        def figures(session):
            doc = session.to_json()
            cover = doc.pop("coverage")
            return doc, cover["recorded"], cover["complete"], cover["missing_ids"]

        assert [figures(s) for s in got.sessions] == [figures(s) for s in want.sessions]
        # Day 0 only the archive holds; day 1's trades too (the store kept its rollups).
        assert got.profile.coverage.archived == [(DAY0, DAY0 + 2 * DAY_MS - 1)]
        assert got.profile.coverage.summarized == []
        mine, theirs = got.profile.coverage, want.profile.coverage
        assert (mine.complete, mine.missing_ids) == (theirs.complete, theirs.missing_ids)


def test_the_store_alone_summarizes_and_rounds(tiers):
    full, tiered, _archive = tiers
    day1 = DAY0 + DAY_MS
    with (
        TradeStore(full, read_only=True) as whole,
        TradeStore(tiered, read_only=True) as store,
    ):
        # Whole minutes of the summarized day: exact, from the rollups.
        got = volume_profile(store, SYMBOL, day1 + 3_600_000, day1 + 7_200_000 - 1, min_trades=1)
        want = volume_profile(
            whole, SYMBOL, day1 + 3_600_000, day1 + 7_200_000 - 1, min_trades=1, use_rollups=False
        )
        assert _figures(got) == _figures(want)
        assert got.coverage.summarized == [(day1 + 3_600_000, day1 + 7_200_000 - 1)]
        assert "summarized" in got.coverage.summary()
        # An edge inside a minute whose trades are gone: whole minutes only, said so.
        start, end = day1 + 3_600_000 + 30_000, day1 + 7_200_000 + 29_999
        got = volume_profile(store, SYMBOL, start, end, min_trades=1)
        cover = got.coverage
        assert cover.rounded
        assert (cover.answered_from_ms, cover.answered_to_ms) == (
            day1 + 3_660_000,
            day1 + 7_200_000 - 1,
        )
        want = volume_profile(
            whole, SYMBOL, day1 + 3_660_000, day1 + 7_200_000 - 1, min_trades=1, use_rollups=False
        )
        assert _figures(got) == _figures(want)
        assert "whole minutes" in cover.summary()
        # The day only the archive holds is not recorded for the store alone.
        with pytest.raises(InsufficientData, match="NOT RECORDED"):
            volume_profile(store, SYMBOL, DAY0, DAY0 + DAY_MS - 1, min_trades=1)


def test_a_day_of_history_is_one_value(tiers):
    _full, tiered, archive = tiers
    with TradeStore(tiered, read_only=True) as store:
        history = History(store, ArchiveReader(archive))
        from tradestore.store import pyramid

        pieces = pyramid(history, SYMBOL, DAY0, DAY0 + (DAYS - 1) * DAY_MS - 1)
        assert pieces is not None
        # Days 0 (archive), 1 (the store's rollups) and 2 (hot, closed) are one value each.
        assert len(pieces.days) == 3
        assert not pieces.hours and not pieces.minutes
        assert FIRST_DAY + timedelta(days=DAYS - 1)


def test_trades_from_every_tier_are_the_original_ones(tiers):
    """query_columns over archived, summarized and hot days equals the full store's; a
    closed day both hold is read from the archive's Parquet, and is the same."""
    full, tiered, archive = tiers
    with (
        TradeStore(full, read_only=True) as whole,
        TradeStore(tiered, read_only=True) as store,
    ):
        history = History(store, ArchiveReader(archive))
        day2 = DAY0 + 2 * DAY_MS
        assert history._same_in_archive(SYMBOL, day2, day2 + DAY_MS - 1) == [
            FIRST_DAY + timedelta(days=2)
        ]
        for start, end in (
            (DAY0, DAY0 + DAYS * DAY_MS - 1),
            (DAY0 + 3_600_000 + 7, day2 + 5 * 3_600_000 + 11),
            (day2 + 1, day2 + DAY_MS + 3_600_000),
        ):
            got, want = (
                history.query_columns(SYMBOL, start, end),
                whole.query_columns(SYMBOL, start, end),
            )
            assert len(got) == len(want) > 0
            for mine, theirs in zip(got.arrays(), want.arrays(), strict=True):
                assert (mine == theirs).all()
        table = history.query_arrow(SYMBOL, day2, day2 + DAY_MS - 1)
        assert table.num_rows == len(whole.query_columns(SYMBOL, day2, day2 + DAY_MS - 1))


def test_a_batch_kept_just_before_a_cut_does_not_hide_its_archived_day(tmp_path):
    """prune keeps a batch whose trades reach past the cut's margin: that day's trades and
    rollups are still the archive's to give, and History gives all of them."""
    from tradestore._model import TradeRow

    start = day_start_ms(FIRST_DAY)
    db, root = tmp_path / "db", tmp_path / "archive"
    agg = 1
    with TradeStore(db) as store:
        for step in range(2 * 8640):  # a batch every 10 s, two trades each
            base = start + step * 10_000
            last = base + 10_000 == start + DAY_MS  # the last of day 0: 0.6 s before midnight
            offsets = (9_400, 9_500) if last else (0, 900)
            rows = [
                TradeRow("90000.00", "0.001", base + o, agg + i, False)
                for i, o in enumerate(offsets)
            ]
            store.write_batches({SYMBOL: rows})
            agg += 2
    assert main(["archive", "--db", str(db), "--to", str(root)]) == 0
    with TradeStore(db) as store:
        store.prune(start + DAY_MS)
        store.prune_rollups(start + DAY_MS)
        assert store.trade_time_span(SYMBOL)[0] < start + DAY_MS  # one batch stayed
    with TradeStore(db, read_only=True) as store:
        history = History(store, ArchiveReader(root))
        for days in (1, 2):
            got = volume_profile(history, SYMBOL, start, start + days * DAY_MS - 1, min_trades=1)
            assert got.trade_count == days * 17_280
