# cython: boundscheck=False, wraparound=False
"""Key-filtered decoding of v1 values (compiled twin of tradestore/codec/_pure/decode.py).

Reads each value through the buffer protocol, skips trades outside [start, end] without
building objects, and appends the rest straight into growable numpy columns (or into
AggTrades whose Decimals come from a small cache of repeated price/qty strings). Any value
not of the exact v1 shape goes whole to the v1 codec's msgpack path (tradestore/codec/_values.py,
which the pure twin uses for everything), so both decide it exactly alike.
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_GET_SIZE
from cpython.object cimport PyObject_GenericSetAttr
from cpython.unicode cimport PyUnicode_DecodeASCII


cdef extern from "Python.h":
    void PyObject_GC_UnTrack(object)
from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport free, realloc
from libc.string cimport memchr

import numpy as np

from _fixed cimport FP_OK, check_python_side, parse_fixed_chars
from _v1core cimport (
    V1_MIN_ROW_BYTES, V1Row, v1_array_len, v1_fixed, v1_plain_decimal, v1_row, v1_row_shape,
)

from decimal import Decimal

from tradestore.codec._values import decode_batch, decode_fixed_rows
from tradestore._model import AggTrade

cdef enum:
    CACHE_BITS = 13
    MAX_CACHED = 64  # longer strings bypass the cache: (length, point) must fit its key

cdef object _new_object = object.__new__
check_python_side()


cdef class _Owned:
    """malloc'd memory lent to numpy through the buffer protocol, freed with the array."""

    cdef void* data
    cdef Py_ssize_t nbytes
    cdef Py_ssize_t shape[1]

    def __dealloc__(self):
        free(self.data)

    def __getbuffer__(self, Py_buffer* view, int flags):
        self.shape[0] = self.nbytes
        view.buf = self.data
        view.obj = self
        view.len = self.nbytes
        view.readonly = 0
        view.itemsize = 1
        view.format = "B"
        view.ndim = 1
        view.shape = self.shape
        view.strides = NULL
        view.suboffsets = NULL
        view.internal = NULL

    def __releasebuffer__(self, Py_buffer* view):
        pass


cdef object _to_array(void** data, Py_ssize_t n, Py_ssize_t itemsize, dtype):
    """Hand data (n items) to a numpy array without copying; data is then owned by it."""
    cdef _Owned owned = _Owned()
    cdef void* shrunk = realloc(data[0], max(n * itemsize, 1))
    if shrunk != NULL:
        data[0] = shrunk
    owned.data = data[0]
    owned.nbytes = n * itemsize
    data[0] = NULL
    return np.frombuffer(owned, dtype=dtype, count=n)


cdef class _Columns:
    """Five growable C columns; ``count`` rows are filled.

    Grown with realloc, which for large blocks remaps pages instead of copying them, and
    handed to numpy without a copy: fresh memory is touched once, which matters for a
    24 h window (8.6M rows, 290 MB).
    """

    cdef int64_t* agg_id
    cdef int64_t* time_ms
    cdef int64_t* price
    cdef int64_t* qty
    cdef unsigned char* side
    cdef Py_ssize_t count, capacity

    def __cinit__(self, Py_ssize_t capacity):
        self.count = 0
        self.capacity = 0
        self._resize(max(capacity, 16))

    def __dealloc__(self):
        free(self.agg_id)
        free(self.time_ms)
        free(self.price)
        free(self.qty)
        free(self.side)

    cdef int _resize(self, Py_ssize_t capacity) except -1:
        cdef void* p
        p = realloc(self.agg_id, capacity * 8)
        if p == NULL:
            raise MemoryError()
        self.agg_id = <int64_t*>p
        p = realloc(self.time_ms, capacity * 8)
        if p == NULL:
            raise MemoryError()
        self.time_ms = <int64_t*>p
        p = realloc(self.price, capacity * 8)
        if p == NULL:
            raise MemoryError()
        self.price = <int64_t*>p
        p = realloc(self.qty, capacity * 8)
        if p == NULL:
            raise MemoryError()
        self.qty = <int64_t*>p
        p = realloc(self.side, capacity)
        if p == NULL:
            raise MemoryError()
        self.side = <unsigned char*>p
        self.capacity = capacity
        return 0

    cdef inline int ensure(self, Py_ssize_t extra) except -1:
        if self.count + extra > self.capacity:
            self._resize(max(self.count + extra, self.capacity * 2))
        return 0

    cdef int append_rows(self, list rows) except -1:
        self.ensure(len(rows))
        cdef Py_ssize_t i = self.count
        for agg_id, time_ms, price, qty, side in rows:
            self.agg_id[i] = agg_id
            self.time_ms[i] = time_ms
            self.price[i] = price
            self.qty[i] = qty
            self.side[i] = 1 if side else 0
            i += 1
        self.count = i
        return 0

    def result(self):
        n = self.count
        return (
            _to_array(<void**>&self.agg_id, n, 8, np.int64),
            _to_array(<void**>&self.time_ms, n, 8, np.int64),
            _to_array(<void**>&self.price, n, 8, np.int64),
            _to_array(<void**>&self.qty, n, 8, np.int64),
            _to_array(<void**>&self.side, n, 1, np.bool_),
        )


