"""Fuzzing oracles and input builders, shared by tests/property/test_fuzz_*.py and the fuzz/ harnesses.

The oracles are written from the documented contract, not from the code under test:
the parser is judged against ``json.loads`` plus the field rules of the recorder (docs/FORMAT.md, src/tradestore/codec/_pure/parse.py),
the value decoders against ``msgpack.unpackb`` plus ``Decimal``. The twins must also agree
with each other exactly (same trade, same reject reason, same exception type).
"""

from __future__ import annotations

import ctypes
import json
import mmap
import re
from decimal import Decimal

import msgpack

from tradestore._errors import CorruptValue, FixedPointError, InvalidMessage
from tradestore.codec._decimal import MAX_DECIMAL_CHARS
from tradestore.codec._fixed import INT64_MAX, INT64_MIN, SCALE_DIGITS
from tradestore.codec._frame import MAX_FRAME_BYTES as MAX_FRAME

PLAIN_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?", re.ASCII)


# ------------------------------------------------------------------------------ parser


class Reject:
    """The oracle's verdict for an invalid frame: every reason the contract allows."""

    def __init__(self, *reasons: str) -> None:
        self.reasons = frozenset(reasons)

    def __repr__(self) -> str:
        return f"Reject{sorted(self.reasons)}"


def expected_event(frame) -> tuple | Reject:
    """(symbol, agg_id, price, qty, time_ms, is_buyer_maker) or Reject(allowed reasons)."""
    if isinstance(frame, bytes | bytearray | memoryview):
        if len(frame) > MAX_FRAME:
            return Reject("oversized")
        try:
            text = bytes(frame).decode("utf-8")
        except UnicodeDecodeError:
            return Reject("not_utf8")
    elif isinstance(frame, str):
        if len(frame) > MAX_FRAME:
            return Reject("oversized")
        text = frame
    else:
        return Reject("bad_type")
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return Reject("not_json")
    if not isinstance(doc, dict):
        return Reject("not_object")
    if "data" in doc and "e" not in doc:
        doc = doc["data"]
        if not isinstance(doc, dict):
            return Reject("not_object")
    if doc.get("e") != "aggTrade":
        return Reject("wrong_event")
    reasons = set()
    for key, kind in (("a", int), ("p", str), ("q", str), ("T", int), ("m", bool)):
        if key not in doc:
            reasons.add("missing_field")
        elif type(doc[key]) is not kind:
            reasons.add("bad_type")
        elif kind is int and not 0 <= doc[key] <= INT64_MAX:
            reasons.add("bad_value")
        elif kind is str and not (
            len(doc[key]) <= MAX_DECIMAL_CHARS and PLAIN_DECIMAL.fullmatch(doc[key])
        ):
            reasons.add("bad_decimal")
    symbol = doc.get("s")
    if symbol is not None and type(symbol) is not str:
        reasons.add("bad_type")
    if reasons:
        return Reject(*reasons)
    return (symbol, doc["a"], Decimal(doc["p"]), Decimal(doc["q"]), doc["T"], doc["m"])


def exact(value: Decimal) -> tuple:
    """Decimal identity including its digits and exponent ("1.50" is not "1.5")."""
    return value.as_tuple()


def check_frame(frame, parsers) -> None:
    """Every entry point of every parser twin agrees with the oracle on ``frame``.

    Any exception other than InvalidMessage propagates and fails the caller.
    """
    want = expected_event(frame)
    reasons = set()
    for label, impl in parsers:
        for name in ("parse_event", "parse_agg_trade"):
            try:
                got = getattr(impl, name)(frame)
            except InvalidMessage as exc:
                assert isinstance(want, Reject), (label, name, exc, want)
                assert exc.reason in want.reasons, (label, name, exc.reason, want)
                reasons.add(exc.reason)
                continue
            assert not isinstance(want, Reject), (label, name, got, want)
            _check_parsed(name, got, want, label)
    # The reason is a metric label: both twins must count a frame under the same one.
    assert len(reasons) <= 1, (frame, reasons)


