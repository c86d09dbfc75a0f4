"""Databases as the Rust recorder writes them, and raw batches written past the store.

The Rust recorder keyed each batch by its local flush clock (so trades lie *before* their
key, by a second or, on a slow flush, far more), wrote no ``meta:`` keys, could store an
empty batch (``rmp_serde`` writes ``0x90`` for an empty ``Vec``) and could store a batch
again under a later key after a failed acknowledgement. These helpers write exactly
that, through rocksdict, without going through TradeStore.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import msgpack
import rocksdict

from tradestore import AggTrade

EMPTY_BATCH = b"\x90"  # rmp_serde::to_vec(&Vec::<AggTrade>::new())


def seed_value(trades: Sequence[AggTrade]) -> bytes:
    """The bytes rmp_serde writes for a Vec<AggTrade> (rust_decimal as strings)."""
    rows = [[str(t.price), str(t.qty), t.time_ms, t.agg_id, t.is_buyer_maker] for t in trades]
    return msgpack.packb(rows)


def seed_key(symbol: str, ms: int) -> bytes:
    return b"trades:%s:%013d" % (symbol.encode(), ms)


def write_raw(path, items: Iterable[tuple[bytes, bytes]]) -> None:
    """Put (key, value) pairs into the RocksDB at path (created if missing), nothing else."""
    opts = rocksdict.Options(raw_mode=True)
    opts.create_if_missing(True)
    db = rocksdict.Rdict(str(path), opts)
    try:
        for key, value in items:
            db.put(key, value)
    finally:
        db.close()


def write_seed_style(
    path, symbol: str, batches: Sequence[Sequence[AggTrade]], *, delay_ms: int = 250
) -> list[bytes]:
    """One value per batch, keyed ``delay_ms`` after its last trade (a flush time, always
    later than the previous key); an empty batch is keyed 1 s after the previous key.
    Returns the keys, in order."""
    keys, items = [], []
    flush_ms = 0
    for batch in batches:
        if batch:
            flush_ms = max(flush_ms + 1, max(t.time_ms for t in batch) + delay_ms)
        else:
            flush_ms += 1000
        key = seed_key(symbol, flush_ms)
        keys.append(key)
        items.append((key, seed_value(batch) if batch else EMPTY_BATCH))
    write_raw(path, items)
    return keys
