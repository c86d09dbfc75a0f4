"""Fixed point at 1e-8 for the C side: the scale, the int64 bounds, and the one parser of
exact decimal ASCII into int64 counts of 1e-8 units.

cimported by every module in ext/ that reads prices or quantities. The numbers are those of
tradestore/codec/_fixed.py; each module calls ``check_python_side`` on import, so a build whose
constants disagree with the Python ones fails to load instead of computing other values.
"""

from libc.stdint cimport INT64_MAX, int64_t, uint64_t


cdef extern from *:
    """
    #include <stdint.h>
    #define TS_SCALE_DIGITS 8
    #define TS_SCALE UINT64_C(100000000)
    /* the largest whole part whose fixed point can still fit int64 */
    #define TS_WHOLE_MAX ((uint64_t)INT64_MAX / TS_SCALE)
    """
    const int SCALE_DIGITS "TS_SCALE_DIGITS"
    const uint64_t SCALE "TS_SCALE"
    const uint64_t WHOLE_MAX "TS_WHOLE_MAX"


# Return codes of the C helper; the Python wrapper turns them into messages.
cdef enum:
    FP_OK = 0
    FP_MALFORMED = 1
    FP_TOO_PRECISE = 2
    FP_OVERFLOW = 3


cdef inline int check_python_side() except -1:
    from tradestore.codec import _fixed

    if (_fixed.SCALE_DIGITS, _fixed.SCALE, _fixed.INT64_MAX) != (SCALE_DIGITS, SCALE, INT64_MAX):
        raise ImportError("src/tradestore/codec/_ext/_fixed.pxd and tradestore/codec/_fixed.py disagree: rebuild")
    return 0


cdef inline int parse_fixed_chars(const unsigned char* p, Py_ssize_t n, int64_t* out) noexcept nogil:
    """Parse ASCII bytes p[0:n] as digits[.digits] into out (in 1e-8 units)."""
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
        if acc > WHOLE_MAX:  # stop early: acc * 10 would not fit either
            return FP_OVERFLOW
        acc = acc * 10 + (c - 48)
        int_digits += 1
        i += 1
    if int_digits == 0:
        return FP_MALFORMED
    if acc > WHOLE_MAX:
        return FP_OVERFLOW
    acc *= SCALE
    cdef uint64_t frac = 0
    cdef uint64_t mult = SCALE // 10
    if i < n:
        i += 1  # skip '.'
        if i == n:
            return FP_MALFORMED
        while i < n:
            c = p[i]
            if c < 48 or c > 57:
                return FP_MALFORMED
            if frac_digits < SCALE_DIGITS:
                frac += (c - 48) * mult
                mult //= 10
            elif c != 48:
                return FP_TOO_PRECISE
            frac_digits += 1
            i += 1
    acc += frac
    if acc > <uint64_t>INT64_MAX:
        return FP_OVERFLOW
    out[0] = <int64_t>acc
    return FP_OK
