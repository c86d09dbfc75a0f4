"""The value format of the ``rollup:`` keys, shared by both rollup twins (docs/FORMAT.md).

A rollup value is one format byte, twelve summary numbers, then the price levels in
columns: ascending prices as steps, each level's trade count with a two-bit code saying
where its taker-buy volume is, the volumes, and the taker-buy volumes the codes list.
Every number is an unsigned LEB128 varint of any size, in its shortest form; prices are
written in units of 10^k x 1e-8 and amounts in units of 10^j x 1e-8 (k, j: the most
trailing decimal zeros every price, every amount has), which takes the zeros a tick or a
lot size leaves out of each number. One content has one encoding, so a stored rollup and
one recomputed from the trades compare byte for byte.
"""

from __future__ import annotations

FORMAT = 1
# Where a level's taker-buy volume is: none of it, all of the volume, or listed.
BUY_NONE = 0
BUY_ALL = 1
BUY_LISTED = 2
# The largest scales: int64 prices have at most 18 trailing zeros, 128-bit sums 38.
MAX_PRICE_EXP = 18
MAX_QTY_EXP = 38
_NO_DIGITS = 99  # trailing_zeros(0): zero fits every scale

# Why a value is refused, checked in this order by both twins. The compiled reader
# returns minus the position in REASONS (src/tradestore/codec/_ext/_rollupvalue.pxd).
NOT_FORMAT = "not a rollup value of format 1"
RANGE = "rollup value truncated or a number out of range"
NO_TRADES = "rollup of no trades"
LEVELS = "rollup price levels out of range"
SCALE = "rollup scale out of range"
ORDER = "rollup prices not ascending"
EMPTY_LEVEL = "rollup level of no trades"
BUY = "rollup taker-buy volume out of range"
TRAILING = "bytes after the rollup value"
DISAGREE = "rollup summary disagrees with its levels"
OPEN_CLOSE = "rollup open or close is not a traded price"
REASONS = (
    "",
    NOT_FORMAT,
    RANGE,
    NO_TRADES,
    LEVELS,
    SCALE,
    ORDER,
    EMPTY_LEVEL,
    BUY,
    TRAILING,
    DISAGREE,
    OPEN_CLOSE,
)


def trailing_zeros(value: int) -> int:
    """How many times 10 divides value (a large number for 0)."""
    if value == 0:
        return _NO_DIGITS
    n = 0
    while value % 10 == 0:
        value //= 10
        n += 1
    return n
