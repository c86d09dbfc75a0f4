# cython: boundscheck=False, wraparound=False
"""Exact price-level rollups: accumulate, merge, encode (twin: _pure/rollup.py).

A ``Rollup`` is a level table (src/tradestore/codec/_ext/_levels.pxd, the one profile.pyx
uses too) beside a summary (_summary.pxd); ``encode`` and ``add_value`` write and read the
canonical value of tradestore/codec/_rollupfmt.py through _rollupvalue.pxd, and the
functions below read stored values (``summary``, ``decode``, ``bin_values``) or cut
trade columns into the rollups of their periods (``split``, ``split_segments``).
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdint cimport int64_t, uint8_t, uint64_t
from libc.stdlib cimport free

import numpy as np

from _levels cimport (
    Level, Levels, bins_new, bins_out, levels_add, levels_at, levels_bins, levels_free,
    levels_init, levels_order, levels_reserve,
)
from _rollupvalue cimport check_python_side, read_head, read_value, write_head, write_value
from _summary cimport Summary, summary_add, summary_clear, summary_note, summary_tuple
from _varint cimport Buf, Reader
from _wide cimport mul_add192, py128, py192, u128

from tradestore._errors import CorruptValue
from tradestore.codec import _rollupfmt

check_python_side()


cdef class Rollup:
    """Per-price sums and the summary of a set of trades (see the module docstring)."""

    cdef Levels t
    cdef Summary s
    cdef Level* scratch  # add_value decodes here first
    cdef Py_ssize_t scratch_cap

    def __cinit__(self):
        self.scratch = NULL
        self.scratch_cap = 0
        summary_clear(&self.s)
        # Small to start: most rollups the writer builds (a symbol's trades of one
        # flush in one minute) hold a handful of levels, and thousands live at once.
        levels_init(&self.t, 16, 8)

    def __dealloc__(self):
        levels_free(&self.t)
        free(self.scratch)

    # ------------------------------------------------------------------ reading

    @property
    def trade_count(self):
        return self.s.count

    @property
    def first_time_ms(self):
        return self.s.t_first if self.s.count else None

    @property
    def last_time_ms(self):
        return self.s.t_last if self.s.count else None

    @property
    def first_agg_id(self):
        return self.s.id_first if self.s.count else None

    @property
    def last_agg_id(self):
        return self.s.id_last if self.s.count else None

    @property
    def open_price(self):
        return self.s.p_open if self.s.count else None

    @property
    def close_price(self):
        return self.s.p_close if self.s.count else None

    @property
    def volume(self):
        return py128(self.s.vol)

    @property
    def buy_volume(self):
        return py128(self.s.buy)

    @property
    def notional(self):
        return py192(self.s.not_lo, self.s.not_hi)

    @property
    def min_price(self):
        return self.t.low if self.t.used else None

    @property
    def max_price(self):
        return self.t.high if self.t.used else None

    @property
    def level_count(self):
        return self.t.used

    def levels(self, width=1):
        """(price, volume, taker-buy volume, trade count) per price, ascending; with
        ``width`` > 1 per bin [k*width, (k+1)*width) that holds trades, keyed by its low."""
        cdef int64_t w = width
        if w < 1:
            raise ValueError("width must be positive")
        cdef Py_ssize_t* order = levels_order(&self.t)
        cdef Level* s
        cdef Py_ssize_t i
        cdef int64_t low, cur = -1
        cdef u128 vol = 0, buy = 0
        cdef int64_t n = 0
        out = []
        for i in range(self.t.used):
            s = &self.t.lv[order[i]]
            low = s.price - s.price % w
            if n and low != cur:
                out.append((cur, py128(vol), py128(buy), n))
                vol = buy = 0
                n = 0
            cur = low
            vol += s.vol
            buy += s.buy
            n += s.count
        if n:
            out.append((cur, py128(vol), py128(buy), n))
        return out

    def bins(self, int64_t origin, int64_t width, Py_ssize_t nbins):
        """(volume, taker-buy volume, trade count) per bin [origin + i*width, +width)."""
        return levels_bins(&self.t, origin, width, nbins)

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
            if self.t.last >= 0 and self.t.lv[self.t.last].price == p:
                level = &self.t.lv[self.t.last]
            else:
                level = levels_at(&self.t, p)
            level.vol += <u128>q
            level.count += 1
            self.s.vol += <u128>q
            if not sides[i]:
                level.buy += <u128>q
                self.s.buy += <u128>q
            mul_add192(&self.s.not_lo, &self.s.not_hi, <uint64_t>p, <u128>q)
            summary_note(&self.s, 1, times[i], times[i], ids[i], p, ids[i], p)
        return 0

    def add(self, Rollup other):
        """Add another rollup's trades (they must be other trades than this one's)."""
        cdef Py_ssize_t i
        if other is self:
            raise ValueError("a rollup cannot be added to itself")
        for i in range(other.t.used):
            levels_add(&self.t, &other.t.lv[i])
        summary_add(&self.s, &other.s)

    def add_value(self, value, key=b"?"):
        """Add the trades summarised by a stored rollup value."""
        cdef Py_buffer buf
        cdef Summary read
        cdef Py_ssize_t n, i
        PyObject_GetBuffer(value, &buf, PyBUF_SIMPLE)
        try:
            n = read_value(<const unsigned char*>buf.buf, buf.len, &read, &self.scratch,
                           &self.scratch_cap)
        finally:
            PyBuffer_Release(&buf)
        if n < 0:
            raise CorruptValue(key, _rollupfmt.REASONS[-n])
        if self.t.used == 0:
            levels_reserve(&self.t, n)  # a fresh table: sized once (levels of one value are distinct)
        for i in range(n):
            levels_add(&self.t, &self.scratch[i])
        summary_add(&self.s, &read)

    # ------------------------------------------------------------------ encoding

    def encode_summary(self):
        """The format byte and the summary alone: the head of ``encode()``, all a candle
        needs (``summary`` reads it); ValueError when empty."""
        if not self.s.count:
            raise ValueError("an empty rollup has no value")
        cdef Buf b
        b.p = NULL
        b.n = b.cap = 0
        try:
            write_head(&b, &self.s, self.t.low, self.t.high)
            return PyBytes_FromStringAndSize(<char*>b.p, b.n)
        finally:
            free(b.p)

    def encode(self):
        """The canonical value of this rollup (docs/FORMAT.md); ValueError when empty."""
        if not self.s.count:
            raise ValueError("an empty rollup has no value")
        cdef Buf b
        b.p = NULL
        b.n = b.cap = 0
        try:
            write_value(&b, &self.s, &self.t)
            return PyBytes_FromStringAndSize(<char*>b.p, b.n)
        finally:
            free(b.p)


# ---------------------------------------------------------------------- stored values


def summary(value, key=b"?"):
    """(trades, first time, last time, first agg id, last agg id, open, close, low, high,
    volume, taker-buy volume, notional) of a stored rollup value, without its levels."""
    cdef Py_buffer buf
    cdef Reader r
    cdef Summary s
    cdef int64_t low, high
    cdef int rc
    PyObject_GetBuffer(value, &buf, PyBUF_SIMPLE)
    try:
        r.p = <const unsigned char*>buf.buf
        r.n = buf.len
        r.pos = 0
        rc = read_head(&r, &s, &low, &high)
    finally:
        PyBuffer_Release(&buf)
    if rc < 0:
        raise CorruptValue(key, _rollupfmt.REASONS[-rc])
    return summary_tuple(&s, low, high)


def decode(value, key=b"?"):
    """The Rollup of a stored value; CorruptValue (naming ``key``) on any inconsistency."""
    cdef Rollup rollup = Rollup()
    rollup.add_value(value, key)
    return rollup


def bin_values(pairs, origin, width, nbins):
    """(volume, taker-buy volume, trade count) per bin [origin + i*width, +width) of the
    price levels of stored rollup values, given as (key, value) pairs; each value is
    checked in full (CorruptValue names its key) before any of it is counted."""
    cdef int64_t o = origin
    cdef int64_t w = width
    cdef Py_ssize_t nb = nbins
    cdef Level* acc = bins_new(w, nb)
    cdef Level* scratch = NULL
    cdef Py_ssize_t scratch_cap = 0
    cdef Py_buffer buf
    cdef Summary s
    cdef Py_ssize_t n, i, b
    cdef uint64_t uw = <uint64_t>w
    cdef uint64_t bin_hi  # offsets from the origin in uint64: exact, never overflowing
    try:
        for key, value in pairs:
            PyObject_GetBuffer(value, &buf, PyBUF_SIMPLE)
            try:
                n = read_value(<const unsigned char*>buf.buf, buf.len, &s, &scratch,
                               &scratch_cap)
            finally:
                PyBuffer_Release(&buf)
            if n < 0:
                raise CorruptValue(key, _rollupfmt.REASONS[-n])
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
        return bins_out(acc, nb)
    finally:
        free(acc)
        free(scratch)


# ---------------------------------------------------------------------- periods


def split(agg_id, time_ms, price, qty, is_buyer_maker, period_ms):
    """One Rollup per period [k*period_ms, (k+1)*period_ms) that holds trades, keyed by
    the period's start."""
    return split_segments(
        agg_id, time_ms, price, qty, is_buyer_maker, [(0, len(agg_id))], period_ms)[0]


def split_segments(agg_id, time_ms, price, qty, is_buyer_maker, bounds, period_ms):
    """split() of each [lo, hi) of ``bounds`` within the columns: one dict per segment
    (split() is the one segment of all the rows). The writer decodes the new trades of
    every symbol of a flush at once and splits each symbol's segment here, with one set
    of column views for them all."""
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
