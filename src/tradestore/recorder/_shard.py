"""``--shard I/N``: which symbols this host records when N hosts split one symbol list.

Every host is given the same symbol list and its own I (1..N). A symbol belongs to the
shard i (of 1..N) whose score ``sha256(f"{i}:{SYMBOL}")`` is highest (rendezvous
hashing):

* stable: the answer depends only on the symbol and N, never on the list's order, on the
  other symbols, on the Python version or on the host, so every host agrees without
  talking to the others, and a symbol added to the list never moves another one;
* no overlap, nothing left out: each symbol has exactly one highest score;
* growing from N to N + 1 hosts moves only the symbols the new host wins (about
  1/(N + 1) of them); the rest stay where they are.

``shard_of("BTCUSDT", 3)`` tells where a symbol goes; docs/SCALING.md has the table.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

_SHARD_RE = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")
MAX_SHARDS = 1024


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` as (i, n) with 1 <= i <= n; ValueError with the reason otherwise."""
    match = _SHARD_RE.fullmatch(str(text))
    if not match:
        raise ValueError(f"{text!r} is not I/N (e.g. 2/3: the second of three hosts)")
    i, n = int(match.group(1)), int(match.group(2))
    if not 1 <= n <= MAX_SHARDS:
        raise ValueError(f"{text!r}: N must be within 1..{MAX_SHARDS}")
    if not 1 <= i <= n:
        raise ValueError(f"{text!r}: I must be within 1..N (shards count from 1)")
    return i, n


def _score(i: int, symbol: str) -> bytes:
    # Independent of N: adding a host changes no existing score, so a symbol moves only
    # when the new host's score beats its current one.
    return hashlib.sha256(f"{i}:{symbol}".encode("ascii")).digest()


def shard_of(symbol: str, n: int) -> int:
    """The shard (1..n) that records ``symbol`` when n hosts share the list."""
    return max(range(1, n + 1), key=lambda i: _score(i, symbol))


def own_symbols(symbols: Iterable[str], shard: tuple[int, int]) -> tuple[str, ...]:
    """The symbols of ``symbols`` that shard (i, n) records, in their given order."""
    i, n = shard
    return tuple(s for s in symbols if shard_of(s, n) == i)
