# cython: boundscheck=False, wraparound=False
"""Exact price-level rollups: accumulate, merge, encode (twin: _pure/rollup.py).

Per exact price (int64 at 1e-8): volume and taker-buy volume as 128-bit sums, a trade
count; beside them the summary of the rollup (trade count, first and last trade time,
lowest and highest agg id with their prices, sums of volume, taker-buy volume and
notional, the last a 192-bit sum of price x quantity). Levels live in a dense array in
order of first appearance, found through an open-addressing index of int32 positions, as
in src/tradestore/codec/_ext/profile.pyx. ``encode`` sorts a copy of the levels and writes the canonical value
of tradestore/codec/_rollupfmt.py; ``add_value`` checks a stored value in full before adding
any of it, so a corrupt value never leaves half its levels behind.

128-bit arithmetic is the C compiler's ``unsigned __int128`` (GCC and Clang on 64-bit
targets). No number ever reaches Python through Cython's own integer conversion: the
helpers below split it into 64-bit words first.
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.stdint cimport INT64_MAX, int32_t, int64_t, uint8_t, uint64_t
from libc.stdlib cimport free, malloc, qsort, realloc
from libc.string cimport memcpy, memset

import numpy as np

from tradestore.codec import _rollupfmt
from tradestore._errors import CorruptValue


cdef extern from *:
    """
    typedef unsigned __int128 ts_u128;
    """
    ctypedef unsigned long long u128 "ts_u128"


cdef enum:
    FORMAT = 1
    BUY_NONE = 0
    BUY_ALL = 1
    BUY_LISTED = 2
    MAX_PRICE_EXP = 18
    MAX_QTY_EXP = 38
    SUMMARY_FIELDS = 12


def _check_python_side():
    if (_rollupfmt.FORMAT, _rollupfmt.BUY_NONE, _rollupfmt.BUY_ALL, _rollupfmt.BUY_LISTED,
            _rollupfmt.MAX_PRICE_EXP, _rollupfmt.MAX_QTY_EXP) != (
            FORMAT, BUY_NONE, BUY_ALL, BUY_LISTED, MAX_PRICE_EXP, MAX_QTY_EXP):
        raise ImportError("src/tradestore/codec/_ext/rollup.pyx and tradestore/codec/_rollupfmt.py disagree: rebuild")


_check_python_side()

cdef u128 U128_MAX = ~(<u128>0)


cdef inline object _py128(u128 v):
    """The Python int of v (through two 64-bit words)."""
    cdef uint64_t hi = <uint64_t>(v >> 64)
    cdef uint64_t lo = <uint64_t>v
    if hi == 0:
        return lo
    return (<object>hi << 64) | <object>lo


cdef inline object _py192(u128 lo, uint64_t hi):
    if hi == 0:
        return _py128(lo)
    return (<object>hi << 128) | _py128(lo)


cdef inline int _add192(u128* lo, uint64_t* hi, u128 v) noexcept nogil:
    """lo:hi += v; 1 when the 192-bit sum overflowed."""
    lo[0] += v
    if lo[0] < v:
        hi[0] += 1
        if hi[0] == 0:
            return 1
    return 0


cdef inline int _mul_add192(u128* lo, uint64_t* hi, uint64_t p, u128 v) noexcept nogil:
    """lo:hi += p * v (p < 2**64, v < 2**128); 1 on overflow past 192 bits."""
    cdef u128 low = <u128>p * <uint64_t>v  # p x the low word of v
    cdef u128 high = <u128>p * <uint64_t>(v >> 64)  # p x the high word, shifted by 64
    cdef uint64_t carry = <uint64_t>(high >> 64)
    cdef u128 shifted = high << 64
    if _add192(lo, hi, low):
        return 1
    if _add192(lo, hi, shifted):
        return 1
    hi[0] += carry
    if hi[0] < carry:
        return 1
    return 0


cdef inline int _pow10_128(int k, u128* out) noexcept nogil:
    cdef u128 v = 1
    cdef int i
    for i in range(k):
        v *= 10
    out[0] = v
    return 0


cdef inline int _tz(u128 v, int cap) noexcept nogil:
    """Trailing decimal zeros of v, counted up to cap (cap for 0). In 64-bit arithmetic
    whenever v fits: 128-bit division is a library call, ten times slower."""
    cdef int n = 0
    cdef uint64_t w
    if v == 0:
        return cap
    if (v >> 64) == 0:
        w = <uint64_t>v
        while n < cap and w % 10 == 0:
            w //= 10
            n += 1
        return n
    while n < cap and v % 10 == 0:
        v //= 10
        n += 1
    return n


cdef inline u128 _div(u128 v, u128 unit) noexcept nogil:
    """v / unit, in 64-bit arithmetic when both fit."""
    if (v >> 64) == 0 and (unit >> 64) == 0:
        return <uint64_t>v // <uint64_t>unit
    return v / unit


# ---------------------------------------------------------------------- bytes out


cdef struct Buf:
    unsigned char* p
    Py_ssize_t n
    Py_ssize_t cap


cdef int _reserve(Buf* b, Py_ssize_t extra) except -1:
    cdef Py_ssize_t cap
    cdef unsigned char* grown
    if b.n + extra > b.cap:
        cap = max(b.cap * 2, b.n + extra, 256)
        grown = <unsigned char*>realloc(b.p, cap)
        if grown == NULL:
            raise MemoryError()
        b.p = grown
        b.cap = cap
    return 0


cdef inline void _put(Buf* b, u128 v) noexcept nogil:
    """Unsigned LEB128 of v; the caller reserved 19 bytes."""
    while v > 0x7F:
        b.p[b.n] = <unsigned char>((v & 0x7F) | 0x80)
        b.n += 1
        v >>= 7
    b.p[b.n] = <unsigned char>v
    b.n += 1


cdef inline void _put192(Buf* b, u128 lo, uint64_t hi) noexcept nogil:
    """Unsigned LEB128 of hi * 2**128 + lo; the caller reserved 28 bytes."""
    while hi != 0 or lo > 0x7F:
        b.p[b.n] = <unsigned char>((lo & 0x7F) | 0x80)
        b.n += 1
        lo = (lo >> 7) | ((<u128>(hi & 0x7F)) << 121)
        hi >>= 7
    b.p[b.n] = <unsigned char>lo
    b.n += 1


# ---------------------------------------------------------------------- bytes in


cdef struct Reader:
    const unsigned char* p
    Py_ssize_t n
    Py_ssize_t pos


cdef inline int _get(Reader* r, int bits, u128* lo, uint64_t* hi) noexcept nogil:
    """An unsigned LEB128 of at most ``bits`` bits (64 < bits <= 192) in shortest form;
    -1 when the bytes end, the number is longer or it is not in shortest form."""
    cdef const unsigned char* q = r.p + r.pos
    cdef uint64_t small
    # Most numbers take one to three bytes: read those without the 128-bit machinery.
    if r.n - r.pos >= 3:
        if not (q[0] & 0x80):
            lo[0] = q[0]
            hi[0] = 0
            r.pos += 1
            return 0
        if not (q[1] & 0x80):
            if q[1] == 0:
                return -1
            lo[0] = (q[0] & 0x7F) | (<uint64_t>q[1] << 7)
            hi[0] = 0
            r.pos += 2
            return 0
        if not (q[2] & 0x80):
            if q[2] == 0:
                return -1
            lo[0] = (q[0] & 0x7F) | (<uint64_t>(q[1] & 0x7F) << 7) | (<uint64_t>q[2] << 14)
            hi[0] = 0
            r.pos += 3
            return 0
    return _get_long(r, bits, lo, hi)


cdef int _get_long(Reader* r, int bits, u128* lo, uint64_t* hi) noexcept nogil:
    cdef u128 vlo = 0
    cdef uint64_t vhi = 0
    cdef int shift = 0
    cdef unsigned char byte
    cdef u128 part
    while True:
        if r.pos >= r.n:
            return -1
        byte = r.p[r.pos]
        r.pos += 1
        part = byte & 0x7F
        if shift + 7 > bits and (part >> (bits - shift)) != 0:
            return -1  # bits beyond the limit
        if shift < 128:
            vlo |= part << shift
            if shift > 121:  # part of it lands in the high word
                vhi |= <uint64_t>(part >> (128 - shift))
        else:
            vhi |= <uint64_t>(part << (shift - 128))
        if not (byte & 0x80):
            break
        shift += 7
        if shift >= bits:
            return -1
    if byte == 0 and shift:
        return -1
    lo[0] = vlo
    hi[0] = vhi
    return 0


cdef inline int _get64(Reader* r, int64_t* out) noexcept nogil:
    """A varint below 2**63 (an int64 that is not negative); -1 otherwise."""
    cdef u128 lo
    cdef uint64_t hi
    if _get(r, 128, &lo, &hi) < 0 or lo > <u128>INT64_MAX:
        return -1
    out[0] = <int64_t>lo
    return 0


# ---------------------------------------------------------------------- the table


cdef struct Level:
    u128 vol
    u128 buy
    int64_t price
    int64_t count


cdef struct Key:
    int64_t price
    Py_ssize_t index


cdef int _by_price(const void* a, const void* b) noexcept nogil:
    cdef int64_t x = (<const Key*>a).price
    cdef int64_t y = (<const Key*>b).price
    return (x > y) - (x < y)


cdef class Rollup:
    """Per-price sums and the summary of a set of trades (see the module docstring)."""

    cdef Level* lv
    cdef Py_ssize_t used, cap
    cdef int32_t* index
    cdef Py_ssize_t capacity
    cdef Py_ssize_t last
    cdef Py_ssize_t* order  # level positions by ascending price, for the first `ordered`
    cdef Py_ssize_t ordered
    cdef Level* scratch  # add_value decodes here first
    cdef Py_ssize_t scratch_cap
    cdef int64_t count
    cdef int64_t t_first, t_last, id_first, id_last, p_open, p_close, p_low, p_high
    cdef u128 vol_sum, buy_sum, not_lo
    cdef uint64_t not_hi

    def __cinit__(self):
        self.lv = NULL
        self.index = NULL
        self.order = NULL
        self.ordered = 0
        self.scratch = NULL
        self.used = self.cap = self.scratch_cap = 0
        self.last = -1
        self.count = 0
        self.vol_sum = self.buy_sum = self.not_lo = 0
        self.not_hi = 0
        # Small to start: most rollups the writer builds (a symbol's trades of one
        # flush in one minute) hold a handful of levels, and thousands live at once.
        self._rehash(16)

    def __dealloc__(self):
        free(self.lv)
        free(self.index)
        free(self.order)
        free(self.scratch)

    cdef int _rehash(self, Py_ssize_t capacity) except -1:
        cdef int32_t* new = <int32_t*>malloc(capacity * sizeof(int32_t))
        cdef Py_ssize_t k
        if new == NULL:
            raise MemoryError()
        memset(new, 0xFF, capacity * sizeof(int32_t))
        free(self.index)
        self.index = new
        self.capacity = capacity
        for k in range(self.used):
            self._slot(self.lv[k].price)[0] = <int32_t>k
        return 0

    cdef int _reserve(self, Py_ssize_t levels) except -1:
        """Room for ``levels`` levels without growing the array or the index again."""
        cdef Level* grown
        cdef Py_ssize_t capacity = self.capacity
        if levels > self.cap:
            grown = <Level*>realloc(self.lv, levels * sizeof(Level))
            if grown == NULL:
                raise MemoryError()
            self.lv = grown
            self.cap = levels
        while levels * 2 > capacity:
            capacity *= 2
        if capacity != self.capacity:
            self._rehash(capacity)
        return 0

    cdef inline int32_t* _slot(self, int64_t price) noexcept nogil:
        cdef uint64_t mask = <uint64_t>(self.capacity - 1)
        cdef uint64_t i = ((<uint64_t>price) * 0x9E3779B97F4A7C15ULL) >> 20
        cdef int32_t k
        while True:
            i &= mask
            k = self.index[i]
            if k < 0 or self.lv[k].price == price:
                return &self.index[i]
            i += 1

    cdef Level* _level(self, int64_t price) except NULL:
        """The level of price, created empty when new."""
        cdef int32_t* slot
        cdef Level* grown
        cdef Py_ssize_t cap
        if self.last >= 0 and self.lv[self.last].price == price:
            return &self.lv[self.last]
        slot = self._slot(price)
        if slot[0] < 0:
            if self.used >= 2**31 - 1:
                raise MemoryError("more than 2**31 price levels")
            if self.used == self.cap:
                cap = max(8, self.cap * 2)
                grown = <Level*>realloc(self.lv, cap * sizeof(Level))
                if grown == NULL:
                    raise MemoryError()
                self.lv = grown
                self.cap = cap
            memset(&self.lv[self.used], 0, sizeof(Level))
            self.lv[self.used].price = price
            slot[0] = <int32_t>self.used
            self.last = self.used
            self.used += 1
            if self.used * 2 > self.capacity:
                self._rehash(self.capacity * 2)
            if self.used == 1:
                self.p_low = self.p_high = price
            elif price < self.p_low:
                self.p_low = price
            elif price > self.p_high:
                self.p_high = price
        else:
            self.last = slot[0]
        return &self.lv[self.last]

    cdef inline void _note(self, int64_t n, int64_t t0, int64_t t1, int64_t id0,
                           int64_t p0, int64_t id1, int64_t p1) noexcept:
        if self.count == 0:
            self.t_first, self.t_last = t0, t1
            self.id_first, self.p_open = id0, p0
            self.id_last, self.p_close = id1, p1
        else:
            if t0 < self.t_first:
                self.t_first = t0
            if t1 > self.t_last:
                self.t_last = t1
            if id0 < self.id_first:
                self.id_first, self.p_open = id0, p0
            if id1 > self.id_last:
                self.id_last, self.p_close = id1, p1
        self.count += n

    # ------------------------------------------------------------------ reading

    @property
    def trade_count(self):
        return self.count

    @property
    def first_time_ms(self):
        return self.t_first if self.count else None

    @property
    def last_time_ms(self):
        return self.t_last if self.count else None

    @property
    def first_agg_id(self):
        return self.id_first if self.count else None

    @property
    def last_agg_id(self):
        return self.id_last if self.count else None

    @property
    def open_price(self):
        return self.p_open if self.count else None

    @property
    def close_price(self):
        return self.p_close if self.count else None

    @property
    def volume(self):
        return _py128(self.vol_sum)

    @property
    def buy_volume(self):
        return _py128(self.buy_sum)

    @property
    def notional(self):
        return _py192(self.not_lo, self.not_hi)

    @property
    def min_price(self):
        return self.p_low if self.used else None

    @property
    def max_price(self):
        return self.p_high if self.used else None

    @property
    def level_count(self):
        return self.used

    cdef Py_ssize_t* _order(self) except NULL:
        """Level positions by ascending price. Kept between calls (levels never move):
        only the levels added since the last call are sorted, then merged in, so a
        minute rewritten every second costs its new prices, not a full sort."""
        cdef Py_ssize_t m = self.used - self.ordered
        cdef Py_ssize_t i, a, b, out
        cdef Key* fresh
        cdef Py_ssize_t* merged
        if m == 0 and self.order != NULL:
            return self.order
        fresh = <Key*>malloc(max(m, 1) * sizeof(Key))
        merged = <Py_ssize_t*>malloc(max(self.used, 1) * sizeof(Py_ssize_t))
        if fresh == NULL or merged == NULL:
            free(fresh)
            free(merged)
            raise MemoryError()
        for i in range(m):
            fresh[i].index = self.ordered + i
            fresh[i].price = self.lv[self.ordered + i].price
        qsort(fresh, m, sizeof(Key), _by_price)
        a = b = out = 0
        while a < self.ordered or b < m:
            if b >= m or (a < self.ordered and self.lv[self.order[a]].price < fresh[b].price):
                merged[out] = self.order[a]
                a += 1
            else:
                merged[out] = fresh[b].index
                b += 1
            out += 1
        free(fresh)
        free(self.order)
        self.order = merged
        self.ordered = self.used
        return merged

    def levels(self, width=1):
        """(price, volume, taker-buy volume, trade count) per price, ascending; with
        ``width`` > 1 per bin [k*width, (k+1)*width) that holds trades, keyed by its low."""
        cdef int64_t w = width
        if w < 1:
            raise ValueError("width must be positive")
        cdef Py_ssize_t* order = self._order()
        cdef Level* s
        cdef Py_ssize_t i
        cdef int64_t low, cur = -1
        cdef u128 vol = 0, buy = 0
        cdef int64_t n = 0
        out = []
        for i in range(self.used):
            s = &self.lv[order[i]]
            low = s.price - s.price % w
            if n and low != cur:
                out.append((cur, _py128(vol), _py128(buy), n))
                vol = buy = 0
                n = 0
            cur = low
            vol += s.vol
            buy += s.buy
            n += s.count
        if n:
            out.append((cur, _py128(vol), _py128(buy), n))
        return out

    def bins(self, int64_t origin, int64_t width, Py_ssize_t nbins):
        """(volume, taker-buy volume, trade count) per bin [origin + i*width, +width)."""
        if width <= 0 or nbins < 0:
            raise ValueError("width must be positive and nbins non-negative")
        cdef Level* acc = <Level*>malloc(max(nbins, 1) * sizeof(Level))
        if acc == NULL:
            raise MemoryError()
        cdef Py_ssize_t i
        cdef uint64_t index
        cdef Level* s
        try:
            memset(acc, 0, max(nbins, 1) * sizeof(Level))
            for i in range(self.used):
                s = &self.lv[i]
                if s.price < origin:
                    raise ValueError(f"price {s.price} lies outside the {nbins} bins")
                # In uint64: price - origin is exact there whatever the int64 extremes.
                index = (<uint64_t>s.price - <uint64_t>origin) // <uint64_t>width
                if index >= <uint64_t>nbins:
                    raise ValueError(f"price {s.price} lies outside the {nbins} bins")
                acc[index].vol += s.vol
                acc[index].buy += s.buy
                acc[index].count += s.count
            volume = [_py128(acc[i].vol) for i in range(nbins)]
            buy = [_py128(acc[i].buy) for i in range(nbins)]
            count = [acc[i].count for i in range(nbins)]
        finally:
            free(acc)
        return volume, buy, count

    # ------------------------------------------------------------------ adding

    def add_columns(self, agg_id, time_ms, price, qty, is_buyer_maker, lo=0, hi=None):
        """Add the trades at positions lo..hi-1 of the columns (TradeColumns' arrays)."""
        cdef const int64_t[::1] ids = np.ascontiguousarray(agg_id, dtype=np.int64)
        cdef const int64_t[::1] times = np.ascontiguousarray(time_ms, dtype=np.int64)
        cdef const int64_t[::1] prices = np.ascontiguousarray(price, dtype=np.int64)
        cdef const int64_t[::1] qtys = np.ascontiguousarray(qty, dtype=np.int64)
        cdef const uint8_t[::1] sides = np.ascontiguousarray(
            is_buyer_maker, dtype=np.bool_).view(np.uint8)
        cdef Py_ssize_t n = ids.shape[0]
        cdef Py_ssize_t a = lo
        cdef Py_ssize_t b = n if hi is None else hi
        if not (times.shape[0] == prices.shape[0] == qtys.shape[0] == sides.shape[0] == n):
            raise ValueError("columns of different lengths")
        if not 0 <= a <= b <= n:
            raise ValueError(f"positions {a}..{b} outside 0..{n}")
        self._add_rows(ids, times, prices, qtys, sides, a, b)

    cdef int _add_rows(self, const int64_t[::1] ids, const int64_t[::1] times,
                       const int64_t[::1] prices, const int64_t[::1] qtys,
                       const uint8_t[::1] sides, Py_ssize_t a, Py_ssize_t b) except -1:
        cdef Py_ssize_t i
        cdef int64_t p, q
        cdef Level* level
        for i in range(a, b):
            p = prices[i]
            q = qtys[i]
            if p < 0 or q < 0:
                raise ValueError(f"trade {ids[i]}: negative price or quantity")
            if self.last >= 0 and self.lv[self.last].price == p:
                level = &self.lv[self.last]
            else:
                level = self._level(p)
            level.vol += <u128>q
            level.count += 1
            self.vol_sum += <u128>q
            if not sides[i]:
                level.buy += <u128>q
                self.buy_sum += <u128>q
            _mul_add192(&self.not_lo, &self.not_hi, <uint64_t>p, <u128>q)
            self._note(1, times[i], times[i], ids[i], p, ids[i], p)
        return 0

    def add(self, Rollup other):
        """Add another rollup's trades (they must be other trades than this one's)."""
        cdef Py_ssize_t i
        cdef Level* s
        cdef Level* level
        if other is self:
            raise ValueError("a rollup cannot be added to itself")
        for i in range(other.used):
            s = &other.lv[i]
            level = self._level(s.price)
            level.vol += s.vol
            level.buy += s.buy
            level.count += s.count
        if other.count:
            self.vol_sum += other.vol_sum
            self.buy_sum += other.buy_sum
            _add192(&self.not_lo, &self.not_hi, other.not_lo)
            self.not_hi += other.not_hi
            self._note(other.count, other.t_first, other.t_last, other.id_first,
                       other.p_open, other.id_last, other.p_close)

    def add_value(self, value, key=b"?"):
        """Add the trades summarised by a stored rollup value."""
        cdef Py_buffer buf
        cdef int64_t head[SUMMARY_FIELDS]
        cdef u128 sums[3]
        cdef uint64_t not_hi
        cdef Py_ssize_t n, i
        cdef Level* level
        PyObject_GetBuffer(value, &buf, PyBUF_SIMPLE)
        try:
            n = _decode(<const unsigned char*>buf.buf, buf.len, head, sums, &not_hi,
                        &self.scratch, &self.scratch_cap)
        finally:
            PyBuffer_Release(&buf)
        if n < 0:
            raise CorruptValue(key, _REASONS[-n])
        if self.used == 0:
            self._reserve(n)  # a fresh table: sized once (levels of one value are distinct)
        for i in range(n):
            level = self._level(self.scratch[i].price)
            level.vol += self.scratch[i].vol
            level.buy += self.scratch[i].buy
            level.count += self.scratch[i].count
        self.vol_sum += sums[0]
        self.buy_sum += sums[1]
        _add192(&self.not_lo, &self.not_hi, sums[2])
        self.not_hi += not_hi
        self._note(head[0], head[1], head[2], head[3], head[5], head[4], head[6])

    # ------------------------------------------------------------------ encoding

    cdef int _head(self, Buf* b) except -1:
        """The format byte and the summary, into b (reserved here)."""
        _reserve(b, 1 + 19 * 11 + 28)
        b.p[b.n] = FORMAT
        b.n += 1
        _put(b, <u128>self.count)
        _put(b, <u128>self.t_first)
        _put(b, <u128>(self.t_last - self.t_first))
        _put(b, <u128>self.id_first)
        _put(b, <u128>(self.id_last - self.id_first))
        _put(b, <u128>self.p_open)
        _put(b, <u128>self.p_close)
        _put(b, <u128>self.p_low)
        _put(b, <u128>(self.p_high - self.p_low))
        _put(b, self.vol_sum)
        _put(b, self.buy_sum)
        _put192(b, self.not_lo, self.not_hi)
        return 0

    def encode_summary(self):
        """The format byte and the summary alone: the head of ``encode()``, all a candle
        needs (``summary`` reads it); ValueError when empty."""
        if not self.count:
            raise ValueError("an empty rollup has no value")
        cdef Buf b
        b.p = NULL
        b.n = b.cap = 0
        try:
            self._head(&b)
            return PyBytes_FromStringAndSize(<char*>b.p, b.n)
        finally:
            free(b.p)

    def encode(self):
        """The canonical value of this rollup (docs/FORMAT.md); ValueError when empty."""
        if not self.count:
            raise ValueError("an empty rollup has no value")
        cdef Py_ssize_t* order = self._order()
        cdef Level* lv = self.lv
        cdef Buf b
        cdef Py_ssize_t i
        cdef int k = MAX_PRICE_EXP
        cdef int j = MAX_QTY_EXP
        cdef u128 p_unit, q_unit
        cdef int64_t previous = 0
        cdef int code
        b.p = NULL
        b.n = b.cap = 0
        try:
            for i in range(self.used):
                if k:
                    k = _tz(<u128>lv[order[i]].price, k)
                if j:
                    j = _tz(lv[order[i]].vol, j)
                if j:
                    j = _tz(lv[order[i]].buy, j)
            _pow10_128(k, &p_unit)
            _pow10_128(j, &q_unit)
            self._head(&b)
            _reserve(&b, 19 + 2 + self.used * (10 + 10 + 19 + 19))
            _put(&b, <u128>self.used)
            b.p[b.n] = <unsigned char>k
            b.p[b.n + 1] = <unsigned char>j
            b.n += 2
            for i in range(self.used):
                _put(&b, _div(<u128>(lv[order[i]].price - previous), p_unit))
                previous = lv[order[i]].price
            for i in range(self.used):
                if lv[order[i]].buy == 0:
                    code = BUY_NONE
                elif lv[order[i]].buy == lv[order[i]].vol:
                    code = BUY_ALL
                else:
                    code = BUY_LISTED
                _put(&b, (<u128>lv[order[i]].count << 2) | <u128>code)
            for i in range(self.used):
                _put(&b, _div(lv[order[i]].vol, q_unit))
            for i in range(self.used):
                if lv[order[i]].buy != 0 and lv[order[i]].buy != lv[order[i]].vol:
                    _put(&b, _div(lv[order[i]].buy, q_unit))
            return PyBytes_FromStringAndSize(<char*>b.p, b.n)
        finally:
            free(b.p)


# ---------------------------------------------------------------------- decoding

# Why a value was refused, by the negative code _decode returns.
_REASONS = (
    "",
    "not a rollup value of format 1",
    "rollup value truncated or a number out of range",
    "rollup of no trades",
    "rollup price levels out of range",
    "rollup scale out of range",
    "rollup prices not ascending",
    "rollup level of no trades",
    "rollup taker-buy volume out of range",
    "bytes after the rollup value",
    "rollup summary disagrees with its levels",
    "rollup open or close is not a traded price",
)


cdef int _summary(Reader* r, int64_t* head, u128* sums, uint64_t* not_hi) noexcept nogil:
    """Read the format byte and the summary; head: count, first t, last t, first id,
    last id, open, close, low, high (int64); sums: volume, buy volume, notional low."""
    cdef int64_t d
    cdef uint64_t hi
    if r.pos >= r.n or r.p[r.pos] != FORMAT:
        return -1
    r.pos += 1
    if _get64(r, &head[0]) < 0 or _get64(r, &head[1]) < 0 or _get64(r, &d) < 0:
        return -2
    if d > INT64_MAX - head[1]:
        return -2
    head[2] = head[1] + d
    if _get64(r, &head[3]) < 0 or _get64(r, &d) < 0 or d > INT64_MAX - head[3]:
        return -2
    head[4] = head[3] + d
    if _get64(r, &head[5]) < 0 or _get64(r, &head[6]) < 0 or _get64(r, &head[7]) < 0:
        return -2
    if _get64(r, &d) < 0 or d > INT64_MAX - head[7]:
        return -2
    head[8] = head[7] + d
    if _get(r, 128, &sums[0], &hi) < 0 or _get(r, 128, &sums[1], &hi) < 0:
        return -2
    if _get(r, 192, &sums[2], not_hi) < 0:
        return -2
    if head[0] < 1:
        return -3
    return 0


cdef Py_ssize_t _decode(const unsigned char* p, Py_ssize_t size, int64_t* head, u128* sums,
                        uint64_t* not_hi, Level** scratch, Py_ssize_t* scratch_cap) except? -99:
    """Check a whole value and decode its levels into scratch (grown as needed): the
    number of levels, or minus an index into _REASONS."""
    cdef Reader r
    cdef int rc
    cdef int64_t n, k, j, step, word, count_sum = 0
    cdef u128 p_unit, q_unit, q_limit, v, vol_sum = 0, buy_sum = 0, not_lo = 0
    cdef uint64_t not_top = 0, hi
    cdef Py_ssize_t i, lo_i, hi_i, mid
    cdef Level* lv
    cdef int64_t price = 0
    cdef bint found_open = False, found_close = False
    r.p = p
    r.n = size
    r.pos = 0
    rc = _summary(&r, head, sums, not_hi)
    if rc < 0:
        return rc
    if _get64(&r, &n) < 0:
        return -2
    if n < 1 or n > r.n - r.pos:
        return -4
    if r.pos + 2 > r.n:
        return -2
    k = r.p[r.pos]
    j = r.p[r.pos + 1]
    r.pos += 2
    if k > MAX_PRICE_EXP or j > MAX_QTY_EXP:
        return -5
    _pow10_128(<int>k, &p_unit)
    _pow10_128(<int>j, &q_unit)
    q_limit = U128_MAX / q_unit  # the largest number of q_units below 2**128
    if n > scratch_cap[0]:
        lv = <Level*>realloc(scratch[0], n * sizeof(Level))
        if lv == NULL:
            raise MemoryError()
        scratch[0] = lv
        scratch_cap[0] = n
    lv = scratch[0]
    for i in range(n):
        if _get64(&r, &step) < 0:
            return -2
        if i and step == 0:
            return -6
        v = <u128>step * p_unit
        if v > <u128>(INT64_MAX - price):
            return -2
        price += <int64_t>v
        lv[i].price = price
    for i in range(n):
        if _get(&r, 128, &v, &hi) < 0 or (v >> 2) > <u128>INT64_MAX:
            return -2
        word = <int64_t>(v >> 2)
        if word < 1 or (v & 3) > BUY_LISTED:
            return -7
        lv[i].count = word
        lv[i].buy = <u128>(v & 3)  # the code, until the volumes are read
        if count_sum > INT64_MAX - word:
            return -10
        count_sum += word
    for i in range(n):
        if _get(&r, 128, &v, &hi) < 0:
            return -2
        if v > q_limit:
            return -2
        lv[i].vol = v * q_unit
        if vol_sum + lv[i].vol < vol_sum:
            return -10
        vol_sum += lv[i].vol
        if _mul_add192(&not_lo, &not_top, <uint64_t>lv[i].price, lv[i].vol):
            return -10
    for i in range(n):
        if lv[i].buy == BUY_NONE:
            lv[i].buy = 0
        elif lv[i].buy == BUY_ALL:
            lv[i].buy = lv[i].vol
        else:
            if _get(&r, 128, &v, &hi) < 0:
                return -2
            if v > q_limit:
                return -2
            v = v * q_unit
            if not (0 < v < lv[i].vol):
                return -8
            lv[i].buy = v
        if buy_sum + lv[i].buy < buy_sum:
            return -10
        buy_sum += lv[i].buy
    if r.pos != r.n:
        return -9
    if (count_sum != head[0] or vol_sum != sums[0] or buy_sum != sums[1]
            or not_lo != sums[2] or not_top != not_hi[0]
            or lv[0].price != head[7] or lv[n - 1].price != head[8]
            or head[4] - head[3] < head[0] - 1):
        return -10
    for i in range(n):  # open and close must be traded prices (levels ascend)
        if lv[i].price == head[5]:
            found_open = True
        if lv[i].price == head[6]:
            found_close = True
    if not (found_open and found_close):
        return -11
    return n


def summary(value, key=b"?"):
    """(trades, first time, last time, first agg id, last agg id, open, close, low, high,
    volume, taker-buy volume, notional) of a stored rollup value, without its levels."""
    cdef Py_buffer buf
    cdef Reader r
    cdef int64_t head[SUMMARY_FIELDS]
    cdef u128 sums[3]
    cdef uint64_t not_hi = 0
    cdef int rc
    PyObject_GetBuffer(value, &buf, PyBUF_SIMPLE)
    try:
        r.p = <const unsigned char*>buf.buf
        r.n = buf.len
        r.pos = 0
        rc = _summary(&r, head, sums, &not_hi)
    finally:
        PyBuffer_Release(&buf)
    if rc < 0:
        raise CorruptValue(key, _REASONS[-rc])
    return (head[0], head[1], head[2], head[3], head[4], head[5], head[6], head[7], head[8],
            _py128(sums[0]), _py128(sums[1]), _py192(sums[2], not_hi))


def decode(value, key=b"?"):
    """The Rollup of a stored value; CorruptValue (naming ``key``) on any inconsistency."""
    cdef Rollup rollup = Rollup()
    rollup.add_value(value, key)
    return rollup


def split(agg_id, time_ms, price, qty, is_buyer_maker, period_ms):
    """One Rollup per period [k*period_ms, (k+1)*period_ms) that holds trades, keyed by
    the period's start."""
    return split_segments(
        agg_id, time_ms, price, qty, is_buyer_maker, [(0, len(agg_id))], period_ms)[0]


def split_segments(agg_id, time_ms, price, qty, is_buyer_maker, bounds, period_ms):
    """split() of each [lo, hi) of ``bounds`` within the columns: one dict per segment
    (split() is the one segment of all the rows). The writer decodes the new trades of every symbol of a flush at once and splits each
    symbol's segment here, with one set of column views for them all."""
    cdef int64_t period = period_ms
    if period < 1:
        raise ValueError("period_ms must be positive")
    cdef const int64_t[::1] ids = np.ascontiguousarray(agg_id, dtype=np.int64)
    cdef const int64_t[::1] times = np.ascontiguousarray(time_ms, dtype=np.int64)
    cdef const int64_t[::1] prices = np.ascontiguousarray(price, dtype=np.int64)
    cdef const int64_t[::1] qtys = np.ascontiguousarray(qty, dtype=np.int64)
    cdef const uint8_t[::1] sides = np.ascontiguousarray(
        is_buyer_maker, dtype=np.bool_).view(np.uint8)
    cdef Py_ssize_t n = ids.shape[0]
    if not (times.shape[0] == prices.shape[0] == qtys.shape[0] == sides.shape[0] == n):
        raise ValueError("columns of different lengths")
    cdef Py_ssize_t lo, hi, i, j
    cdef int64_t start, t
    cdef Rollup rollup
    result = []
    for bound in bounds:
        lo, hi = bound
        if not 0 <= lo <= hi <= n:
            raise ValueError(f"segment {lo}..{hi} outside the {n} rows")
        out = {}
        i = lo
        while i < hi:
            t = times[i]
            start = t - t % period if t >= 0 else t - ((t % period) + period) % period
            j = i + 1
            while j < hi and start <= times[j] < start + period:
                j += 1
            rollup = out.get(start)
            if rollup is None:
                rollup = out[start] = Rollup()
            rollup._add_rows(ids, times, prices, qtys, sides, i, j)
            i = j
        result.append(out)
    return result


def bin_values(pairs, origin, width, nbins):
    """(volume, taker-buy volume, trade count) per bin [origin + i*width, +width) of the
    price levels of stored rollup values, given as (key, value) pairs; each value is
    checked in full (CorruptValue names its key) before any of it is counted."""
    cdef int64_t o = origin
    cdef int64_t w = width
    cdef Py_ssize_t nb = nbins
    if w <= 0 or nb < 0:
        raise ValueError("width must be positive and nbins non-negative")
    cdef Level* acc = <Level*>malloc(max(nb, 1) * sizeof(Level))
    if acc == NULL:
        raise MemoryError()
    cdef Level* scratch = NULL
    cdef Py_ssize_t scratch_cap = 0
    cdef Py_buffer buf
    cdef int64_t head[SUMMARY_FIELDS]
    cdef u128 sums[3]
    cdef uint64_t not_hi
    cdef Py_ssize_t n, i, b
    cdef uint64_t uw = <uint64_t>w
    cdef uint64_t bin_hi  # offsets from the origin in uint64: exact, never overflowing
    try:
        memset(acc, 0, max(nb, 1) * sizeof(Level))
        for key, value in pairs:
            PyObject_GetBuffer(value, &buf, PyBUF_SIMPLE)
            try:
                n = _decode(<const unsigned char*>buf.buf, buf.len, head, sums, &not_hi,
                            &scratch, &scratch_cap)
            finally:
                PyBuffer_Release(&buf)
            if n < 0:
                raise CorruptValue(key, _REASONS[-n])
            if (scratch[0].price < o
                    or (<uint64_t>scratch[n - 1].price - <uint64_t>o) // uw >= <uint64_t>nb):
                raise ValueError(f"prices {scratch[0].price}..{scratch[n - 1].price} lie "
                                 f"outside the {nb} bins")
            # Levels ascend: walk the bins alongside instead of dividing per level.
            b = <Py_ssize_t>((<uint64_t>scratch[0].price - <uint64_t>o) // uw)
            bin_hi = (<uint64_t>b + 1) * uw
            for i in range(n):
                while b < nb - 1 and <uint64_t>scratch[i].price - <uint64_t>o >= bin_hi:
                    b += 1
                    bin_hi += uw
                acc[b].vol += scratch[i].vol
                acc[b].buy += scratch[i].buy
                acc[b].count += scratch[i].count
        volume = [_py128(acc[i].vol) for i in range(nb)]
        buy = [_py128(acc[i].buy) for i in range(nb)]
        count = [acc[i].count for i in range(nb)]
    finally:
        free(acc)
        free(scratch)
    return volume, buy, count
