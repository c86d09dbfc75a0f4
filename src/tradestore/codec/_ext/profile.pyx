# cython: boundscheck=False, wraparound=False
"""Per-price volume accumulation straight from v1 value bytes (twin: _pure/profile.py).

One pass over the seek window: each in-window trade adds its quantity to the level table
of src/tradestore/codec/_ext/_levels.pxd (the one the rollups use), keyed by the exact
price (int64 at 1e-8), with 128-bit sums. No Python object is built per trade. Binning happens afterwards over the distinct
prices, so any bin width is exact. Values not of the exact v1 shape go through the v1
codec's msgpack path (tradestore/codec/_values.py, as in the pure twin), one whole value at a time.
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_GET_SIZE
from libc.stdint cimport int64_t
from libc.stdlib cimport free, realloc

from _fixed cimport FP_OK, check_python_side
from _levels cimport Level, Levels, levels_at, levels_bins, levels_free, levels_init
from _v1core cimport (
    V1_MIN_ROW_BYTES, V1Row, v1_array_len, v1_fixed, v1_plain_decimal, v1_row_shape,
)
from _wide cimport u128

from tradestore.codec._values import decode_fixed_rows

check_python_side()


cdef struct Row:
    int64_t agg_id
    int64_t time_ms
    int64_t price
    int64_t qty
    bint is_buyer_maker


cdef class LevelTable:
    """Volume per exact price level over a window (see the module docstring), in the
    level table rollup.pyx uses too (src/tradestore/codec/_ext/_levels.pxd)."""

    cdef Levels t
    cdef Row* rows
    cdef Py_ssize_t rows_cap, n_rows
    cdef readonly Py_ssize_t trade_count
    cdef int64_t first_t, last_t
    cdef int64_t last_id
    cdef int64_t lo_id, hi_id  # smallest and largest agg id added (coverage)
    cdef bint has_last
    cdef bint dedupe
    cdef set seen

    def __cinit__(self):
        self.rows = NULL
        self.rows_cap = 0
        self.n_rows = 0
        self.trade_count = 0
        self.has_last = False
        levels_init(&self.t, 1024, 1024)  # a scan's worth of prices: large from the start

    def __dealloc__(self):
        levels_free(&self.t)
        free(self.rows)

    cdef int _reserve_rows(self, Py_ssize_t n) except -1:
        cdef Row* grown
        if n > self.rows_cap:
            grown = <Row*>realloc(self.rows, n * sizeof(Row))
            if grown == NULL:
                raise MemoryError()
            self.rows = grown
            self.rows_cap = n
        return 0

    cdef int _commit(self) except -1:
        """Add the rows parsed from one value; -2 when ids are out of order (no dedupe)."""
        cdef Py_ssize_t r
        cdef Row* row
        cdef Level* level
        for r in range(self.n_rows):
            row = &self.rows[r]
            if self.dedupe:
                if row.agg_id in self.seen:
                    continue
                self.seen.add(row.agg_id)
            elif self.has_last and row.agg_id <= self.last_id:
                return -2
            self.last_id = row.agg_id
            self.has_last = True
            if self.t.last >= 0 and self.t.lv[self.t.last].price == row.price:
                level = &self.t.lv[self.t.last]  # the common case, without a call
            else:
                level = levels_at(&self.t, row.price)
            level.vol += <u128>row.qty
            if not row.is_buyer_maker:
                level.buy += <u128>row.qty
            level.count += 1
            if self.trade_count == 0:
                self.first_t = self.last_t = row.time_ms
                self.lo_id = self.hi_id = row.agg_id
            else:
                if row.agg_id < self.lo_id:
                    self.lo_id = row.agg_id
                if row.agg_id > self.hi_id:
                    self.hi_id = row.agg_id
                if row.time_ms < self.first_t:
                    self.first_t = row.time_ms
                if row.time_ms > self.last_t:
                    self.last_t = row.time_ms
            self.trade_count += 1
        self.n_rows = 0
        return 0

    cdef int _parse(self, const unsigned char* p, Py_ssize_t n, int64_t start,
                    int64_t end) except -1:
        """Parse one value's in-window rows into self.rows; 1 if it needs the slow path."""
        cdef Py_ssize_t pos = 0
        cdef Py_ssize_t nrows, r
        cdef V1Row v
        cdef Row* row
        self.n_rows = 0
        if v1_array_len(p, n, &pos, &nrows) < 0 or nrows > (n - pos) // V1_MIN_ROW_BYTES:
            return 1
        self._reserve_rows(nrows)
        for r in range(nrows):
            if v1_row_shape(p, n, &pos, &v) < 0:
                return 1
            if v.time_ms < start or v.time_ms > end:
                if not (v1_plain_decimal(v.price, v.price_len)
                        and v1_plain_decimal(v.qty, v.qty_len)):
                    return 1
                continue
            row = &self.rows[self.n_rows]
            if (v1_fixed(v.price, v.price_len, &row.price) != FP_OK
                    or v1_fixed(v.qty, v.qty_len, &row.qty) != FP_OK):
                return 1
            row.agg_id = v.agg_id
            row.time_ms = v.time_ms
            row.is_buyer_maker = v.is_buyer_maker
            self.n_rows += 1
        return 1 if pos != n else 0

    cdef int _slow(self, key, value, int64_t start, int64_t end) except -1:
        cdef list rows = decode_fixed_rows(bytes(value), key, start, end)
        cdef Row* row
        self._reserve_rows(len(rows))
        self.n_rows = 0
        for agg_id, time_ms, price, qty, is_buyer_maker in rows:
            row = &self.rows[self.n_rows]
            row.agg_id = agg_id
            row.time_ms = time_ms
            row.price = price
            row.qty = qty
            row.is_buyer_maker = is_buyer_maker
            self.n_rows += 1
        return 0

    @property
    def first_time_ms(self):
        return self.first_t if self.trade_count else None

    @property
    def last_time_ms(self):
        return self.last_t if self.trade_count else None

    @property
    def first_agg_id(self):
        return self.lo_id if self.trade_count else None

    @property
    def last_agg_id(self):
        return self.hi_id if self.trade_count else None

    @property
    def min_price(self):
        return self.t.low if self.trade_count else None

    @property
    def max_price(self):
        return self.t.high if self.trade_count else None

    @property
    def level_count(self):
        return self.t.used

    def bins(self, int64_t origin, int64_t width, Py_ssize_t nbins):
        """(volume, taker-buy volume, trade count) per bin [origin + i*width, +width)."""
        return levels_bins(&self.t, origin, width, nbins)


