"""Shared C-level reader of value format v1 (a MessagePack array of 5-element rows).

cimported by ext/decode.pyx and ext/profile.pyx. The reader accepts only the exact v1
shape; on anything else (other tags, truncation, trailing bytes) it reports failure and
the caller hands the whole value to the msgpack slow path, which decides exactly what
msgpack would. So nothing here can accept bytes the slow path would refuse, and no read
ever goes past ``end``.
"""

from libc.stdint cimport int64_t, uint64_t


cdef struct V1Row:
    int64_t agg_id
    int64_t time_ms
    const unsigned char* price
    Py_ssize_t price_len
    const unsigned char* qty
    Py_ssize_t qty_len
    bint is_buyer_maker


cdef inline uint64_t _be(const unsigned char* p, int n) noexcept nogil:
    cdef uint64_t v = 0
    cdef int i
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
        if u > 9223372036854775807ULL:
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
    if not v1_plain_decimal(row.price, row.price_len):
        return -1
    if not v1_plain_decimal(row.qty, row.qty_len):
        return -1
    return 0
