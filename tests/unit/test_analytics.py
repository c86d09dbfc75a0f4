"""volume_profile and liquidity_vacuums against an independent Decimal reference."""

from __future__ import annotations

import json
import random
from decimal import Decimal
from fractions import Fraction

import pytest

from tests.helpers.ext import twin_params
from tests.helpers.seed import seed_key, seed_value, write_raw
from tests.helpers.trades import T0, store_with, trade
from tradestore import TradeStore
from tradestore.analytics import (
    InsufficientData,
    find_vacuums,
    liquidity_vacuums,
    nice_width,
    point_of_control,
    value_area_bounds,
    volume_profile,
)
from tradestore.analytics import _levels as levels_module
from tradestore.cli import main
from tradestore.codec._fixed import SCALE

E8 = SCALE


@pytest.fixture(params=twin_params("profile"), autouse=True)
def accumulator(request, monkeypatch):
    """Run every test here on the compiled and on the pure accumulator."""
    monkeypatch.setattr(levels_module, "accumulate_levels", request.param.accumulate)
    return request.param


def random_trades(n: int, seed: int = 7, first_id: int = 1) -> list:
    rng = random.Random(seed)
    cents = 9_000_000
    trades = []
    for i in range(n):
        cents += rng.choice([-3, -1, 0, 0, 0, 1, 2])
        qty = Decimal(rng.randint(1, 500_000)) / 10**5
        trades.append(
            trade(first_id + i, f"{cents / 100:.2f}", str(qty), T0 + 37 * i, rng.random() < 0.5)
        )
    return trades


