"""The benchmark suite: one table of the project's performance figures, measured in one run.

    python bench/run.py              # builds and caches the 24 h dataset on first use
    python bench/run.py --hours 2    # a smaller dataset for a quick run
    python bench/run.py --no-ingest  # without the recorder's ingest rows (~1-2 min less)

Every figure is the best of --repeat runs after a warm-up. The table shows each figure,
what it is compared with, the ratio section 7 names and whether the target is met; the
same figures go to bench/results.json.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import platform
import sys
import tempfile
import time
import zipfile
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import msgpack  # noqa: E402

import _dataset  # noqa: E402
import _peers  # noqa: E402
from tradestore import TradeStore  # noqa: E402
from tradestore._timeparse import format_time_ms  # noqa: E402
from tradestore.analytics import candles, composite_profile, volume_profile  # noqa: E402
from tradestore.codec import _twins as _compat  # noqa: E402

RESULTS = Path(__file__).parent / "results.json"


def best(fn, repeat: int) -> float:
    """Best wall time of fn() over repeat runs, after one warm-up run."""
    fn()
    times = []
    for _ in range(repeat):
        gc.collect()
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return min(times)


# ---------------------------------------------------------------- workloads


def raw_scan(store, start, end):
    n = 0
    for _key, value in store.iter_values(_dataset.SYMBOL, start, end):
        n += len(value)
    return n


def naive_decode(store, start, end):
    """The naive way in plain Python: msgpack.unpackb + Decimal per trade, then filter."""
    out = []
    for _key, value in store.iter_values(_dataset.SYMBOL, start, end):
        for p, q, t, a, m in msgpack.unpackb(value):
            if start <= t <= end:
                out.append((a, Decimal(p), Decimal(q), t, m))
    return out


def naive_profile(store, start, end, width=Decimal(10)):
    """A Decimal volume profile on top of naive_decode."""
    bins: dict[Decimal, Decimal] = {}
    for _a, p, q, _t, _m in naive_decode(store, start, end):
        level = p // width
        bins[level] = bins.get(level, Decimal(0)) + q
    return bins


def frames_from(store, start, n):
    """n combined-stream frames (str, as trio-websocket delivers text) of stored trades."""
    frames = []
    for t in store.query_trades(_dataset.SYMBOL, start, start + 3_600_000, limit=n):
        event = {
            "e": "aggTrade",
            "E": t.time_ms + 1,
            "s": _dataset.SYMBOL,
            "a": t.agg_id,
            "p": str(t.price),
            "q": str(t.qty),
            "f": t.agg_id * 2,
            "l": t.agg_id * 2,
            "T": t.time_ms,
            "m": t.is_buyer_maker,
            "M": True,
        }
        frames.append(
            json.dumps({"stream": "btcusdt@aggTrade", "data": event}, separators=(",", ":"))
        )
    return frames


def parse_loop(fn, frames):
    def run():
        for f in frames:
            fn(f)

    return run


def loads_decimal(loads):
    def parse(frame):
        d = loads(frame)["data"]
        return d["s"], d["a"], Decimal(d["p"]), Decimal(d["q"]), d["T"], d["m"]

    return parse


def loads_row(loads):
    """What parse_row gives, built in Python on a fast JSON parser: the frame's checks
    (tradestore/codec/_frame.py: the event type, each field's type and range, plain
    decimals, a string symbol) and a TradeRow of the exchange's own decimal strings."""
    from tradestore._model import TradeRow, decimal_text
    from tradestore.codec._decimal import is_plain_decimal
    from tradestore.codec._fixed import INT64_MAX

    def text(value):
        if type(value) is not str or not is_plain_decimal(value):
            raise ValueError("bad decimal")
        if len(value) > 1 and value[0] == "0" and value[1] != ".":
            return decimal_text(Decimal(value))  # as parse_row: '01.5' is stored as '1.5'
        return value

    def parse(frame):
        event = loads(frame)
        if type(event) is not dict:
            raise ValueError("not an object")
        if "data" in event and "e" not in event:
            event = event["data"]
        if type(event) is not dict or event.get("e") != "aggTrade":
            raise ValueError("wrong event")
        agg_id, time_ms, maker, symbol = event["a"], event["T"], event["m"], event.get("s")
        if type(agg_id) is not int or type(time_ms) is not int or type(maker) is not bool:
            raise ValueError("bad type")
        if not (0 <= agg_id <= INT64_MAX and 0 <= time_ms <= INT64_MAX):
            raise ValueError("bad value")
        if symbol is not None and type(symbol) is not str:
            raise ValueError("bad symbol")
        return symbol, TradeRow(text(event["p"]), text(event["q"]), time_ms, agg_id, maker)

    return parse


def adoption_pass(store_path: Path, repeat: int) -> tuple[float, int]:
    """(best seconds, trades) of the adoption pass over a copy of the dataset stripped of
    its bookkeeping, as the Rust recorder would have left it (the open that adopts it)."""
    import shutil

    import rocksdict

    best_s, trades = float("inf"), 0
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / "db"
            shutil.copytree(store_path, copy)
            raw = rocksdict.Rdict(str(copy), rocksdict.Options(raw_mode=True))
            raw.delete_range(b"meta:", b"meta;")
            raw.close()
            gc.collect()
            with TradeStore(copy, on_adopt=lambda _progress: None) as store:
                report = store.adoption
            assert report is not None and report.trades
            best_s, trades = min(best_s, report.seconds), report.trades
    return best_s, trades


