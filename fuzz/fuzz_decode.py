"""atheris harness: the v1 value decoders (both twins) against the msgpack oracle.

The first two bytes choose the query window around the trades' times; the rest is the
stored value, handed over three ways: as bytes, and as views that end and start at a
PROT_NONE guard page (an out-of-bounds read is a SIGSEGV, which libFuzzer reports).
decode_trades and decode_columns must return exactly what msgpack + Decimal read, or
raise CorruptValue (FixedPointError for decimals that do not fit the columns).
"""

from __future__ import annotations

import sys

import _common
import msgpack

DECODERS = _common.twins("decode")

from tests.helpers.fuzz import GuardedBuffer, check_decoders  # noqa: E402

T0 = 1_767_225_600_000
KEY = b"trades:FUZZ:1767225600000"
GUARD = GuardedBuffer(data_pages=2)


def test_one_input(data: bytes) -> None:
    if len(data) < 2:
        return
    start = T0 - 64 + data[0]
    end = start + data[1]
    value = data[2:]
    check_decoders([(KEY, value)], start, end, DECODERS)
    check_decoders([(KEY, GUARD.at_end(value))], start, end, DECODERS)
    check_decoders([(KEY, GUARD.at_start(value))], start, end, DECODERS)


def seeds() -> list[bytes]:
    rows = [["87648.21000000", "0.08185000", T0 + i, 3800397495 + i, i % 2 == 0] for i in range(4)]
    odd = [["1.5", "2", T0, 1, False], ["1E+3", "0.000000001", T0 + 1, 2**63 - 1, True]]
    window = bytes([64, 40])
    return [
        window + msgpack.packb(rows),
        window + msgpack.packb(odd),
        window + msgpack.packb([]),
        bytes([0, 255]) + msgpack.packb(rows[:1]),
    ]


if __name__ == "__main__":
    _common.start(test_one_input, seeds())
    sys.exit(0)
