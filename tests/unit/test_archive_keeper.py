"""The retention guard of the daemon's archive keeper, with its real child processes:
the limit per symbol is the first day not archived and verified; a verification that
cannot run, or a backfill landing while it runs, lets nothing of the symbol go."""

from __future__ import annotations

import shutil
from datetime import timedelta

import pytest

from tests.helpers.archive import FIRST_DAY, build_store
from tradestore import TradeStore
from tradestore.archive import day_start_ms
from tradestore.recorder import LogThrottle, RecorderConfig
from tradestore.recorder._archiving import ArchiveKeeper, log
from tradestore.store import Gap

pytest.importorskip("pyarrow")

DAYS = [FIRST_DAY + timedelta(days=i) for i in range(3)]
NOW_MS = day_start_ms(DAYS[2]) + 30 * 86_400_000  # every day long closed
CUTOFF = day_start_ms(DAYS[2]) + 86_400_000  # after the third day


def keeper(tmp_path, store, cls=ArchiveKeeper) -> ArchiveKeeper:
    config = RecorderConfig(
        symbols=("BTCUSDT", "ETHUSDT"), db=str(tmp_path / "db"), archive_to=str(tmp_path / "a")
    )
    return cls(config, store, LogThrottle(log))


@pytest.fixture
def archived(tmp_path):
    """Both symbols' three days in the store; BTCUSDT archived whole, ETHUSDT without its
    second day."""
    db = tmp_path / "db"
    build_store(db, {"BTCUSDT": 0, "ETHUSDT": 1_000_000}, days=3, per_day=500, tail=0)
    from tradestore.cli import main

    assert main(["archive", "--db", str(db), "--to", str(tmp_path / "a")]) == 0
    shutil.rmtree(tmp_path / "a" / f"market=spot/symbol=ETHUSDT/date={DAYS[1].isoformat()}")
    return db


async def test_limits_stop_at_the_first_day_not_verified(tmp_path, archived):
    with TradeStore(archived) as store:
        limits = await keeper(tmp_path, store).retention_limits(CUTOFF, now_ms=NOW_MS)
    assert limits["BTCUSDT"] >= CUTOFF  # every day verified: the cutoff stands
    assert limits["ETHUSDT"] == day_start_ms(DAYS[1])


async def test_a_verification_that_cannot_run_prunes_nothing(tmp_path, archived):
    with TradeStore(archived) as store:
        k = keeper(tmp_path, store)
        shutil.rmtree(tmp_path / "a")
        (tmp_path / "a").write_text("not a directory any more")
        limits = await k.retention_limits(CUTOFF, now_ms=NOW_MS)
    assert limits == {"BTCUSDT": 0, "ETHUSDT": 0}


class BackfillDuringVerification(ArchiveKeeper):
    """The real verification, and meanwhile a gap record of BTCUSDT changes (as when the
    backfill worker fills a gap in an old day while the child compares)."""

    async def _child(self, argv):
        result = await super()._child(argv)
        if argv[0] == "verify":
            self.store.put_gap("BTCUSDT", Gap(10, 12, 1, 2, detected_ms=3))
        return result


async def test_a_backfill_during_verification_holds_that_symbol(tmp_path, archived):
    with TradeStore(archived) as store:
        k = keeper(tmp_path, store, BackfillDuringVerification)
        limits = await k.retention_limits(CUTOFF, now_ms=NOW_MS)
    assert limits["BTCUSDT"] == 0
    assert limits["ETHUSDT"] == day_start_ms(DAYS[1])


def test_the_retention_rule_stops_where_the_archive_holds_a_day(tmp_path):
    from tradestore.store import apply_retention, plan_retention

    db = tmp_path / "db"
    build_store(db, {"BTCUSDT": 0}, days=3, per_day=500, tail=0)
    then = day_start_ms(DAYS[0]) - 1 + 86_400_000  # a pass from before the data: edge below
    now = day_start_ms(DAYS[2]) + 3 * 86_400_000  # a 1-day window: all three days expired
    with TradeStore(db) as store:
        apply_retention(store, plan_retention(store, days=1, now_ms=then))
        held = {"BTCUSDT": day_start_ms(DAYS[1])}
        plan = plan_retention(store, days=1, now_ms=now, keep_from=held)
        assert any("not yet archived and verified" in line for line in plan.describe())
        apply_retention(store, plan)
        left = store.query_columns("BTCUSDT", 0, now)
        assert int(left.time_ms.min()) >= day_start_ms(DAYS[0]) + 23 * 3_600_000  # last batch
        assert len(store.query_columns("BTCUSDT", day_start_ms(DAYS[1]), now)) == 1000
        # Archived since: the next pass deletes from where the last one stopped.
        apply_retention(store, plan_retention(store, days=1, now_ms=now))
        assert len(store.query_columns("BTCUSDT", 0, now)) == 0
