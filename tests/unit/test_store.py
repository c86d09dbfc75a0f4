"""TradeStore on a real RocksDB: exact range queries, Rust-recorder compatibility, prune, readers."""

from __future__ import annotations

import itertools
import subprocess
import sys
import uuid
from decimal import Decimal

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.seed import write_seed_style
from tests.helpers.trades import T0, make_trades
from tradestore import AggTrade, StoreError, TradeStore
from tradestore.codec._pure.encode import encode_batch


def test_store_and_query_roundtrip_exact(tmp_path):
    trades = make_trades(300)
    with TradeStore(tmp_path / "db") as store:
        for i in range(0, 300, 100):
            store.store_batch("BTCUSDT", trades[i : i + 100])
        got = store.query_trades("BTCUSDT", T0, T0 + 10**7)
        assert got == trades
        assert [str(t.price) for t in got] == [str(t.price) for t in trades]
        # Inclusive bounds at both ends.
        assert store.query_trades("BTCUSDT", trades[5].time_ms, trades[9].time_ms) == trades[5:10]
        assert store.query_trades("BTCUSDT", T0, T0 + 10**7, limit=7) == trades[:7]
        assert store.query_trades("ETHUSDT", T0, T0 + 10**7) == []


def test_value_bytes_match_rmp_serde_layout(tmp_path):
    """v1 is rmp_serde::to_vec(Vec<AggTrade>): arrays of [p, q, T, id, m], smallest ints."""
    t = AggTrade(3800397495, Decimal("87648.21000000"), Decimal("0.08185000"), 1767225600039, True)
    value = encode_batch([t])
    expected = (
        b"\x91\x95"
        + b"\xae87648.21000000"
        + b"\xaa0.08185000"
        + b"\xcf"
        + (1767225600039).to_bytes(8, "big")
        + b"\xce"
        + (3800397495).to_bytes(4, "big")
        + b"\xc3"
    )
    assert value == expected
    with TradeStore(tmp_path / "db") as store:
        key = store.store_batch("BTCUSDT", [t])
        assert key == b"trades:BTCUSDT:1767225600039"
        assert store.db.get(key) == expected


def test_taken_key_is_bumped_and_replay_is_idempotent(tmp_path):
    a = make_trades(3, start_id=1)
    b = make_trades(3, start_id=10)  # same first T as `a`
    with TradeStore(tmp_path / "db") as store:
        k1 = store.store_batch("BTCUSDT", a)
        k2 = store.store_batch("BTCUSDT", b)
        k3 = store.store_batch("BTCUSDT", a)  # the same batch again: nothing new
        assert k1 == b"trades:BTCUSDT:%d" % T0
        assert k2 == b"trades:BTCUSDT:%d" % (T0 + 1)
        assert k3 is None
        got = store.query_trades("BTCUSDT", T0, T0 + 1000)
        assert [t.agg_id for t in got] == [1, 2, 3, 10, 11, 12]
        assert store.stats()["symbols"]["BTCUSDT"]["trades"] == 6


def test_a_bumped_key_is_not_taken_again_by_the_next_batch(tmp_path):
    """Three batches starting at T0, T0 and T0 + 1: the second is bumped to T0 + 1, so the
    third goes to T0 + 2 and nothing is overwritten (hypothesis found the writer's
    shortcut for growing keys reusing T0 + 1)."""
    with TradeStore(tmp_path / "db") as store:
        keys = [
            store.store_batch("BTCUSDT", make_trades(2, start_id=1, start_ms=T0, step_ms=0)),
            store.store_batch("BTCUSDT", make_trades(2, start_id=3, start_ms=T0, step_ms=1)),
            store.store_batch("BTCUSDT", make_trades(1, start_id=5, start_ms=T0 + 1)),
        ]
        assert keys == [b"trades:BTCUSDT:%d" % (T0 + k) for k in (0, 1, 2)]
        got = store.query_trades("BTCUSDT", T0, T0 + 1000)
        assert [t.agg_id for t in got] == [1, 2, 3, 4, 5]