def reference(trades, start, end, width: Decimal):
    """The profile computed the obvious way, from AggTrades and Decimals."""
    window = [t for t in trades if start <= t.time_ms <= end]
    lo = min(t.price for t in window) // width
    hi = max(t.price for t in window) // width
    n = int(hi - lo) + 1
    volume = [Decimal(0)] * n
    buy = [Decimal(0)] * n
    count = [0] * n
    for t in window:
        i = int(t.price // width - lo)
        volume[i] += t.qty
        buy[i] += 0 if t.is_buyer_maker else t.qty
        count[i] += 1
    return lo * width, volume, buy, count, window


def test_profile_matches_decimal_reference(tmp_path):
    trades = random_trades(3000)
    start, end = T0 + 5_000, T0 + 100_000
    with store_with(tmp_path / "db", trades) as store:
        p = volume_profile(store, "btcusdt", start, end, bins=40)
        assert p.symbol == "BTCUSDT"
        low, volume, buy, count, window = reference(trades, start, end, p.bin_size)
        assert p.bins[0].price_low == low
        assert [b.volume for b in p.bins] == volume
        assert [b.buy_volume for b in p.bins] == buy
        assert [b.sell_volume for b in p.bins] == [v - b for v, b in zip(volume, buy, strict=True)]
        assert [b.trade_count for b in p.bins] == count
        assert p.trade_count == len(window) == sum(count)
        assert p.total_volume == sum(t.qty for t in window)
        assert (p.first_trade_ms, p.last_trade_ms) == (window[0].time_ms, window[-1].time_ms)
        assert p.price_low == min(t.price for t in window)
        assert p.price_high == max(t.price for t in window)
        assert len(p.bins) <= 41  # a round width near range/bins
        assert all(b.price_high - b.price_low == p.bin_size for b in p.bins)
        assert all(b.price_low % p.bin_size == 0 for b in p.bins)  # aligned to multiples
        ints = [int(v * E8) for v in volume]
        assert p.poc_index == point_of_control(ints)
        assert p.point_of_control == p.bins[p.poc_index].price_level
        assert p.value_area_volume >= Decimal("0.7") * p.total_volume
        # the same trades through query_trades: the profile is of exactly those
        assert [t.agg_id for t in store.query_trades("BTCUSDT", start, end)] == [
            t.agg_id for t in window
        ]


def test_tick_size_bins_and_json(tmp_path):
    trades = random_trades(1500)
    with store_with(tmp_path / "db", trades) as store:
        p = volume_profile(store, "BTCUSDT", T0, T0 + 10**8, tick_size="0.05")
    assert p.bin_size == Decimal("0.05")
    low, volume, _buy, _count, _ = reference(trades, T0, T0 + 10**8, Decimal("0.05"))
    assert [b.volume for b in p.bins] == volume and p.bins[0].price_low == low
    doc = p.to_json()
    json.dumps(doc)  # plain JSON types only
    assert doc["bin_size"] == "0.05"
    assert doc["time_period_start"] == "2026-01-01T00:00:00.000Z"
    assert doc["trade_count"] == 1500
    assert isinstance(doc["total_volume"], str) and Decimal(doc["total_volume"]) == sum(
        t.qty for t in trades
    )
    assert doc["histogram"][0]["price_low"] == str(low.normalize())
    assert Decimal(doc["value_area_low"]) <= Decimal(doc["point_of_control"])
    assert Decimal(doc["point_of_control"]) <= Decimal(doc["value_area_high"])


def test_insufficient_data(tmp_path):
    with store_with(tmp_path / "db", random_trades(999)) as store:
        with pytest.raises(InsufficientData, match="insufficient data: 999 BTCUSDT trades"):
            volume_profile(store, "BTCUSDT", T0, T0 + 10**8)
        assert volume_profile(store, "BTCUSDT", T0, T0 + 10**8, min_trades=10).trade_count == 999
        with pytest.raises(InsufficientData):
            volume_profile(store, "ETHUSDT", T0, T0 + 10**8)


def test_volumes_beyond_int64_are_exact(tmp_path):
    big = Decimal("92233720368.54775807")
    trades = [trade(i, "2.5", str(big), T0 + i, i % 2 == 0) for i in range(1, 1201)]
    with store_with(tmp_path / "db", trades) as store:
        p = volume_profile(store, "BTCUSDT", T0, T0 + 10**6)
    assert p.total_volume == big * 1200
    assert p.bins[p.poc_index].buy_volume == big * 600


def test_duplicates_and_out_of_order_batches_count_once(tmp_path):
    """A database written by a program that did not check ids (the store never stores
    one twice): a re-sent batch under a later key counts once."""
    trades = random_trades(1200)
    write_raw(
        tmp_path / "db",
        [
            (seed_key("BTCUSDT", T0 + 10**6), seed_value(trades[600:])),
            (seed_key("BTCUSDT", T0 + 2 * 10**6), seed_value(trades[:700])),  # 601..700 twice
        ],
    )
    with TradeStore(tmp_path / "db", read_only=True) as store:
        p = volume_profile(store, "BTCUSDT", T0, T0 + 10**8, tick_size="1")
        assert p.trade_count == 1200
        assert p.total_volume == sum(t.qty for t in trades)


def test_nice_width_and_value_area_rules():
    assert nice_width(1000 * E8, 100) == 10 * E8
    assert nice_width(123 * E8, 100) == 2 * E8
    assert nice_width(101 * E8, 100) == 2 * E8
    assert nice_width(300 * E8, 100) == 5 * E8
    assert nice_width(0, 100) == 1
    assert point_of_control([1, 5, 5, 2]) == 1  # tie: the lower price
    # grow toward the larger neighbour; a tie goes up
    assert value_area_bounds([1, 3, 10, 3, 1], 2, Fraction(7, 10)) == (2, 3)
    assert value_area_bounds([1, 4, 10, 3, 1], 2, Fraction(7, 10)) == (1, 2)
    assert value_area_bounds([0, 0, 10, 0, 0], 2, Fraction(7, 10)) == (2, 2)
    assert value_area_bounds([5, 1, 10, 1, 5], 2, Fraction(9, 10)) == (0, 4)


def ladder_store(tmp_path, volumes: list[int]) -> TradeStore:
    """One bin per whole price 100, 101, ...: volumes[i] trades of qty 1 at 100 + i."""
    trades, agg_id = [], 1
    for i, n in enumerate(volumes):
        for _ in range(n):
            trades.append(trade(agg_id, f"{100 + i}.5", "1", T0 + agg_id))
            agg_id += 1
    return store_with(tmp_path / "db", trades, batch=500)


def test_vacuums_runs_merge_and_impact(tmp_path):
    volumes = [100] * 3 + [0, 5] + [100] * 3 + [10] + [100] + [30, 30] + [100] * 4
    with ladder_store(tmp_path, volumes) as store:
        report = liquidity_vacuums(store, "BTCUSDT", T0, T0 + 10**8, tick_size="1")
        assert report.median_volume == 100
        got = [(v.price_low, v.price_high, v.bin_count, v.expected_impact) for v in report.vacuums]
        assert got == [(103, 105, 2, "FastMovement"), (108, 109, 1, "FastMovement")]
        assert report.vacuums[0].actual_volume == Decimal("2.5")
        assert report.vacuums[0].volume_deficit_pct == 97.5
        # a higher threshold catches the 30s too: deficit 70% is a moderate movement
        wide = liquidity_vacuums(store, "BTCUSDT", T0, T0 + 10**8, tick_size="1", threshold=0.5)
        assert [(v.price_low, v.expected_impact) for v in wide.vacuums][-1] == (
            110,
            "ModerateMovement",
        )
        # merging never crosses a bin at or above the median, however far it may reach
        apart = find_vacuums(report.profile, merge_bins=10)
        assert [(v.price_low, v.price_high) for v in apart.vacuums] == [(103, 105), (108, 109)]
        doc = apart.to_json()
        assert doc["vacuums"][0]["price_range_low"] == "103"
        assert doc["vacuums"][0]["expected_impact"] == "FastMovement"


def test_vacuums_merge_across_thin_bins_only(tmp_path):
    """Runs separated by bins below the median merge (up to merge_bins of them);
    merge_distance, a share of the mid price, can only narrow that."""
    volumes = [100] * 3 + [0, 5] + [60, 70] + [10] + [100] * 4
    with ladder_store(tmp_path, volumes) as store:
        profile = volume_profile(store, "BTCUSDT", T0, T0 + 10**8, tick_size="1", min_trades=1)
    spans = lambda r: [(v.price_low, v.price_high, v.bin_count) for v in r.vacuums]  # noqa: E731
    assert spans(find_vacuums(profile)) == [(103, 108, 3)]  # 2 bins between: merged
    assert spans(find_vacuums(profile, merge_bins=1)) == [(103, 105, 2), (107, 108, 1)]
    assert spans(find_vacuums(profile, merge_bins=0)) == [(103, 105, 2), (107, 108, 1)]
    merged = find_vacuums(profile)
    assert merged.vacuums[0].actual_volume == Decimal(5)  # the mean of the thin bins only
    # 2 bins of 1 at a mid price of ~106: 1.9% of it; a 1% cap keeps them apart
    assert spans(find_vacuums(profile, merge_distance=0.01)) == [(103, 105, 2), (107, 108, 1)]
    assert spans(find_vacuums(profile, merge_distance=0.05)) == [(103, 108, 3)]
    with pytest.raises(ValueError, match="merge_bins"):
        find_vacuums(profile, merge_bins=-1)


def test_cli_profile_and_vacuums(tmp_path, capsys):
    with store_with(tmp_path / "db", random_trades(2000)):
        pass
    db = str(tmp_path / "db")
    window = ["--start", "2026-01-01T00:00:00Z", "--end", "2026-01-02T00:00:00Z"]
    assert main(["profile", "--db", db, "--symbol", "BTCUSDT", *window, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["trade_count"] == 2000 and doc["symbol"] == "BTCUSDT"
    assert main(["profile", "--db", db, "--symbol", "BTCUSDT", *window, "--bins", "20"]) == 0
    out = capsys.readouterr().out
    assert "POC" in out and "value area" in out and "█" in out
    assert main(["vacuums", "--db", db, "--symbol", "BTCUSDT", *window, "--format", "json"]) == 0
    assert "vacuums" in json.loads(capsys.readouterr().out)
    assert main(["vacuums", "--db", db, "--symbol", "BTCUSDT", *window]) == 0
    assert "liquidity vacuums" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--hours", "9000"], "the window is 9000 hours long: at most 8784 hours, as the"),
        (["--hours", "0.5"], "insufficient data"),  # any length: the trades are too few
        (["--start", "2024-01-01T00:00:00Z", "--end", "2026-01-02T00:00:00Z"], "8784 hours"),
        (["--days", "367"], "the window is 8808 hours long: at most 8784 hours"),
        (["--days", "1", "--hours", "2"], "give --hours or --days, not both"),
        (["--hours", "24", "--end", "2026-01-02T00:00:00Z", "--tick-size", "0"], "tick"),
        (["--hours", "24", "--end", "2026-01-02T00:00:00Z", "--tick-size", "1e-9"], "finer"),
        (["--hours", "24", "--end", "2026-01-02T00:00:00Z", "--bins", "0"], "--bins"),
        (["--hours", "24", "--end", "2026-01-02T00:00:00Z", "--tick-size", "1e30"], "too large"),
        (["--hours", "inf"], "--hours must be a positive number of hours"),
        (["--hours", "nan"], "--hours must be a positive number of hours"),
        (["--hours", "1", "--end", "2026-01-01T00:00:10Z"], "insufficient data"),
    ],
)
def test_cli_usage_errors_exit_2(tmp_path, capsys, args, message):
    with store_with(tmp_path / "db", random_trades(1200)):
        pass
    for command in ("profile", "vacuums"):
        code = main([command, "--db", str(tmp_path / "db"), "--symbol", "BTCUSDT", *args])
        assert code == 2
        assert message in capsys.readouterr().err


def test_result_sums_are_exact_beyond_28_digits():
    from tradestore.analytics import ProfileBin, VolumeProfile

    huge = Decimal("123456789012345678901234.00000001")
    bins = tuple(
        ProfileBin(Decimal(p), Decimal(p + 1), huge, huge, Decimal(0), 1) for p in range(3)
    )
    p = VolumeProfile(
        symbol="X", start_ms=0, end_ms=1, first_trade_ms=0, last_trade_ms=1, trade_count=3,
        price_low=Decimal(0), price_high=Decimal(3), bin_size=Decimal(1), bins=bins,
        total_volume=Decimal("370370367037037036703702.00000003"), poc_index=0, value_area_low_index=0, value_area_high_index=2,
        value_area=0.7,
    )  # fmt: skip
    assert p.value_area_volume == Decimal("370370367037037036703702.00000003")
    assert p.buy_volume == p.value_area_volume and p.sell_volume == 0
