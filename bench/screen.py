"""The screen rows of issue #25: one question over the whole market (2,000 symbols), against
the loop a user would write and against DuckDB over the same trades as Parquet.

    python bench/screen.py                     # both stores (~25 min to build the first time), ~4 min
    python bench/screen.py --only 7d --build-only &  # first: the 7d store on the other core
    python bench/screen.py --rate 200 --week-rate 10   # smaller stores, a quicker build
    python bench/screen.py --only 24h --profile  # one store's rows (24h or 7d), with a cProfile

Two stores of 2,000 symbols (``whole_market.symbol_names``) whose trades follow Zipf's law
(exponent ``--zipf`` 1.1 over a seeded shuffle of the ranks, so volume is unrelated to the
name): a few symbols carry most of the trades, the tail trades a few times an hour. Each
symbol walks around its own price level (log-uniform from 0.0001 to 90,000, the tick five
digits below the level, at least 1e-8) with about 3 % a day of volatility, fat-tailed
steps (most trades at the last price), and log-normal quantities worth about 200 in the
quote asset. They are written as the recorder writes them: rows of the exchange's decimal
strings (``TradeRow``) through ``TradeStore.write_batches`` in ``--batch-s`` batches, all
symbols of a batch in one call, so the minute, hour and day rollups are kept and closed as
the recorder keeps them. Each store runs an hour or two into the next UTC day (as a recorder
that kept recording: ``tail_minutes``), which closes its last day's rollups.

- **24h**: one UTC day at ``--rate`` (1,000) trades/s in all, ``--batch-s`` (5) s batches:
  90,000,000 trades, 2.5 GB, ~21 min to build.
- **7d**: seven UTC days at ``--week-rate`` (50) trades/s, ``--week-batch-s`` (10) s
  batches: 30,600,000 trades, 1.6 GB, ~24 min to build.

A write of 2,000 symbols costs the store ~25 us per symbol in it and ~3 ms besides (the
rollup keeper's closing scan), so the build time follows the writes, not the trades.

Rows: ``screen`` over all symbols for the aligned 24 h (24h store), a rolling 24 h ending at
13:37 of the last day (7d store, the unaligned case), and the 7 days (the day tier); beside
them, a Python loop of ``volume_profile`` + ``liquidity_vacuums`` per symbol (catching
``InsufficientData``), and DuckDB computing each symbol's profile (the same bin width rule,
volume per bin, the POC) from the same trades written once as Parquet (int64
``price_e8``/``qty_e8``, cached), checked POC for POC against ``screen``. Peak RSS is that of
the command line (``python -m tradestore screen``) over the 7 days, as a child process.

Each figure is the median (and best) of ``--repeat`` runs after a warm-up; the baselines run
``max(1, repeat // 2)`` times. Figures also go to bench/results-screen.json; ``run.py
--screen`` calls ``screen_rows`` with its own ``row``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import numpy as np  # noqa: E402

import _dataset  # noqa: E402
from tradestore import TradeStore  # noqa: E402
from tradestore._model import TradeRow  # noqa: E402
from tradestore.analytics import InsufficientData, liquidity_vacuums, volume_profile  # noqa: E402
from tradestore.codec import _twins as _compat  # noqa: E402
from whole_market import symbol_names  # noqa: E402

DAY_MS = 86_400_000
SCALE = 100_000_000
RESULTS = Path(__file__).parent / "results-screen.json"
VERSION = 1  # bump when the generator or the build steps change: no stale caches
FIRST_ID = 1_000_000
# A few real names keep their real levels; every other symbol draws its own.
REAL_LEVELS = {"BTCUSDT": 90_000.0, "ETHUSDT": 3_000.0, "SOLUSDT": 150.0, "BNBUSDT": 600.0,
               "XRPUSDT": 2.0}  # fmt: skip
QUOTE_PER_TRADE = 200.0  # the median trade's worth in the quote asset
DAILY_MOVE = 0.03  # one day's standard deviation of the price, as a fraction of it
MIN_TRADES = 1000  # screen's default: thinner symbols get no profile


# ---------------------------------------------------------------- the market


class Market:
    """2,000 symbols' shares of the trades, price levels, ticks and lots; their walks'
    state (last price, next agg id) carries from one chunk to the next."""

    def __init__(self, n_symbols: int, rate: float, zipf: float, seed: int) -> None:
        self.names = symbol_names(n_symbols)
        ranked = list(range(n_symbols))
        random.Random(seed).shuffle(ranked)  # rank 1 is a random name, as in whole_market
        rank = np.empty(n_symbols, dtype=np.int64)
        rank[ranked] = np.arange(1, n_symbols + 1)
        weight = rank.astype(np.float64) ** -zipf
        self.share = weight / weight.sum()
        rng = np.random.default_rng(seed)
        level = 10.0 ** rng.uniform(-4.0, np.log10(90_000.0), n_symbols)
        for i, name in enumerate(self.names):
            level[i] = REAL_LEVELS.get(name, level[i])
        exponent = np.floor(np.log10(level)).astype(np.int64)
        # price and lot in 1e-8 units: the tick five digits below the level
        self.tick = 10 ** np.maximum(exponent - 5 + 8, 0)
        self.ticks = np.rint(level * SCALE / self.tick).astype(np.int64)  # the last price
        per_day = np.maximum(self.share * rate * 86_400, 1.0)
        # 40 % of the trades move the price: their steps' deviation gives DAILY_MOVE a day
        self.step = np.maximum(DAILY_MOVE * self.ticks / np.sqrt(0.4 * per_day), 0.5)
        # The median trade's quantity in 1e-8 units, held so that a day's volume stays far
        # below 2^62 units (the store's every real day)
        median = np.minimum(
            QUOTE_PER_TRADE / level * SCALE, np.minimum(1e14, 2.0**62 / 50 / per_day)
        )
        self.log_median = np.log(median)
        self.lot = 10 ** np.maximum(np.floor(np.log10(median)).astype(np.int64) - 3, 0)
        self.next_id = np.full(n_symbols, FIRST_ID, dtype=np.int64)

    def chunk(self, rng: np.random.Generator, start_ms: int, n_ms: int, n: int):
        """``n`` trades over [start_ms, start_ms + n_ms): (symbol index, time, price, qty,
        agg id, buyer-is-maker) arrays sorted by symbol then time."""
        counts = rng.multinomial(n, self.share)
        sym = np.repeat(np.arange(len(counts)), counts)
        times = start_ms + rng.integers(0, n_ms, n)
        order = np.lexsort((times, sym))
        times = times[order]
        first = np.concatenate(([0], np.cumsum(counts)[:-1]))  # each symbol's first row
        steps = np.rint(rng.standard_t(3, n) * self.step[sym]).astype(np.int64)
        steps[rng.random(n) < 0.6] = 0  # most aggTrades print at the last price
        walk = np.cumsum(steps)
        before = np.concatenate(([0], walk))[first]  # the walk up to each symbol's first row
        ticks = np.maximum(self.ticks[sym] + walk - before[sym], 1)
        has = counts > 0
        self.ticks[has] = ticks[(first + counts - 1)[has]]
        drawn = np.exp(np.minimum(rng.normal(0.0, 1.6, n), 7.0) + self.log_median[sym])
        lots = np.maximum(np.rint(drawn / self.lot[sym]), 1).astype(np.int64)
        ids = self.next_id[sym] + (np.arange(n) - first[sym])
        self.next_id += counts
        makers = rng.random(n) < 0.5
        return sym, times, ticks * self.tick[sym], lots * self.lot[sym], ids, makers


def _texts(units: np.ndarray) -> list[str]:
    """1e-8 units as the exchange's 8-decimal strings."""
    return [f"{u // SCALE}.{u % SCALE:08d}" for u in units.tolist()]