def _check_parsed(name: str, got, want: tuple, label: str) -> None:
    symbol, agg_id, price, qty, time_ms, maker = want
    trade = got[1] if name == "parse_event" else got
    if name == "parse_event":
        assert got[0] == symbol and type(got[0]) is type(symbol), (label, got, want)
    assert type(trade.agg_id) is int and type(trade.time_ms) is int
    assert type(trade.is_buyer_maker) is bool
    assert (trade.agg_id, trade.time_ms, trade.is_buyer_maker) == (agg_id, time_ms, maker)
    assert exact(trade.price) == exact(price) and exact(trade.qty) == exact(qty), (label, trade)


# ------------------------------------------------------------------------------ values


def msgpack_rows(value) -> list[tuple] | None:
    """The v1 rows of a value as msgpack reads them, or None for a corrupt value (one that
    is not MessagePack, not rows of five, or holds a price or qty below zero)."""
    try:
        doc = msgpack.unpackb(bytes(value), raw=False, use_list=False, strict_map_key=True)
    except Exception:  # noqa: BLE001 - msgpack raises many types; any of them means corrupt
        return None
    if not isinstance(doc, tuple):
        return None
    rows = []
    for row in doc:
        if not (isinstance(row, tuple) and len(row) == 5):
            return None
        p, q, t, a, m = row
        if type(p) is not str or type(q) is not str or type(t) is not int or type(a) is not int:
            return None
        if type(m) is not bool:
            return None
        try:
            price, qty = Decimal(p), Decimal(q)
        except ArithmeticError:
            return None
        # A negative amount, a negative zero or NaN is not a trade: the value is corrupt.
        if not all(d.is_finite() and not d.is_signed() for d in (price, qty)):
            return None
        rows.append((a, price, qty, t, m))
    return rows


def expected_trades(pairs, start: int, end: int):
    """("ok", [(agg_id, price, qty, time_ms, maker)]) or ("error", CorruptValue, key)."""
    out = []
    for key, value in pairs:
        rows = msgpack_rows(value)
        if rows is None:
            return "error", CorruptValue, key
        out.extend(r for r in rows if start <= r[3] <= end)
    return "ok", out


def decimal_fixed(value: Decimal) -> int | None:
    """The exact int64 fixed point of any Decimal, or None; cheap for "1E+999999999" and
    for a million digits alike (the digits are inspected, never raised to a power)."""
    if not value.is_finite() or value.is_signed():
        return None
    _sign, digits, exponent = value.as_tuple()
    significant = len(digits)
    while significant and digits[significant - 1] == 0:
        significant -= 1
    if not significant:
        return 0
    shift = exponent + (len(digits) - significant) + SCALE_DIGITS
    if shift < 0:
        return None  # a non-zero digit below 1e-8
    if significant + shift > 19:
        return None  # at least 10**19 > INT64_MAX
    leading = next(i for i, d in enumerate(digits) if d)
    fixed = int("".join(map(str, digits[leading:significant]))) * 10**shift
    return fixed if fixed <= INT64_MAX else None


def expected_columns(pairs, start: int, end: int):
    """("ok", five lists) or ("error", exception type, key) as the contract defines them."""
    columns: list[list] = [[], [], [], [], []]
    for key, value in pairs:
        rows = msgpack_rows(value)
        if rows is None:
            return "error", CorruptValue, key
        for a, p, q, t, m in rows:
            if not start <= t <= end:
                continue
            if not (INT64_MIN <= a <= INT64_MAX and INT64_MIN <= t <= INT64_MAX):
                return "error", CorruptValue, key
            price, qty = decimal_fixed(p), decimal_fixed(q)
            if price is None or qty is None:
                return "error", FixedPointError, key
            for column, item in zip(columns, (a, t, price, qty, m), strict=True):
                column.append(item)
    return "ok", columns


