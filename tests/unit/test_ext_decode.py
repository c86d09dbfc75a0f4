"""The key-filtered v1 decoder and the volume accumulator, compiled and pure."""

from __future__ import annotations

from decimal import Decimal

import msgpack
import numpy as np
import pytest

from tests.helpers.ext import twin_params
from tests.helpers.seed import seed_key, write_raw
from tests.helpers.trades import T0, trade
from tradestore import CorruptValue, FixedPointError, TradeStore
from tradestore.codec._pure.encode import encode_batch


@pytest.fixture(params=twin_params("decode"))
def decode(request):
    return request.param


@pytest.fixture(params=twin_params("profile"))
def profile(request):
    return request.param


def batch(first_id: int, n: int, t0: int, price: str = "100.00000000") -> list:
    return [trade(first_id + i, price, "0.5", t0 + 10 * i, i % 3 == 0) for i in range(n)]


def pairs_of(*batches) -> list[tuple[bytes, bytes]]:
    return [(b"trades:T:%013d" % b[0].time_ms, encode_batch(b)) for b in batches]


def test_columns_inclusive_window_and_values(decode):
    b = batch(1, 10, T0)
    agg_id, time_ms, price, qty, side = decode.decode_columns(pairs_of(b), T0 + 20, T0 + 50)
    assert agg_id.tolist() == [3, 4, 5, 6]
    assert time_ms.tolist() == [T0 + 20, T0 + 30, T0 + 40, T0 + 50]
    assert price.tolist() == [100 * 10**8] * 4
    assert qty.tolist() == [50_000_000] * 4
    assert side.dtype == np.bool_ and side.tolist() == [False, True, False, False]
    assert agg_id.dtype == time_ms.dtype == price.dtype == np.int64


def test_trades_and_order_flag(decode):
    a, b = batch(1, 5, T0), batch(6, 5, T0 + 50)
    trades, ascending = decode.decode_trades(pairs_of(a, b), T0, T0 + 10**6)
    assert trades == a + b and ascending
    trades, ascending = decode.decode_trades(pairs_of(b, a), T0, T0 + 10**6)
    assert trades == b + a and not ascending
    assert str(trades[0].price) == "100.00000000"


def test_buffer_protocol_inputs(decode):
    b = batch(1, 4, T0)
    value = encode_batch(b)
    for wrapped in (bytearray(value), memoryview(value)):
        cols = decode.decode_columns([(b"k", wrapped)], T0, T0 + 100)
        assert cols[0].tolist() == [1, 2, 3, 4]
        assert decode.decode_trades([(b"k", wrapped)], T0, T0 + 100)[0] == b


def test_non_v1_shapes_take_the_msgpack_path(decode):
    # array16 header, signed ints, str8 strings: other encoders write these legally.
    rows = [["1.5", "2", T0, 7, True], ["0.00000001", "3.25", T0 + 1, 8, False]]
    packer = msgpack.Packer(use_bin_type=True)
    value = b"\xdc\x00\x02" + b"".join(
        b"\x95"
        + b"\xd9" + bytes([len(p)]) + p.encode()
        + packer.pack(q)
        + b"\xd3" + t.to_bytes(8, "big", signed=True)
        + b"\xd1" + a.to_bytes(2, "big", signed=True)
        + packer.pack(m)
        for p, q, t, a, m in rows
    )  # fmt: skip
    agg_id, time_ms, price, qty, side = decode.decode_columns([(b"k", value)], T0, T0 + 1)
    assert agg_id.tolist() == [7, 8]
    assert price.tolist() == [150_000_000, 1]
    assert qty.tolist() == [200_000_000, 325_000_000]
    trades, _ = decode.decode_trades([(b"k", value)], T0, T0 + 1)
    assert [t.price for t in trades] == [Decimal("1.5"), Decimal("0.00000001")]


def test_exponent_strings_are_exact(decode):
    # A writer that printed Decimal('0.00000010') as '1.0E-7' still reads back exactly.
    value = msgpack.packb([["1.0E-7", "2E+3", T0, 1, False]])
    assert decode.decode_columns([(b"k", value)], T0, T0)[2:4][0].tolist() == [10]
    assert decode.decode_columns([(b"k", value)], T0, T0)[3].tolist() == [200_000_000_000]


