"""Shared C-level helpers of the hot path: exact decimal ASCII -> int64 fixed point at 1e-8.

cimported by every module in ext/ that reads prices or quantities, so there is one parser.
"""

from libc.stdint cimport int64_t, uint64_t


# Return codes of the C helper; the Python wrapper turns them into messages.
cdef enum:
    FP_OK = 0
    FP_MALFORMED = 1
    FP_TOO_PRECISE = 2
    FP_OVERFLOW = 3


cdef inline int parse_fixed_chars(const unsigned char* p, Py_ssize_t n, int64_t* out) noexcept nogil:
    """Parse ASCII bytes p[0:n] as digits[.digits] into out (scaled by 1e8)."""
    cdef uint64_t acc = 0
    cdef Py_ssize_t i = 0
    cdef int int_digits = 0
    cdef int frac_digits = 0
    cdef unsigned char c
    if n == 0:
        return FP_MALFORMED
    while i < n:
        c = p[i]
        if c == 46:  # '.'
            break
        if c < 48 or c > 57:
            return FP_MALFORMED
        if acc > 92233720368ULL:  # acc * 10 * 1e8 would exceed int64 later anyway
            return FP_OVERFLOW
        acc = acc * 10 + (c - 48)
        int_digits += 1
        i += 1
    if int_digits == 0:
        return FP_MALFORMED
    if acc > 92233720368ULL:
        return FP_OVERFLOW
    acc *= 100000000ULL
    cdef uint64_t frac = 0
    cdef uint64_t mult = 10000000ULL
    if i < n:
        i += 1  # skip '.'
        if i == n:
            return FP_MALFORMED
        while i < n:
            c = p[i]
            if c < 48 or c > 57:
                return FP_MALFORMED
            if frac_digits < 8:
                frac += (c - 48) * mult
                mult //= 10
            elif c != 48:
                return FP_TOO_PRECISE
            frac_digits += 1
            i += 1
    acc += frac
    if acc > 9223372036854775807ULL:
        return FP_OVERFLOW
    out[0] = <int64_t>acc
    return FP_OK