def disk_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def csv_zip_bytes(store_path: Path, hours: float) -> int:
    """Size of the dataset's first hours as a data.binance.vision CSV zip (export command)."""
    from tradestore.cli import main

    cache = _dataset.CACHE / f"csvzip-{store_path.name}.json"
    if cache.is_file():
        return json.loads(cache.read_text())["bytes"]
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "BTCUSDT-aggTrades.csv"
        start, end = _dataset.window(hours)
        code = main(
            ["export", "--db", str(store_path), "--symbol", _dataset.SYMBOL, "--format", "csv",
             "--start", str(start), "--end", str(end), "--output", str(csv_path), "--no-progress"]
        )  # fmt: skip
        if code != 0:
            raise RuntimeError(f"export failed with status {code}")
        zip_path = Path(tmp) / "BTCUSDT-aggTrades.zip"
        with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.write(csv_path, csv_path.name)
        size = zip_path.stat().st_size
    cache.write_text(json.dumps({"bytes": size}))
    return size


def archive_rows(row, store_path: Path, hours: float, trades: int, query_s: float,
                 hot_bytes: float, repeat: int) -> None:  # fmt: skip
    """Archive the dataset's day(s) to a local Parquet dataset: time, bytes per trade, and
    the same columns written with pyarrow's default Parquet settings for comparison."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        print("pyarrow is not installed: no archive rows (pip install '.[parquet]')")
        return
    from tradestore.archive import Archiver, Destination, to_table

    with TradeStore(store_path, read_only=True) as store, tempfile.TemporaryDirectory() as tmp:
        runs = iter(range(1_000_000))

        def archive_once() -> int:
            dest = Destination(f"{tmp}/run{next(runs)}")
            results = list(Archiver(store, dest).run([_dataset.SYMBOL]))
            if not results or not all(r.ok for r in results):
                raise RuntimeError(f"archive failed: {[r.to_dict() for r in results]}")
            return sum(r.bytes for r in results)

        seconds = best(archive_once, repeat)
        size = archive_once()
        s, e = _dataset.window(hours)
        plain = Path(tmp) / "defaults.parquet"
        pq.write_table(to_table(store.query_columns(_dataset.SYMBOL, s, e)), plain)
        default_bytes = plain.stat().st_size
    row(f"archive {hours:g} h to Parquet (local)", seconds,
        against=f"query_columns {hours:g} h alone", against_s=query_s, ratio=seconds / query_s,
        target="<= 3 s for 24 h", met=seconds <= 3.0 * hours / 24)  # fmt: skip
    per_trade = size / trades
    row("archive size", round(per_trade, 3), unit="B/trade",
        against="pyarrow defaults, same columns", against_s=round(default_bytes / trades, 3),
        ratio=per_trade / (default_bytes / trades), target="<= 5 B/trade",
        met=per_trade <= 5)  # fmt: skip
    row("archive vs hot store size", round(per_trade, 3), unit="B/trade",
        against="RocksDB after compaction", against_s=round(hot_bytes, 2),
        ratio=per_trade / hot_bytes)  # fmt: skip


# ---------------------------------------------------------------- a closed day as frames


def best_together(fns, repeat: int) -> list[float]:
    """The best wall time of each of fns over repeat rounds, each round calling every one
    once in turn (after a warm-up of each): on a shared machine, ours and the peer it is
    compared with meet the same load."""
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for _ in range(repeat):
        for fn, took in zip(fns, times, strict=True):
            gc.collect()
            began = time.perf_counter()
            fn()
            took.append(time.perf_counter() - began)
    return [min(took) for took in times]


def frames_rows(row, store_path: Path, H: float, repeat: int) -> None:
    """A closed day read back from the local archive as numpy, Arrow and polars, against
    DuckDB, pyarrow and polars reading the same partition (written by the archive's own
    writer in this run); each peer's answer checked equal to ours first."""
    try:
        import duckdb
        import numpy as np
        import polars as pl
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        print("duckdb, polars or pyarrow is missing: no frame rows (pip install '.[bench]')")
        return
    from tradestore.archive import Archiver, Destination, read_day_columns

    s, e = _dataset.window(H)
    with TradeStore(store_path, read_only=True) as store, tempfile.TemporaryDirectory() as tmp:
        results = list(Archiver(store, Destination(tmp)).run([_dataset.SYMBOL]))
        if not results or not all(r.ok for r in results):
            raise RuntimeError(f"archive failed: {[r.to_dict() for r in results]}")
        path = str(max(Path(tmp).rglob("*.parquet"), key=lambda f: f.stat().st_size))
        took_rocks = best(lambda: store.query_columns(_dataset.SYMBOL, s, e), repeat)
        stored = store.query_columns(_dataset.SYMBOL, s, e)
        ours = read_day_columns(path)
        n = len(ours)
        for engine in ("polars", "pyarrow"):
            cols = read_day_columns(path, engine=engine)
            if n != len(stored) or not all(
                np.array_equal(a, b) for a, b in zip(cols.arrays(), stored.arrays(), strict=True)
            ):
                raise RuntimeError(f"read_day_columns ({engine}) disagrees with the store's day")
            del cols

        def duck():
            con = duckdb.connect(config={"threads": 2})
            try:
                return con.execute(
                    f"SELECT * FROM read_parquet('{path}', hive_partitioning = false)"
                ).fetchnumpy()
            finally:
                con.close()

        got = duck()
        price, qty = ours.price / 1e8, ours.qty / 1e8
        same = (
            np.array_equal(got["agg_id"], ours.agg_id)
            and np.array_equal(got["time"].astype("datetime64[ms]").view(np.int64), ours.time_ms)
            and np.array_equal(got["price"], price)
            and np.array_equal(got["qty"], qty)
            and np.array_equal(got["is_buyer_maker"], ours.is_buyer_maker)
        )
        if not same:
            raise RuntimeError("DuckDB's columns of the day differ from ours")
        table = pq.read_table(path)
        for name, column in (("price", ours.price), ("qty", ours.qty)):
            # decimal64's own int64 units, not our conversion of them
            units = table.column(name).combine_chunks().view(pa.int64()).to_numpy()
            if not np.array_equal(units, column):
                raise RuntimeError(f"pyarrow.parquet.read_table's {name} differs from ours")
        frame = pl.read_parquet(path)
        if not frame.select(
            pl.col("agg_id"),
            pl.col("time").dt.epoch("ms").alias("time_ms"),
            pl.col("price").to_physical().cast(pl.Int64),
            pl.col("qty").to_physical().cast(pl.Int64),
            pl.col("is_buyer_maker"),
        ).equals(
            ours.to_polars().select(
                pl.col("agg_id"),
                pl.col("time").dt.epoch("ms").alias("time_ms"),
                pl.col("price_e8").alias("price"),
                pl.col("qty_e8").alias("qty"),
                pl.col("is_buyer_maker"),
            )
        ):
            raise RuntimeError("polars.read_parquet's frame differs from ours")

        def polars_same_frame():
            """polars reading the day into our frame's columns, floats and units included."""
            units = {name: pl.col(name).to_physical().cast(pl.Int64) for name in ("price", "qty")}
            return (
                pl.scan_parquet(path)
                .select(
                    pl.col("agg_id"),
                    pl.col("time"),
                    (units["price"] / 1e8).alias("price"),
                    (units["qty"] / 1e8).alias("qty"),
                    pl.col("is_buyer_maker"),
                    units["price"].alias("price_e8"),
                    units["qty"].alias("qty_e8"),
                )
                .collect()
            )

        theirs, mine = polars_same_frame(), ours.to_polars()
        floats = ["price", "qty"]
        # polars' `/ 1e8` is not the correctly rounded quotient (ours is float(Decimal)):
        # its floats may differ from ours in the last bit, and by no more.
        ulps = max(
            float(
                np.max(
                    np.abs(theirs[c].to_numpy() - mine[c].to_numpy())
                    / np.spacing(mine[c].to_numpy())
                )
            )
            for c in floats
        )
        if not theirs.drop(floats).equals(mine.drop(floats)) or ulps > 1:
            raise RuntimeError("polars' frame of the day (with floats and units) differs from ours")
        off = sum(int((theirs[c] != mine[c]).sum()) for c in floats)
        print(
            f"  (polars' own floats differ from the exact ones in the last bit in {off} of {2 * n})"
        )
        del theirs, mine
        del got, table, frame, ours, stored

        t_duck, t_np, t_np_pa = best_together(
            [
                duck,
                lambda: read_day_columns(path),
                lambda: read_day_columns(path, engine="pyarrow"),
            ],
            repeat,
        )
        row(f"archived day ({n} trades) -> numpy, read_day_columns (polars decodes)", t_np,
            against="DuckDB read_parquet -> fetchnumpy, 2 threads", against_s=t_duck,
            ratio=t_np / t_duck, target="<= DuckDB", met=t_np <= t_duck)  # fmt: skip
        row("archived day -> numpy, read_day_columns(engine='pyarrow'), as without polars",
            t_np_pa, against="DuckDB read_parquet -> fetchnumpy, 2 threads", against_s=t_duck,
            ratio=t_np_pa / t_duck, target="<= DuckDB", met=t_np_pa <= t_duck)  # fmt: skip
        t_arrow = best(lambda: read_day_columns(path).to_arrow(), repeat)
        row("archived day -> Arrow, read_day_columns().to_arrow()", t_arrow,
            against="DuckDB read_parquet -> fetchnumpy, 2 threads", against_s=t_duck,
            ratio=t_arrow / t_duck, target="<= DuckDB", met=t_arrow <= t_duck)  # fmt: skip
        t_pq = best(lambda: pq.read_table(path), repeat)
        row("peer: pyarrow.parquet.read_table (decimal columns as stored)", t_pq,
            against="read_day_columns().to_arrow()", against_s=t_arrow,
            ratio=t_pq / t_arrow)  # fmt: skip
        t_polars, t_pl, t_polars_pa = best_together(
            [
                lambda: read_day_columns(path).to_polars(),
                lambda: pl.read_parquet(path),
                lambda: read_day_columns(path, engine="pyarrow").to_polars(),
            ],
            repeat,
        )
        row("archived day -> polars, read_day_columns().to_polars()", t_polars,
            against="polars.read_parquet", against_s=t_pl, ratio=t_polars / t_pl,
            target="<= 1.2x polars.read_parquet", met=t_polars <= 1.2 * t_pl)  # fmt: skip
        row("archived day -> polars, pyarrow decodes (engine='pyarrow')", t_polars_pa,
            against="polars.read_parquet", against_s=t_pl,
            ratio=t_polars_pa / t_pl)  # fmt: skip
        t_pl_same = best(polars_same_frame, repeat)
        row("peer: polars reading the day into the same 7 columns", t_pl_same,
            against="read_day_columns().to_polars()", against_s=t_polars,
            ratio=t_pl_same / t_polars)  # fmt: skip
        mid = s + (e - s) // 2
        t_hour = best(lambda: read_day_columns(path, mid, mid + 3_599_999), repeat * 3)
        row("archived day, a 1 h window (row groups pruned by time)", t_hour,
            against="the whole day", against_s=t_np, ratio=t_hour / t_np)  # fmt: skip
        row(f"query_columns {H:g} h from RocksDB (reference)", took_rocks,
            against="read_day_columns, same trades", against_s=t_np,
            ratio=took_rocks / t_np)  # fmt: skip