def generate(store: TradeStore, market: Market, start_ms: int, n_ms: int, rate: float,
             batch_s: int, seed: int, log=print) -> int:  # fmt: skip
    """Write [start_ms, start_ms + n_ms) at ``rate`` trades/s in ``batch_s`` s batches;
    returns the trades written."""
    rng = np.random.default_rng(seed)
    chunk_ms = 600_000  # ten minutes of trades generated at once
    batch_ms = batch_s * 1000
    names = market.names
    written = 0
    began = time.perf_counter()
    for lo in range(start_ms, start_ms + n_ms, chunk_ms):
        span = min(chunk_ms, start_ms + n_ms - lo)
        n = int(round(rate * span / 1000))
        sym, times, prices, qtys, ids, makers = market.chunk(rng, lo, span, n)
        batch = (times - lo) // batch_ms
        order = np.lexsort((times, sym, batch))  # by batch, then symbol, then time
        sym, batch = sym[order], batch[order]
        rows = list(map(TradeRow, _texts(prices[order]), _texts(qtys[order]),
                        times[order].tolist(), ids[order].tolist(),
                        makers[order].tolist()))  # fmt: skip
        cuts = np.flatnonzero((np.diff(sym) != 0) | (np.diff(batch) != 0)) + 1
        edges = np.concatenate(([0], cuts, [n])).tolist()
        heads = np.asarray(edges[:-1], dtype=np.int64) if n else np.zeros(0, np.int64)
        starts_batch = np.concatenate(([True], np.diff(batch[heads]) != 0)).tolist()
        sym_at = sym[heads].tolist()
        pending: dict[str, list[TradeRow]] = {}
        for j in range(len(edges) - 1):
            if starts_batch[j] and pending:
                store.write_batches(pending)
                pending = {}
            pending[names[sym_at[j]]] = rows[edges[j] : edges[j + 1]]
        if pending:
            store.write_batches(pending)
        written += n
        if (lo - start_ms + span) % (6 * 3_600_000) == 0:
            hours = (lo - start_ms + span) / 3_600_000
            log(f"  {hours:.0f} h written, {written} trades ({time.perf_counter() - began:.0f} s)")
    return written


