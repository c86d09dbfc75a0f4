"""The history rows of issue #24: analytics over a month and a year that reach past the
hot store's trades, and what keeping that history costs on disk.

    python bench/history.py                         # builds and caches both datasets (~12 min)
    python bench/history.py --rate 20               # the month at 20 trades/s (builds in ~4 min)
    python bench/history.py --days 8 --year-days 30 # a quick run (small datasets)
    python bench/history.py --only composite        # one section: composite, year or disk

Two datasets of the bench's synthetic BTCUSDT (the random walk of bench/_dataset.py),
written as the recorder writes them: rows of the exchange's decimal strings
(``TradeRow``) through ``TradeStore.write_batches``.

- **month**: ``--days`` (30) at ``--rate`` (100, the bench's rate: 259,200,000 trades,
  ~8 min to build, 2.5 GB cached) trades/s in 1 s batches. Every day is
  archived by the archive's own writer (``Archiver``: Parquet and rollup sidecar) to a
  local archive, then the trades and rollups of all but the last ``--hot-days`` (7) are
  deleted from the store (``prune`` + ``prune_rollups``): those days live only in the
  archive. The composite is read through ``History(store, ArchiveReader(root))``.
- **year**: ``--year-days`` (365) at ``--year-rate`` (1) trades/s in ``--year-batch`` (10) s
  batches (the batching sets only the trades' keys, which are pruned; a 1 s batch of one
  trade builds four times slower). The trades of all but the last ``--hot-days`` are
  pruned, the rollups kept: the store a year of recording leaves behind.

Each figure is the median (and best) of ``--repeat`` runs after a warm-up on the same
objects (warm); cold runs open a fresh TradeStore, ArchiveReader and History each time
(the OS page cache stays warm: nobody else's files are dropped). Figures also go to
bench/results-history.json. ``run.py`` can call ``composite_rows``, ``year_rows`` and
``disk_rows`` with its own ``row``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import numpy as np  # noqa: E402

import _dataset  # noqa: E402
import _peers  # noqa: E402
from tradestore import TradeStore  # noqa: E402
from tradestore._model import TradeRow  # noqa: E402
from tradestore.analytics import composite_profile, volume_profile  # noqa: E402
from tradestore.archive import Archiver, ArchiveReader, Destination, History  # noqa: E402
from tradestore.codec import _twins as _compat  # noqa: E402

SYMBOL = _dataset.SYMBOL
DAY_MS = 86_400_000
RESULTS = Path(__file__).parent / "results-history.json"
VERSION = 4  # bump when the generator or the build steps change: no stale caches


def cold_times(make, repeat: int) -> list[float]:
    """Wall times of ``make()`` each run on fresh objects: make returns (run, close)."""
    times = []
    for _ in range(repeat):
        gc.collect()
        run, close = make()
        try:
            began = time.perf_counter()
            run()
            times.append(time.perf_counter() - began)
        finally:
            close()
    return times


# ---------------------------------------------------------------- datasets


def generate(store: TradeStore, start_ms: int, days: int, rate: int, batch_s: int,
             seed: int, log=print) -> tuple[int, int]:  # fmt: skip
    """Write ``days`` of the bench's random walk at ``rate`` trades/s in ``batch_s``
    second batches of TradeRows; (trades, sum of their qty in 1e-8 units)."""
    rng = np.random.default_rng(seed)
    price, agg_id, qty_units, n_all = 9_000_000, _dataset.FIRST_ID, 0, 0
    began = time.perf_counter()
    per_batch = rate * batch_s
    for day in range(days):
        for hour in range(24):
            n_sec = 3600
            n = n_sec * rate
            steps = np.rint(rng.standard_t(3, n) * 25.0).astype(np.int64)
            steps[rng.random(n) < 0.6] = 0  # most aggTrades print at the last price
            prices = np.maximum(price + np.cumsum(steps), 100)
            price = int(prices[-1])
            lots = np.maximum(np.rint(rng.lognormal(4.5, 1.6, n)), 1).astype(np.int64)
            qty_units += int(lots.sum()) * 1000
            sides = (rng.random(n) < 0.5).tolist()
            offsets = np.sort(rng.integers(0, 1000, (n_sec, rate)), axis=1)
            first = start_ms + (day * 24 + hour) * 3_600_000
            times = (first + np.arange(n_sec)[:, None] * 1000 + offsets).ravel().tolist()
            p_text = [f"{c // 100}.{c % 100:02d}000000" for c in prices.tolist()]
            q_text = [f"{q // 100000}.{q % 100000:05d}000" for q in lots.tolist()]
            for j in range(0, n, per_batch):
                k_end = min(j + per_batch, n)
                batch = [
                    TradeRow(p_text[k], q_text[k], times[k], agg_id + k, sides[k])
                    for k in range(j, k_end)
                ]
                store.write_batches({SYMBOL: batch})
            agg_id += n
            n_all += n
        if (day + 1) % 10 == 0:
            log(f"  {day + 1} days written ({time.perf_counter() - began:.0f} s)")
    return n_all, qty_units


def _day_iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).date().isoformat()


def month_path(days: int, rate: int, hot: int) -> Path:
    return _dataset.CACHE / f"history-month-{days}d-{hot}hot-{rate}tps-v{VERSION}"


def ensure_month(days: int, rate: int, hot: int, *, log=print) -> tuple[Path, dict]:
    """The month dataset: (its folder with db/ and archive/, its facts)."""
    path = month_path(days, rate, hot)
    done = path / "BUILT.json"
    if done.is_file():
        return path, json.loads(done.read_text())
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    start = _dataset.START_MS
    log(f"building {days} days of {SYMBOL} at {rate} trades/s in {path} ...")
    began = time.perf_counter()
    with TradeStore(path / "db") as store:
        trades, qty_units = generate(store, start, days, rate, 1, 20260101, log=log)
        built_s = time.perf_counter() - began
        log(f"  {trades} trades written in {built_s:.0f} s; archiving every day ...")
        t0 = time.perf_counter()
        end = start + days * DAY_MS
        results = list(Archiver(store, Destination(str(path / "archive"))).run(
            [SYMBOL], now_ms=end + DAY_MS))  # fmt: skip
        if len(results) != days or not all(r.ok for r in results):
            raise RuntimeError(f"archive failed: {[r.to_dict() for r in results]}")
        archive_s = time.perf_counter() - t0
        cut = start + (days - hot) * DAY_MS
        log(f"  archived in {archive_s:.0f} s; pruning the {days - hot} oldest days ...")
        store.prune(cut)  # a batch reaching past the cut stays: History reads around it
        store.prune_rollups(cut)
        store.db.flush()
        store.db.compact_range(None, None)
    facts = {"days": days, "rate": rate, "hot_days": hot, "trades": trades,
             "qty_units": qty_units, "start_ms": start, "cut_ms": cut,
             "build_s": round(built_s, 1), "archive_s": round(archive_s, 1)}  # fmt: skip
    done.write_text(json.dumps(facts) + "\n")
    log(f"built in {time.perf_counter() - began:.0f} s")
    return path, facts


def year_path(days: int, rate: int, batch_s: int, hot: int) -> Path:
    return _dataset.CACHE / f"history-year-{days}d-{hot}hot-{rate}tps-{batch_s}s-v{VERSION}"


def ensure_year(days: int, rate: int, batch_s: int, hot: int, *, log=print) -> tuple[Path, dict]:
    """The year dataset: (its store, its facts); it ends where the month dataset starts."""
    path = year_path(days, rate, batch_s, hot)
    done = path / "BUILT.json"
    if done.is_file():
        return path, json.loads(done.read_text())
    if path.exists():
        shutil.rmtree(path)
    start = _dataset.START_MS - days * DAY_MS
    log(f"building {days} days of {SYMBOL} at {rate} trades/s ({batch_s} s batches) in {path} ...")
    began = time.perf_counter()
    with TradeStore(path) as store:
        trades, qty_units = generate(store, start, days, rate, batch_s, 20250101, log=log)
        cut = start + (days - hot) * DAY_MS
        store.prune(cut)  # the rollups stay
        store.db.flush()
        store.db.compact_range(None, None)
    facts = {"days": days, "rate": rate, "batch_s": batch_s, "hot_days": hot,
             "trades": trades, "qty_units": qty_units, "start_ms": start, "cut_ms": cut,
             "build_s": round(time.perf_counter() - began, 1)}  # fmt: skip
    (path / "BUILT.json").write_text(json.dumps(facts) + "\n")
    log(f"built in {facts['build_s']:.0f} s")
    return path, facts


# ---------------------------------------------------------------- the composite


def duckdb_composite(root: Path, first_day: str, last_day: str, width: int, threads: int = 2):
    """The composite from the archive's trades: per-day bins, the combined bins and each
    day's POC bin (the largest volume, the lowest price on a tie), exact decimal sums."""
    import duckdb

    glob = f"{root}/market=spot/symbol=*/date=*/*.parquet"
    step = Decimal(width) / _peers.SCALE
    con = duckdb.connect(config={"threads": threads})
    try:
        con.execute(
            f"""
            CREATE TEMP TABLE per_day AS
            SELECT CAST(date AS VARCHAR) AS day, CAST(floor(price / {step}) AS BIGINT) AS bin,
                   sum(qty) AS volume, sum(qty) FILTER (WHERE NOT is_buyer_maker) AS buy,
                   count(*) AS n
            FROM read_parquet('{glob}', hive_partitioning = 1)
            WHERE symbol = '{SYMBOL}' AND date BETWEEN '{first_day}' AND '{last_day}'
            GROUP BY ALL
            """
        )
        days = con.execute("SELECT day, bin, volume, buy, n FROM per_day").fetchall()
        whole = con.execute(
            "SELECT bin, sum(volume), sum(buy), sum(n) FROM per_day GROUP BY bin"
        ).fetchall()
        pocs = con.execute(
            """
            SELECT day, min(bin) FROM (
                SELECT day, bin, volume, max(volume) OVER (PARTITION BY day) AS top FROM per_day
            ) WHERE volume = top GROUP BY day
            """
        ).fetchall()
    finally:
        con.close()
    per_day: dict[str, _peers.Bins] = {}
    for day, b, vol, buy, n in days:
        per_day.setdefault(day, {})[b] = (vol, buy or Decimal(0), n)
    combined = {b: (vol, buy or Decimal(0), n) for b, vol, buy, n in whole}
    return per_day, combined, dict(pocs)