# The sections --only can run alone: name -> fn(row, store_path, hours, repeat).
SECTIONS = {"frames": frames_rows}


# ---------------------------------------------------------------- rollups and peers


def peer_rows(row, store, H: float, s: int, e: int, ours_s: float, repeat: int) -> None:
    """DuckDB (2 threads, 1 thread) and polars computing the same profile over the same
    trades as zstd Parquet, in this run; each answer checked against ours."""
    try:
        import duckdb  # noqa: F401
        import polars  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError:
        print("duckdb, polars or pyarrow is missing: no peer rows (pip install '.[bench]')")
        return
    path = _peers.parquet_file(
        store, s, e, _dataset.CACHE / f"{_dataset.dataset_path(H).name}.parquet"
    )
    profile = volume_profile(store, _dataset.SYMBOL, s, e)
    ours = _peers.our_bins(profile)
    width = int(profile.bin_size * _peers.SCALE)
    peers = (
        ("DuckDB over Parquet, 2 threads", lambda: _peers.duckdb_profile(path, s, e, width, 2)),
        ("DuckDB over Parquet, 1 thread", lambda: _peers.duckdb_profile(path, s, e, width, 1)),
        ("polars scan_parquet", lambda: _peers.polars_profile(path, s, e, width)),
    )
    for name, fn in peers:
        if not _peers.same_bins(ours, fn()):
            raise RuntimeError(f"{name} disagrees with volume_profile on the {H:g} h window")
        took = best(fn, repeat)
        target = ">= 4x slower than ours" if "2 threads" in name else None
        row(f"peer: {H:g} h profile, {name}", took, against=f"volume profile {H:g} h",
            against_s=ours_s, ratio=took / ours_s, target=target,
            met=None if target is None else took >= 4 * ours_s)  # fmt: skip
    print(f"  (Parquet: {path.stat().st_size / len(store.query_columns(_dataset.SYMBOL, s, e)):.2f}"
          f" B/trade, every peer's bins identical to ours)")  # fmt: skip