cdef class _View:
    """The bytes of one value: borrowed from a bytes object or held through a buffer."""

    cdef Py_buffer buf
    cdef bint held
    cdef const unsigned char* p
    cdef Py_ssize_t n

    cdef int open(self, object value) except -1:
        if PyBytes_CheckExact(value):
            self.p = <const unsigned char*>PyBytes_AS_STRING(value)
            self.n = PyBytes_GET_SIZE(value)
        else:
            PyObject_GetBuffer(value, &self.buf, PyBUF_SIMPLE)
            self.held = True
            self.p = <const unsigned char*>self.buf.buf
            self.n = self.buf.len
        return 0

    cdef void close(self) noexcept:
        if self.held:
            PyBuffer_Release(&self.buf)
            self.held = False

    def __dealloc__(self):
        self.close()


cdef int _fast_columns(_Columns cols, const unsigned char* p, Py_ssize_t n,
                       int64_t start, int64_t end) except -1:
    """Append the in-window rows of one v1 value; 1 if the value needs the slow path."""
    cdef Py_ssize_t pos = 0
    cdef Py_ssize_t nrows, r
    cdef Py_ssize_t mark = cols.count
    cdef Py_ssize_t i
    cdef V1Row row
    cdef int64_t price, qty
    if v1_array_len(p, n, &pos, &nrows) < 0 or nrows > (n - pos) // V1_MIN_ROW_BYTES:
        return 1
    cols.ensure(nrows)
    i = cols.count
    for r in range(nrows):
        if v1_row_shape(p, n, &pos, &row) < 0:
            cols.count = mark
            return 1
        if row.time_ms < start or row.time_ms > end:
            if not (v1_plain_decimal(row.price, row.price_len)
                    and v1_plain_decimal(row.qty, row.qty_len)):
                cols.count = mark
                return 1
            continue
        if (v1_fixed(row.price, row.price_len, &price) != FP_OK
                or v1_fixed(row.qty, row.qty_len, &qty) != FP_OK):
            cols.count = mark
            return 1
        cols.agg_id[i] = row.agg_id
        cols.time_ms[i] = row.time_ms
        cols.price[i] = price
        cols.qty[i] = qty
        cols.side[i] = row.is_buyer_maker
        i += 1
    if pos != n:
        cols.count = mark
        return 1
    cols.count = i
    return 0


def decode_columns(pairs, int64_t start_ms, int64_t end_ms):
    """(agg_id, time_ms, price, qty, is_buyer_maker) arrays of the in-window trades, in scan order."""
    cdef _Columns cols = _Columns(1 << 16)
    cdef _View view
    cdef int rc
    for key, value in pairs:
        view = _View()
        view.open(value)
        try:
            rc = _fast_columns(cols, view.p, view.n, start_ms, end_ms)
        finally:
            view.close()
        if rc:
            cols.append_rows(decode_fixed_rows(bytes(value), key, start_ms, end_ms))
    return cols.result()


