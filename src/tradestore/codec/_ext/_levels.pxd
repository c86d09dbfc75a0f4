"""The per-price level accumulator of the compiled side: volume, taker-buy volume and
trade count per exact price (int64 at 1e-8), with 128-bit sums.

One table serves both the volume profile straight from trades (profile.pyx's
``LevelTable``) and the rollups (rollup.pyx's ``Rollup``); its pure twin is
tradestore/codec/_pure/_levels.py. Levels live in a dense array in order of first
appearance; an open-addressing index of int32 positions (4 bytes a slot, small enough to
stay in cache) finds them. Growing the index moves no level, and fresh memory is touched
sparingly: on a VM, page faults on a large table cost as much as the aggregation itself.
``levels_order`` keeps the positions by ascending price between calls, so a table that
grows a little between two sorted reads costs its new prices, not a full sort.
"""

from libc.stdint cimport int32_t, int64_t, uint64_t
from libc.stdlib cimport free, malloc, qsort, realloc
from libc.string cimport memset

from _wide cimport py128, u128


cdef struct Level:
    u128 vol
    u128 buy
    int64_t price
    int64_t count


cdef struct Levels:
    Level* lv  # the levels, in order of first appearance
    Py_ssize_t used, cap
    int32_t* index  # open addressing: a position in lv, or -1 for an empty slot
    Py_ssize_t capacity  # slots of index, a power of two
    Py_ssize_t last  # position of the level found last (most trades repeat a price), or -1
    Py_ssize_t grow  # levels to allocate first
    int64_t low, high  # the lowest and highest price, once used > 0
    Py_ssize_t* order  # positions by ascending price, for the first `ordered` levels
    Py_ssize_t ordered


cdef struct _Key:
    int64_t price
    Py_ssize_t index


cdef inline int levels_init(Levels* t, Py_ssize_t capacity, Py_ssize_t grow) except -1:
    """An empty table with ``capacity`` index slots (a power of two); its array grows to
    ``grow`` levels first. Small for the many short-lived rollups of a flush, large for a
    profile's scan."""
    t.lv = NULL
    t.index = NULL
    t.order = NULL
    t.used = t.cap = t.ordered = 0
    t.last = -1
    t.grow = grow
    t.low = t.high = 0
    return levels_rehash(t, capacity)


cdef inline void levels_free(Levels* t) noexcept nogil:
    free(t.lv)
    free(t.index)
    free(t.order)
    t.lv = NULL
    t.index = NULL
    t.order = NULL


cdef inline int levels_rehash(Levels* t, Py_ssize_t capacity) except -1:
    """Rebuild the index with ``capacity`` slots (a power of two)."""
    cdef int32_t* new = <int32_t*>malloc(capacity * sizeof(int32_t))
    cdef Py_ssize_t k
    if new == NULL:
        raise MemoryError()
    memset(new, 0xFF, capacity * sizeof(int32_t))  # every slot -1: empty
    free(t.index)
    t.index = new
    t.capacity = capacity
    for k in range(t.used):
        levels_slot(t, t.lv[k].price)[0] = <int32_t>k
    return 0


cdef inline int levels_reserve(Levels* t, Py_ssize_t n) except -1:
    """Room for ``n`` levels without growing the array or the index again."""
    cdef Level* grown
    cdef Py_ssize_t capacity = t.capacity
    if n > t.cap:
        grown = <Level*>realloc(t.lv, n * sizeof(Level))
        if grown == NULL:
            raise MemoryError()
        t.lv = grown
        t.cap = n
    while n * 2 > capacity:
        capacity *= 2
    if capacity != t.capacity:
        levels_rehash(t, capacity)
    return 0


cdef inline int32_t* levels_slot(Levels* t, int64_t price) noexcept nogil:
    """The index slot of price (an empty one, -1, where it would go if absent)."""
    cdef uint64_t mask = <uint64_t>(t.capacity - 1)
    cdef uint64_t i = ((<uint64_t>price) * 0x9E3779B97F4A7C15ULL) >> 20
    cdef int32_t k
    while True:
        i &= mask
        k = t.index[i]
        if k < 0 or t.lv[k].price == price:
            return &t.index[i]
        i += 1