cdef inline int _open(object value, Py_buffer* buf, const unsigned char** p,
                      Py_ssize_t* n) except -1:
    """1 when a buffer was acquired (release it), 0 when bytes are borrowed."""
    if PyBytes_CheckExact(value):
        p[0] = <const unsigned char*>PyBytes_AS_STRING(value)
        n[0] = PyBytes_GET_SIZE(value)
        return 0
    PyObject_GetBuffer(value, buf, PyBUF_SIMPLE)
    p[0] = <const unsigned char*>buf.buf
    n[0] = buf.len
    return 1


def accumulate(pairs, int64_t start_ms, int64_t end_ms, bint dedupe=False):
    """A LevelTable of the in-window trades, or None if ids were out of order (no dedupe)."""
    cdef LevelTable table = LevelTable()
    cdef Py_buffer buf
    cdef const unsigned char* p
    cdef Py_ssize_t n
    cdef int held, rc
    table.dedupe = dedupe
    table.seen = set() if dedupe else None
    for key, value in pairs:
        held = _open(value, &buf, &p, &n)
        try:
            rc = table._parse(p, n, start_ms, end_ms)
        finally:
            if held:
                PyBuffer_Release(&buf)
        if rc:
            table._slow(key, value, start_ms, end_ms)
        if table._commit() == -2:
            return None
    return table