cdef class _DecimalCache:
    """Direct-mapped cache: identical plain-decimal strings share one Decimal.

    A string is identified by (fixed-point value, length, digits before the point): two
    plain decimals that agree on all three are the same text, so str(Decimal) round-trips.
    """

    cdef int64_t keys[1 << CACHE_BITS]
    cdef int64_t metas[1 << CACHE_BITS]
    cdef list objects

    def __cinit__(self):
        self.objects = [None] * (1 << CACHE_BITS)
        cdef Py_ssize_t i
        for i in range(1 << CACHE_BITS):
            self.metas[i] = -1

    cdef object get(self, const unsigned char* s, Py_ssize_t n):
        cdef int64_t value
        cdef const unsigned char* dot
        cdef int64_t meta
        cdef Py_ssize_t slot
        if n > MAX_CACHED or parse_fixed_chars(s, n, &value) != FP_OK:
            # Too long to key unambiguously, or too precise or too large for int64:
            # exact, just not cached.
            return Decimal(PyUnicode_DecodeASCII(<const char*>s, n, NULL))
        dot = <const unsigned char*>memchr(s, 46, n)
        meta = (n << 20) | ((dot - s) if dot != NULL else n)
        slot = <Py_ssize_t>(((<uint64_t>value * 0x9E3779B97F4A7C15ULL) ^ <uint64_t>meta)
                            >> (64 - CACHE_BITS))
        if self.keys[slot] == value and self.metas[slot] == meta:
            return self.objects[slot]
        obj = Decimal(PyUnicode_DecodeASCII(<const char*>s, n, NULL))
        self.keys[slot] = value
        self.metas[slot] = meta
        self.objects[slot] = obj
        return obj


cdef int _fast_trades(list out, _DecimalCache cache, const unsigned char* p, Py_ssize_t n,
                      int64_t start, int64_t end) except -1:
    """Append the in-window AggTrades of one v1 value; 1 if it needs the slow path."""
    cdef Py_ssize_t pos = 0
    cdef Py_ssize_t nrows, r
    cdef Py_ssize_t mark = len(out)
    cdef V1Row row
    if v1_array_len(p, n, &pos, &nrows) < 0 or nrows > (n - pos) // V1_MIN_ROW_BYTES:
        return 1
    for r in range(nrows):
        if v1_row(p, n, &pos, &row) < 0:
            del out[mark:]
            return 1
        if row.time_ms < start or row.time_ms > end:
            continue
        trade = _new_object(AggTrade)
        # AggTrade is a frozen dataclass: its __setattr__ refuses, the slots do not.
        PyObject_GenericSetAttr(trade, "agg_id", row.agg_id)
        PyObject_GenericSetAttr(trade, "price", cache.get(row.price, row.price_len))
        PyObject_GenericSetAttr(trade, "qty", cache.get(row.qty, row.qty_len))
        PyObject_GenericSetAttr(trade, "time_ms", row.time_ms)
        PyObject_GenericSetAttr(trade, "is_buyer_maker", True if row.is_buyer_maker else False)
        # Ints, Decimals and a bool cannot form a cycle: keeping 10^5..10^6 fresh trades
        # out of the cycle collector's sight halves the cost of a query.
        PyObject_GC_UnTrack(trade)
        out.append(trade)
    if pos != n:
        del out[mark:]
        return 1
    return 0


def decode_trades(pairs, int64_t start_ms, int64_t end_ms):
    """(in-window AggTrades in scan order, whether their agg ids strictly ascend)."""
    cdef list out = []
    cdef _DecimalCache cache = _DecimalCache()
    cdef _View view
    cdef int rc
    for key, value in pairs:
        view = _View()
        view.open(value)
        try:
            rc = _fast_trades(out, cache, view.p, view.n, start_ms, end_ms)
        finally:
            view.close()
        if rc:
            out.extend(
                t for t in decode_batch(bytes(value), key) if start_ms <= t.time_ms <= end_ms
            )
    return out, _ascending(out)


cdef bint _ascending(list trades):
    cdef Py_ssize_t i
    cdef object prev = None
    for i in range(len(trades)):
        current = (<object>trades[i]).agg_id
        if prev is not None and not prev < current:
            return False
        prev = current
    return True
