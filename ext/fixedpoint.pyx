# cython: boundscheck=False, wraparound=False
"""Exact decimal string <-> int64 fixed point at 1e-8 (compiled twin of _pure/fixedpoint.py)."""

from cpython.unicode cimport PyUnicode_KIND, PyUnicode_DATA, PyUnicode_READ, PyUnicode_GET_LENGTH
from libc.stdint cimport int64_t, uint64_t

from _fixed cimport (
    FP_MALFORMED, FP_OK, FP_OVERFLOW, FP_TOO_PRECISE, check_python_side, parse_fixed_chars,
)

from tradestore._errors import FixedPointError
from tradestore._fixed import INT64_MAX, SCALE, SCALE_DIGITS

check_python_side()


cdef object _raise(int rc, object text):
    shown = repr(text[:40])
    if rc == FP_TOO_PRECISE:
        raise FixedPointError(f"more than 8 decimal places: {shown}")
    if rc == FP_OVERFLOW:
        raise FixedPointError(f"does not fit int64 at 1e-8: {shown}")
    raise FixedPointError(f"not a plain decimal string: {shown}")


def parse_fixed(text):
    """Return the value of a plain non-negative decimal string times 10**8, exactly."""
    cdef int64_t out = 0
    cdef int rc
    cdef const unsigned char[::1] view
    cdef unsigned char buf[64]
    cdef Py_ssize_t n, i
    cdef Py_UCS4 ch
    cdef int kind
    cdef void* data
    if isinstance(text, str):
        n = PyUnicode_GET_LENGTH(text)
        if n > 64:
            # Longer strings are legal only with leading or trailing zeros: rare, slower path.
            return _parse_long(text)
        kind = PyUnicode_KIND(text)
        data = PyUnicode_DATA(text)
        for i in range(n):
            ch = PyUnicode_READ(kind, data, i)
            if ch > 127:
                _raise(FP_MALFORMED, text)
            buf[i] = <unsigned char>ch
        rc = parse_fixed_chars(buf, n, &out)
    elif isinstance(text, (bytes, bytearray, memoryview)):
        view = bytes(text) if not isinstance(text, bytes) else text
        rc = parse_fixed_chars(&view[0], view.shape[0], &out) if view.shape[0] else FP_MALFORMED
    else:
        raise FixedPointError("not a string")
    if rc != FP_OK:
        _raise(rc, text)
    return out


def _parse_long(str text):
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError:
        _raise(FP_MALFORMED, text)
    cdef int64_t out = 0
    cdef const unsigned char[::1] view = raw
    cdef int rc = parse_fixed_chars(&view[0], view.shape[0], &out)
    if rc != FP_OK:
        _raise(rc, text)
    return out


def format_fixed(int64_t value):
    """The canonical decimal string of a fixed-point value (8 places, as Binance prints)."""
    if value < 0:
        return "-" + format_fixed(-value)
    whole, frac = divmod(value, SCALE)
    return f"{whole}.{frac:08d}"
