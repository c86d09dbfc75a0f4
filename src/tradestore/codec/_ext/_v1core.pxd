"""Shared C-level reader of value format v1 (a MessagePack array of 5-element rows).

cimported by src/tradestore/codec/_ext/decode.pyx and src/tradestore/codec/_ext/profile.pyx. The reader accepts only the exact v1
shape; on anything else (other tags, truncation, trailing bytes) it reports failure and
the caller hands the whole value to the msgpack slow path, which decides exactly what
msgpack would. So nothing here can accept bytes the slow path would refuse, and no read
ever goes past ``end``.
"""

from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memcpy

from _fixed cimport FP_OK, INT64_MAX, SCALE, SCALE_DIGITS, WHOLE_MAX, parse_fixed_chars


cdef enum:
    # The smallest v1 row: 0x95, two 1-char strings, two fixints and a bool. A header
    # claiming more rows than this allows is not v1, whatever follows.
    V1_MIN_ROW_BYTES = 8


cdef struct V1Row:
    int64_t agg_id
    int64_t time_ms
    const unsigned char* price
    Py_ssize_t price_len
    const unsigned char* qty
    Py_ssize_t qty_len
    bint is_buyer_maker


cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #define TS_BSWAP32(x) __builtin_bswap32(x)
    #define TS_BSWAP64(x) __builtin_bswap64(x)
    #define TS_HAVE_BSWAP 1
    #else
    #define TS_BSWAP32(x) (x)
    #define TS_BSWAP64(x) (x)
    #define TS_HAVE_BSWAP 0
    #endif
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && TS_HAVE_BSWAP
    #define TS_FAST_BE 1
    #else
    #define TS_FAST_BE 0
    #endif
    """
    const int TS_FAST_BE
    unsigned int TS_BSWAP32(unsigned int) nogil
    unsigned long long TS_BSWAP64(unsigned long long) nogil


cdef inline uint64_t _be(const unsigned char* p, int n) noexcept nogil:
    """The big-endian unsigned integer in p[0:n] (n = 1, 2, 4 or 8)."""
    cdef unsigned int v32
    cdef unsigned long long v64
    cdef uint64_t v = 0
    cdef int i
    if TS_FAST_BE:
        if n == 8:
            memcpy(&v64, p, 8)
            return TS_BSWAP64(v64)
        if n == 4:
            memcpy(&v32, p, 4)
            return TS_BSWAP32(v32)
    for i in range(n):
        v = (v << 8) | p[i]
    return v


cdef inline int v1_array_len(const unsigned char* p, Py_ssize_t n, Py_ssize_t* pos,
                             Py_ssize_t* out) noexcept nogil:
    """Read the outer array header; 0 on success, -1 if it is not one."""
    cdef Py_ssize_t i = pos[0]
    if i >= n:
        return -1
    cdef unsigned char tag = p[i]
    if 0x90 <= tag <= 0x9F:
        out[0] = tag - 0x90
        pos[0] = i + 1
        return 0
    if tag == 0xDC:
        if n - i < 3:
            return -1
        out[0] = <Py_ssize_t>_be(p + i + 1, 2)
        pos[0] = i + 3
        return 0
    if tag == 0xDD:
        if n - i < 5:
            return -1
        out[0] = <Py_ssize_t>_be(p + i + 1, 4)
        pos[0] = i + 5
        return 0
    return -1


cdef inline int _v1_str(const unsigned char* p, Py_ssize_t n, Py_ssize_t* pos,
                        const unsigned char** s, Py_ssize_t* slen) noexcept nogil:
    cdef Py_ssize_t i = pos[0]
    cdef Py_ssize_t length
    if i >= n:
        return -1
    cdef unsigned char tag = p[i]
    if 0xA0 <= tag <= 0xBF:
        length = tag - 0xA0
        i += 1
    elif tag == 0xD9:
        if n - i < 2:
            return -1
        length = p[i + 1]
        i += 2
    elif tag == 0xDA:
        if n - i < 3:
            return -1
        length = <Py_ssize_t>_be(p + i + 1, 2)
        i += 3
    elif tag == 0xDB:
        if n - i < 5:
            return -1
        length = <Py_ssize_t>_be(p + i + 1, 4)
        i += 5
    else:
        return -1
    if length > n - i:
        return -1
    s[0] = p + i
    slen[0] = length
    pos[0] = i + length
    return 0


cdef inline int _v1_int(const unsigned char* p, Py_ssize_t n, Py_ssize_t* pos,
                        int64_t* out) noexcept nogil:
    """Any MessagePack integer that fits int64; -1 for anything else."""
    cdef Py_ssize_t i = pos[0]
    cdef uint64_t u
    cdef int width
    if i >= n:
        return -1
    cdef unsigned char tag = p[i]
    if tag <= 0x7F:
        out[0] = tag
        pos[0] = i + 1
        return 0
    if tag >= 0xE0:
        out[0] = <int64_t>tag - 256
        pos[0] = i + 1
        return 0
    if 0xCC <= tag <= 0xCF:
        width = 1 << (tag - 0xCC)
        if n - i - 1 < width:
            return -1
        u = _be(p + i + 1, width)
        if u > <uint64_t>INT64_MAX:
            return -1
        out[0] = <int64_t>u
        pos[0] = i + 1 + width
        return 0
    if 0xD0 <= tag <= 0xD3:
        width = 1 << (tag - 0xD0)
        if n - i - 1 < width:
            return -1
        u = _be(p + i + 1, width)
        if width == 1:
            out[0] = <signed char>u
        elif width == 2:
            out[0] = <short>u
        elif width == 4:
            out[0] = <int>u
        else:
            out[0] = <int64_t>u
        pos[0] = i + 1 + width
        return 0
    return -1


cdef inline bint v1_plain_decimal(const unsigned char* s, Py_ssize_t n) noexcept nogil:
    """digits[.digits] in ASCII: a string both Decimal() and the fixed-point parser read."""
    cdef Py_ssize_t i = 0
    cdef Py_ssize_t start
    while i < n and 48 <= s[i] <= 57:
        i += 1
    if i == 0:
        return False
    if i == n:
        return True
    if s[i] != 46:
        return False
    i += 1
    start = i
    while i < n and 48 <= s[i] <= 57:
        i += 1
    return i == n and i > start


cdef inline int v1_row(const unsigned char* p, Py_ssize_t n, Py_ssize_t* pos,
                       V1Row* row) noexcept nogil:
    """Read one [price_str, qty_str, T, agg_id, is_buyer_maker] row; -1 if not that shape.

    Prices and quantities must be plain decimals: anything else (exponents, signs, text
    that is not UTF-8) is for the slow path to judge.
    """
    if v1_row_shape(p, n, pos, row) < 0:
        return -1
    if not v1_plain_decimal(row.price, row.price_len):
        return -1
    if not v1_plain_decimal(row.qty, row.qty_len):
        return -1
    return 0


cdef inline int v1_row_shape(const unsigned char* p, Py_ssize_t n, Py_ssize_t* pos,
                             V1Row* row) noexcept nogil:
    """Like v1_row without judging the two strings: the caller must, with
    v1_plain_decimal or with parse_fixed_chars returning FP_OK (which implies it)."""
    if pos[0] >= n or p[pos[0]] != 0x95:
        return -1
    pos[0] += 1
    if _v1_str(p, n, pos, &row.price, &row.price_len) < 0:
        return -1
    if _v1_str(p, n, pos, &row.qty, &row.qty_len) < 0:
        return -1
    if _v1_int(p, n, pos, &row.time_ms) < 0:
        return -1
    if _v1_int(p, n, pos, &row.agg_id) < 0:
        return -1
    if pos[0] >= n:
        return -1
    cdef unsigned char tag = p[pos[0]]
    if tag == 0xC3:
        row.is_buyer_maker = True
    elif tag == 0xC2:
        row.is_buyer_maker = False
    else:
        return -1
    pos[0] += 1
    return 0


cdef extern from *:
    """
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    #define TS_LITTLE_ENDIAN 1
    #else
    #define TS_LITTLE_ENDIAN 0
    #endif
    """
    const int TS_LITTLE_ENDIAN


cdef inline int64_t _swar8(const unsigned char* s) noexcept nogil:
    """The value of 8 ASCII digits s[0:8], or -1 if any is not a digit (little endian)."""
    cdef uint64_t chunk
    memcpy(&chunk, s, 8)
    # every byte in '0'..'9': high nibble 3, and adding 6 keeps the high nibble 3
    if ((chunk & 0xF0F0F0F0F0F0F0F0ULL) != 0x3030303030303030ULL
            or ((chunk + 0x0606060606060606ULL) & 0xF0F0F0F0F0F0F0F0ULL)
            != 0x3030303030303030ULL):
        return -1
    chunk -= 0x3030303030303030ULL
    chunk = (chunk * 10 + (chunk >> 8)) & 0x00FF00FF00FF00FFULL
    chunk = (chunk * 100 + (chunk >> 16)) & 0x0000FFFF0000FFFFULL
    chunk = (chunk * 10000 + (chunk >> 32)) & 0xFFFFFFFFULL
    return <int64_t>chunk


cdef inline int v1_fixed(const unsigned char* s, Py_ssize_t n, int64_t* out) noexcept nogil:
    """parse_fixed_chars with a fast path for Binance's usual form: up to 11 integer
    digits (those of WHOLE_MAX), a point and exactly SCALE_DIGITS decimals, read 8 at a
    time. Same results, FP_OK only for plain decimals."""
    cdef Py_ssize_t i
    cdef Py_ssize_t point = n - SCALE_DIGITS - 1
    cdef uint64_t whole = 0
    cdef int64_t frac
    if TS_LITTLE_ENDIAN and SCALE_DIGITS == 8 and 1 <= point <= 11 and s[point] == 46:
        frac = _swar8(s + point + 1)
        if frac >= 0:
            for i in range(point):
                if s[i] < 48 or s[i] > 57:
                    return parse_fixed_chars(s, n, out)
                whole = whole * 10 + (s[i] - 48)
            # at most 11 integer digits: whole * SCALE + frac fits int64 unless too large
            if whole <= WHOLE_MAX:
                whole = whole * SCALE + <uint64_t>frac
                if whole <= <uint64_t>INT64_MAX:
                    out[0] = <int64_t>whole
                    return FP_OK
    return parse_fixed_chars(s, n, out)