def check_composite(history, result, s: int, root: Path, first: str, last: str) -> None:
    """DuckDB's composite from the archive equals ours: the combined bins, each day's
    bins, volume, trade count and POC."""
    profile = result.profile
    width = int(profile.bin_size * _peers.SCALE)
    per_day, combined, pocs = duckdb_composite(root, first, last, width)
    if not _peers.same_bins(_peers.our_bins(profile), combined):
        raise RuntimeError("DuckDB's combined bins differ from composite_profile's")
    origin = int(profile.bins[0].price_low * _peers.SCALE) // width
    levels = {b.price_level: i for i, b in enumerate(profile.bins)}
    for session in result.sessions:
        day = _day_iso(session.start_ms)
        theirs = per_day.get(day, {})
        ours = _peers.our_bins(volume_profile(history, SYMBOL, session.start_ms, session.end_ms,
                                              tick_size=profile.bin_size, min_trades=1))  # fmt: skip
        if not _peers.same_bins(ours, theirs):
            raise RuntimeError(f"DuckDB's bins of {day} differ from ours")
        if session.trade_count != sum(n for _v, _b, n in theirs.values()) or session.volume != sum(
            v for v, _b, _n in theirs.values()
        ):
            raise RuntimeError(f"DuckDB's volume or trade count of {day} differs from ours")
        assert session.point_of_control is not None
        if origin + levels[session.point_of_control] != pocs.get(day):
            raise RuntimeError(f"DuckDB's POC of {day} differs from ours")