def rollup_rows(row, store, H: float, s: int, e: int, prof_s: float, repeat: int) -> None:
    """What the rollups answer: an unaligned window against the aligned one, candles."""
    # Edges mid-minute and mid-hour on both sides: raw trades for two partial minutes,
    # minute rollups for the partial hours, hour rollups in between.
    us, ue = s + 1_800_000 + 17_123, e - 1_800_000 - 23_456
    if ue > us:
        took = best(lambda: volume_profile(store, _dataset.SYMBOL, us, ue), repeat)
        row(f"volume profile {H:g} h, unaligned edges", took, against="aligned window",
            against_s=prof_s, ratio=took / prof_s, target="<= 1.3x aligned",
            met=took <= 1.3 * prof_s)  # fmt: skip
    took = best(lambda: candles(store, _dataset.SYMBOL, s, e, 60_000), repeat)
    n = len(candles(store, _dataset.SYMBOL, s, e, 60_000).candles)
    row(f"candles {H:g} h at 1 min ({n} candles)", took, target="<= 20 ms for 24 h",
        met=took <= 0.020 * H / 24)  # fmt: skip


def composite_rows(row, days: int, repeat: int) -> None:
    """The composite profile over ``days`` days of the bench's data (its own dataset)."""
    path = _dataset.ensure_dataset(24 * days)
    with TradeStore(path, read_only=True) as store:
        s, e = _dataset.window(24 * days)
        result = composite_profile(store, _dataset.SYMBOL, s, e)
        took = best(lambda: composite_profile(store, _dataset.SYMBOL, s, e), repeat)
        raw = best(lambda: composite_profile(store, _dataset.SYMBOL, s, e, use_rollups=False), 1)
    row(f"composite profile {days} days ({result.profile.trade_count} trades, {len(result.sessions)} "
        "sessions)", took, against="the same from raw trades", against_s=raw,
        ratio=raw / took, target="<= 0.3 s", met=took <= 0.3)  # fmt: skip


def copy_store(src: Path, dst: Path) -> None:
    import shutil

    shutil.copytree(src, dst)


def rollup_disk_rows(row, store_path: Path, H: float, trades: int) -> None:
    """Disk of the rollups: the store against a copy without its rollup keys, both compacted."""
    import rocksdict

    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "db"
        copy_store(store_path, copy)
        db = rocksdict.Rdict(str(copy), rocksdict.Options(raw_mode=True))
        db.delete_range(b"rollup:", b"rollup;")
        db.compact_range(None, None, _force_bottommost())
        db.close()
        without = disk_bytes(copy)
    with_rollups = disk_bytes(store_path)
    extra = (with_rollups - without) / trades
    row(f"rollups on disk, {H:g} h store", round(extra, 3), unit="B/trade",
        against="the store without them", against_s=round(without / trades, 2),
        ratio=with_rollups / without, target="<= 2 B/trade", met=extra <= 2)  # fmt: skip


def _force_bottommost():
    import rocksdict

    opts = rocksdict.CompactOptions()
    opts.set_bottommost_level_compaction(rocksdict.BottommostLevelCompaction.force())
    return opts


