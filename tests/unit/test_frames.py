"""Trades as Arrow, pandas and polars tables (``TradeColumns.to_*``, ``query_arrow``), and
an archived day read back fast (``read_day_columns``): the columns are views where the
layout allows, the int64 columns exact and the floats the nearest doubles."""

from __future__ import annotations

import sys
from datetime import timedelta
from decimal import Decimal

import numpy as np
import pytest

from tests.helpers.archive import FIRST_DAY, build_store
from tradestore import TradeStore
from tradestore.store import TradeColumns

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pd = pytest.importorskip("pandas")
pl = pytest.importorskip("polars")

from tradestore.archive import (  # noqa: E402
    Archiver,
    ArchiveValueError,
    Destination,
    PartitionKey,
    TradeWriter,
    day_end_ms,
    day_start_ms,
    from_table,
    read_day_columns,
    read_day_table,
    row_groups,
    to_table,
)

SYMBOL = "BTCUSDT"
COLUMNS = ["agg_id", "time", "price", "qty", "is_buyer_maker", "price_e8", "qty_e8"]


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A real store of two days and the start of a third; every trade written."""
    db = tmp_path_factory.mktemp("frames") / "db"
    built = build_store(db, {SYMBOL: 1_000}, days=2, per_day=3000)
    return db, built.trades[SYMBOL]


def whole(trades) -> tuple[int, int]:
    return trades[0].time_ms, trades[-1].time_ms


def assert_same(a: TradeColumns, b: TradeColumns) -> None:
    for x, y in zip(a.arrays(), b.arrays(), strict=True):
        assert x.dtype == y.dtype
        assert np.array_equal(x, y)


def test_to_arrow_is_views_of_the_columns_and_exact(stored):
    db, trades = stored
    with TradeStore(db, read_only=True) as store:
        cols = store.query_columns(SYMBOL, *whole(trades))
        table = store.query_arrow(SYMBOL, *whole(trades))
    assert len(cols) == len(trades) == table.num_rows
    own = cols.to_arrow()
    assert own.column_names == table.column_names == COLUMNS
    assert str(table.schema.field("time").type) == "timestamp[ms, tz=UTC]"
    assert [str(table.schema.field(n).type) for n in ("agg_id", "price_e8", "qty_e8")] == [
        "int64"
    ] * 3
    assert str(table.schema.field("price").type) == "double"
    # Zero copy: the Arrow buffers are the numpy arrays' own memory.
    for name, array in (
        ("agg_id", cols.agg_id),
        ("time", cols.time_ms),
        ("price_e8", cols.price),
        ("qty_e8", cols.qty),
    ):
        assert own.column(name).chunk(0).buffers()[1].address == array.ctypes.data, name
    # Exact: the int columns are the store's units, the floats float(Decimal) of each trade.
    assert table.column("agg_id").to_pylist() == [t.agg_id for t in trades]
    assert table.column("price_e8").to_numpy().tolist() == [int(t.price * 10**8) for t in trades]
    assert table.column("qty_e8").to_numpy().tolist() == [int(t.qty * 10**8) for t in trades]
    assert table.column("price").to_pylist() == [float(t.price) for t in trades]
    assert table.column("qty").to_pylist() == [float(t.qty) for t in trades]
    assert table.column("is_buyer_maker").to_pylist() == [t.is_buyer_maker for t in trades]
    assert table.column("time").cast(pa.int64()).to_pylist() == [t.time_ms for t in trades]


def test_to_pandas_is_the_dataframe_a_user_asks_for(stored):
    db, trades = stored
    with TradeStore(db, read_only=True) as store:
        cols = store.query_columns(SYMBOL, *whole(trades))
    df = cols.to_pandas()
    assert list(df.columns) == COLUMNS
    assert str(df["time"].dtype) == "datetime64[ms, UTC]"
    assert df["is_buyer_maker"].dtype == np.bool_
    assert np.shares_memory(df["agg_id"].to_numpy(), cols.agg_id)
    assert np.shares_memory(df["price_e8"].to_numpy(), cols.price)
    assert df["time"].iloc[0] == pd.Timestamp(trades[0].time_ms, unit="ms", tz="UTC")
    assert df["price"].tolist() == [float(t.price) for t in trades]
    assert df["qty_e8"].tolist() == [int(t.qty * 10**8) for t in trades]
    # What the whole frame is for: exact sums stay exact in the int columns.
    assert int(df["qty_e8"].sum()) == int(sum(t.qty for t in trades) * 10**8)


def test_to_polars_shares_the_columns(stored):
    db, trades = stored
    with TradeStore(db, read_only=True) as store:
        cols = store.query_columns(SYMBOL, *whole(trades))
    df = cols.to_polars()
    assert df.columns == COLUMNS
    assert df.schema["time"] == pl.Datetime("ms", "UTC")
    assert df.schema["price_e8"] == pl.Int64 and df.schema["price"] == pl.Float64
    assert np.shares_memory(df["agg_id"].to_numpy(), cols.agg_id)
    assert np.shares_memory(df["time"].to_physical().to_numpy(), cols.time_ms)
    assert df["price"].to_list() == [float(t.price) for t in trades]
    assert df["is_buyer_maker"].to_list() == [t.is_buyer_maker for t in trades]
    assert df["qty_e8"].sum() == int(sum(t.qty for t in trades) * 10**8)


def test_empty_columns_give_empty_frames_of_the_same_columns():
    cols = TradeColumns.empty()
    assert cols.to_arrow().num_rows == 0
    assert cols.to_arrow().column_names == COLUMNS
    assert cols.to_polars().columns == COLUMNS
    assert list(cols.to_pandas().columns) == COLUMNS


@pytest.mark.parametrize("module", ["polars", "pandas", "pyarrow"])
def test_a_missing_library_names_the_extra(monkeypatch, module):
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    call = {"polars": "to_polars", "pandas": "to_pandas", "pyarrow": "to_arrow"}[module]
    with pytest.raises(ImportError, match=r"tradestore-trio\[dataframe\]") as caught:
        getattr(TradeColumns.empty(), call)()
    assert module in str(caught.value)


# ---------------------------------------------------------------- the archive, read fast


@pytest.fixture(scope="module")
def archived(stored, tmp_path_factory):
    db, trades = stored
    root = tmp_path_factory.mktemp("archive")
    with TradeStore(db, read_only=True) as store:
        results = list(Archiver(store, Destination(str(root))).run([SYMBOL]))
    assert results and all(r.ok for r in results), [r.to_dict() for r in results]
    return root


def test_an_archived_day_reads_back_as_the_stored_columns(stored, archived):
    db, _trades = stored
    path = archived / PartitionKey("spot", SYMBOL, FIRST_DAY).path
    day = (day_start_ms(FIRST_DAY), day_end_ms(FIRST_DAY))
    with TradeStore(db, read_only=True) as store:
        expected = store.query_columns(SYMBOL, *day)
    assert len(expected) == 3000
    assert_same(read_day_columns(path), expected)
    assert_same(read_day_columns(str(path)), expected)
    with open(path, "rb") as fh:
        assert_same(read_day_columns(fh), expected)
    assert_same(read_day_columns(pq.ParquetFile(path)), expected)
    # A window: the rows inside it, both ends inclusive.
    lo, hi = int(expected.time_ms[100]), int(expected.time_ms[2000])
    inside = (expected.time_ms >= lo) & (expected.time_ms <= hi)
    got = read_day_columns(path, lo, hi)
    assert_same(got, TradeColumns(*(a[inside] for a in expected.arrays())))
    assert_same(read_day_columns(path, start_ms=lo), read_day_columns(path, lo, day[1]))
    # The polars frame of a read day equals the store's.
    assert read_day_columns(path).to_polars().equals(expected.to_polars())


def day_columns(n: int, first_ms: int) -> TradeColumns:
    """n trades 10 ms apart with values that use all 8 decimals."""
    i = np.arange(n, dtype=np.int64)
    return TradeColumns(
        agg_id=i + 7_000_000,
        time_ms=first_ms + i * 10,
        price=9_500_000_000_000 + (i * 7919) % 10**8,
        qty=1 + (i * 104729) % (3 * 10**8),
        is_buyer_maker=i % 3 == 0,
    )


def test_a_window_reads_only_the_row_groups_that_can_hold_it(tmp_path):
    start = day_start_ms(FIRST_DAY)
    cols = day_columns(300_000, start)  # three row groups of 128Ki rows, the last short
    path = tmp_path / "day.parquet"
    writer = TradeWriter(str(path))
    for lo in range(0, len(cols), 50_000):
        writer.write(cols.rows(lo, lo + 50_000))
    writer.close()
    meta = pq.ParquetFile(path).metadata
    assert meta.num_row_groups == 3
    second = 131_072
    lo, hi = int(cols.time_ms[second + 5]), int(cols.time_ms[second + 100])
    assert row_groups(meta, lo, hi) == [1]
    assert row_groups(meta, None, int(cols.time_ms[10])) == [0]
    assert row_groups(meta, int(cols.time_ms[-1]), None) == [2]
    assert row_groups(meta, None, None) == [0, 1, 2]
    assert row_groups(meta, start + 10**9, None) == []
    assert read_day_table(path, lo, hi).num_rows == 131_072
    assert_same(read_day_columns(path, lo, hi), cols.rows(second + 5, second + 101))
    assert len(read_day_columns(path, start + 10**9, start + 2 * 10**9)) == 0
    assert_same(read_day_columns(path), cols)


def test_bad_windows_are_refused(tmp_path):
    path = tmp_path / "day.parquet"
    writer = TradeWriter(str(path))
    writer.write(day_columns(10, day_start_ms(FIRST_DAY)))
    writer.close()
    with pytest.raises(ValueError, match="before start"):
        read_day_columns(path, 20, 10)
    with pytest.raises(TypeError, match="integer"):
        read_day_columns(path, 1.5, None)


def decimal128(units: list[int], precision: int = 18, scale: int = 8):
    return pa.array([Decimal(u).scaleb(-scale) for u in units], pa.decimal128(precision, scale))


def test_from_table_reads_other_writers_decimals_exactly():
    """decimal128 (DuckDB's, Spark's), other scales and µs times are read exactly."""
    units = [1, -1, 12_345_678_901, -(10**17), 10**18 - 1, 0]
    table = pa.table(
        {
            "agg_id": pa.array(range(6), pa.int32()),
            "price": decimal128(units),
            "qty": pa.array([Decimal("1.5")] * 6, pa.decimal128(10, 2)),
            "time": pa.array([1_000_000 * k for k in range(6)], pa.timestamp("us", tz="UTC")),
            "is_buyer_maker": pa.array([True, False] * 3),
        }
    )
    # Several chunks, one sliced: offsets are honoured.
    table = pa.concat_tables([table.slice(0, 2), table.slice(2, 3), table.slice(5)])
    cols = from_table(table)
    assert cols.agg_id.tolist() == list(range(6))
    assert cols.price.tolist() == units
    assert cols.qty.tolist() == [150_000_000] * 6
    assert cols.time_ms.tolist() == [1000 * k for k in range(6)]
    assert cols.is_buyer_maker.tolist() == [True, False] * 3


def test_from_table_refuses_what_int64_cannot_hold():
    table = pa.table(
        {
            "agg_id": pa.array([1, 2], pa.int64()),
            "price": decimal128([1, 10**20], precision=38),
            "qty": decimal128([1, 1]),
            "time": pa.array([1, 2], pa.timestamp("ms", tz="UTC")),
            "is_buyer_maker": pa.array([True, False]),
        }
    )
    with pytest.raises(ArchiveValueError, match="price"):
        from_table(table)
    with pytest.raises(ArchiveValueError, match="no column"):
        from_table(table.drop_columns(["qty"]))


def test_the_next_day_is_its_own_partition(stored, archived):
    """Each day's partition holds its day only: the read of day 2 starts where day 1 ends."""
    second = FIRST_DAY + timedelta(days=1)
    one = read_day_columns(archived / PartitionKey("spot", SYMBOL, FIRST_DAY).path)
    two = read_day_columns(archived / PartitionKey("spot", SYMBOL, second).path)
    assert int(two.agg_id[0]) == int(one.agg_id[-1]) + 1
    assert int(two.time_ms[0]) >= day_start_ms(second) > int(one.time_ms[-1])


