"""The rollup value format on the pure side: a summary and its levels written as the
canonical bytes of tradestore/codec/_rollupfmt.py (docs/FORMAT.md), and read back with
every check, in order, each refusal naming its reason (the compiled side's is
src/tradestore/codec/_ext/_rollupvalue.pxd, which makes the same checks in the same order).
"""

from __future__ import annotations

from collections.abc import Sequence

from tradestore._errors import CorruptValue
from tradestore.codec import _rollupfmt as fmt
from tradestore.codec._pure._levels import Levels

# A summary, as write_head takes it and read_head gives it: trades, first time, last
# time, first agg id, last agg id, open, close, low, high, volume, taker-buy volume,
# notional.


# ---------------------------------------------------------------------- writing


def put(out: bytearray, value: int) -> None:
    """Unsigned LEB128: 7 bits a byte, low first, high bit set on all but the last."""
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def write_head(head: Sequence[int]) -> bytearray:
    """The format byte and the summary (its twelve numbers, in their order)."""
    count, first_t, last_t, first_id, last_id, open_p, close_p, low, high, vol, buy, notional = head
    out = bytearray([fmt.FORMAT])
    for field in (
        count,
        first_t,
        last_t - first_t,
        first_id,
        last_id - first_id,
        open_p,
        close_p,
        low,
        high - low,
        vol,
        buy,
        notional,
    ):
        put(out, field)
    return out


