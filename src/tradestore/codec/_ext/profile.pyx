# cython: boundscheck=False, wraparound=False
"""Per-price volume accumulation straight from v1 value bytes (twin: _pure/profile.py).

One pass over the seek window: each in-window trade adds its quantity to an open-addressing
table keyed by the exact price (int64 at 1e-8), with 128-bit sums (two uint64 words with
carry). No Python object is built per trade. Binning happens afterwards over the distinct
prices, so any bin width is exact. Values not of the exact v1 shape go through the v1
codec's msgpack path (tradestore/codec/_values.py, as in the pure twin), one whole value at a time.
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_GET_SIZE
from libc.stdint cimport int32_t, int64_t, uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memset

from _fixed cimport FP_OK, check_python_side
from _v1core cimport (
    V1_MIN_ROW_BYTES, V1Row, v1_array_len, v1_fixed, v1_plain_decimal, v1_row_shape,
)

from tradestore.codec._values import decode_fixed_rows

check_python_side()


cdef struct Level:
    int64_t price
    uint64_t vol_lo
    uint64_t vol_hi
    uint64_t buy_lo
    uint64_t buy_hi
    uint64_t count


cdef struct Row:
    int64_t agg_id
    int64_t time_ms
    int64_t price
    int64_t qty
    bint is_buyer_maker


cdef inline void _add128(uint64_t* lo, uint64_t* hi, uint64_t v) noexcept nogil:
    lo[0] += v
    if lo[0] < v:
        hi[0] += 1


cdef inline object _u128(uint64_t hi, uint64_t lo):
    """The Python int hi * 2**64 + lo (the shift must happen on a Python int)."""
    if hi == 0:
        return lo
    return (<object>hi << 64) | <object>lo


cdef class LevelTable:
    """Volume per exact price level over a window (see the module docstring).

    Levels live in a dense array in order of first appearance; an open-addressing index
    of int32 positions (4 bytes a slot, small enough to stay in cache) finds them. Growing
    the index moves no level, and fresh memory is touched sparingly: on a VM, page faults
    on a large table cost as much as the aggregation itself.
    """

    cdef Level* levels
    cdef Py_ssize_t used, levels_cap
    cdef int32_t* index
    cdef Py_ssize_t capacity
    cdef Py_ssize_t last  # position of the level of the previous trade, or -1
    cdef Row* rows
    cdef Py_ssize_t rows_cap, n_rows
    cdef readonly Py_ssize_t trade_count
    cdef int64_t first_t, last_t
    cdef int64_t lo_price, hi_price
    cdef int64_t last_id
    cdef int64_t lo_id, hi_id  # smallest and largest agg id added (coverage)
    cdef bint has_last
    cdef bint dedupe
    cdef set seen

    def __cinit__(self):
        self.capacity = 0
        self.used = 0
        self.levels_cap = 0
        self.levels = NULL
        self.index = NULL
        self.last = -1
        self.rows = NULL
        self.rows_cap = 0
        self.n_rows = 0
        self.trade_count = 0
        self.has_last = False
        self._rehash(1024)

    def __dealloc__(self):
        free(self.levels)
        free(self.index)
        free(self.rows)

    cdef int _rehash(self, Py_ssize_t capacity) except -1:
        """Rebuild the index with ``capacity`` slots (a power of two)."""
        cdef int32_t* new = <int32_t*>malloc(capacity * sizeof(int32_t))
        cdef Py_ssize_t k
        if new == NULL:
            raise MemoryError()
        memset(new, 0xFF, capacity * sizeof(int32_t))  # every slot -1: empty
        free(self.index)
        self.index = new
        self.capacity = capacity
        for k in range(self.used):
            self._slot(self.levels[k].price)[0] = <int32_t>k
        return 0

    cdef inline int32_t* _slot(self, int64_t price) noexcept nogil:
        """The index slot of price (an empty one, -1, where it would go if absent)."""
        cdef uint64_t mask = <uint64_t>(self.capacity - 1)
        cdef uint64_t i = ((<uint64_t>price) * 0x9E3779B97F4A7C15ULL) >> 20
        cdef int32_t k
        while True:
            i &= mask
            k = self.index[i]
            if k < 0 or self.levels[k].price == price:
                return &self.index[i]
            i += 1

    cdef Level* _level(self, int64_t price) except NULL:
        """The level of price, created empty when new."""
        cdef int32_t* slot
        cdef Level* grown
        cdef Py_ssize_t cap
        if self.last >= 0 and self.levels[self.last].price == price:
            return &self.levels[self.last]  # most trades print at the previous price
        slot = self._slot(price)
        if slot[0] < 0:
            if self.used >= 2**31 - 1:
                raise MemoryError("more than 2**31 price levels")
            if self.used == self.levels_cap:
                cap = max(1024, self.levels_cap * 2)
                grown = <Level*>realloc(self.levels, cap * sizeof(Level))
                if grown == NULL:
                    raise MemoryError()
                self.levels = grown
                self.levels_cap = cap
            memset(&self.levels[self.used], 0, sizeof(Level))
            self.levels[self.used].price = price
            slot[0] = <int32_t>self.used
            self.last = self.used
            self.used += 1
            if self.used * 2 > self.capacity:
                self._rehash(self.capacity * 2)  # slot is stale from here on
        else:
            self.last = slot[0]
        return &self.levels[self.last]

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
            if self.last >= 0 and self.levels[self.last].price == row.price:
                level = &self.levels[self.last]  # the common case, without a call
            else:
                level = self._level(row.price)
            _add128(&level.vol_lo, &level.vol_hi, <uint64_t>row.qty)
            if not row.is_buyer_maker:
                _add128(&level.buy_lo, &level.buy_hi, <uint64_t>row.qty)
            level.count += 1
            if self.trade_count == 0:
                self.first_t = self.last_t = row.time_ms
                self.lo_price = self.hi_price = row.price
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
                if row.price < self.lo_price:
                    self.lo_price = row.price
                if row.price > self.hi_price:
                    self.hi_price = row.price
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
        return self.lo_price if self.trade_count else None

    @property
    def max_price(self):
        return self.hi_price if self.trade_count else None

    @property
    def level_count(self):
        return self.used

    def bins(self, int64_t origin, int64_t width, Py_ssize_t nbins):
        """(volume, taker-buy volume, trade count) per bin [origin + i*width, +width)."""
        if width <= 0 or nbins < 0:
            raise ValueError("width must be positive and nbins non-negative")
        cdef Level* acc = <Level*>malloc(max(nbins, 1) * sizeof(Level))
        if acc == NULL:
            raise MemoryError()
        cdef Py_ssize_t i
        cdef int64_t index
        cdef Level* s
        cdef uint64_t before
        try:
            memset(acc, 0, max(nbins, 1) * sizeof(Level))
            for i in range(self.used):
                s = &self.levels[i]
                if s.price < origin:
                    raise ValueError(f"price {s.price} lies outside the {nbins} bins")
                index = (s.price - origin) // width
                if index >= nbins:
                    raise ValueError(f"price {s.price} lies outside the {nbins} bins")
                _add128(&acc[index].vol_lo, &acc[index].vol_hi, s.vol_lo)
                acc[index].vol_hi += s.vol_hi
                _add128(&acc[index].buy_lo, &acc[index].buy_hi, s.buy_lo)
                acc[index].buy_hi += s.buy_hi
                acc[index].count += s.count
            volume = [_u128(acc[i].vol_hi, acc[i].vol_lo) for i in range(nbins)]
            buy = [_u128(acc[i].buy_hi, acc[i].buy_lo) for i in range(nbins)]
            count = [acc[i].count for i in range(nbins)]
        finally:
            free(acc)
        return volume, buy, count


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