def check_decoders(pairs, start: int, end: int, decoders) -> None:
    """decode_trades and decode_columns of every twin against the msgpack oracle."""
    want_trades = expected_trades(pairs, start, end)
    want_columns = expected_columns(pairs, start, end)
    for label, impl in decoders:
        try:
            trades, ascending = impl.decode_trades(pairs, start, end)
        except CorruptValue as exc:
            assert want_trades[:2] == ("error", CorruptValue), (label, exc, want_trades)
            assert exc.key == want_trades[2], (label, exc.key, want_trades[2])
        else:
            assert want_trades[0] == "ok", (label, "decoded a corrupt value", want_trades)
            got = [
                (t.agg_id, exact(t.price), exact(t.qty), t.time_ms, t.is_buyer_maker)
                for t in trades
            ]
            assert got == [(a, exact(p), exact(q), t, m) for a, p, q, t, m in want_trades[1]]
            assert all(type(t.is_buyer_maker) is bool for t in trades)
            ids = [t.agg_id for t in trades]
            assert ascending == all(x < y for x, y in zip(ids, ids[1:], strict=False))
        try:
            columns = impl.decode_columns(pairs, start, end)
        except (CorruptValue, FixedPointError) as exc:
            assert want_columns[0] == "error", (label, exc, want_columns)
            assert type(exc) is want_columns[1], (label, exc, want_columns)
        else:
            assert want_columns[0] == "ok", (label, "decoded a bad value", want_columns)
            dtypes = ("int64", "int64", "int64", "int64", "bool")
            for column, dtype, expected in zip(columns, dtypes, want_columns[1], strict=True):
                assert column.dtype == dtype and column.tolist() == expected, (label, dtype)


class MsgpackWriter:
    """Hand-made MessagePack with a free choice of widths, so every tag a reader may meet
    is produced (msgpack-python always picks the smallest encoding)."""

    def __init__(self, choose) -> None:
        self.choose = choose  # choose(options: list) -> one of them

    def array(self, n: int) -> bytes:
        options = [b"\xdc" + n.to_bytes(2, "big"), b"\xdd" + n.to_bytes(4, "big")]
        if n < 16:
            options.append(bytes([0x90 + n]))
        return self.choose(options)

    def str(self, raw: bytes, *, binary: bool = False) -> bytes:
        n = len(raw)
        if binary:
            return b"\xc4" + bytes([n]) + raw if n < 256 else b"\xc6" + n.to_bytes(4, "big") + raw
        options = [b"\xda" + n.to_bytes(2, "big"), b"\xdb" + n.to_bytes(4, "big")]
        if n < 32:
            options.append(bytes([0xA0 + n]))
        if n < 256:
            options.append(b"\xd9" + bytes([n]))
        return self.choose(options) + raw

    def int(self, v: int) -> bytes:
        options = []
        if 0 <= v <= 0x7F or -32 <= v < 0:
            options.append((v & 0xFF).to_bytes(1, "big"))
        for tag, width in ((0xCC, 1), (0xCD, 2), (0xCE, 4), (0xCF, 8)):
            if 0 <= v < 2 ** (8 * width):
                options.append(bytes([tag]) + v.to_bytes(width, "big"))
        for tag, width in ((0xD0, 1), (0xD1, 2), (0xD2, 4), (0xD3, 8)):
            if -(2 ** (8 * width - 1)) <= v < 2 ** (8 * width - 1):
                options.append(bytes([tag]) + v.to_bytes(width, "big", signed=True))
        return self.choose(options)


# ------------------------------------------------------------------------------ guard pages


class GuardedBuffer:
    """Memory with inaccessible pages on both sides: a read one byte outside a value placed
    against either guard is a SIGSEGV (pytest's faulthandler names the test), not a silent
    read of a neighbour's bytes."""

    PROT_NONE = 0

    def __init__(self, data_pages: int = 16) -> None:
        self.page = mmap.PAGESIZE
        self.size = data_pages * self.page
        self.map = mmap.mmap(-1, self.size + 2 * self.page)
        self._anchor = ctypes.c_char.from_buffer(self.map)  # pins the mapping
        base = ctypes.addressof(self._anchor)
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
        for offset in (0, self.page + self.size):
            if libc.mprotect(base + offset, self.page, self.PROT_NONE) != 0:
                raise OSError(ctypes.get_errno(), "mprotect failed")

    def at_end(self, data: bytes) -> memoryview:
        """data placed so that its last byte is the last readable byte."""
        stop = self.page + self.size
        start = stop - len(data)
        if len(data) > self.size:
            raise ValueError("value larger than the guarded area")
        self.map[start:stop] = data
        return memoryview(self.map)[start:stop]

    def at_start(self, data: bytes) -> memoryview:
        """data placed so that its first byte is the first readable byte."""
        start = self.page
        if len(data) > self.size:
            raise ValueError("value larger than the guarded area")
        self.map[start : start + len(data)] = data
        return memoryview(self.map)[start : start + len(data)]
