"""Retention: trades are deleted as they age past the window, never what was already
past it when stored; the first pass deletes nothing and says what it keeps."""

from __future__ import annotations

from decimal import Decimal

from tradestore import AggTrade, TradeStore
from tradestore.cli import main
from tradestore.store import DAY_MS, apply_retention, plan_retention
from tradestore.store._keys import MAX_MS

NOW = 1_800_000_000_000


def day_of(first_id: int, day_ms: int, n: int = 10) -> list[AggTrade]:
    """n trades one second apart from day_ms, one batch."""
    return [
        AggTrade(first_id + i, Decimal("100.5"), Decimal("0.25"), day_ms + 1000 * i, False)
        for i in range(n)
    ]


def ids(store: TradeStore, symbol: str = "BTCUSDT") -> list[int]:
    return [t.agg_id for t in store.query_trades(symbol, 0, MAX_MS)]


def test_first_pass_keeps_everything_and_says_why(tmp_path):
    with TradeStore(tmp_path / "db") as store:
        store.store_batch("BTCUSDT", day_of(1, NOW - 30 * DAY_MS))  # an imported old day
        store.store_batch("BTCUSDT", day_of(11, NOW - DAY_MS))
        plan = plan_retention(store, days=7, now_ms=NOW)
        (sym,) = plan.symbols
        assert sym.first_pass and sym.trades_to_delete == 0
        assert sym.history_from_ms == NOW - 30 * DAY_MS
        text = "\n".join(plan.describe())
        assert "keeping 7 days" in text and "BTCUSDT: keeping the batches keyed" in text
        assert "tradestore-trio prune" in text
        assert apply_retention(store, plan) == {}
        assert ids(store) == list(range(1, 21))
        assert store.retention_edge("BTCUSDT") == NOW - 7 * DAY_MS - store.margins("BTCUSDT")[1]


def test_later_passes_delete_what_aged_past_the_window(tmp_path):
    with TradeStore(tmp_path / "db") as store:
        store.store_batch("BTCUSDT", day_of(1, NOW - 3 * DAY_MS))
        store.store_batch("BTCUSDT", day_of(11, NOW - DAY_MS))
        apply_retention(store, plan_retention(store, days=7, now_ms=NOW))  # sets the edge
        # Five days later the first day has aged past the window; the second has not.
        later = NOW + 5 * DAY_MS
        plan = plan_retention(store, days=7, now_ms=later)
        assert [s.trades_to_delete for s in plan.symbols] == [10]
        assert "BTCUSDT: deleting 10 trades" in "\n".join(plan.describe())
        assert apply_retention(store, plan) == {"BTCUSDT": 10}
        assert ids(store) == list(range(11, 21))
        assert store.trade_count("BTCUSDT") == 10
        assert store.stored_ids("BTCUSDT").intervals == [(11, 20)]
        assert store.last_agg_id("BTCUSDT") == 20


def test_history_imported_after_the_edge_was_set_is_kept(tmp_path):
    """The issue's sequence with a restart in between: run (edge set), stop, import an
    old day, run again. The old day is older than the edge: kept, however many passes."""
    with TradeStore(tmp_path / "db") as store:
        store.store_batch("BTCUSDT", day_of(1_000, NOW - DAY_MS))
        apply_retention(store, plan_retention(store, days=7, now_ms=NOW))
        store.store_batch("BTCUSDT", day_of(1, NOW - 90 * DAY_MS))  # import of an old day
        for days_later in (1, 2, 30):
            plan = plan_retention(store, days=7, now_ms=NOW + days_later * DAY_MS)
            apply_retention(store, plan)
        assert ids(store) == list(range(1, 11))  # the day of NOW - 1 aged out; history kept
        assert plan.symbols[0].history_from_ms == NOW - 90 * DAY_MS


def test_a_day_imported_inside_the_window_ages_like_the_rest(tmp_path):
    with TradeStore(tmp_path / "db") as store:
        store.store_batch("BTCUSDT", day_of(1_000, NOW - DAY_MS))
        apply_retention(store, plan_retention(store, days=7, now_ms=NOW))
        store.store_batch("BTCUSDT", day_of(1, NOW - 3 * DAY_MS))  # fills a recent hole
        apply_retention(store, plan_retention(store, days=7, now_ms=NOW + 5 * DAY_MS))
        assert ids(store) == list(range(1_000, 1_010))


def test_the_edge_never_moves_back(tmp_path):
    """A wider window later (7 -> 30 days) deletes nothing already past the old edge and
    keeps the edge where it was."""
    with TradeStore(tmp_path / "db") as store:
        store.store_batch("BTCUSDT", day_of(1, NOW - DAY_MS))
        apply_retention(store, plan_retention(store, days=7, now_ms=NOW))
        edge = store.retention_edge("BTCUSDT")
        apply_retention(store, plan_retention(store, days=30, now_ms=NOW + DAY_MS))
        assert store.retention_edge("BTCUSDT") == edge
        assert ids(store) == list(range(1, 11))


def test_explicit_prune_deletes_history_too(tmp_path, capsys):
    db = tmp_path / "db"
    with TradeStore(db) as store:
        store.store_batch("BTCUSDT", day_of(1, NOW - 90 * DAY_MS))
        store.store_batch("BTCUSDT", day_of(11, NOW - DAY_MS))
        apply_retention(store, plan_retention(store, days=7, now_ms=NOW))
        assert ids(store) == list(range(1, 21))
    assert main(["prune", "--db", str(db), "--before", str(NOW - 7 * DAY_MS)]) == 0
    capsys.readouterr()
    with TradeStore(db) as store:
        assert ids(store) == list(range(11, 21))
        assert store.stored_ids("BTCUSDT").intervals == [(11, 20)]
        assert store.trade_count("BTCUSDT") == 10
        # The explicit cut moved the edge: a later import of ids 1..10 is new again.
        assert store.write_batches({"BTCUSDT": day_of(1, NOW - 90 * DAY_MS)}).total_new == 10
