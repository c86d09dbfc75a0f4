"""The rollup value format on the compiled side: a summary and its levels written as the
canonical bytes of tradestore/codec/_rollupfmt.py (docs/FORMAT.md), and read back with
every check the pure twin makes, in the same order, for the same reasons.

``read_value`` checks a whole value and decodes its levels into a scratch array before
anyone adds them, so a corrupt value never leaves half its levels behind.

cimported by src/tradestore/codec/_ext/rollup.pyx.
"""

from libc.stdint cimport INT64_MAX, int64_t, uint64_t
from libc.stdlib cimport realloc

from _levels cimport Level, Levels, levels_order
from _summary cimport Summary
from _varint cimport Buf, Reader, buf_reserve, get, get64, put, put192
from _wide cimport div128, mul_add192, pow10_128, trailing_zeros, u128


cdef enum:
    FORMAT = 1
    BUY_NONE = 0
    BUY_ALL = 1
    BUY_LISTED = 2
    MAX_PRICE_EXP = 18
    MAX_QTY_EXP = 38


# What read_value returns, negated, when it refuses a value: positions in
# tradestore/codec/_rollupfmt.py's REASONS.
cdef enum:
    R_NOT_FORMAT = 1
    R_RANGE = 2
    R_NO_TRADES = 3
    R_LEVELS = 4
    R_SCALE = 5
    R_ORDER = 6
    R_EMPTY_LEVEL = 7
    R_BUY = 8
    R_TRAILING = 9
    R_DISAGREE = 10
    R_OPEN_CLOSE = 11
    R_COUNT = 12


cdef inline int check_python_side() except -1:
    """ImportError when the constants above are not tradestore/codec/_rollupfmt.py's."""
    from tradestore.codec import _rollupfmt as fmt

    if (fmt.FORMAT, fmt.BUY_NONE, fmt.BUY_ALL, fmt.BUY_LISTED, fmt.MAX_PRICE_EXP,
            fmt.MAX_QTY_EXP, len(fmt.REASONS), fmt.REASONS[R_RANGE], fmt.REASONS[R_OPEN_CLOSE]) != (
            FORMAT, BUY_NONE, BUY_ALL, BUY_LISTED, MAX_PRICE_EXP, MAX_QTY_EXP, R_COUNT,
            fmt.RANGE, fmt.OPEN_CLOSE):
        raise ImportError("src/tradestore/codec/_ext/_rollupvalue.pxd and "
                          "tradestore/codec/_rollupfmt.py disagree: rebuild")
    return 0


# ---------------------------------------------------------------------- writing


cdef inline int write_head(Buf* b, const Summary* s, int64_t low, int64_t high) except -1:
    """The format byte and the summary, into b (reserved here)."""
    buf_reserve(b, 1 + 19 * 11 + 28)
    b.p[b.n] = FORMAT
    b.n += 1
    put(b, <u128>s.count)
    put(b, <u128>s.t_first)
    put(b, <u128>(s.t_last - s.t_first))
    put(b, <u128>s.id_first)
    put(b, <u128>(s.id_last - s.id_first))
    put(b, <u128>s.p_open)
    put(b, <u128>s.p_close)
    put(b, <u128>low)
    put(b, <u128>(high - low))
    put(b, s.vol)
    put(b, s.buy)
    put192(b, s.not_lo, s.not_hi)
    return 0


cdef inline int write_value(Buf* b, const Summary* s, Levels* t) except -1:
    """The whole canonical value: the head, then the levels in columns, each number in
    units of the largest power of ten that divides every price (k) or amount (j)."""
    cdef Py_ssize_t* order = levels_order(t)
    cdef Level* lv = t.lv
    cdef Py_ssize_t i
    cdef int k = MAX_PRICE_EXP
    cdef int j = MAX_QTY_EXP
    cdef u128 p_unit, q_unit
    cdef int64_t previous = 0
    cdef int code
    for i in range(t.used):
        if k:
            k = trailing_zeros(<u128>lv[order[i]].price, k)
        if j:
            j = trailing_zeros(lv[order[i]].vol, j)
        if j:
            j = trailing_zeros(lv[order[i]].buy, j)
    p_unit = pow10_128(k)
    q_unit = pow10_128(j)
    write_head(b, s, t.low, t.high)
    buf_reserve(b, 19 + 2 + t.used * (10 + 10 + 19 + 19))
    put(b, <u128>t.used)
    b.p[b.n] = <unsigned char>k
    b.p[b.n + 1] = <unsigned char>j
    b.n += 2
    for i in range(t.used):
        put(b, div128(<u128>(lv[order[i]].price - previous), p_unit))
        previous = lv[order[i]].price
    for i in range(t.used):
        if lv[order[i]].buy == 0:
            code = BUY_NONE
        elif lv[order[i]].buy == lv[order[i]].vol:
            code = BUY_ALL
        else:
            code = BUY_LISTED
        put(b, (<u128>lv[order[i]].count << 2) | <u128>code)
    for i in range(t.used):
        put(b, div128(lv[order[i]].vol, q_unit))
    for i in range(t.used):
        if lv[order[i]].buy != 0 and lv[order[i]].buy != lv[order[i]].vol:
            put(b, div128(lv[order[i]].buy, q_unit))
    return 0


# ---------------------------------------------------------------------- reading