batch_st = st.lists(
    st.tuples(st.integers(0, 3), st.integers(1, 6)),  # (ms gap from previous trade, batch size)
    min_size=1,
    max_size=25,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    shape=batch_st,
    windows=st.lists(st.tuples(st.integers(-5, 120), st.integers(0, 60)), min_size=1, max_size=8),
    seed_style=st.booleans(),
)
def test_query_equals_naive_filter(tmp_path, shape, windows, seed_style):
    """Random batches, same-ms trades across batch boundaries, random windows."""
    batches, agg_id, t = [], 100, T0
    for gap, size in shape:
        batch = []
        for _ in range(size):
            batch.append(AggTrade(agg_id, Decimal("1.5"), Decimal("0.1"), t, agg_id % 2 == 0))
            agg_id += 1
            t += gap if len(batch) < size else 0  # next batch may start on the same ms
        batches.append(batch)
    everything = [tr for b in batches for tr in b]
    path = tmp_path / uuid.uuid4().hex
    if seed_style:
        write_seed_style(path, "BTCUSDT", batches)
        store = TradeStore(path, read_only=True)
    else:
        store = TradeStore(path)
        for b in batches:
            store.store_batch("BTCUSDT", b)
    with store:
        for offset, length in windows:
            start = T0 + offset
            end = start + length
            want = sorted(
                (x for x in everything if start <= x.time_ms <= end), key=lambda x: x.agg_id
            )
            assert store.query_trades("BTCUSDT", start, end) == want
            cols = store.query_columns("BTCUSDT", start, end)
            assert cols.agg_id.tolist() == [x.agg_id for x in want]
            assert cols.time_ms.tolist() == [x.time_ms for x in want]


def test_reads_a_seed_written_db(tmp_path, real_csv):
    """Rust-recorder keys are flush times with trades up to ~1 s before them; queries stay exact."""
    from tradestore.binance._csv import open_text, read_trades

    with open_text(real_csv) as (text, _size):
        trades = [t for _ln, t in read_trades(text)]
    batches = [list(g) for _s, g in itertools.groupby(trades, key=lambda t: t.time_ms // 1000)]
    write_seed_style(tmp_path / "seed", "BTCUSDT", batches)
    with TradeStore(tmp_path / "seed", read_only=True) as store:
        start, end = trades[1000].time_ms, trades[2000].time_ms
        got = store.query_trades("BTCUSDT", start, end)
        assert got == [t for t in trades if start <= t.time_ms <= end]
        stats = store.stats()["symbols"]["BTCUSDT"]
        assert stats["trades"] == 5000
        assert stats["last_agg_id"] == 3800402494


def test_query_seeks_instead_of_scanning_from_first_key(tmp_path, monkeypatch):
    """The seek window depends on the query window, not on how much is retained."""
    with TradeStore(tmp_path / "db") as store:
        for hour in range(48):
            store.store_batch(
                "BTCUSDT", make_trades(5, start_id=hour * 10, start_ms=T0 + hour * 3_600_000)
            )
        seen = []
        original = store.iter_range

        def spy(lower, upper, **kw):
            for kv in original(lower, upper, **kw):
                seen.append(kv[0])
                yield kv

        monkeypatch.setattr(store, "iter_range", spy)
        got = store.query_trades("BTCUSDT", T0 + 47 * 3_600_000, T0 + 48 * 3_600_000)
        assert [t.agg_id for t in got] == [470, 471, 472, 473, 474]
        assert seen == [b"trades:BTCUSDT:%d" % (T0 + 47 * 3_600_000)]


def test_prune_shrinks_db_and_keeps_newer_data(tmp_path):
    day = 86_400_000
    with TradeStore(tmp_path / "db") as store:
        for i in range(400):
            store.store_batch("BTCUSDT", make_trades(100, start_id=i * 100, start_ms=T0 + i * 1000))
        for i in range(50):
            store.store_batch(
                "BTCUSDT",
                make_trades(100, start_id=10**6 + i * 100, start_ms=T0 + 2 * day + i * 1000),
            )
        store.db.flush()
        store.db.compact_range(None, None)
        before = store.stats()["bytes_on_disk"]
        removed = store.prune(T0 + day)
        after = store.stats()["bytes_on_disk"]
        assert removed == {"BTCUSDT": 40_000}
        assert after < before / 2
        assert store.query_trades("BTCUSDT", 0, T0 + day) == []
        newer = store.query_trades("BTCUSDT", T0 + day, T0 + 3 * day)
        assert len(newer) == 5000 and newer[0].agg_id == 10**6
        assert store.stats()["symbols"]["BTCUSDT"]["trades"] == 5000


def test_reader_sees_what_a_live_writer_adds(tmp_path, cli_env):
    path = tmp_path / "db"
    with TradeStore(path) as writer:
        writer.store_batch("BTCUSDT", make_trades(10))
        reader = TradeStore(path, read_only=True)
        try:
            assert len(reader.query_trades("BTCUSDT", 0, 2 * T0)) == 10
            writer.store_batch("BTCUSDT", make_trades(10, start_id=11, start_ms=T0 + 5000))
            assert len(reader.query_trades("BTCUSDT", 0, 2 * T0)) == 20
            with pytest.raises(StoreError):
                reader.store_batch("BTCUSDT", make_trades(1, start_id=99))
        finally:
            reader.close()
        # Another process, while this one still holds the DB open for writing.
        writer.store_batch("BTCUSDT", make_trades(5, start_id=21, start_ms=T0 + 9000))
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "tradestore",
                "query",
                "--db",
                str(path),
                "--symbol",
                "BTCUSDT",
                "--start",
                "0",
                "--end",
                str(2 * T0),
                "--format",
                "jsonl",
            ],
            capture_output=True,
            text=True,
            env=cli_env,
            timeout=60,
            check=True,
        ).stdout
        assert [
            int(line.split('"agg_id": ')[1].split(",")[0]) for line in out.splitlines()
        ] == list(range(1, 26))