# ---------------------------------------------------------------- the stores


def tail_minutes(batch_s: int) -> int:
    """Whole hours of the next day that close every symbol's last day: at the end of a day
    each of 2,000 symbols has an hour and a day to close, at most 16 hours and 4 days per
    write (the rollup keeper's budget): about 650 writes."""
    return 60 * -(-(batch_s * 700) // 3600)


def store_path(days: int, rate: float, batch_s: int, n_symbols: int) -> Path:
    tail = tail_minutes(batch_s)
    return _dataset.CACHE / (
        f"screen-{n_symbols}sym-{days}d-{rate:g}tps-{batch_s}s-{tail}tail-v{VERSION}"
    )


def disk_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def ensure_store(days: int, rate: float, *, batch_s: int, n_symbols: int, zipf: float,
                 seed: int, log=print) -> tuple[Path, dict]:  # fmt: skip
    """The store of ``days`` UTC days of the market (plus ``tail_minutes`` of the next day,
    which close the last day's rollups), compacted: (its folder, its facts)."""
    tail_min = tail_minutes(batch_s)
    path = store_path(days, rate, batch_s, n_symbols)
    done = path / "BUILT.json"
    if done.is_file():
        return path, json.loads(done.read_text())
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    start = _dataset.START_MS
    log(f"building {days} days of {n_symbols} Zipf symbols at {rate:g} trades/s "
        f"({batch_s} s batches) in {path} ...")  # fmt: skip
    began = time.perf_counter()
    market = Market(n_symbols, rate, zipf, seed)
    with TradeStore(path / "db") as store:
        trades = generate(store, market, start, days * DAY_MS + tail_min * 60_000, rate,
                          batch_s, seed, log=log)  # fmt: skip
        built_s = time.perf_counter() - began
        log(f"  {trades} trades written in {built_s:.0f} s; compacting ...")
        store.db.flush()
        store.db.compact_range(None, None)
        # The rollups as the recorder left them: every day but the tail's closed?
        open_days = open_hours = 0
        for name in market.names:
            state = store.rollup_state(name)
            if state is None:
                continue
            open_days += sum(d < start + days * DAY_MS for d in state.open_days)
            open_hours += sum(h < start + days * DAY_MS for h in state.open_hours)
    facts = {"symbols": n_symbols, "days": days, "rate": rate, "batch_s": batch_s,
             "tail_min": tail_min, "zipf": zipf, "seed": seed, "trades": trades,
             "start_ms": start, "end_ms": start + days * DAY_MS - 1,
             "bytes": disk_bytes(path / "db"), "build_s": round(built_s, 1),
             "build_and_compact_s": round(time.perf_counter() - began, 1),
             "open_days_left": open_days, "open_hours_left": open_hours}  # fmt: skip
    done.write_text(json.dumps(facts) + "\n")
    log(f"built in {time.perf_counter() - began:.0f} s: {facts}")
    return path, facts


# ---------------------------------------------------------------- the peers


def ensure_parquet(path: Path, names: list[str], facts: dict, *, log=print) -> Path:
    """Every trade of the store as one zstd Parquet file (cached beside it): ``symbol``,
    ``time_ms``, ``price_e8``, ``qty_e8`` (exact int64 at 1e-8), ``is_buyer_maker``, sorted
    by symbol then time, row groups of about 1M rows."""
    out = path / "trades.parquet"
    if out.is_file():
        return out
    import pyarrow as pa
    import pyarrow.parquet as pq

    log(f"  writing the store's trades as Parquet ({out}) ...")
    began = time.perf_counter()
    schema = pa.schema([("symbol", pa.string()), ("time_ms", pa.int64()), ("price_e8", pa.int64()),
                        ("qty_e8", pa.int64()), ("is_buyer_maker", pa.bool_())])  # fmt: skip
    tmp = out.with_suffix(".tmp")
    parts: list = []
    held = 0
    with (
        TradeStore(path / "db", read_only=True) as store,
        pq.ParquetWriter(tmp, schema, compression="zstd") as writer,
    ):
        for name in names:
            cols = store.query_columns(name, 0, _last_ms(facts))
            parts.append(pa.table({"symbol": pa.array([name] * len(cols), pa.string()),
                                   "time_ms": cols.time_ms, "price_e8": cols.price,
                                   "qty_e8": cols.qty, "is_buyer_maker": cols.is_buyer_maker},
                                  schema=schema))  # fmt: skip
            held += len(cols)
            if held >= 1 << 20:
                writer.write_table(pa.concat_tables(parts), row_group_size=1 << 20)
                parts, held = [], 0
        if parts:
            writer.write_table(pa.concat_tables(parts), row_group_size=1 << 20)
    tmp.rename(out)
    log(f"  Parquet written in {time.perf_counter() - began:.0f} s "
        f"({out.stat().st_size / 1e6:.0f} MB)")  # fmt: skip
    return out


def _last_ms(facts: dict) -> int:
    return facts["start_ms"] + facts["days"] * DAY_MS + facts["tail_min"] * 60_000


# Every bin width the nice-width rule can pick, in 1e-8 units: 1, 2, 5 x 10^k.
WIDTHS = ", ".join(f"({m * 10**k})" for k in range(19) for m in (1, 2, 5))


def duckdb_pocs(parquet: Path, start_ms: int, end_ms: int, bins: int, threads: int,
                ) -> dict[str, tuple[int, int, int]]:  # fmt: skip
    """Per symbol, from the Parquet trades in [start_ms, end_ms], in one query: the profile
    as ``volume_profile`` bins it (width: the smallest 1/2/5 x 10^k at least range/bins,
    bins at multiples of it), the volume per bin, and the POC (the bin with the most
    volume, the lowest on a tie): {symbol: (trade count, width, POC bin)}."""
    import duckdb

    con = duckdb.connect(config={"threads": threads})
    try:
        rows = con.execute(
            f"""
            WITH t AS (
                SELECT symbol, price_e8, qty_e8 FROM read_parquet('{parquet}')
                WHERE time_ms BETWEEN {start_ms} AND {end_ms}),
            r AS (SELECT symbol, count(*) AS n, (max(price_e8) - min(price_e8) + {bins - 1})
                         // {bins} AS need
                  FROM t GROUP BY symbol),
            w AS (SELECT symbol, n, min(c.width) AS width
                  FROM r JOIN (VALUES {WIDTHS}) AS c(width) ON c.width >= r.need
                  GROUP BY symbol, n),
            b AS (SELECT t.symbol, t.price_e8 // w.width AS bin, sum(t.qty_e8) AS volume
                  FROM t JOIN w USING (symbol) GROUP BY t.symbol, bin)
            SELECT w.symbol, w.n, w.width, first(b.bin ORDER BY b.volume DESC, b.bin ASC)
            FROM b JOIN w USING (symbol) GROUP BY w.symbol, w.n, w.width
            """
        ).fetchall()
    finally:
        con.close()
    return {symbol: (n, width, poc) for symbol, n, width, poc in rows}


def python_loop(store: TradeStore, names: list[str], start_ms: int, end_ms: int) -> int:
    """The obvious alternative: a profile and the vacuums of each symbol in turn, thin
    symbols skipped as a user's loop would; returns the symbols profiled."""
    done = 0
    for name in names:
        try:
            volume_profile(store, name, start_ms, end_ms)
            liquidity_vacuums(store, name, start_ms, end_ms)
        except InsufficientData:
            continue
        done += 1
    return done


def check_pocs(result, theirs: dict[str, tuple[int, int, int]], log=print) -> tuple[int, int]:
    """Compare screen's POC with DuckDB's for every symbol with at least MIN_TRADES trades;
    (symbols compared, mismatches). Every mismatch is printed."""
    from decimal import Decimal

    compared = wrong = 0
    for row in result.rows:
        n, width, poc_bin = theirs.get(row.symbol, (0, 0, 0))
        if n < MIN_TRADES and row.trade_count < MIN_TRADES:
            continue
        compared += 1
        centre = (Decimal(poc_bin * width) + Decimal(width) / 2) / SCALE
        if n != row.trade_count or row.poc is None or row.poc != centre:
            wrong += 1
            log(f"  MISMATCH {row.symbol}: screen {row.trade_count} trades, POC {row.poc} "
                f"(bin {row.bin_size}); DuckDB {n} trades, POC {centre} "
                f"(bin {Decimal(width) / SCALE})")  # fmt: skip
    return compared, wrong


# ---------------------------------------------------------------- screen itself


def load_screen():
    """``screen`` from the library's face, or from its module until it is exported; None
    when neither exists yet."""
    try:
        from tradestore.analytics import screen
    except ImportError:
        try:
            from tradestore.analytics._screen import screen
        except ImportError:
            return None
    return screen


_RSS_WRAPPER = (
    "import resource, subprocess, sys, time; t = time.perf_counter(); "
    "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc, time.perf_counter() - t)"
)


def child_peak(argv: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of ``argv`` run as the only child of a fresh process."""
    out = subprocess.run([sys.executable, "-c", _RSS_WRAPPER, *argv], capture_output=True,
                         text=True, check=True)  # fmt: skip
    kb, rc, took = out.stdout.split()
    if rc != "0":
        raise RuntimeError(f"{' '.join(argv)} exited {rc}: {out.stderr[-2000:]}")
    return int(kb) / 1024, float(took)


def _iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# ---------------------------------------------------------------- the rows


def store_rows(row, label: str, path: Path, facts: dict, windows, *, repeat: int, peers: bool,
               loop: bool, threads: int, profile: bool, log=print) -> None:  # fmt: skip
    """The screen rows of one store: each of ``windows`` (label, start, end, target s,
    baselines: None, "targets", or "peers") screened over all symbols, with the loop and
    DuckDB beside it. The issue's targets against the loop and DuckDB are for its 24 h
    store; over the thin 7-day store the same baselines run as peers (ratio, no target):
    DuckDB's time there follows the trades (4.3 M a day), ours the days."""
    screen = load_screen()
    market = Market(facts["symbols"], facts["rate"], facts["zipf"], facts["seed"])
    names = market.names
    log(f"  {label} store: {facts['symbols']} symbols, {facts['trades']} trades "
        f"({facts['days']} days at {facts['rate']:g} trades/s + {facts['tail_min']} min), "
        f"{facts['bytes'] / 1e9:.2f} GB on disk, built in {facts['build_s']:.0f} s; "
        f"open days left {facts['open_days_left']}, open hours left {facts['open_hours_left']}")  # fmt: skip
    parquet = ensure_parquet(path, names, facts, log=log) if peers else None
    few = max(1, repeat // 2)
    with TradeStore(path / "db", read_only=True) as store:
        for what, s, e, target_s, baselines in windows:
            n_window = None
            if screen is None:
                log(
                    f"  screen is not in tradestore.analytics yet: its rows for {what} are left out"
                )
                ours = None
            else:
                result = screen(store, names, s, e)
                n_window = sum(r.trade_count for r in result.rows)
                profiled = sum(r.poc is not None for r in result.rows)
                log(f"  {what}: {n_window} trades, {profiled} symbols with >= {MIN_TRADES} "
                    f"trades (a profile), {len(result.rows) - profiled} thinner")  # fmt: skip
                if profile:
                    _profile(lambda s=s, e=e: screen(store, names, s, e), log)
                ours, ours_best = _dataset.timed(
                    lambda s=s, e=e: screen(store, names, s, e), repeat
                )
                row(f"screen, {len(names)} symbols, {what} ({n_window} trades), median", ours,
                    against="best of the same", against_s=ours_best, ratio=ours / ours_best,
                    target=f"<= {target_s:g} s", met=ours <= target_s)  # fmt: skip
            if not baselines:
                continue
            targeted = baselines == "targets"
            if loop:
                took, _ = _dataset.timed(lambda s=s, e=e: python_loop(store, names, s, e), few)
                profiled_loop = python_loop(store, names, s, e)
                row(f"  vs Python loop: volume_profile + liquidity_vacuums per symbol, {what} "
                    f"({profiled_loop} profiled)", ours, against="the loop", against_s=took,
                    ratio=None if ours is None else took / ours,
                    target=">= 5x faster" if targeted else None,
                    met=None if ours is None or not targeted else took >= 5 * ours)  # fmt: skip
            if parquet is not None:
                theirs = duckdb_pocs(parquet, s, e, 100, threads)
                took, _ = _dataset.timed(
                    lambda s=s, e=e: duckdb_pocs(parquet, s, e, 100, threads), few
                )
                row(f"  vs DuckDB over Parquet ({threads} threads): per-symbol width, volume "
                    f"per bin, POC, {what}", ours, against="DuckDB", against_s=took,
                    ratio=None if ours is None else took / ours,
                    target=">= 10x faster" if targeted else None,
                    met=None if ours is None or not targeted else took >= 10 * ours)  # fmt: skip
                if screen is not None:
                    compared, wrong = check_pocs(result, theirs, log)
                    log(f"  POC check, {what}: {compared} symbols with >= {MIN_TRADES} trades "
                        f"compared, {wrong} mismatches")  # fmt: skip
                    row(f"  POC equal to DuckDB's, {what} ({compared} symbols)", compared - wrong,
                        unit="symbols", target=f"all {compared}",
                        met=wrong == 0)  # fmt: skip


def rss_rows(row, path: Path, facts: dict, *, log=print) -> None:
    """Peak RSS of the command line screening every symbol over the store's days."""
    if load_screen() is None:
        log("  screen is not in tradestore.analytics yet: the RSS row is left out")
        return
    end = _iso(facts["end_ms"])
    base = [sys.executable, "-m", "tradestore"]
    argv = base + ["screen", "--db", str(path / "db"), "--symbols", "ALL",
                   "--days", str(facts["days"]), "--end", end, "--format", "json"]  # fmt: skip
    startup, _ = child_peak(base + ["screen", "--help"])
    peak, took = child_peak(argv)
    row(f"peak RSS: `tradestore-trio screen --symbols ALL --days {facts['days']} --format json` "
        f"({facts['symbols']} symbols; the run took {took:.1f} s)", round(peak, 1), unit="MB",
        against="the CLI's start-up (screen --help)", against_s=round(startup, 1),
        ratio=peak / startup, target="<= 200 MB", met=peak <= 200)  # fmt: skip


def _profile(fn, log) -> None:
    import cProfile
    import io
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("cumulative").print_stats(25)
    stats.sort_stats("tottime").print_stats(12)
    log(out.getvalue())


def screen_rows(row, *, rate: float, week_rate: float, batch_s: int = 5, week_batch_s: int = 10,
                n_symbols: int = 2000, zipf: float = 1.1, seed: int = 25, repeat: int = 5,
                peers: bool = True, loop: bool = True, threads: int = 2, only=None,
                profile: bool = False, log=print) -> dict:  # fmt: skip
    """Every screen row; returns the stores' facts."""
    facts: dict = {}
    common = {"n_symbols": n_symbols, "zipf": zipf, "seed": seed, "log": log}
    if only in (None, "24h"):
        path, f = ensure_store(1, rate, batch_s=batch_s, **common)
        facts["24h"] = f
        s, e = f["start_ms"], f["end_ms"]
        store_rows(row, "24h", path, f, [("24 h aligned on the UTC day", s, e, 1.0, "targets")],
                   repeat=repeat, peers=peers, loop=loop, threads=threads, profile=profile,
                   log=log)  # fmt: skip
    if only in (None, "7d"):
        path, f = ensure_store(7, week_rate, batch_s=week_batch_s, **common)
        facts["7d"] = f
        s, e = f["start_ms"], f["end_ms"]
        roll_end = e + 1 - DAY_MS + (13 * 60 + 37) * 60_000 - 1  # 13:37 of the last day
        windows = [
            (f"rolling 24 h to {_iso(roll_end + 1)[11:16]} of the last day", roll_end + 1 - DAY_MS,
             roll_end, 1.0, None),
            ("7 days", s, e, 3.0, "peers"),
        ]  # fmt: skip
        store_rows(row, "7d", path, f, windows, repeat=repeat, peers=peers, loop=loop,
                   threads=threads, profile=profile, log=log)  # fmt: skip
        rss_rows(row, path, f, log=log)
    return facts


# ---------------------------------------------------------------- the run


def _fmt(value, unit):
    if value is None:
        return ""
    if unit == "s":
        return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"
    return f"{value:g} {unit}"


def print_table(rows) -> None:
    """The rows as a markdown table."""
    print("\n| figure | ours | baseline | baseline time | ratio | target | met |")
    print("|---|---:|---|---:|---:|---|---|")
    for r in rows:
        met = "" if r["met"] is None else ("yes" if r["met"] else "NO")
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] is not None else ""
        print(f"| {r['figure']} | {_fmt(r['value'], r['unit'])} | {r['against'] or ''} | "
              f"{_fmt(r['against_value'], r['unit'])} | {ratio} | {r['target'] or ''} | {met} |")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--rate", type=float, default=1000, help="trades/s of the 24h store (default: 1000)")
    add("--week-rate", type=float, default=50, help="trades/s of the 7d store (default: 50)")
    add("--batch-s", type=int, default=5,
        help="seconds per write_batches call, 24h store (default: 5)")  # fmt: skip
    add("--week-batch-s", type=int, default=10,
        help="seconds per write_batches call, 7d store (default: 10)")  # fmt: skip
    add("--symbols", type=int, default=2000, help="symbols in the market (default: 2000)")
    add("--zipf", type=float, default=1.1, help="Zipf exponent of the trades' shares")
    add("--seed", type=int, default=25)
    add("--repeat", type=int, default=5, help="timed runs per figure (default: 5)")
    add("--threads", type=int, default=2, help="DuckDB's threads (default: 2)")
    add("--only", choices=("24h", "7d"), help="one store's rows")
    add("--build-only", action="store_true", help="build (or find) the stores, measure nothing")
    add("--no-peers", dest="peers", action="store_false", help="skip DuckDB (and its check)")
    add("--no-loop", dest="loop", action="store_false", help="skip the Python loop baseline")
    add("--profile", action="store_true", help="print a cProfile of one screen per window")
    add("--json", type=Path, default=RESULTS, help="where the figures go")
    args = parser.parse_args(argv)
    if not _compat.EXTENSIONS_LOADED:
        print("warning: the Cython extensions are not in use; figures are of the pure twins")
    common = {"n_symbols": args.symbols, "zipf": args.zipf, "seed": args.seed}
    if args.build_only:
        if args.only in (None, "24h"):
            ensure_store(1, args.rate, batch_s=args.batch_s, **common)
        if args.only in (None, "7d"):
            ensure_store(7, args.week_rate, batch_s=args.week_batch_s, **common)
        return 0

    rows: list[dict] = []

    def row(figure, value, *, against=None, against_s=None, ratio=None, target=None, met=None,
            unit="s"):  # fmt: skip
        rows.append({"figure": figure, "value": value, "unit": unit, "against": against,
                     "against_value": against_s, "ratio": ratio, "target": target,
                     "met": met})  # fmt: skip
        print(f"  {figure}: {_fmt(value, unit)}", flush=True)

    facts = screen_rows(row, rate=args.rate, week_rate=args.week_rate, batch_s=args.batch_s,
                        week_batch_s=args.week_batch_s, **common,
                        repeat=args.repeat, peers=args.peers, loop=args.loop,
                        threads=args.threads, only=args.only, profile=args.profile)  # fmt: skip
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },  # fmt: skip
        "extensions_loaded": _compat.EXTENSIONS_LOADED,
        "stores": facts,
        "rows": rows,
    }
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print_table(rows)
    print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