def compression_rows(row, store_path: Path, H: float, trades: int, repeat: int) -> None:
    """The dataset recompacted with ZSTD at the bottommost level, against the store's own
    LZ4: disk, query_trades 1 h, query_columns and the profile, read the same way."""
    import rocksdict

    s, e = _dataset.window(H)
    mid = s + int(max(H - 1, 0) / 2 * 3_600_000)
    s1, e1 = mid, mid + 3_600_000 - 1

    def measure(path: Path) -> dict[str, float]:
        with TradeStore(path, read_only=True) as store:
            return {
                "disk": disk_bytes(path) / trades,
                "query_trades": best(lambda: store.query_trades(_dataset.SYMBOL, s1, e1), repeat),
                "query_columns": best(lambda: store.query_columns(_dataset.SYMBOL, s, e), repeat),
                "profile": best(lambda: volume_profile(store, _dataset.SYMBOL, s, e), repeat),
            }

    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "db"
        copy_store(store_path, copy)
        opts = rocksdict.Options(raw_mode=True)
        opts.set_compression_type(rocksdict.DBCompressionType.lz4())
        opts.set_bottommost_compression_type(rocksdict.DBCompressionType.zstd())
        db = rocksdict.Rdict(str(copy), opts)
        db.set_options({"bottommost_compression": "kZSTD"})
        db.compact_range(None, None, _force_bottommost())
        db.close()
        zstd = measure(copy)
    lz4 = measure(store_path)
    for name, unit in (("disk", "B/trade"), ("query_trades", "s"), ("query_columns", "s"),
                       ("profile", "s")):  # fmt: skip
        label = {"query_trades": "query_trades 1 h", "query_columns": f"query_columns {H:g} h",
                 "profile": f"volume profile {H:g} h", "disk": "disk"}[name]  # fmt: skip
        z, lz = zstd[name], lz4[name]
        row(f"ZSTD bottommost: {label}", round(z, 2) if unit != "s" else z, unit=unit,
            against="LZ4 (the store's setting)", against_s=round(lz, 2) if unit != "s" else lz,
            ratio=z / lz)  # fmt: skip


def write_cost_rows(row, store, s: int, repeat: int) -> None:
    """TradeStore.write_batches of 1 h of the dataset in its 1 s batches into a fresh
    store, keeping the rollups and not: their maintenance cost where it is paid."""
    trades = store.query_trades(_dataset.SYMBOL, s, s + 3_600_000 - 1)
    batches: dict[int, list] = {}
    for t in trades:
        batches.setdefault(t.time_ms // 1000, []).append(t)
    chunks = list(batches.values())

    def write(rollups: bool):
        def run():
            with (
                tempfile.TemporaryDirectory() as tmp,
                TradeStore(Path(tmp) / "db", rollups=rollups) as fresh,
            ):
                for chunk in chunks:
                    fresh.write_batches({_dataset.SYMBOL: chunk})

        return run

    with_s = best(write(True), repeat)
    without_s = best(write(False), repeat)
    n = len(trades)
    row("write_batches 1 h in 1 s batches, keeping rollups", n / with_s, unit="trades/s",
        against="without rollups", against_s=n / without_s, ratio=without_s / with_s)  # fmt: skip


def ingest_rows(row, trades: int, twins: bool) -> None:
    """Run bench_ingest.py (fake exchange in another process -> recorder -> stored) and
    fold its headline figures into this table; with ``twins``, once more on the pure
    parser first (TRADESTORE_NO_EXTENSIONS=1), so the table shows the compiled parser's gain.
    """
    script = Path(__file__).parent / "bench_ingest.py"
    if not script.is_file():
        return
    pure = _run_ingest(script, trades, pure=True) if twins else None
    figures = _run_ingest(script, trades, pure=False)  # last: its JSON file stays
    if figures is None:
        return
    for name, part in (("fake exchange", "fake_exchange"), ("flood", "flood")):
        got = figures[part]
        rec, bare = got["recorder"], got["bare_loop"]
        ratio = got["ratio_stored_vs_bare"]
        row(f"ingest ({name}) -> stored, Cython parser", rec["stored_per_s"], unit="trades/s",
            against="bare trio-websocket loop", against_s=bare["per_s"], ratio=ratio,
            target=">= 0.9x bare loop", met=ratio >= 0.9)  # fmt: skip
    plain = figures["flood"].get("recorder_without_rollups")
    if plain is not None:
        rec = figures["flood"]["recorder"]
        cost = 1 - rec["stored_per_s"] / plain["stored_per_s"]
        row("ingest (flood) -> stored, keeping rollups", rec["stored_per_s"], unit="trades/s",
            against="the recorder without rollups", against_s=plain["stored_per_s"],
            ratio=rec["stored_per_s"] / plain["stored_per_s"], target="cost <= 10%",
            met=cost <= 0.10)  # fmt: skip
    if pure is not None:
        fast, slow = figures["flood"]["recorder"], pure["flood"]["recorder"]
        row("ingest (flood): Cython vs pure parser", fast["stored_per_s"], unit="trades/s",
            against="recorder on the pure twins", against_s=slow["stored_per_s"],
            ratio=fast["stored_per_s"] / slow["stored_per_s"])  # fmt: skip
    rss = figures["rss_200_symbols"]["peak_rss_mb"]
    row("recorder RSS, 200 symbols", round(rss, 1), unit="MB", target="<= 150 MB", met=rss <= 150)


def _run_ingest(script: Path, trades: int, *, pure: bool) -> dict | None:
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "TRADESTORE_NO_EXTENSIONS"}
    if pure:
        env["TRADESTORE_NO_EXTENSIONS"] = "1"
    label = "pure twins" if pure else "compiled"
    print(f"running {script.name} --trades {trades} ({label}) ...", flush=True)
    done = subprocess.run(
        [sys.executable, str(script), "--trades", str(trades)],
        capture_output=True,
        text=True,
        env=env,
    )
    if done.returncode != 0:
        print(f"{script.name} failed ({done.returncode}):\n{done.stderr[-2000:]}")
        return None
    return json.loads((Path(__file__).parent / "results-ingest.json").read_text())


