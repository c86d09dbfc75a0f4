"""The summary of a rollup: what a candle needs, beside the price levels.

The trade count, the first and last trade time, the lowest and highest agg id with their
prices (open and close), and the sums of volume, taker-buy volume (128-bit) and notional
(price x quantity at 1e-16, 192-bit as a 128-bit low part and a 64-bit high word).
Summaries add up whatever the order, as the rollups they describe do. The lowest and
highest price are the level table's (tradestore/codec/_ext/_levels.pxd).

cimported by src/tradestore/codec/_ext/rollup.pyx and _rollupvalue.pxd.
"""

from libc.stdint cimport int64_t, uint64_t

from _wide cimport add192, py128, py192, u128


cdef struct Summary:
    int64_t count
    int64_t t_first, t_last  # first and last trade time
    int64_t id_first, id_last  # the lowest and highest agg id
    int64_t p_open, p_close  # the prices of those two trades
    u128 vol, buy, not_lo
    uint64_t not_hi


cdef inline void summary_clear(Summary* s) noexcept nogil:
    s.count = 0
    s.t_first = s.t_last = s.id_first = s.id_last = s.p_open = s.p_close = 0
    s.vol = s.buy = s.not_lo = 0
    s.not_hi = 0


cdef inline void summary_note(Summary* s, int64_t n, int64_t t0, int64_t t1, int64_t id0,
                              int64_t p0, int64_t id1, int64_t p1) noexcept nogil:
    """Count n more trades from t0 to t1, agg ids id0 (at price p0) to id1 (at p1)."""
    if s.count == 0:
        s.t_first, s.t_last = t0, t1
        s.id_first, s.p_open = id0, p0
        s.id_last, s.p_close = id1, p1
    else:
        if t0 < s.t_first:
            s.t_first = t0
        if t1 > s.t_last:
            s.t_last = t1
        if id0 < s.id_first:
            s.id_first, s.p_open = id0, p0
        if id1 > s.id_last:
            s.id_last, s.p_close = id1, p1
    s.count += n


cdef inline void summary_add(Summary* s, const Summary* other) noexcept nogil:
    """Add the summary of other trades than s's."""
    if other.count:
        s.vol += other.vol
        s.buy += other.buy
        add192(&s.not_lo, &s.not_hi, other.not_lo)
        s.not_hi += other.not_hi
        summary_note(s, other.count, other.t_first, other.t_last, other.id_first,
                     other.p_open, other.id_last, other.p_close)


cdef inline tuple summary_tuple(const Summary* s, int64_t low, int64_t high):
    """(trades, first time, last time, first agg id, last agg id, open, close, low, high,
    volume, taker-buy volume, notional): what ``rollup.summary`` returns."""
    return (s.count, s.t_first, s.t_last, s.id_first, s.id_last, s.p_open, s.p_close, low,
            high, py128(s.vol), py128(s.buy), py192(s.not_lo, s.not_hi))