@pytest.mark.parametrize(
    "value",
    [
        b"",
        b"\x91",
        b"\x91\x95\xa3100",
        b"\xc1",
        b"\x92\x95\xa11\xa11\x01\x01\xc2",
        encode_batch(batch(1, 3, T0))[:-1],
        encode_batch(batch(1, 3, T0)) + b"\x00",
        msgpack.packb([["abc", "1", T0, 1, False]]),
        msgpack.packb([["1", "1", T0, 1, 0]]),
        msgpack.packb([["1", "1", T0, 1]]),
        msgpack.packb({"a": 1}),
        b"\xdd\xff\xff\xff\xff",
    ],
)
def test_corrupt_values_name_the_key(decode, profile, value):
    key = b"trades:BTCUSDT:1767225600000"
    with pytest.raises(CorruptValue) as info:
        decode.decode_columns([(key, value)], 0, 2**62)
    assert info.value.key == key
    with pytest.raises(CorruptValue):
        decode.decode_trades([(key, value)], 0, 2**62)
    with pytest.raises(CorruptValue):
        profile.accumulate([(key, value)], 0, 2**62)


@pytest.mark.parametrize("price", ["0.000000001", "92233720368.54775808", "1e400"])
def test_values_beyond_int64_fixed_point_are_refused_for_columns(decode, profile, price):
    key = b"trades:MEME:1767225600000"
    value = msgpack.packb([[price, "1", T0, 1, False]])
    with pytest.raises(FixedPointError, match="trades:MEME:1767225600000"):
        decode.decode_columns([(key, value)], T0, T0)
    with pytest.raises(FixedPointError, match="MEME"):
        profile.accumulate([(key, value)], T0, T0)
    # ... but only inside the window, and AggTrades keep the exact Decimal.
    assert decode.decode_columns([(key, value)], T0 + 1, T0 + 2)[0].tolist() == []
    trades, _ = decode.decode_trades([(key, value)], T0, T0)
    assert trades[0].price == Decimal(price)


def test_accumulate_levels_and_bins(profile):
    b = [
        trade(1, "10.00", "1.5", T0, False),
        trade(2, "10.00", "0.5", T0 + 1, True),
        trade(3, "10.07", "2", T0 + 2, False),
        trade(4, "11.00", "1", T0 + 3, True),
        trade(5, "99.00", "1", T0 + 9, True),  # outside the window
    ]
    table = profile.accumulate(pairs_of(b), T0, T0 + 3)
    assert table.trade_count == 4
    assert (table.min_price, table.max_price) == (10 * 10**8, 11 * 10**8)
    assert (table.first_time_ms, table.last_time_ms) == (T0, T0 + 3)
    assert table.level_count == 3
    volume, buy, count = table.bins(10 * 10**8, 50_000_000, 3)
    assert volume == [4 * 10**8, 0, 1 * 10**8]
    assert buy == [35 * 10**7, 0, 0]
    assert count == [3, 0, 1]
    with pytest.raises(ValueError):
        table.bins(10 * 10**8, 50_000_000, 2)


def test_accumulate_sums_beyond_int64(profile):
    big = "92233720368.54775807"  # the largest int64 at 1e-8
    b = [trade(i, "1", big, T0 + i) for i in range(1, 5)]
    table = profile.accumulate(pairs_of(b), T0, T0 + 10)
    volume, buy, count = table.bins(10**8, 10**8, 1)
    assert volume == buy == [4 * (2**63 - 1)]
    assert count == [4]


def test_accumulate_out_of_order_needs_dedupe(profile):
    a, b = batch(1, 5, T0), batch(3, 5, T0 + 100)  # ids 3..5 stored twice
    assert profile.accumulate(pairs_of(a, b), T0, T0 + 10**6) is None
    table = profile.accumulate(pairs_of(a, b), T0, T0 + 10**6, True)
    assert table.trade_count == 7
    assert profile.accumulate(pairs_of(a), T0, T0 + 10**6).trade_count == 5


def test_store_queries_dedupe_and_order(tmp_path):
    """Ids stored twice by another writer (the store never does): each read once."""
    write_raw(
        tmp_path / "db",
        [
            (seed_key("BTCUSDT", T0 + 1000), encode_batch(batch(6, 5, T0 + 1000))),
            (seed_key("BTCUSDT", T0), encode_batch(batch(1, 8, T0))),  # ids 6..8, keyed earlier
        ],
    )
    with TradeStore(tmp_path / "db", read_only=True) as store:
        trades = store.query_trades("BTCUSDT", T0, T0 + 10**6)
        assert [t.agg_id for t in trades] == list(range(1, 11))
        cols = store.query_columns("BTCUSDT", T0, T0 + 10**6)
        assert cols.agg_id.tolist() == list(range(1, 11))
        # the first copy in scan order wins, as in query_trades
        assert cols.time_ms.tolist() == [t.time_ms for t in trades]
        assert store.query_trades("BTCUSDT", T0 + 10, T0 + 20, limit=1)[0].agg_id == 2
        empty = store.query_columns("BTCUSDT", T0 - 100, T0 - 1)
        assert len(empty) == 0 and empty.price.dtype == np.int64