def write_levels(out: bytearray, levels: Levels) -> None:
    """The levels in columns after the head, each number in units of the largest power of
    ten that divides every price (k) or amount (j)."""
    prices = sorted(levels)
    put(out, len(prices))
    k = min(min(fmt.trailing_zeros(p) for p in prices), fmt.MAX_PRICE_EXP)
    amounts = [a for v, b, _n in levels.values() for a in (v, b)]
    j = min(min(fmt.trailing_zeros(a) for a in amounts), fmt.MAX_QTY_EXP)
    out += bytes([k, j])
    p_unit, q_unit = 10**k, 10**j
    previous = 0
    for price in prices:
        put(out, (price - previous) // p_unit)
        previous = price
    listed = []
    for price in prices:
        vol, buy, n = levels[price]
        if buy == 0:
            code = fmt.BUY_NONE
        elif buy == vol:
            code = fmt.BUY_ALL
        else:
            code = fmt.BUY_LISTED
            listed.append(buy)
        put(out, n << 2 | code)
    for price in prices:
        put(out, levels[price][0] // q_unit)
    for buy in listed:
        put(out, buy // q_unit)


# ---------------------------------------------------------------------- reading

I64 = 2**63 - 1
U128 = 2**128
U192 = 2**192


class Reader:
    """The bytes of one value and a position in them; each refusal names the key."""

    __slots__ = ("data", "key", "pos")

    def __init__(self, data: bytes, key: bytes) -> None:
        self.data = data
        self.key = key
        self.pos = 0

    def fail(self, reason: str) -> CorruptValue:
        return CorruptValue(self.key, reason)

    def varint(self, bits: int = 128) -> int:
        """An unsigned LEB128 of at most ``bits`` bits, in its shortest form."""
        data, pos = self.data, self.pos
        value = shift = 0
        while True:
            if pos >= len(data):
                raise self.fail(fmt.RANGE)
            byte = data[pos]
            pos += 1
            part = byte & 0x7F
            if shift + 7 > bits and part >> (bits - shift):
                raise self.fail(fmt.RANGE)
            value |= part << shift
            if not byte & 0x80:
                break
            shift += 7
            if shift >= bits:
                raise self.fail(fmt.RANGE)
        if byte == 0 and shift:
            raise self.fail(fmt.RANGE)
        self.pos = pos
        return value

    def int64(self) -> int:
        value = self.varint()
        if value > I64:
            raise self.fail(fmt.RANGE)
        return value

    def plus(self, base: int) -> int:
        """base + the next number, which must stay an int64."""
        step = self.int64()
        if step > I64 - base:
            raise self.fail(fmt.RANGE)
        return base + step


def read_head(r: Reader) -> list[int]:
    """The format byte and the summary."""
    if r.pos >= len(r.data) or r.data[r.pos] != fmt.FORMAT:
        raise r.fail(fmt.NOT_FORMAT)
    r.pos += 1
    count = r.int64()
    first_t = r.int64()
    last_t = r.plus(first_t)
    first_id = r.int64()
    last_id = r.plus(first_id)
    open_p, close_p, low = r.int64(), r.int64(), r.int64()
    high = r.plus(low)
    vol, buy, notional = r.varint(128), r.varint(128), r.varint(192)
    if count < 1:
        raise r.fail(fmt.NO_TRADES)
    return [
        count,
        first_t,
        last_t,
        first_id,
        last_id,
        open_p,
        close_p,
        low,
        high,
        vol,
        buy,
        notional,
    ]


def read_value(value: bytes, key: bytes) -> tuple[list[int], Levels]:
    """(the summary, the levels) of a stored value; CorruptValue (naming ``key``) on any
    inconsistency."""
    r = Reader(bytes(value), key)
    head = read_head(r)
    count, first_t, last_t, first_id, last_id, open_p, close_p, low, high, vol, buy, notional = head
    n = r.int64()
    if n < 1 or n > len(r.data) - r.pos:
        raise r.fail(fmt.LEVELS)
    if r.pos + 2 > len(r.data):
        raise r.fail(fmt.RANGE)
    k, j = r.data[r.pos], r.data[r.pos + 1]
    r.pos += 2
    if k > fmt.MAX_PRICE_EXP or j > fmt.MAX_QTY_EXP:
        raise r.fail(fmt.SCALE)
    p_unit, q_unit = 10**k, 10**j
    prices = []
    price = 0
    for i in range(n):
        step = r.int64()
        if i and not step:
            raise r.fail(fmt.ORDER)
        if step * p_unit > I64 - price:
            raise r.fail(fmt.RANGE)
        price += step * p_unit
        prices.append(price)
    counts, codes = [], []
    count_sum = 0
    for _ in range(n):
        word = r.varint()
        if word >> 2 > I64:
            raise r.fail(fmt.RANGE)
        if word >> 2 < 1 or word & 3 > fmt.BUY_LISTED:
            raise r.fail(fmt.EMPTY_LEVEL)
        counts.append(word >> 2)
        codes.append(word & 3)
        count_sum += word >> 2
        if count_sum > I64:
            raise r.fail(fmt.DISAGREE)
    vols = []
    vol_sum = notional_sum = 0
    for price in prices:
        v = r.varint() * q_unit
        if v >= U128:
            raise r.fail(fmt.RANGE)
        vols.append(v)
        vol_sum += v
        notional_sum += price * v
        if vol_sum >= U128 or notional_sum >= U192:
            raise r.fail(fmt.DISAGREE)
    buys = []
    buy_sum = 0
    for code, v in zip(codes, vols, strict=True):
        if code == fmt.BUY_NONE:
            b = 0
        elif code == fmt.BUY_ALL:
            b = v
        else:
            b = r.varint() * q_unit
            if b >= U128:
                raise r.fail(fmt.RANGE)
            if not 0 < b < v:
                raise r.fail(fmt.BUY)
        buys.append(b)
        buy_sum += b
        if buy_sum >= U128:
            raise r.fail(fmt.DISAGREE)
    if r.pos != len(r.data):
        raise r.fail(fmt.TRAILING)
    if (
        count_sum != count
        or vol_sum != vol
        or buy_sum != buy
        or notional_sum != notional
        or prices[0] != low
        or prices[-1] != high
        or last_id - first_id < count - 1
    ):
        raise r.fail(fmt.DISAGREE)
    levels = Levels((p, [v, b, c]) for p, v, b, c in zip(prices, vols, buys, counts, strict=True))
    if open_p not in levels or close_p not in levels:
        raise r.fail(fmt.OPEN_CLOSE)
    return head, levels
