# cython: boundscheck=False, wraparound=False
"""Writing v1 values (compiled twin of tradestore/codec/_pure/encode.py).

The recorder hands the store lists of TradeRows: the exchange's decimal strings and plain
ints, already the v1 row. For such a list ``encode_batch`` writes the MessagePack bytes
itself, in one pass to size them and one to fill them, byte for byte what msgpack's
Packer writes; ``trades_shape`` reads ids and times without building a list. Any other
batch (AggTrades, a non-ASCII or non-digit string, an int outside int64, a subclass)
goes whole to the pure functions, which also raise every error.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from cpython.long cimport PyLong_AsLongLongAndOverflow
from cpython.tuple cimport PyTuple_GET_ITEM
from cpython.unicode cimport PyUnicode_GET_LENGTH
from libc.stdint cimport int64_t, uint8_t, uint64_t
from libc.string cimport memcpy

from tradestore._model import TradeRow
from tradestore.codec._pure.encode import encode_batch as _encode_pure
from tradestore.codec._pure.encode import trades_shape as _shape_pure


cdef extern from "Python.h":
    bint PyUnicode_IS_COMPACT_ASCII(object)
    void* PyUnicode_DATA(object)
    bint PyLong_CheckExact(object)
    bint PyUnicode_CheckExact(object)

cdef type _TradeRow = TradeRow
cdef object _True = True
cdef object _False = False

__all__ = ["encode_batch", "trades_shape"]


cdef inline int _text_size(object s) except -2:
    """Bytes of a str field, or -1 when the fast path does not take it."""
    if not PyUnicode_CheckExact(s) or not PyUnicode_IS_COMPACT_ASCII(s):
        return -1
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(s)
    if n == 0:
        return -1
    cdef char c = (<const char*>PyUnicode_DATA(s))[0]
    if c < 48 or c > 57:  # not a digit: the pure encoder names the trade
        return -1
    if n < 32:
        return 1 + n
    if n < 256:
        return 2 + n
    if n < 65536:
        return 3 + n
    return -1  # no decimal is that long; the pure encoder decides


cdef inline int _int_value(object o, int64_t* out) except -2:
    """0 with the value in out, or -1 when the fast path does not take it."""
    cdef int overflow = 0
    if not PyLong_CheckExact(o):
        return -1
    cdef long long v = PyLong_AsLongLongAndOverflow(o, &overflow)
    if overflow:
        return -1
    out[0] = v
    return 0


cdef inline int _int_size(int64_t v) noexcept nogil:
    if v < -32:
        if v < -32768:
            return 9 if v < -2147483648LL else 5
        return 3 if v < -128 else 2
    if v < 128:
        return 1
    if v < 65536:
        return 2 if v < 256 else 3
    return 5 if v < 4294967296LL else 9


cdef inline uint8_t* _be(uint8_t* p, uint64_t v, int n) noexcept nogil:
    cdef int i
    for i in range(n):
        p[i] = <uint8_t>(v >> (8 * (n - 1 - i)))
    return p + n


cdef inline uint8_t* _put_int(uint8_t* p, int64_t v) noexcept nogil:
    if v < -32:
        if v < -2147483648LL:
            p[0] = 0xd3
            return _be(p + 1, <uint64_t>v, 8)
        if v < -32768:
            p[0] = 0xd2
            return _be(p + 1, <uint64_t>v, 4)
        if v < -128:
            p[0] = 0xd1
            return _be(p + 1, <uint64_t>v, 2)
        p[0] = 0xd0
        return _be(p + 1, <uint64_t>v, 1)
    if v < 128:
        p[0] = <uint8_t>v
        return p + 1
    if v < 256:
        p[0] = 0xcc
        return _be(p + 1, <uint64_t>v, 1)
    if v < 65536:
        p[0] = 0xcd
        return _be(p + 1, <uint64_t>v, 2)
    if v < 4294967296LL:
        p[0] = 0xce
        return _be(p + 1, <uint64_t>v, 4)
    p[0] = 0xcf
    return _be(p + 1, <uint64_t>v, 8)


cdef inline uint8_t* _put_text(uint8_t* p, object s):
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(s)
    if n < 32:
        p[0] = 0xa0 | <uint8_t>n
        p += 1
    elif n < 256:
        p[0] = 0xd9
        p = _be(p + 1, n, 1)
    else:
        p[0] = 0xda
        p = _be(p + 1, n, 2)
    memcpy(p, PyUnicode_DATA(s), n)
    return p + n


cdef inline bint _is_row(object t):
    return type(t) is _TradeRow


def encode_batch(trades):
    """The v1 value of trades (see tradestore/codec/_values.py: encode_batch)."""
    if type(trades) is not list:
        trades = list(trades)
    cdef Py_ssize_t n = PyList_GET_SIZE(trades), i
    cdef Py_ssize_t size = 1 if n < 16 else (3 if n < 65536 else 5)
    cdef int a, b
    cdef int64_t t_ms, agg_id
    cdef object row, flag
    for i in range(n):
        row = <object>PyList_GET_ITEM(trades, i)
        if not _is_row(row):
            return _encode_pure(trades)
        a = _text_size(<object>PyTuple_GET_ITEM(row, 0))
        b = _text_size(<object>PyTuple_GET_ITEM(row, 1))
        flag = <object>PyTuple_GET_ITEM(row, 4)
        if (
            a < 0 or b < 0
            or _int_value(<object>PyTuple_GET_ITEM(row, 2), &t_ms)
            or _int_value(<object>PyTuple_GET_ITEM(row, 3), &agg_id)
            or (flag is not _True and flag is not _False)
        ):
            return _encode_pure(trades)
        size += 2 + a + b + _int_size(t_ms) + _int_size(agg_id)  # row header and the bool
    value = PyBytes_FromStringAndSize(NULL, size)
    cdef uint8_t* p = <uint8_t*>PyBytes_AS_STRING(value)
    if n < 16:
        p[0] = 0x90 | <uint8_t>n
        p += 1
    elif n < 65536:
        p[0] = 0xdc
        p = _be(p + 1, n, 2)
    else:
        p[0] = 0xdd
        p = _be(p + 1, n, 4)
    for i in range(n):
        row = <object>PyList_GET_ITEM(trades, i)
        p[0] = 0x95
        p = _put_text(p + 1, <object>PyTuple_GET_ITEM(row, 0))
        p = _put_text(p, <object>PyTuple_GET_ITEM(row, 1))
        _int_value(<object>PyTuple_GET_ITEM(row, 2), &t_ms)
        _int_value(<object>PyTuple_GET_ITEM(row, 3), &agg_id)
        p = _put_int(p, t_ms)
        p = _put_int(p, agg_id)
        p[0] = 0xc3 if <object>PyTuple_GET_ITEM(row, 4) is _True else 0xc2
        p += 1
    assert p == <uint8_t*>PyBytes_AS_STRING(value) + size
    return value


def trades_shape(trades):
    """(lowest agg id, highest agg id, earliest T, latest T, whether the agg ids are
    strictly ascending) of a non-empty batch (see tradestore/codec/_pure/encode.py)."""
    if type(trades) is not list or not trades:
        return _shape_pure(trades)
    cdef Py_ssize_t n = PyList_GET_SIZE(trades), i
    cdef int64_t agg_id, t_ms, lo_id, hi_id, lo_t, hi_t, prev
    cdef bint ascending = True
    cdef object row
    for i in range(n):
        row = <object>PyList_GET_ITEM(trades, i)
        if (
            not _is_row(row)
            or _int_value(<object>PyTuple_GET_ITEM(row, 2), &t_ms)
            or _int_value(<object>PyTuple_GET_ITEM(row, 3), &agg_id)
        ):
            return _shape_pure(trades)
        if i == 0:
            lo_id = hi_id = prev = agg_id
            lo_t = hi_t = t_ms
            continue
        if agg_id <= prev:
            ascending = False
        prev = agg_id
        if agg_id < lo_id:
            lo_id = agg_id
        elif agg_id > hi_id:
            hi_id = agg_id
        if t_ms < lo_t:
            lo_t = t_ms
        elif t_ms > hi_t:
            hi_t = t_ms
    return lo_id, hi_id, lo_t, hi_t, ascending