cdef inline Level* levels_at(Levels* t, int64_t price) except NULL:
    """The level of price, created empty when new. Callers test ``t.last`` themselves
    first where a trade usually repeats the previous price (it saves the call)."""
    cdef int32_t* slot
    cdef Level* grown
    cdef Py_ssize_t cap
    if t.last >= 0 and t.lv[t.last].price == price:
        return &t.lv[t.last]
    slot = levels_slot(t, price)
    if slot[0] < 0:
        if t.used >= 2**31 - 1:
            raise MemoryError("more than 2**31 price levels")
        if t.used == t.cap:
            cap = max(t.grow, t.cap * 2)
            grown = <Level*>realloc(t.lv, cap * sizeof(Level))
            if grown == NULL:
                raise MemoryError()
            t.lv = grown
            t.cap = cap
        memset(&t.lv[t.used], 0, sizeof(Level))
        t.lv[t.used].price = price
        slot[0] = <int32_t>t.used
        t.last = t.used
        t.used += 1
        if t.used * 2 > t.capacity:
            levels_rehash(t, t.capacity * 2)  # slot is stale from here on
        if t.used == 1:
            t.low = t.high = price
        elif price < t.low:
            t.low = price
        elif price > t.high:
            t.high = price
    else:
        t.last = slot[0]
    return &t.lv[t.last]


cdef inline int levels_add(Levels* t, const Level* other) except -1:
    """Add another table's level (sums and count) to this one's of the same price."""
    cdef Level* level = levels_at(t, other.price)
    level.vol += other.vol
    level.buy += other.buy
    level.count += other.count
    return 0


cdef inline int _by_price(const void* a, const void* b) noexcept nogil:
    cdef int64_t x = (<const _Key*>a).price
    cdef int64_t y = (<const _Key*>b).price
    return (x > y) - (x < y)


cdef inline Py_ssize_t* levels_order(Levels* t) except NULL:
    """Level positions by ascending price. Kept between calls (levels never move): only
    the levels added since the last call are sorted, then merged in."""
    cdef Py_ssize_t m = t.used - t.ordered
    cdef Py_ssize_t i, a, b, out
    cdef _Key* fresh
    cdef Py_ssize_t* merged
    if m == 0 and t.order != NULL:
        return t.order
    fresh = <_Key*>malloc(max(m, 1) * sizeof(_Key))
    merged = <Py_ssize_t*>malloc(max(t.used, 1) * sizeof(Py_ssize_t))
    if fresh == NULL or merged == NULL:
        free(fresh)
        free(merged)
        raise MemoryError()
    for i in range(m):
        fresh[i].index = t.ordered + i
        fresh[i].price = t.lv[t.ordered + i].price
    qsort(fresh, m, sizeof(_Key), _by_price)
    a = b = out = 0
    while a < t.ordered or b < m:
        if b >= m or (a < t.ordered and t.lv[t.order[a]].price < fresh[b].price):
            merged[out] = t.order[a]
            a += 1
        else:
            merged[out] = fresh[b].index
            b += 1
        out += 1
    free(fresh)
    free(t.order)
    t.order = merged
    t.ordered = t.used
    return merged


cdef inline object bins_out(Level* acc, Py_ssize_t nbins):
    """(volume, taker-buy volume, trade count) lists of nbins accumulated bins."""
    cdef Py_ssize_t i
    volume = [py128(acc[i].vol) for i in range(nbins)]
    buy = [py128(acc[i].buy) for i in range(nbins)]
    count = [acc[i].count for i in range(nbins)]
    return volume, buy, count


cdef inline Level* bins_new(int64_t width, Py_ssize_t nbins) except NULL:
    """nbins zeroed bins (free them); ValueError for a width or count that makes none."""
    cdef Level* acc
    if width <= 0 or nbins < 0:
        raise ValueError("width must be positive and nbins non-negative")
    acc = <Level*>malloc(max(nbins, 1) * sizeof(Level))
    if acc == NULL:
        raise MemoryError()
    memset(acc, 0, max(nbins, 1) * sizeof(Level))
    return acc


cdef inline object levels_bins(Levels* t, int64_t origin, int64_t width, Py_ssize_t nbins):
    """(volume, taker-buy volume, trade count) per bin [origin + i*width, +width);
    ValueError when a level lies outside the bins."""
    cdef Level* acc = bins_new(width, nbins)
    cdef Py_ssize_t i
    cdef uint64_t index
    cdef Level* s
    try:
        for i in range(t.used):
            s = &t.lv[i]
            if s.price < origin:
                raise ValueError(f"price {s.price} lies outside the {nbins} bins")
            # In uint64: price - origin is exact there whatever the int64 extremes.
            index = (<uint64_t>s.price - <uint64_t>origin) // <uint64_t>width
            if index >= <uint64_t>nbins:
                raise ValueError(f"price {s.price} lies outside the {nbins} bins")
            acc[index].vol += s.vol
            acc[index].buy += s.buy
            acc[index].count += s.count
        return bins_out(acc, nbins)
    finally:
        free(acc)
