"""Unsigned LEB128 varints of up to 192 bits, written to a growing buffer and read back.

Every number of a rollup value (tradestore/codec/_rollupfmt.py) is one of these, in its
shortest form. The reader never goes past the end of its bytes and refuses a number
that is longer than allowed or not in shortest form, as the pure twin's reader does.

cimported by src/tradestore/codec/_ext/_rollupvalue.pxd.
"""

from libc.stdint cimport INT64_MAX, int64_t, uint64_t
from libc.stdlib cimport realloc

from _wide cimport u128


# ---------------------------------------------------------------------- bytes out


cdef struct Buf:
    unsigned char* p
    Py_ssize_t n
    Py_ssize_t cap


cdef inline int buf_reserve(Buf* b, Py_ssize_t extra) except -1:
    """Room for ``extra`` more bytes (the caller frees b.p)."""
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


cdef inline void put(Buf* b, u128 v) noexcept nogil:
    """Unsigned LEB128 of v; the caller reserved 19 bytes."""
    while v > 0x7F:
        b.p[b.n] = <unsigned char>((v & 0x7F) | 0x80)
        b.n += 1
        v >>= 7
    b.p[b.n] = <unsigned char>v
    b.n += 1


cdef inline void put192(Buf* b, u128 lo, uint64_t hi) noexcept nogil:
    """Unsigned LEB128 of hi * 2**128 + lo; the caller reserved 28 bytes."""
    while hi != 0 or lo > 0x7F:
        b.p[b.n] = <unsigned char>((lo & 0x7F) | 0x80)
        b.n += 1
        lo = (lo >> 7) | ((<u128>(hi & 0x7F)) << 121)
        hi >>= 7
    b.p[b.n] = <unsigned char>lo
    b.n += 1


# ---------------------------------------------------------------------- bytes in


# The reader and its slow path are C: a number of more than three bytes is rare, and
# get_long must stay out of line (Cython cannot say so) for get's short path to inline
# into every loop that reads numbers; inlined whole, get became a call per number.
cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #define TS_NOINLINE __attribute__((noinline))
    #else
    #define TS_NOINLINE
    #endif
    typedef struct { const unsigned char* p; Py_ssize_t n; Py_ssize_t pos; } ts_reader;

    /* get() of a number of any length, a byte at a time. */
    static TS_NOINLINE int ts_get_long(ts_reader* r, int bits, unsigned __int128* lo,
                                       uint64_t* hi) {
        unsigned __int128 vlo = 0, part;
        uint64_t vhi = 0;
        int shift = 0;
        unsigned char byte;
        for (;;) {
            if (r->pos >= r->n)
                return -1;
            byte = r->p[r->pos];
            r->pos += 1;
            part = byte & 0x7F;
            if (shift + 7 > bits && (part >> (bits - shift)) != 0)
                return -1;  /* bits beyond the limit */
            if (shift < 128) {
                vlo |= part << shift;
                if (shift > 121)  /* part of it lands in the high word */
                    vhi |= (uint64_t)(part >> (128 - shift));
            } else {
                vhi |= (uint64_t)(part << (shift - 128));
            }
            if (!(byte & 0x80))
                break;
            shift += 7;
            if (shift >= bits)
                return -1;
        }
        if (byte == 0 && shift)
            return -1;
        *lo = vlo;
        *hi = vhi;
        return 0;
    }
    """
    ctypedef struct Reader "ts_reader":
        const unsigned char* p
        Py_ssize_t n
        Py_ssize_t pos

    int get_long "ts_get_long"(Reader* r, int bits, u128* lo, uint64_t* hi) noexcept nogil


cdef inline int get(Reader* r, int bits, u128* lo, uint64_t* hi) noexcept nogil:
    """An unsigned LEB128 of at most ``bits`` bits (64 < bits <= 192) in shortest form;
    -1 when the bytes end, the number is longer or it is not in shortest form."""
    cdef const unsigned char* q = r.p + r.pos
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
    return get_long(r, bits, lo, hi)


cdef inline int get64(Reader* r, int64_t* out) noexcept nogil:
    """A varint below 2**63 (an int64 that is not negative); -1 otherwise."""
    cdef u128 lo
    cdef uint64_t hi
    if get(r, 128, &lo, &hi) < 0 or lo > <u128>INT64_MAX:
        return -1
    out[0] = <int64_t>lo
    return 0