def test_big_tables_take_the_threaded_path_to_the_same_columns(tmp_path, monkeypatch):
    """Past a million rows the columns are joined and computed on every core; the answer
    is the same (checked here on a small table by lowering the threshold)."""
    import tradestore.archive._parquet as parquet
    import tradestore.store._columns as columns

    cols = day_columns(5000, day_start_ms(FIRST_DAY))
    path = tmp_path / "day.parquet"
    writer = TradeWriter(str(path))
    writer.write(cols)
    writer.close()
    single = read_day_columns(path)
    table = cols.to_arrow()
    monkeypatch.setattr(parquet, "PARALLEL_ROWS", 1)
    monkeypatch.setattr(columns, "PARALLEL_ROWS", 1)
    assert_same(read_day_columns(path), single)
    assert_same(read_day_columns(path), cols)
    assert cols.to_arrow().equals(table)


# ---------------------------------------------------------------- polars decodes, pyarrow without it


def write_day(path, cols: TradeColumns) -> None:
    writer = TradeWriter(str(path))
    for lo in range(0, len(cols), 50_000):
        writer.write(cols.rows(lo, lo + 50_000))
    writer.close()


def test_polars_and_pyarrow_read_a_partition_into_the_same_columns(stored, archived):
    """Whichever decodes the archive's file, the columns are the store's; windows included."""
    db, trades = stored
    path = archived / PartitionKey("spot", SYMBOL, FIRST_DAY).path
    day = (day_start_ms(FIRST_DAY), day_end_ms(FIRST_DAY))
    with TradeStore(db, read_only=True) as store:
        expected = store.query_columns(SYMBOL, *day)
    times = expected.time_ms
    windows = [
        (None, None),
        (int(times[0]), int(times[-1])),
        (int(times[17]), int(times[17])),  # one ms
        (int(times[100]), None),
        (None, int(times[2500])),
        (day[0] - 10**6, day[0] - 1),  # before the day: nothing
        (day[1] + 1, day[1] + 10**6),  # after it: nothing
    ]
    for lo, hi in windows:
        inside = np.ones(len(expected), dtype=np.bool_)
        if lo is not None:
            inside &= times >= lo
        if hi is not None:
            inside &= times <= hi
        want = TradeColumns(*(a[inside] for a in expected.arrays()))
        for source in (path, str(path)):
            by_polars = read_day_columns(source, lo, hi, engine="polars")
            assert_same(by_polars, want)
            assert_same(read_day_columns(source, lo, hi), want)  # auto: polars here
            assert_same(read_day_columns(source, lo, hi, engine="pyarrow"), want)
    # The frame of a day decoded by polars: floats float(Decimal), the units exact.
    df = read_day_columns(path, engine="polars").to_polars()
    first_day = [t for t in trades if day[0] <= t.time_ms <= day[1]]
    assert df["price"].to_list() == [float(t.price) for t in first_day]
    assert df["qty"].to_list() == [float(t.qty) for t in first_day]
    assert df["price_e8"].to_list() == [int(t.price * 10**8) for t in first_day]
    assert df.equals(read_day_columns(path, engine="pyarrow").to_polars())