def composite_rows(row, *, days: int, rate: int, hot: int, repeat: int, peers: bool,
                   log=print) -> None:  # fmt: skip
    """The composite over ``days`` days, ``hot`` of them in the store and the rest only
    in the archive, through History; against DuckDB over the archive's Parquet."""
    path, facts = ensure_month(days, rate, hot, log=log)
    root, db = path / "archive", path / "db"
    s = facts["start_ms"]
    e = s + days * DAY_MS - 1
    first, last = _day_iso(s), _day_iso(e)

    def fresh():
        store = TradeStore(db, read_only=True)
        return store, History(store, ArchiveReader(str(root)))

    store, history = fresh()
    try:
        result = composite_profile(history, SYMBOL, s, e)
        if result.profile.trade_count != facts["trades"]:
            raise RuntimeError(
                f"composite counts {result.profile.trade_count} trades, built {facts['trades']}"
            )
        if result.profile.total_volume != Decimal(facts["qty_units"]) / _peers.SCALE:
            raise RuntimeError("composite's volume differs from the volume built")
        parts = history.archived_parts(SYMBOL, s, e)
        log(f"  month: {facts['trades']} trades over {days} days at {rate} trades/s; "
            f"{len(result.sessions)} sessions, {len(result.profile.bins)} bins of "
            f"{result.profile.bin_size}; archive answers {_span(parts)}")  # fmt: skip
        if peers:
            check_composite(history, result, s, root, first, last)
            log("  (DuckDB's composite equals ours: combined bins, every day's bins, volume, "
                "trade count and POC)")  # fmt: skip
        warm, warm_best = _dataset.timed(lambda: composite_profile(history, SYMBOL, s, e), repeat)
    finally:
        store.close()

    def cold():
        store, history = fresh()
        return (lambda: composite_profile(history, SYMBOL, s, e)), store.close

    colds = cold_times(cold, max(repeat, 3))

    def open_only():
        began = time.perf_counter()
        store, _history = fresh()
        took = time.perf_counter() - began
        store.close()
        return took

    opened = statistics.median(open_only() for _ in range(3))
    label = f"composite {days} days ({hot} hot + {days - hot} archived; {facts['trades']} trades)"
    row(f"{label}, warm median", warm, against="best of the same", against_s=warm_best,
        ratio=warm / warm_best, target="<= 100 ms", met=warm <= 0.100)  # fmt: skip
    cold_med = statistics.median(colds)
    row(f"{label}, cold (fresh store, reader, History)", cold_med, against="warm median",
        against_s=warm, ratio=cold_med / warm, target="(target on warm)")  # fmt: skip
    row("  opening TradeStore + ArchiveReader + History (not in the cold figure)", opened)
    if peers:
        duck, duck_best = _dataset.timed(
            lambda: duckdb_composite(
                root, first, last, int(result.profile.bin_size * _peers.SCALE)
            ),
            max(1, repeat // 2),
        )
        row(f"peer: DuckDB composite from the archive's Parquet ({days} days), 2 threads", duck,
            against="ours, warm median", against_s=warm, ratio=duck / warm,
            target=">= 20x slower than ours", met=duck >= 20 * warm)  # fmt: skip
        row("peer: DuckDB, against our cold figure", duck, against="ours, cold",
            against_s=cold_med, ratio=duck / cold_med)  # fmt: skip


def _span(parts: list[tuple[int, int]]) -> str:
    if not parts:
        return "nothing"
    return ", ".join(f"{_day_iso(lo)}..{_day_iso(hi)}" for lo, hi in parts)


# ---------------------------------------------------------------- the year


def year_rows(row, *, days: int, rate: int, batch_s: int, hot: int, tick: str, repeat: int,
              log=print) -> None:  # fmt: skip
    """volume_profile over ``days`` days, all but the last ``hot`` answered by rollups."""
    path, facts = ensure_year(days, rate, batch_s, hot, log=log)
    s = facts["start_ms"]
    e = s + days * DAY_MS - 1
    with TradeStore(path, read_only=True) as store:
        prof = volume_profile(store, SYMBOL, s, e)
        if (
            prof.trade_count != facts["trades"]
            or prof.total_volume != Decimal(facts["qty_units"]) / _peers.SCALE
        ):
            raise RuntimeError("the year's profile differs from what was built")
        ticked = volume_profile(store, SYMBOL, s, e, tick_size=tick)
        held = store.trade_time_span(SYMBOL)
        log(f"  year: {facts['trades']} trades over {days} days at {rate} trades/s, trades held "
            f"from {_day_iso(held[0]) if held else 'nowhere'}; price {prof.price_low}.."
            f"{prof.price_high}, {len(ticked.bins)} bins of {tick}")  # fmt: skip
        for label, kwargs, n_bins in (
            ("100 bins", {}, len(prof.bins)),
            (f"tick {tick} ({len(ticked.bins)} bins)", {"tick_size": tick}, len(ticked.bins)),
        ):
            warm, warm_best = _dataset.timed(lambda kw=kwargs: volume_profile(store, SYMBOL, s, e, **kw),
                                    repeat)  # fmt: skip
            row(f"volume profile {days} days, {label}, warm median ({facts['trades']} trades, "
                f"{days - hot} days rollups only)", warm, against="best of the same",
                against_s=warm_best, ratio=warm / warm_best, target="<= 300 ms",
                met=warm <= 0.300)  # fmt: skip
            del n_bins

    def cold():
        store = TradeStore(path, read_only=True)
        return (lambda: volume_profile(store, SYMBOL, s, e)), store.close

    colds = statistics.median(cold_times(cold, max(repeat, 3)))
    row(f"volume profile {days} days, 100 bins, cold (fresh store)", colds,
        target="(target on warm)")  # fmt: skip


# ---------------------------------------------------------------- disk


def _disk_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def day_tier_bytes(db: Path) -> tuple[int, int, int]:
    """(keys, their key + value bytes, the store's bytes less a copy without them, both
    compacted): the day tier in the store, uncompressed and as RocksDB keeps it."""
    import rocksdict

    with tempfile.TemporaryDirectory() as tmp:
        with_copy, without_copy = Path(tmp) / "with", Path(tmp) / "without"
        shutil.copytree(db, with_copy)
        shutil.copytree(db, without_copy)
        force = rocksdict.CompactOptions()
        force.set_bottommost_level_compaction(rocksdict.BottommostLevelCompaction.force())
        n = raw = 0
        for copy in (with_copy, without_copy):
            opened = rocksdict.Rdict(str(copy), rocksdict.Options(raw_mode=True))
            # The day tier: each day's rollup (rollup:d:) and its pre-binned levels
            # (rollup:b:); n counts the days.
            for lower, upper in ((b"rollup:b:", b"rollup:b;"), (b"rollup:d:", b"rollup:d;")):
                if copy is with_copy:
                    for key, value in opened.items(from_key=lower):
                        if key >= upper:
                            break
                        n += lower == b"rollup:d:"
                        raw += len(key) + len(value)
                else:
                    opened.delete_range(lower, upper)
            opened.compact_range(None, None, force)
            opened.close()
        on_disk = _disk_bytes(with_copy) - _disk_bytes(without_copy)
    return n, raw, on_disk


def closed_day_copy(bench: Path, tmp: Path) -> Path:
    """A copy of run.py's dataset whose first UTC day is closed: opened for writing (which
    sums the day tier of a store older than it) with one trade 2 h into the next day,
    whose clock closes the day's minutes, hours and the day; the rollup:d: key of the
    dataset's day is then the one run.py's store would keep."""
    copy = tmp / "db"
    shutil.copytree(bench, copy)
    day = _dataset.START_MS
    with TradeStore(copy) as store:
        last = store.last_agg_id(SYMBOL)
        assert last is not None
        for i, ms in enumerate((day + DAY_MS + 7_200_000, day + DAY_MS + 7_300_000)):
            store.write_batches({SYMBOL: [TradeRow("90000.00", "0.001", ms, last + 1 + i, False)]})
        key = b"rollup:d:%s:%013d" % (SYMBOL.encode(), day)
        if store.db.get(key) is None:
            raise RuntimeError("the bench day's rollup:d: key was not written")
    return copy


def archive_bytes(root: Path) -> tuple[int, int, int]:
    """(rows, trades files' bytes, rollup sidecars' bytes) of a local archive."""
    import pyarrow.parquet as pq

    rows = trades = sidecars = 0
    for f in root.rglob("*.parquet"):
        rows += pq.ParquetFile(f).metadata.num_rows
        trades += f.stat().st_size
    for f in root.rglob("_*.rollups"):
        sidecars += f.stat().st_size
    return rows, trades, sidecars


def disk_rows(row, *, month: tuple[int, int, int] | None, year: tuple | None, bench_hours: float,
              log=print) -> None:  # fmt: skip
    """The day tier in the store per trade it sums; the archive's sidecars per trade
    beside its trades files. On the bench's 100 trades/s day and on the lower-rate sets."""
    stores: list[tuple[str, Path, int, int]] = []  # (label, db, trades a day, rate)
    bench = _dataset.ensure_dataset(bench_hours)
    with TradeStore(bench, read_only=True) as store:
        n_bench = len(store.query_columns(SYMBOL, *_dataset.window(bench_hours)))
    closed = tempfile.TemporaryDirectory()
    stores.append((f"bench {bench_hours:g} h", closed_day_copy(bench, Path(closed.name)),
                   min(n_bench, _dataset.RATE * DAY_MS // 1000),
                   _dataset.RATE))  # fmt: skip
    if year is not None:
        ypath, yfacts = ensure_year(*year, log=log)
        stores.append((f"year {yfacts['days']} days", ypath, yfacts["rate"] * DAY_MS // 1000,
                       yfacts["rate"]))  # fmt: skip
    if month is not None:
        mpath, mfacts = ensure_month(*month, log=log)
        stores.append((f"month, its {mfacts['hot_days']} hot days", mpath / "db",
                       mfacts["rate"] * DAY_MS // 1000, mfacts["rate"]))  # fmt: skip
    for label, db, per_day, rate in stores:
        n, raw, on_disk = day_tier_bytes(db)
        if not n:
            log(f"  ({label}: no closed day in the store, no day tier to measure)")
            continue
        trades = n * per_day  # the trades the day keys sum (every day at the same rate)
        # The targets are per trade at the bench's rate: a day key holds one entry per
        # price traded that day, so at 1-10 trades/s it costs more per trade (and less
        # per day); those rows are shown without a target, with the bytes per day.
        at_rate = rate == _dataset.RATE
        row(f"day tier (day values and their pre-binned levels) in the store, {label} at {rate} trades/s ({n} days, "
            f"{on_disk / n / 1e3:.0f} kB a day)", round(on_disk / trades, 3), unit="B/trade",
            against="key + value bytes, uncompressed", against_s=round(raw / trades, 3),
            ratio=on_disk / raw, target="<= 0.2 B/trade" if at_rate else None,
            met=on_disk / trades <= 0.2 if at_rate else None)  # fmt: skip

    archives: list[tuple[str, Path, int]] = []
    tmp = tempfile.TemporaryDirectory()
    try:
        with TradeStore(bench, read_only=True) as store:
            root = Path(tmp.name) / "archive"
            results = list(Archiver(store, Destination(str(root))).run([SYMBOL]))
            if not results or not all(r.ok for r in results):
                raise RuntimeError(f"archive failed: {[r.to_dict() for r in results]}")
        archives.append((f"bench {bench_hours:g} h", root, _dataset.RATE))
        if month is not None:
            archives.append((f"month {mfacts['days']} days", mpath / "archive", mfacts["rate"]))
        for label, root, rate in archives:
            rows, trades_b, side_b = archive_bytes(root)
            at_rate = rate == _dataset.RATE
            row(f"archived rollups (sidecars), {label} at {rate} trades/s ({rows} trades)",
                round(side_b / rows, 3), unit="B/trade", against="the archive's trades files",
                against_s=round(trades_b / rows, 3), ratio=side_b / trades_b,
                target="<= 1.5 B/trade" if at_rate else None,
                met=side_b / rows <= 1.5 if at_rate else None)  # fmt: skip
    finally:
        tmp.cleanup()
        closed.cleanup()


# ---------------------------------------------------------------- the run


def _fmt(value, unit):
    if value is None:
        return ""
    if unit == "s":
        return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"
    return f"{value:g} {unit}"


def print_table(rows) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="tradestore-trio history benchmark (issue #24)")
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
            _fmt(r["against_value"], r["unit"]),
            f"{r['ratio']:.2f}x" if r["ratio"] is not None else "",
            r["target"] or "",
            met,
        )
    Console(width=190).print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--days", type=int, default=30, help="days of the month dataset (default: 30)")
    add("--hot-days", type=int, default=7, help="days whose trades the store keeps (default: 7)")
    add("--rate", type=int, default=_dataset.RATE,
        help=f"trades/s of the month dataset (default: {_dataset.RATE}, the bench's rate)")  # fmt: skip
    add("--year-days", type=int, default=365, help="days of the year dataset (default: 365)")
    add("--year-rate", type=int, default=1, help="trades/s of the year dataset (default: 1)")
    add("--year-batch", type=int, default=10, help="seconds per batch, year dataset (default: 10)")
    add("--year-tick", default="10", help="the tick size of the second year row (default: 10)")
    add("--bench-hours", type=float, default=24,
        help="the run.py dataset measured for the disk rows (default: 24)")  # fmt: skip
    add("--repeat", type=int, default=5, help="timed runs per figure (default: 5)")
    add("--only", choices=("composite", "year", "disk"), help="run one section alone")
    add("--no-peers", dest="peers", action="store_false", help="skip DuckDB (and its check)")
    add("--json", type=Path, default=RESULTS, help="where the figures go")
    args = parser.parse_args(argv)
    if args.hot_days < 1 or args.days <= args.hot_days or args.year_days <= args.hot_days:
        parser.error("--days and --year-days must exceed --hot-days (at least 1)")
    if not _compat.EXTENSIONS_LOADED:
        print("warning: the Cython extensions are not in use; figures are of the pure twins")

    rows: list[dict] = []

    def row(figure, value, *, against=None, against_s=None, ratio=None, target=None, met=None,
            unit="s"):  # fmt: skip
        rows.append({"figure": figure, "value": value, "unit": unit, "against": against,
                     "against_value": against_s, "ratio": ratio, "target": target,
                     "met": met})  # fmt: skip
        print(f"  {figure}: {_fmt(value, unit)}", flush=True)

    month = (args.days, args.rate, args.hot_days)
    year = (args.year_days, args.year_rate, args.year_batch, args.hot_days)
    if args.only in (None, "composite"):
        composite_rows(row, days=args.days, rate=args.rate, hot=args.hot_days,
                       repeat=args.repeat, peers=args.peers)  # fmt: skip
    if args.only in (None, "year"):
        year_rows(row, days=args.year_days, rate=args.year_rate, batch_s=args.year_batch,
                  hot=args.hot_days, tick=args.year_tick, repeat=args.repeat)  # fmt: skip
    if args.only in (None, "disk"):
        disk_rows(row, month=month, year=year, bench_hours=args.bench_hours)
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },  # fmt: skip
        "extensions_loaded": _compat.EXTENSIONS_LOADED,
        "datasets": {
            "month": json.loads((month_path(*month) / "BUILT.json").read_text())
            if (month_path(*month) / "BUILT.json").is_file()
            else None,
            "year": json.loads((year_path(*year) / "BUILT.json").read_text())
            if (year_path(*year) / "BUILT.json").is_file()
            else None,
        },  # fmt: skip
        "rows": rows,
    }
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print_table(rows)
    print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