# ---------------------------------------------------------------- the run


TABLE_ROWS = 20_000


def output_rows(row, trades, repeat: int) -> None:
    """The query table (80 columns) against CSV of the same trades, both from AggTrades
    to text through the command line's output code; and the 0.1 renderer (a rich Table),
    once, on a tenth of the rows (it took about 1 ms a row)."""
    from tradestore.cli import _trades
    from tradestore.cli._output import emit

    def render(fmt, rows):
        def run():
            out = io.StringIO()
            emit(fmt, _trades.records(rows, "ours"), fields=_trades.FIELDS,
                 columns=_trades.COLUMNS, out=out)  # fmt: skip
            return out

        return run

    def rich_table(rows):
        from rich.console import Console
        from rich.table import Table

        out = io.StringIO()
        table = Table(title="query")
        records = [
            dict(r, time=format_time_ms(r["time_ms"])) for r in _trades.records(rows, "ours")
        ]
        for name in records[0]:
            table.add_column(name)
        for r in records:
            table.add_row(*(str(v) for v in r.values()))
        Console(file=out, width=80).print(table)

    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "80"
    try:
        n = len(trades)
        t_csv = best(render("csv", trades), repeat)
        t_table = best(render("table", trades), repeat)
        tenth = trades[: n // 10]
        t_rich = best(lambda: rich_table(tenth), 1) * 10
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved
    row(f"query table, {n} trades, 80 columns", t_table, against=f"the same {n} as CSV",
        against_s=t_csv, ratio=t_table / t_csv, target="<= 3x CSV", met=t_table <= 3 * t_csv)  # fmt: skip
    row(f"rich Table (the 0.1 renderer), {n // 10} trades x 10", t_rich,
        against="query table", against_s=t_table, ratio=t_rich / t_table)  # fmt: skip


def picture_rows(row, store, start, end, hours, profile_s, repeat: int) -> None:
    """The pictures (the plot extra, when installed): the profile drawn and encoded, and
    the whole HTML report, against the profile they show."""
    try:
        from tradestore import plot
    except ImportError:
        print("  (no picture rows: matplotlib is not installed; pip install '.[plot]')")
        return
    from tradestore.analytics import liquidity_vacuums

    vac = liquidity_vacuums(store, _dataset.SYMBOL, start, end)
    for fmt in ("png", "svg"):
        t = best(lambda f=fmt: plot.figure_bytes(plot.profile_figure(vac.profile, vacuums=vac), f),
                 repeat)  # fmt: skip
        row(f"profile picture {fmt.upper()} 1200x800 (draw + encode)", t,
            against=f"volume profile {hours:g} h", against_s=profile_s, ratio=t / profile_s)  # fmt: skip
    t_report = best(lambda: plot.build_report(store, _dataset.SYMBOL, start, end).to_html(), repeat)
    row(f"HTML report {hours:g} h (profile, vacuums, record, picture)", t_report,
        against=f"volume profile {hours:g} h", against_s=profile_s, ratio=t_report / profile_s)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=24, help="dataset size (default: 24)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per figure")
    parser.add_argument("--frames", type=int, default=50_000, help="frames for parse rates")
    parser.add_argument("--json", type=Path, default=RESULTS, help="where the figures go")
    parser.add_argument(
        "--no-ingest", dest="ingest", action="store_false",
        help="skip the ingest rows (bench/bench_ingest.py, run in a child process)",
    )  # fmt: skip
    parser.add_argument(
        "--no-ingest-twins", dest="ingest_twins", action="store_false",
        help="run the ingest benchmark on the compiled parser only (not also on the pure one)",
    )  # fmt: skip
    parser.add_argument("--ingest-trades", type=int, default=50_000,
                        help="trades per symbol for the ingest rows (default: 50000)")  # fmt: skip
    parser.add_argument("--composite-days", type=int, default=7,
                        help="days of data for the composite profile row, built and cached on "
                        "first use (default: 7; 0 skips it)")  # fmt: skip
    parser.add_argument("--no-peers", dest="peers", action="store_false",
                        help="skip DuckDB and polars over Parquet")  # fmt: skip
    parser.add_argument("--no-compression", dest="compression", action="store_false",
                        help="skip the ZSTD-vs-LZ4 rows (a recompacted copy of the dataset)")  # fmt: skip
    parser.add_argument("--history", action="store_true",
                        help="also the history rows of bench/history.py: a 30-day composite "
                        "with 23 days only in the archive (100 trades/s: ~8 min to build the "
                        "first time, 2.5 GB cached), a 365-day profile, the day tier's and the "
                        "archived rollups' bytes per trade")  # fmt: skip
    parser.add_argument("--screen", action="store_true",
                        help="also the screen rows of bench/screen.py: screen over 2,000 Zipf "
                        "symbols for 24 h (1,000 trades/s in all) and 7 days (50 trades/s), "
                        "against a Python loop and DuckDB, and the CLI's peak RSS (~25 min "
                        "to build the two stores the first time)")  # fmt: skip
    parser.add_argument("--only", choices=sorted(SECTIONS),
                        help="run one section alone and print its rows (bench/results.json "
                        "is left as it is)")  # fmt: skip
    args = parser.parse_args(argv)
    if not _compat.EXTENSIONS_LOADED:
        print("warning: the Cython extensions are not in use; figures are of the pure twins")

    big_path = _dataset.ensure_dataset(args.hours)
    H = args.hours
    rows: list[dict] = []

    def row(figure, seconds, *, against=None, against_s=None, ratio=None, target=None, met=None,
            unit="s"):  # fmt: skip
        rows.append(
            {
                "figure": figure,
                "value": seconds,
                "unit": unit,
                "against": against,
                "against_value": against_s,
                "ratio": ratio,
                "target": target,
                "met": met,
            }
        )
        shown = f"{seconds:.4g} {unit}" if isinstance(seconds, float) else f"{seconds} {unit}"
        print(f"  {figure}: {shown}", flush=True)

    if args.only:
        SECTIONS[args.only](row, big_path, H, args.repeat)
        with TradeStore(big_path, read_only=True) as store:
            n_only = len(store.query_columns(_dataset.SYMBOL, *_dataset.window(H)))
        print_table(rows, H, n_only)
        return 0

    with TradeStore(big_path, read_only=True) as store:
        s_big, e_big = _dataset.window(H)
        s_1h, e_1h = _dataset.window(1)
        # a 1 h window in the middle of the data, so its seek is a real seek
        mid = s_big + int(max(H - 1, 0) / 2 * 3_600_000)
        s_1h, e_1h = mid, mid + 3_600_000 - 1
        n_big = len(store.query_columns(_dataset.SYMBOL, s_big, e_big))
        print(f"dataset: {n_big} trades over {H:g} h in {big_path}")

        floor = best(lambda: raw_scan(store, s_big, e_big), args.repeat)
        row(f"raw scan {H:g} h (floor, no decoding)", floor)
        floor_1h = best(lambda: raw_scan(store, s_1h, e_1h), args.repeat * 3)
        row("raw scan 1 h (floor)", floor_1h)

        prof_big = best(lambda: volume_profile(store, _dataset.SYMBOL, s_big, e_big), args.repeat)
        row(f"volume profile {H:g} h (rollups)", prof_big, against="raw-scan floor",
            against_s=floor, ratio=prof_big / floor, target="<= 1.0 s and <= 1.5x floor",
            met=prof_big <= 1.0 and prof_big <= 1.5 * floor)  # fmt: skip
        if args.peers:
            peer_rows(row, store, H, s_big, e_big, prof_big, args.repeat)
        prof_raw = best(lambda: volume_profile(store, _dataset.SYMBOL, s_big, e_big,
                                               use_rollups=False), args.repeat)  # fmt: skip
        row(f"volume profile {H:g} h from raw trades", prof_raw, against="raw-scan floor",
            against_s=floor, ratio=prof_raw / floor)  # fmt: skip
        rollup_rows(row, store, H, s_big, e_big, prof_big, args.repeat)
        prof_1h = best(lambda: volume_profile(store, _dataset.SYMBOL, s_1h, e_1h), args.repeat * 3)
        naive_prof_1h = best(lambda: naive_profile(store, s_1h, e_1h), 1)
        row("volume profile 1 h", prof_1h, against="naive Decimal profile", against_s=naive_prof_1h,
            ratio=naive_prof_1h / prof_1h, target="<= 5 ms", met=prof_1h <= 0.005)  # fmt: skip

        qt = best(lambda: store.query_trades(_dataset.SYMBOL, s_1h, e_1h), args.repeat)
        naive_1h = best(lambda: naive_decode(store, s_1h, e_1h), 1)
        row("query_trades 1 h (AggTrade, Decimal)", qt, against="msgpack.unpackb + Decimal",
            against_s=naive_1h, ratio=naive_1h / qt, target="<= 0.3 s", met=qt <= 0.3)  # fmt: skip

        output_rows(row, store.query_trades(_dataset.SYMBOL, s_1h, e_1h)[:TABLE_ROWS], args.repeat)
        write_cost_rows(row, store, s_1h, args.repeat)

        qc = best(lambda: store.query_columns(_dataset.SYMBOL, s_big, e_big), args.repeat)
        naive_big = best(lambda: naive_decode(store, s_big, e_big), 1)
        row(f"query_columns {H:g} h", qc, against="msgpack.unpackb + Decimal", against_s=naive_big,
            ratio=naive_big / qc, target="<= 1.5 s", met=qc <= 1.5)  # fmt: skip
        naive_prof_big = best(lambda: naive_profile(store, s_big, e_big), 1)
        row(f"naive Decimal profile {H:g} h (baseline)", naive_prof_big, against="volume profile",
            against_s=prof_big, ratio=naive_prof_big / prof_big)  # fmt: skip

        picture_rows(row, store, s_big, e_big, H, prof_big, args.repeat)

        # -- parsing
        frames = frames_from(store, s_big, args.frames)
        n = len(frames)
        import orjson

        pure_parse, ext_parse = _compat.pure("parse"), _compat.MODULES["parse"]
        # The recorder's path: frame -> TradeRow of the exchange's strings (no Decimal),
        # against the same rows and checks on orjson.
        assert all(ext_parse.parse_row(f) == loads_row(orjson.loads)(f) for f in frames[:100])
        t_row = best(parse_loop(ext_parse.parse_row, frames), args.repeat)
        t_orjson_row = best(parse_loop(loads_row(orjson.loads), frames), args.repeat)
        row("parse frame -> TradeRow (Cython parse_row, the recorder's)", n / t_row,
            unit="frames/s", against="orjson.loads + the same checks", against_s=n / t_orjson_row,
            ratio=t_orjson_row / t_row, target=">= 3x orjson + checks",
            met=t_orjson_row / t_row >= 3)  # fmt: skip
        # The library's parse_agg_trade: AggTrades with Decimals (no target: not the live path).
        t_event = best(parse_loop(ext_parse.parse_event, frames), args.repeat)
        t_orjson = best(parse_loop(loads_decimal(orjson.loads), frames), args.repeat)
        t_json = best(parse_loop(loads_decimal(json.loads), frames), args.repeat)
        t_pure = best(parse_loop(pure_parse.parse_event, frames[: n // 5]), 1) * 5
        rate = n / t_event
        row("parse frame -> AggTrade with Decimal (Cython parse_event)", rate, unit="frames/s",
            against="orjson.loads + Decimal", against_s=n / t_orjson,
            ratio=t_orjson / t_event)  # fmt: skip
        row("parse: json.loads + Decimal", n / t_json, unit="frames/s",
            against="Cython parse_event", against_s=rate, ratio=t_event / t_json)  # fmt: skip
        row(
            "parse_event: compiled vs pure twin",
            n / t_event,
            unit="frames/s",
            against="pure parse_event",
            against_s=n / t_pure,
            ratio=t_pure / t_event,
        )

        # -- each compiled module against its pure twin (1 h window)
        pure_decode, ext_decode = _compat.pure("decode"), _compat.MODULES["decode"]
        pure_profile, ext_profile = _compat.pure("profile"), _compat.MODULES["profile"]
        pairs = list(store.iter_values(_dataset.SYMBOL, s_1h, e_1h))
        for name, compiled, pure in (
            ("decode_columns", ext_decode.decode_columns, pure_decode.decode_columns),
            ("decode_trades", ext_decode.decode_trades, pure_decode.decode_trades),
            ("profile accumulate", ext_profile.accumulate, pure_profile.accumulate),
        ):
            tc = best(lambda f=compiled: f(pairs, s_1h, e_1h), args.repeat)
            tp = best(lambda f=pure: f(pairs, s_1h, e_1h), 1)
            row(f"{name} 1 h: compiled vs pure twin", tc, against="pure twin", against_s=tp,
                ratio=tp / tc)  # fmt: skip

    # -- adoption of a database written without bookkeeping (the Rust recorder's)
    adopt_s, adopt_n = adoption_pass(big_path, args.repeat)
    row(f"adoption pass {H:g} h (no meta keys)", adopt_n / adopt_s, unit="trades/s",
        against=f"query_columns {H:g} h", against_s=n_big / qc, ratio=adopt_s / qc)  # fmt: skip

    # -- disk
    n_stored = n_big
    db_bytes = disk_bytes(big_path) / n_stored
    zip_bytes = csv_zip_bytes(big_path, H) / n_stored
    row(f"disk after compaction, {H:g} h store", round(db_bytes, 2), unit="B/trade",
        against="Binance CSV zip, same trades", against_s=round(zip_bytes, 2),
        ratio=db_bytes / zip_bytes, target="<= 20 B/trade", met=db_bytes <= 20)  # fmt: skip

    rollup_disk_rows(row, big_path, H, n_stored)
    if args.compression:
        compression_rows(row, big_path, H, n_stored, args.repeat)
    if args.composite_days > 0:
        composite_rows(row, args.composite_days, args.repeat)

    # -- the Parquet archive of the same trades
    archive_rows(row, big_path, H, n_big, qc, db_bytes, args.repeat)

    # -- a closed day read back from the archive as numpy, Arrow and polars
    frames_rows(row, big_path, H, args.repeat)

    # -- history: the hot store, rollups that outlived their trades and the archive
    if args.history:
        import history

        history.composite_rows(row, days=30, rate=_dataset.RATE, hot=7, repeat=args.repeat,
                               peers=args.peers)  # fmt: skip
        history.year_rows(row, days=365, rate=1, batch_s=10, hot=7, tick="10",
                          repeat=args.repeat)  # fmt: skip
        history.disk_rows(row, month=(30, _dataset.RATE, 7), year=(365, 1, 10, 7),
                          bench_hours=H)  # fmt: skip

    # -- screen: the whole market at a glance (2,000 symbols)
    if args.screen:
        import screen

        screen.screen_rows(row, rate=1000, week_rate=50, repeat=args.repeat, peers=args.peers)

    # -- ingest (bench_ingest.py, the recorder's benchmark), in this same run
    if args.ingest:
        ingest_rows(row, args.ingest_trades, args.ingest_twins)

    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },  # fmt: skip
        "extensions_loaded": _compat.EXTENSIONS_LOADED,
        "dataset": {"hours": H, "trades": n_big, "rate_per_s": _dataset.RATE},
        "rows": rows,
    }
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print_table(rows, H, n_big)
    print(f"figures written to {args.json}")
    return 0


def _fmt(value, unit):
    if value is None:
        return ""
    if unit == "s":
        return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"
    if unit.endswith("/s"):
        return f"{value / 1e6:.2f} M{unit}" if value >= 1e6 else f"{value / 1e3:.0f} k{unit}"
    return f"{value:g} {unit}"


def print_table(rows, hours, trades):
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"tradestore-trio benchmark: {trades} synthetic BTCUSDT trades over {hours:g} h"
    )
    for name in ("figure", "measured", "compared with", "value", "ratio", "target", "met"):
        table.add_column(
            name, justify="left" if name in ("figure", "compared with", "target") else "right"
        )
    for r in rows:
        met = "" if r["met"] is None else ("[green]yes[/]" if r["met"] else "[red]NO[/]")
        table.add_row(
            r["figure"],
            _fmt(r["value"], r["unit"]),
            r["against"] or "",
            _fmt(r["against_value"], r["unit"]) if r["against_value"] is not None else "",
            f"{r['ratio']:.2f}x" if r["ratio"] is not None else "",
            r["target"] or "",
            met,
        )
    Console(width=170).print(table)


if __name__ == "__main__":
    sys.exit(main())