def test_polars_path_keeps_every_digit_and_the_sign_on_many_row_groups(tmp_path, monkeypatch):
    """polars widens the INT64 decimals to 128 bits; the low word is the value, negative
    ones and the largest decimal(18, 8) included, across row groups and on every core."""
    import tradestore.archive._read as read

    cols = day_columns(300_000, day_start_ms(FIRST_DAY))
    price = cols.price.copy()
    price[[0, 131_071, 131_072, 299_999]] = [-(10**17), 10**18 - 1, -1, 1]
    cols = TradeColumns(cols.agg_id, cols.time_ms, price, cols.qty, cols.is_buyer_maker)
    path = tmp_path / "day.parquet"
    write_day(path, cols)
    assert pq.ParquetFile(path).metadata.num_row_groups == 3
    assert_same(read_day_columns(path, engine="polars"), cols)
    monkeypatch.setattr(read, "PARALLEL_ROWS", 1)  # the threaded join, on a small file
    assert_same(read_day_columns(path, engine="polars"), cols)
    lo, hi = int(cols.time_ms[131_000]), int(cols.time_ms[131_100])
    assert_same(read_day_columns(path, lo, hi, engine="polars"), cols.rows(131_000, 131_101))
    floats = read_day_columns(path, engine="polars").to_polars()["price"].to_numpy()
    assert floats[:3].tolist() == [float(Decimal(int(u)).scaleb(-8)) for u in price[:3]]


