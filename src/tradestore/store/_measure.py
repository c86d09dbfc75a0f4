"""One pass over stored batches: what the store's bookkeeping needs, measured exactly.

``measure`` walks (key, value) pairs and returns how many batches and trades they hold,
how far trades lie from their keys in each direction (the span a query's seek must
cover), the first and last trade time, and the set of agg ids stored (with how many ids
were stored more than once). The adoption pass runs it over every batch of a symbol the
project did not write; ``stats`` runs it over the few batches at either end of a record.

Values are decoded in chunks by the compiled column decoder (no Python object per
trade); a chunk that holds a value the decoder refuses is measured value by value
through the exact v1 codec, so one odd value costs only itself, and an undecodable one
is listed, not fatal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from tradestore._errors import CorruptValue, FixedPointError
from tradestore.codec._twins import decode_columns
from tradestore.codec._values import decode_batch
from tradestore.store import _keys
from tradestore.store._idset import AggIdSet

# Values per decoder call: big enough that per-call costs vanish, small enough that a
# chunk's columns stay a few MB.
CHUNK_VALUES = 2048


@dataclass
class Measure:
    """What a pass over some batches of one symbol found."""

    batches: int = 0
    empty_batches: int = 0
    trades: int = 0  # rows stored, an id stored twice counting twice
    before_ms: int = 0  # max over batches of key - min(T)
    after_ms: int = 0  # max over batches of max(T) - key
    first_time_ms: int | None = None
    last_time_ms: int | None = None
    ids: AggIdSet = field(default_factory=AggIdSet)
    duplicates: int = 0  # ids stored more than once (each extra copy counts)
    corrupt_keys: list[bytes] = field(default_factory=list)
    last_key_ms: int | None = None  # the last key measured (for progress)


def measure(
    pairs: Iterable[tuple[bytes, bytes]],
    *,
    on_chunk: Callable[[Measure], None] | None = None,
) -> Measure:
    """Measure every (key, value) pair of one symbol; ``on_chunk`` after each chunk."""
    found = Measure()
    chunk: list[tuple[bytes, bytes]] = []
    for pair in pairs:
        chunk.append(pair)
        if len(chunk) >= CHUNK_VALUES:
            _measure_chunk(found, chunk)
            chunk = []
            if on_chunk is not None:
                on_chunk(found)
    if chunk:
        _measure_chunk(found, chunk)
        if on_chunk is not None:
            on_chunk(found)
    return found


def _measure_chunk(found: Measure, chunk: list[tuple[bytes, bytes]]) -> None:
    keys_ms = np.fromiter((_key_ms(k) for k, _v in chunk), np.int64, len(chunk))
    found.last_key_ms = int(keys_ms[-1])
    if (keys_ms < 0).any():  # a key without a 13-digit time: measure value by value
        _measure_one_by_one(found, chunk)
        return
    counts = np.fromiter((array_len(v) for _k, v in chunk), np.int64, len(chunk))
    try:
        ids, times = decode_columns(chunk, 0, _keys.MAX_MS)[:2]
    except (CorruptValue, FixedPointError):
        _measure_one_by_one(found, chunk)
        return
    if int(counts.sum()) != ids.shape[0]:  # a header the decoder read otherwise
        _measure_one_by_one(found, chunk)
        return
    found.batches += len(chunk)
    filled = counts > 0
    found.empty_batches += int((~filled).sum())
    if not filled.any():
        return
    starts = (np.cumsum(counts) - counts)[filled]
    _note(
        found,
        keys_ms[filled],
        np.minimum.reduceat(times, starts),
        np.maximum.reduceat(times, starts),
        ids,
    )


def _measure_one_by_one(found: Measure, chunk: list[tuple[bytes, bytes]]) -> None:
    for key, value in chunk:
        key_ms = _key_ms(key)
        try:
            trades = decode_batch(bytes(value), key)
        except CorruptValue:
            found.corrupt_keys.append(key)
            continue
        if key_ms < 0:
            found.corrupt_keys.append(key)  # not a trades key: readers never seek to it
            continue
        found.batches += 1
        if not trades:
            found.empty_batches += 1
            continue
        times = [t.time_ms for t in trades]
        _note(
            found,
            np.array([key_ms], np.int64),
            np.array([min(times)], np.int64),
            np.array([max(times)], np.int64),
            [t.agg_id for t in trades],
        )


def _note(
    found: Measure, keys_ms: np.ndarray, min_t: np.ndarray, max_t: np.ndarray, ids: Sequence[int]
) -> None:
    """Fold the non-empty batches (their keys, min and max T) and their ids into found."""
    found.trades += len(ids)
    found.before_ms = max(found.before_ms, int((keys_ms - min_t).max()))
    found.after_ms = max(found.after_ms, int((max_t - keys_ms).max()))
    lo, hi = int(min_t.min()), int(max_t.max())
    found.first_time_ms = lo if found.first_time_ms is None else min(found.first_time_ms, lo)
    found.last_time_ms = hi if found.last_time_ms is None else max(found.last_time_ms, hi)
    unique = _distinct_sorted(np.asarray(ids, dtype=object if _big(ids) else np.int64))
    found.duplicates += len(ids) - len(unique)
    for lo_id, hi_id in _runs(unique):
        found.duplicates += found.ids.add_run(lo_id, hi_id)


def _distinct_sorted(ids: np.ndarray) -> np.ndarray:
    """The distinct ids, ascending. Stored ids almost always ascend already: checked first,
    because a sort (let alone numpy's hash-based unique) costs far more than the decode."""
    if ids.dtype == object:
        return np.array(sorted(set(ids.tolist())), dtype=object)
    if ids.shape[0] > 1 and not bool(np.all(ids[1:] > ids[:-1])):
        ids = np.sort(ids)
        keep = np.empty(ids.shape[0], dtype=bool)
        keep[0] = True
        np.not_equal(ids[1:], ids[:-1], out=keep[1:])
        ids = ids[keep]
    return ids


def _runs(unique: np.ndarray) -> list[tuple[int, int]]:
    """Sorted distinct ids as maximal runs of consecutive ids."""
    if unique.dtype != object:
        breaks = np.flatnonzero(np.diff(unique) != 1)
        starts = np.concatenate(([0], breaks + 1))
        ends = np.concatenate((breaks, [len(unique) - 1]))
        return [(int(unique[a]), int(unique[b])) for a, b in zip(starts, ends, strict=True)]
    runs: list[tuple[int, int]] = []
    for agg_id in unique.tolist():
        if runs and agg_id == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], agg_id)
        else:
            runs.append((agg_id, agg_id))
    return runs


def _big(ids: Sequence[int]) -> bool:
    """Ids from the codec path may exceed int64 (a legal msgpack uint64)."""
    return not isinstance(ids, np.ndarray) and any(i > 2**63 - 1 or i < 0 for i in ids)


def _key_ms(key: bytes) -> int:
    tail = key[-_keys.MS_DIGITS :]
    return int(tail) if len(tail) == _keys.MS_DIGITS and tail.isdigit() else -1


def array_len(value: bytes) -> int:
    """Number of trades in a v1 value, from its MessagePack array header alone (0 when it
    has none: a corrupt value counts no trades)."""
    tag = value[0] if value else None
    if tag is not None and 0x90 <= tag <= 0x9F:
        return tag - 0x90
    if tag == 0xDC and len(value) >= 3:
        return int.from_bytes(value[1:3], "big")
    if tag == 0xDD and len(value) >= 5:
        return int.from_bytes(value[1:5], "big")
    return 0
