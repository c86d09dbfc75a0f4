"""Reading a store the way an outside reader does: a secondary instance, one snapshot."""

from __future__ import annotations

from tradestore import TradeStore
from tradestore.codec._values import decode_batch
from tradestore.store._keys import MAX_MS
from tradestore.store._verify import verify


def stored_ids(db, symbol: str) -> list[int]:
    """Every stored agg id of symbol, ascending, read through a secondary instance; fails
    if any id is stored twice.

    The values are read once: each read of a secondary instance first catches up with the
    writer, so a second read (say, to count raw rows after query_trades) would see the
    flushes a running daemon made in between and report rows it never stored twice.
    """
    with TradeStore(db, read_only=True) as store:
        pairs = list(store.iter_values(symbol, 0, MAX_MS))
    rows = [t.agg_id for key, value in pairs for t in decode_batch(value, key)]
    ids = sorted(set(rows))
    assert len(rows) == len(ids), f"{symbol}: {len(rows)} stored rows for {len(ids)} distinct ids"
    return ids


def stored_count(db) -> int:
    """Trades stored in db (all symbols), read through a secondary instance."""
    if not (db / "CURRENT").exists():
        return 0
    with TradeStore(db, read_only=True) as store:
        return sum(s["trades"] for s in store.stats()["symbols"].values())


def caught_up(db, fx, symbols) -> bool:
    """Every id the fake exchange generated is stored, without a hole (via a secondary)."""
    if not (db / "CURRENT").exists():
        return False
    with TradeStore(db, read_only=True) as store:
        for symbol in symbols:
            report = verify(store, symbol)
            if not report.ok or report.last_id != fx.log.generated_ids(symbol)[-1]:
                return False
    return True