def test_without_polars_pyarrow_reads_the_day(stored, archived, monkeypatch):
    db, _trades = stored
    path = archived / PartitionKey("spot", SYMBOL, FIRST_DAY).path
    with TradeStore(db, read_only=True) as store:
        expected = store.query_columns(SYMBOL, day_start_ms(FIRST_DAY), day_end_ms(FIRST_DAY))
    monkeypatch.setitem(sys.modules, "polars", None)  # import fails as if not installed
    assert_same(read_day_columns(path), expected)
    lo, hi = int(expected.time_ms[10]), int(expected.time_ms[20])
    assert_same(read_day_columns(path, lo, hi), expected.rows(10, 21))
    with pytest.raises(ImportError, match=r"tradestore-trio\[dataframe\]"):
        read_day_columns(path, engine="polars")


def test_other_sources_and_layouts_are_read_by_pyarrow(tmp_path):
    """A binary file, a ParquetFile or another writer's schema (decimal128, nullable
    columns) is not the archive's layout on a path: pyarrow reads it, to the same columns."""
    cols = day_columns(1000, day_start_ms(FIRST_DAY))
    theirs = tmp_path / "theirs.parquet"
    table = cols.to_arrow()
    pq.write_table(
        pa.table(
            {
                "agg_id": table.column("agg_id"),
                "price": pa.array(
                    [Decimal(int(u)).scaleb(-8) for u in cols.price], pa.decimal128(20, 8)
                ),
                "qty": pa.array(
                    [Decimal(int(u)).scaleb(-8) for u in cols.qty], pa.decimal128(20, 8)
                ),
                "time": table.column("time"),
                "is_buyer_maker": table.column("is_buyer_maker"),
            }
        ),
        theirs,
    )
    assert_same(read_day_columns(theirs), cols)
    with pytest.raises(ValueError, match="archive's layout"):
        read_day_columns(theirs, engine="polars")
    # The archive's types, but columns that may hold nulls: not the archive's layout either.
    nullable = tmp_path / "nullable.parquet"
    ours_table = to_table(cols)
    pq.write_table(
        ours_table.cast(pa.schema([f.with_nullable(True) for f in ours_table.schema])), nullable
    )
    assert_same(read_day_columns(nullable), cols)
    with pytest.raises(ValueError, match="archive's layout"):
        read_day_columns(nullable, engine="polars")
    ours = tmp_path / "ours.parquet"
    write_day(ours, cols)
    with open(ours, "rb") as fh:
        assert_same(read_day_columns(fh), cols)
        with pytest.raises(ValueError, match="archive's layout"):
            read_day_columns(fh, engine="polars")
    with pytest.raises(ValueError, match="engine"):
        read_day_columns(ours, engine="duckdb")
