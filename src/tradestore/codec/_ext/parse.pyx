# cython: boundscheck=False, wraparound=False
"""Validate one aggTrade frame (compiled twin of tradestore/codec/_pure/parse.py).

A single pass over the frame's characters (``PyUnicode_KIND/DATA`` for str, the bytes
themselves for bytes) reads the JSON object, or the ``data`` object of a combined
stream wrapper, and picks out ``e, a, p, q, T, m, s``. Prices and quantities are read as
int64 fixed point (src/tradestore/codec/_ext/_fixed.pxd), which keys a small cache of recent ``Decimal``
objects: a Decimal is built only for a string not seen lately. Anything unusual --
escapes, floats, nested values, duplicate keys, non-ASCII bytes, any invalid field -- goes
to tradestore/codec/_frame.py, the specification of what json.loads accepts and of every
reject reason (and all that the pure twin does), so both agree by construction.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_GET_SIZE
from cpython.object cimport PyObject_GenericSetAttr
from cpython.unicode cimport (
    PyUnicode_1BYTE_KIND,
    PyUnicode_CheckExact,
    PyUnicode_DATA,
    PyUnicode_DecodeASCII,
    PyUnicode_GET_LENGTH,
    PyUnicode_KIND,
)
from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memcmp, memcpy

from _fixed cimport FP_MALFORMED, FP_OK, check_python_side, parse_fixed_chars

from decimal import Decimal

from tradestore.codec import _decimal, _frame
from tradestore.codec._frame import read_event
from tradestore._model import AggTrade, TradeRow, decimal_text

cdef enum:
    CACHE_BITS = 10
    MAX_INT_DIGITS = 640  # CPython's lowest int_max_str_digits setting
    DECIMAL_CAPACITY = 64  # bytes of a price or quantity buffer

# The specification's limits, read once: a frame or decimal beyond them is the slow path's.
cdef Py_ssize_t MAX_FRAME = _frame.MAX_FRAME_BYTES
cdef Py_ssize_t MAX_DECIMAL = _decimal.MAX_DECIMAL_CHARS
if MAX_DECIMAL > DECIMAL_CAPACITY:
    raise ImportError(f"MAX_DECIMAL_CHARS {MAX_DECIMAL} > {DECIMAL_CAPACITY}: enlarge the buffers")


cdef extern from "Python.h":
    void PyObject_GC_UnTrack(object)
    # A new instance of a tuple subclass with n (NULL) items, as tuple's own tp_new for
    # a subtype makes one; its items are set with PyTuple_SET_ITEM.
    object PyType_GenericAlloc(type subtype, Py_ssize_t n)
    void PyTuple_SET_ITEM(object p, Py_ssize_t pos, object o)
    void Py_INCREF(object o)

cdef object _new_object = object.__new__
check_python_side()


cdef struct Src:
    const void* data
    int kind
    Py_ssize_t n
    Py_ssize_t i


cdef struct Span:
    Py_ssize_t start
    Py_ssize_t length


cdef struct Event:
    unsigned int seen  # bit per tracked key, to refuse duplicates
    bint is_agg_trade
    int64_t a
    int64_t t
    bint m
    Span p
    Span q
    Span s


# Event.seen: one bit per tracked key
cdef enum:
    K_E = 1
    K_A = 2
    K_P = 4
    K_Q = 8
    K_T = 16
    K_M = 32
    K_S = 64
    K_DATA = 128
    REQUIRED = K_E | K_A | K_P | K_Q | K_T | K_M


cdef inline unsigned int _at(Src* src, Py_ssize_t i) noexcept nogil:
    return (<const unsigned char*>src.data)[i]


cdef inline void _ws(Src* src) noexcept nogil:
    cdef unsigned int c
    while src.i < src.n:
        c = _at(src, src.i)
        if c != 32 and c != 9 and c != 10 and c != 13:
            return
        src.i += 1


cdef inline int _string(Src* src, Span* out) noexcept nogil:
    """A string without escapes or control characters; -1 for anything else."""
    cdef unsigned int c
    if src.i >= src.n or _at(src, src.i) != 34:
        return -1
    src.i += 1
    out.start = src.i
    while src.i < src.n:
        c = _at(src, src.i)
        if c == 34:
            out.length = src.i - out.start
            src.i += 1
            return 0
        if c == 92 or c < 32 or c >= 128:
            return -1  # escapes, control and non-ASCII characters: for the slow path
        src.i += 1
    return -1


cdef inline int _uint(Src* src, int64_t* out) noexcept nogil:
    """A non-negative JSON integer of at most 18 digits (no fraction or exponent)."""
    cdef Py_ssize_t start = src.i
    cdef int64_t v = 0
    cdef unsigned int c
    while src.i < src.n:
        c = _at(src, src.i)
        if c < 48 or c > 57:
            break
        v = v * 10 + (c - 48)
        src.i += 1
        if src.i - start > 18:
            return -1
    if src.i == start or (src.i - start > 1 and _at(src, start) == 48):
        return -1
    if src.i < src.n:
        c = _at(src, src.i)
        if c == 46 or c == 101 or c == 69:
            return -1
    out[0] = v
    return 0


cdef inline int _literal(Src* src, const char* word, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t k
    if src.n - src.i < n:
        return -1
    for k in range(n):
        if _at(src, src.i + k) != <unsigned char>word[k]:
            return -1
    src.i += n
    return 0


cdef inline int _digits(Src* src) noexcept nogil:
    cdef Py_ssize_t start = src.i
    cdef unsigned int c
    while src.i < src.n:
        c = _at(src, src.i)
        if c < 48 or c > 57:
            break
        src.i += 1
    return 0 if src.i > start else -1


cdef inline int _skip_value(Src* src) noexcept nogil:
    """Skip a scalar JSON value exactly as json.loads would accept it; -1 otherwise."""
    cdef Span ignored
    cdef unsigned int c
    cdef Py_ssize_t start
    if src.i >= src.n:
        return -1
    c = _at(src, src.i)
    if c == 34:
        return _string(src, &ignored)
    if c == 116:
        return _literal(src, "true", 4)
    if c == 102:
        return _literal(src, "false", 5)
    if c == 110:
        return _literal(src, "null", 4)
    if c == 45 or 48 <= c <= 57:
        if c == 45:
            src.i += 1
        if src.i >= src.n:
            return -1
        start = src.i
        if _at(src, src.i) == 48:
            src.i += 1
        elif _digits(src) < 0:
            return -1
        if src.i - start > MAX_INT_DIGITS:
            # json.loads refuses integers beyond sys.get_int_max_str_digits() (4300 by
            # default, and settable): long ones are the slow path's to judge.
            return -1
        if src.i < src.n and _at(src, src.i) == 46:
            src.i += 1
            if _digits(src) < 0:
                return -1
        if src.i < src.n and (_at(src, src.i) == 101 or _at(src, src.i) == 69):
            src.i += 1
            if src.i < src.n and (_at(src, src.i) == 43 or _at(src, src.i) == 45):
                src.i += 1
            if _digits(src) < 0:
                return -1
        return 0
    return -1  # objects, arrays, NaN, Infinity: for the slow path


cdef inline int _key_is(Src* src, Span* key, const char* name, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t k
    if key.length != n:
        return 0
    for k in range(n):
        if _at(src, key.start + k) != <unsigned char>name[k]:
            return 0
    return 1


cdef int _object(Src* src, Event* ev, Event* inner, int depth) noexcept nogil:
    """Read one object into ev; at depth 0 a ``data`` object goes into inner."""
    cdef Span key
    cdef Span value
    cdef unsigned int bit
    cdef unsigned int c
    _ws(src)
    if src.i >= src.n or _at(src, src.i) != 123:
        return -1
    src.i += 1
    _ws(src)
    if src.i < src.n and _at(src, src.i) == 125:
        src.i += 1
        return 0
    while True:
        _ws(src)
        if _string(src, &key) < 0:
            return -1
        _ws(src)
        if src.i >= src.n or _at(src, src.i) != 58:
            return -1
        src.i += 1
        _ws(src)
        if src.i >= src.n:
            return -1
        bit = 0
        if key.length == 1:
            c = _at(src, key.start)
            if c == 101:
                bit = K_E
            elif c == 97:
                bit = K_A
            elif c == 112:
                bit = K_P
            elif c == 113:
                bit = K_Q
            elif c == 84:
                bit = K_T
            elif c == 109:
                bit = K_M
            elif c == 115:
                bit = K_S
        elif depth == 0 and _key_is(src, &key, "data", 4):
            bit = K_DATA
        if bit & ev.seen:
            return -1  # a duplicate key: json.loads keeps the last one; let it decide
        ev.seen |= bit
        if bit == K_E:
            if _string(src, &value) < 0:
                return -1
            ev.is_agg_trade = _key_is(src, &value, "aggTrade", 8)
        elif bit == K_A:
            if _uint(src, &ev.a) < 0:
                return -1
        elif bit == K_T:
            if _uint(src, &ev.t) < 0:
                return -1
        elif bit == K_P:
            if _string(src, &ev.p) < 0:
                return -1
        elif bit == K_Q:
            if _string(src, &ev.q) < 0:
                return -1
        elif bit == K_S:
            if _string(src, &ev.s) < 0:
                return -1
        elif bit == K_M:
            c = _at(src, src.i)
            if c == 116 and _literal(src, "true", 4) == 0:
                ev.m = True
            elif c == 102 and _literal(src, "false", 5) == 0:
                ev.m = False
            else:
                return -1
        elif bit == K_DATA:
            if _object(src, inner, NULL, 1) < 0:
                return -1
        elif _skip_value(src) < 0:
            return -1
        _ws(src)
        if src.i >= src.n:
            return -1
        c = _at(src, src.i)
        src.i += 1
        if c == 125:
            return 0
        if c != 44:
            return -1


cdef inline int _copy_ascii(Src* src, Span* span, unsigned char* buf) noexcept nogil:
    """Copy a plain decimal (digits[.digits], at most MAX_DECIMAL chars) into buf."""
    cdef Py_ssize_t k
    cdef unsigned int c
    cdef bint dot = False
    if span.length == 0 or span.length > MAX_DECIMAL:
        return -1
    for k in range(span.length):
        c = _at(src, span.start + k)
        if c == 46:
            if dot or k == 0 or k == span.length - 1:
                return -1
            dot = True
        elif c < 48 or c > 57:
            return -1
        buf[k] = <unsigned char>c
    return 0


cdef class _DecimalCache:
    """Direct-mapped: recent identical decimal strings share one Decimal object."""

    cdef unsigned char texts[1 << CACHE_BITS][DECIMAL_CAPACITY]
    cdef Py_ssize_t lengths[1 << CACHE_BITS]
    cdef list objects

    def __cinit__(self):
        self.objects = [None] * (1 << CACHE_BITS)

    cdef object get(self, const unsigned char* s, Py_ssize_t n, int64_t fixed):
        cdef Py_ssize_t slot = <Py_ssize_t>(
            ((<uint64_t>fixed * 0x9E3779B97F4A7C15ULL) ^ <uint64_t>n) >> (64 - CACHE_BITS)
        )
        if self.lengths[slot] == n and memcmp(self.texts[slot], s, n) == 0:
            return self.objects[slot]
        obj = Decimal(PyUnicode_DecodeASCII(<const char*>s, n, NULL))
        memcpy(self.texts[slot], s, n)
        self.lengths[slot] = n
        self.objects[slot] = obj
        return obj


cdef _DecimalCache _decimals = _DecimalCache()


cdef struct Parsed:
    Src src
    Event ev
    unsigned char price[DECIMAL_CAPACITY]
    unsigned char qty[DECIMAL_CAPACITY]
    int64_t price_fixed
    int64_t qty_fixed
    int price_rc
    int qty_rc


cdef int _parse(object frame, Parsed* out) except -1:
    """0 when the fast path read a valid event into out; 1 when read_event must decide."""
    cdef Src src
    cdef Event top
    cdef Event inner
    cdef Event* ev
    cdef Py_ssize_t k
    if PyUnicode_CheckExact(frame):
        # A str of a wider kind holds a non-ASCII character, which can only be legal
        # inside a string: the fast path reads ASCII only, so it is the slow path's.
        if PyUnicode_KIND(frame) != PyUnicode_1BYTE_KIND:
            return 1
        src.n = PyUnicode_GET_LENGTH(frame)
        src.kind = PyUnicode_1BYTE_KIND
        src.data = PyUnicode_DATA(frame)
    elif PyBytes_CheckExact(frame):
        # Bytes >= 128 (which need UTF-8 validation) are refused by _string, and are
        # illegal outside strings anyway.
        src.n = PyBytes_GET_SIZE(frame)
        src.kind = PyUnicode_1BYTE_KIND
        src.data = PyBytes_AS_STRING(frame)
    else:
        return 1
    if src.n > MAX_FRAME:
        return 1
    src.i = 0
    top.seen = 0
    inner.seen = 0
    top.is_agg_trade = inner.is_agg_trade = False
    if _object(&src, &top, &inner, 0) < 0:
        return 1
    _ws(&src)
    if src.i != src.n:
        return 1
    if (top.seen & K_DATA) and not (top.seen & K_E):
        ev = &inner
    else:
        ev = &top
    if (ev.seen & REQUIRED) != REQUIRED or not ev.is_agg_trade:
        return 1
    if _copy_ascii(&src, &ev.p, out.price) < 0 or _copy_ascii(&src, &ev.q, out.qty) < 0:
        return 1
    out.ev = ev[0]
    out.price_rc = parse_fixed_chars(out.price, ev.p.length, &out.price_fixed)
    out.qty_rc = parse_fixed_chars(out.qty, ev.q.length, &out.qty_fixed)
    if out.price_rc == FP_MALFORMED or out.qty_rc == FP_MALFORMED:
        return 1
    out.src = src
    return 0


cdef object _last_symbol = None


cdef object _symbol(Parsed* p):
    """The symbol as str (the previous object when equal: frames repeat their symbol);
    False when the fast path cannot make it (non-ASCII, long)."""
    global _last_symbol
    cdef Py_ssize_t k
    cdef unsigned char buf[64]
    cdef Src* src = &p.src
    cdef Span* span = &p.ev.s
    if not p.ev.seen & K_S:
        return None
    if span.length > 64:
        return False
    for k in range(span.length):
        if _at(src, span.start + k) >= 128:
            return False
        buf[k] = <unsigned char>_at(src, span.start + k)
    last = _last_symbol
    if last is not None and PyUnicode_GET_LENGTH(last) == span.length and memcmp(
        PyUnicode_DATA(last), buf, span.length
    ) == 0:
        return last
    _last_symbol = PyUnicode_DecodeASCII(<const char*>buf, span.length, NULL)
    return _last_symbol


cdef object _decimal_object(const unsigned char* text, Py_ssize_t n, int64_t fixed, int rc):
    if rc == FP_OK:
        return _decimals.get(text, n, fixed)
    return Decimal(PyUnicode_DecodeASCII(<const char*>text, n, NULL))


cdef object _trade(Parsed* p):
    trade = _new_object(AggTrade)
    # AggTrade is a frozen dataclass: its __setattr__ refuses, the slots do not.
    PyObject_GenericSetAttr(trade, "agg_id", p.ev.a)
    PyObject_GenericSetAttr(trade, "price", _decimal_object(p.price, p.ev.p.length,
                                                            p.price_fixed, p.price_rc))
    PyObject_GenericSetAttr(trade, "qty", _decimal_object(p.qty, p.ev.q.length, p.qty_fixed,
                                                          p.qty_rc))
    PyObject_GenericSetAttr(trade, "time_ms", p.ev.t)
    PyObject_GenericSetAttr(trade, "is_buyer_maker", True if p.ev.m else False)
    PyObject_GC_UnTrack(trade)  # ints, Decimals and a bool: no cycles to find
    return trade


def parse_event(frame):
    """(symbol field ``s`` or None, AggTrade) of a raw aggTrade event or combined wrapper.

    Raises InvalidMessage (a ValueError) with the reason tradestore/codec/_frame.py gives.
    """
    cdef Parsed p
    if _parse(frame, &p) or (symbol := _symbol(&p)) is False:
        return read_event(frame)
    return symbol, _trade(&p)


def parse_agg_trade(frame):
    """The AggTrade of a raw aggTrade event or combined-stream wrapper (see parse_event)."""
    cdef Parsed p
    if _parse(frame, &p) or _symbol(&p) is False:
        return read_event(frame)[1]
    return _trade(&p)



cdef inline void _put(object row, Py_ssize_t i, object value):
    Py_INCREF(value)  # PyTuple_SET_ITEM steals a reference
    PyTuple_SET_ITEM(row, i, value)


cdef object _text(const unsigned char* text, Py_ssize_t n):
    """The decimal string as the store writes it: the exchange's own text, except that a
    leading zero before a digit (never sent by Binance) is dropped as Decimal drops it."""
    if n > 1 and text[0] == 48 and text[1] != 46:
        return decimal_text(Decimal(PyUnicode_DecodeASCII(<const char*>text, n, NULL)))
    return PyUnicode_DecodeASCII(<const char*>text, n, NULL)


cdef object _row(Parsed* p):
    row = PyType_GenericAlloc(TradeRow, 5)
    _put(row, 0, _text(p.price, p.ev.p.length))
    _put(row, 1, _text(p.qty, p.ev.q.length))
    _put(row, 2, p.ev.t)
    _put(row, 3, p.ev.a)
    _put(row, 4, True if p.ev.m else False)
    PyObject_GC_UnTrack(row)  # strs, ints and a bool: no cycles to find
    return row


def parse_row(frame):
    """(symbol field ``s`` or None, TradeRow) of a raw aggTrade event or combined wrapper:
    what parse_event gives, with the exact decimal strings instead of Decimals (the
    recorder's path: the store writes those strings as they are)."""
    cdef Parsed p
    if _parse(frame, &p) or (symbol := _symbol(&p)) is False:
        symbol, trade = read_event(frame)
        return symbol, TradeRow.of(trade)
    return symbol, _row(&p)
