"""Wide unsigned integers for the sums of the level tables and the rollups.

Volumes are 128-bit sums, notional (price x quantity) a 192-bit one kept as a 128-bit low
part and a 64-bit high word. 128-bit arithmetic is the C compiler's ``unsigned __int128``
(GCC and Clang on 64-bit targets). No number ever reaches Python through Cython's own
integer conversion: ``py128`` and ``py192`` split it into 64-bit words first.

cimported by src/tradestore/codec/_ext/profile.pyx, rollup.pyx and the .pxd files below them.
"""

from libc.stdint cimport uint64_t


cdef extern from *:
    """
    typedef unsigned __int128 ts_u128;
    """
    ctypedef unsigned long long u128 "ts_u128"


cdef inline object py128(u128 v):
    """The Python int of v (through two 64-bit words)."""
    cdef uint64_t hi = <uint64_t>(v >> 64)
    cdef uint64_t lo = <uint64_t>v
    if hi == 0:
        return lo
    return (<object>hi << 64) | <object>lo


cdef inline object py192(u128 lo, uint64_t hi):
    """The Python int of hi * 2**128 + lo."""
    if hi == 0:
        return py128(lo)
    return (<object>hi << 128) | py128(lo)


cdef inline int add192(u128* lo, uint64_t* hi, u128 v) noexcept nogil:
    """lo:hi += v; 1 when the 192-bit sum overflowed."""
    lo[0] += v
    if lo[0] < v:
        hi[0] += 1
        if hi[0] == 0:
            return 1
    return 0


cdef inline int mul_add192(u128* lo, uint64_t* hi, uint64_t p, u128 v) noexcept nogil:
    """lo:hi += p * v (p < 2**64, v < 2**128); 1 on overflow past 192 bits."""
    cdef u128 low = <u128>p * <uint64_t>v  # p x the low word of v
    cdef u128 high = <u128>p * <uint64_t>(v >> 64)  # p x the high word, shifted by 64
    cdef uint64_t carry = <uint64_t>(high >> 64)
    cdef u128 shifted = high << 64
    if add192(lo, hi, low):
        return 1
    if add192(lo, hi, shifted):
        return 1
    hi[0] += carry
    if hi[0] < carry:
        return 1
    return 0


cdef inline u128 pow10_128(int k) noexcept nogil:
    """10**k (k <= 38)."""
    cdef u128 v = 1
    cdef int i
    for i in range(k):
        v *= 10
    return v


cdef inline int trailing_zeros(u128 v, int cap) noexcept nogil:
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


cdef inline u128 div128(u128 v, u128 unit) noexcept nogil:
    """v / unit, in 64-bit arithmetic when both fit."""
    if (v >> 64) == 0 and (unit >> 64) == 0:
        return <uint64_t>v // <uint64_t>unit
    return v / unit