cdef inline int read_head(Reader* r, Summary* s, int64_t* low, int64_t* high) noexcept nogil:
    """The format byte and the summary; 0, or minus a reason."""
    cdef int64_t d
    cdef uint64_t hi
    if r.pos >= r.n or r.p[r.pos] != FORMAT:
        return -R_NOT_FORMAT
    r.pos += 1
    if get64(r, &s.count) < 0 or get64(r, &s.t_first) < 0 or get64(r, &d) < 0:
        return -R_RANGE
    if d > INT64_MAX - s.t_first:
        return -R_RANGE
    s.t_last = s.t_first + d
    if get64(r, &s.id_first) < 0 or get64(r, &d) < 0 or d > INT64_MAX - s.id_first:
        return -R_RANGE
    s.id_last = s.id_first + d
    if get64(r, &s.p_open) < 0 or get64(r, &s.p_close) < 0 or get64(r, low) < 0:
        return -R_RANGE
    if get64(r, &d) < 0 or d > INT64_MAX - low[0]:
        return -R_RANGE
    high[0] = low[0] + d
    if get(r, 128, &s.vol, &hi) < 0 or get(r, 128, &s.buy, &hi) < 0:
        return -R_RANGE
    if get(r, 192, &s.not_lo, &s.not_hi) < 0:
        return -R_RANGE
    if s.count < 1:
        return -R_NO_TRADES
    return 0


cdef inline Py_ssize_t read_value(const unsigned char* p, Py_ssize_t size, Summary* s,
                                  Level** scratch, Py_ssize_t* scratch_cap) except? -99:
    """Check a whole value and decode its levels into scratch (grown as needed): the
    number of levels, or minus a reason."""
    cdef Reader r
    cdef int rc
    cdef int64_t n, k, j, step, word, low, high, count_sum = 0
    cdef u128 p_unit, q_unit, q_limit, v, vol_sum = 0, buy_sum = 0, not_lo = 0
    cdef uint64_t not_top = 0, hi
    cdef Py_ssize_t i
    cdef Level* lv
    cdef int64_t price = 0
    cdef bint found_open = False, found_close = False
    r.p = p
    r.n = size
    r.pos = 0
    rc = read_head(&r, s, &low, &high)
    if rc < 0:
        return rc
    if get64(&r, &n) < 0:
        return -R_RANGE
    if n < 1 or n > r.n - r.pos:
        return -R_LEVELS
    if r.pos + 2 > r.n:
        return -R_RANGE
    k = r.p[r.pos]
    j = r.p[r.pos + 1]
    r.pos += 2
    if k > MAX_PRICE_EXP or j > MAX_QTY_EXP:
        return -R_SCALE
    p_unit = pow10_128(<int>k)
    q_unit = pow10_128(<int>j)
    q_limit = (~(<u128>0)) / q_unit  # the largest number of q_units below 2**128
    if n > scratch_cap[0]:
        lv = <Level*>realloc(scratch[0], n * sizeof(Level))
        if lv == NULL:
            raise MemoryError()
        scratch[0] = lv
        scratch_cap[0] = n
    lv = scratch[0]
    for i in range(n):
        if get64(&r, &step) < 0:
            return -R_RANGE
        if i and step == 0:
            return -R_ORDER
        v = <u128>step * p_unit
        if v > <u128>(INT64_MAX - price):
            return -R_RANGE
        price += <int64_t>v
        lv[i].price = price
    for i in range(n):
        if get(&r, 128, &v, &hi) < 0 or (v >> 2) > <u128>INT64_MAX:
            return -R_RANGE
        word = <int64_t>(v >> 2)
        if word < 1 or (v & 3) > BUY_LISTED:
            return -R_EMPTY_LEVEL
        lv[i].count = word
        lv[i].buy = <u128>(v & 3)  # the code, until the volumes are read
        if count_sum > INT64_MAX - word:
            return -R_DISAGREE
        count_sum += word
    for i in range(n):
        if get(&r, 128, &v, &hi) < 0:
            return -R_RANGE
        if v > q_limit:
            return -R_RANGE
        lv[i].vol = v * q_unit
        if vol_sum + lv[i].vol < vol_sum:
            return -R_DISAGREE
        vol_sum += lv[i].vol
        if mul_add192(&not_lo, &not_top, <uint64_t>lv[i].price, lv[i].vol):
            return -R_DISAGREE
    for i in range(n):
        if lv[i].buy == BUY_NONE:
            lv[i].buy = 0
        elif lv[i].buy == BUY_ALL:
            lv[i].buy = lv[i].vol
        else:
            if get(&r, 128, &v, &hi) < 0:
                return -R_RANGE
            if v > q_limit:
                return -R_RANGE
            v = v * q_unit
            if not (0 < v < lv[i].vol):
                return -R_BUY
            lv[i].buy = v
        if buy_sum + lv[i].buy < buy_sum:
            return -R_DISAGREE
        buy_sum += lv[i].buy
    if r.pos != r.n:
        return -R_TRAILING
    if (count_sum != s.count or vol_sum != s.vol or buy_sum != s.buy
            or not_lo != s.not_lo or not_top != s.not_hi
            or lv[0].price != low or lv[n - 1].price != high
            or s.id_last - s.id_first < s.count - 1):
        return -R_DISAGREE
    for i in range(n):  # open and close must be traded prices (levels ascend)
        if lv[i].price == s.p_open:
            found_open = True
        if lv[i].price == s.p_close:
            found_close = True
    if not (found_open and found_close):
        return -R_OPEN_CLOSE
    return n