def test_writer_refuses_a_second_writer(tmp_path):
    with TradeStore(tmp_path / "db"), pytest.raises(StoreError):
        TradeStore(tmp_path / "db")


def test_read_only_on_missing_db_is_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="no trade store"):
        TradeStore(tmp_path / "nothing", read_only=True)


def test_tiny_decimals_are_stored_as_sent_never_in_exponent_form(tmp_path):
    """str(Decimal("0.00000089")) is "8.9E-7"; the stored text must be the exchange's."""
    from tradestore import parse_agg_trade

    frame = (
        '{"e":"aggTrade","E":1,"s":"SHIBUSDT","a":7,"p":"0.00000089","q":"0.00000000",'
        '"f":1,"l":1,"T":1767225600000,"m":true,"M":true}'
    )
    trade = parse_agg_trade(frame)
    with TradeStore(tmp_path / "db") as store:
        key = store.store_batch("SHIBUSDT", [trade])
        raw = msgpack.unpackb(store.db.get(key))
        assert raw == [["0.00000089", "0.00000000", 1767225600000, 7, True]]
        assert store.query_trades("SHIBUSDT", 0, 2 * T0) == [trade]


def test_a_symbol_of_one_trade_batches_keeps_its_bookkeeping(tmp_path, caplog):
    """A quiet symbol whose every batch holds one trade (its span stays 0 ms each way)
    still has its span recorded: a reader finds its bookkeeping instead of measuring it
    again on every open."""
    with TradeStore(tmp_path / "db") as store:
        for i in range(3):
            store.write_batches(
                {"AAAUSDT": [AggTrade(i + 1, Decimal("1.5"), Decimal(1), T0 + i, False)]}
            )
    with caplog.at_level("WARNING"), TradeStore(tmp_path / "db", read_only=True) as reader:
        assert reader.trade_time_span("AAAUSDT") == (T0, T0 + 2)
        assert reader.db.get(b"meta:span:AAAUSDT") is not None
    assert "no bookkeeping" not in caplog.text
