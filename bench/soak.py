"""Soak and fault harness: a real daemon against a hostile fake exchange, then an exact
account of every agg id.

    python bench/soak.py                          # 50 symbols, 120 s, ~3-4 minutes in all
    python bench/soak.py --seconds 300 --rate 30  # longer, faster
    python bench/soak.py --symbols 5 --seconds 15 # the short version the test suite runs

Two child processes, both on 127.0.0.1 only:

- ``tradestore-trio fake-exchange`` generating ``--rate`` trades/s for each of ``--symbols``
  symbols for ``--seconds`` (``--max-trades``, so generation ends by itself), with every
  fault switched on: connections cut every ``--drop-every`` s, a silent stall from
  ``--silent-after`` s into each connection (pings go on, data never resumes: the daemon's
  data watchdog has to notice), malformed and duplicate frames, ids sent to nobody
  (``--skip-every``, so backfill has work), and REST 429s.
- ``tradestore-trio run`` recording them, with ``--metrics-addr`` (figures are read from
  /metrics), killed once with SIGKILL at a seeded random moment of the middle third and
  restarted after ``--down`` seconds.

When generation is over the harness waits until the daemon has no open gap, nothing
buffered and nothing new arriving (or ``--drain-timeout`` passed), stops the exchange
(which writes its sent-log), SIGTERMs the daemon (it must exit 0), runs ``verify`` for
every symbol and checks every generated id against the store: stored exactly once, or
missing with a cause (inside a gap record that explains it, or after the last trade the
exchange delivered, which no live recorder can know about). One table is printed; the
figures go to bench/results-soak.json. Exit status 1 when the accounting fails.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.table import Table

RESULTS = Path(__file__).parent / "results-soak.json"
START_ID = 1_000_000
SAMPLE_EVERY = 0.5  # seconds between RSS samples; metrics every second sample


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--symbols", type=int, default=50, help="symbols served and recorded")
    p.add_argument(
        "--rate", type=float, default=20.0, help="trades/s per symbol (default 20: 1000/s total)"
    )
    p.add_argument("--seconds", type=float, default=120.0, help="how long trades are generated")
    p.add_argument("--seed", type=int, default=1, help="seeds the walk and the kill moment")
    p.add_argument("--down", type=float, default=2.0, help="seconds the killed daemon stays down")
    p.add_argument(
        "--kill-at",
        type=float,
        metavar="S",
        help="SIGKILL the daemon S seconds into the run (default: random in the middle third)",
    )
    p.add_argument(
        "--drain-timeout", type=float, default=120.0, metavar="S", help="wait for backfill"
    )
    faults = p.add_argument_group("faults (0: off)")
    faults.add_argument(
        "--drop-every", type=float, default=29.0, metavar="S", help="cut every connection"
    )
    faults.add_argument(
        "--drop-one-every",
        type=float,
        default=0.0,
        metavar="S",
        help="cut the connection open the longest (one line at a time)",
    )
    faults.add_argument(
        "--silent-after", type=float, default=20.0, metavar="S", help="then no data, for good"
    )
    faults.add_argument(
        "--watchdog-floor", type=float, default=5.0, metavar="S", help="the daemon's (30 s live)"
    )
    faults.add_argument("--malformed-every", type=int, default=97, metavar="N")
    faults.add_argument("--duplicate-every", type=int, default=89, metavar="N")
    faults.add_argument("--skip-every", type=int, default=499, metavar="N")
    faults.add_argument("--rest-429-every", type=int, default=13, metavar="N")
    faults.add_argument(
        "--rest-invalid-every", type=int, default=0, metavar="N", help="REST rows marked invalid"
    )
    p.add_argument("--per-symbol-streams", action="store_true", help="one connection per symbol")
    p.add_argument(
        "--ab-lines", action="store_true", help="the daemon subscribes every stream on two lines"
    )
    p.add_argument(
        "--line-b-delay",
        type=float,
        default=5.0,
        metavar="S",
        help="with --ab-lines: line B starts S seconds after line A (the daemon's default 5)",
    )
    p.add_argument(
        "--workdir", type=Path, help="keep the DB, logs and sent-log here (default: a temp dir)"
    )
    p.add_argument("--json", type=Path, default=RESULTS, help=f"results file (default {RESULTS})")
    args = p.parse_args(argv)
    if args.symbols < 1 or args.rate <= 0 or args.seconds <= 0:
        p.error("--symbols, --rate and --seconds must be positive")
    return args


def symbol_names(n: int) -> list[str]:
    """BTCUSDT, ETHUSDT, then made-up but valid names: SOAK000USDT, ..."""
    names = ["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT"]
    return (names + [f"SOAK{i:03d}USDT" for i in range(n)])[:n]


# ---------------------------------------------------------------- child processes


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADESTORE_")}
    if "TRADESTORE_NO_EXTENSIONS" in os.environ:
        env["TRADESTORE_NO_EXTENSIONS"] = os.environ["TRADESTORE_NO_EXTENSIONS"]
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start_exchange(args, symbols: list[str], work: Path) -> tuple[subprocess.Popen, str]:
    max_trades = round(args.rate * args.seconds)
    argv = [sys.executable, "-m", "tradestore", "fake-exchange", "--port", "0"]
    argv += ["--symbols", ",".join(symbols), "--rate", str(args.rate), "--seed", str(args.seed)]
    argv += ["--start-id", str(START_ID), "--max-trades", str(max_trades)]
    argv += ["--sent-log", str(work / "sent.json"), "--history-limit", "0"]
    for flag, value in (
        ("--drop-every", args.drop_every),
        ("--drop-one-every", args.drop_one_every),
        ("--silent-after", args.silent_after),
        ("--malformed-every", args.malformed_every),
        ("--duplicate-every", args.duplicate_every),
        ("--skip-every", args.skip_every),
        ("--rest-429-every", args.rest_429_every),
        ("--rest-invalid-every", args.rest_invalid_every),
    ):
        if value:
            argv += [flag, str(value)]
    return launch_exchange(argv, work)


def launch_exchange(argv: list[str], work: Path) -> tuple[subprocess.Popen, str]:
    """Start the fake exchange ``argv`` (its log in ``work``): the process and its ws URL."""
    log = open(work / "exchange.log", "ab")  # noqa: SIM115 - lives as long as the child
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, env=child_env(), text=True)
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError(f"the fake exchange did not start: {line!r} (see {log.name})")
    return proc, line.removeprefix("listening on ")


class Daemon:
    """One ``tradestore-trio run`` life after another, its /metrics and its peak RSS."""

    def __init__(self, argv: list[str], log_path: Path, *, scrape_every: float = 1.0) -> None:
        self.argv = argv
        self.log_path = log_path
        # Seconds between /metrics scrapes while the daemon runs (RSS: every SAMPLE_EVERY).
        self.scrape_every = scrape_every
        self.proc: subprocess.Popen | None = None
        self.metrics_url: str | None = None
        self.peak_rss = 0
        self.lives: list[dict] = []  # the last /metrics snapshot of each life
        self.samples: list[tuple[float, float, float]] = []  # (t, received so far, max lag)
        self._received_before = 0.0
        self._last: dict | None = None  # the sampler's latest scrape
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sampler: threading.Thread | None = None

    def start(self) -> None:
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tradestore", "run", *self.argv],
                stdout=log,
                stderr=log,
                env=child_env(),
            )
        self.metrics_url = self._wait_for_metrics_url(offset)
        self._stop.clear()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _wait_for_metrics_url(self, offset: int) -> str:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            text = self.log_path.read_text(errors="replace")[offset:]
            for line in text.splitlines():
                if "metrics on http://" in line:
                    return line.split("metrics on ", 1)[1].split("/metrics", 1)[0]
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"the daemon did not serve /metrics (see {self.log_path})")

    def scrape(self) -> dict | None:
        try:
            text = httpx.get(f"{self.metrics_url}/metrics", timeout=5).text
        except httpx.HTTPError:
            return None
        return parse_metrics(text)

    def _sample(self) -> None:
        proc = psutil.Process(self.proc.pid)
        next_scrape = time.monotonic() + self.scrape_every
        while not self._stop.wait(SAMPLE_EVERY):
            try:
                self.peak_rss = max(self.peak_rss, proc.memory_info().rss)
            except psutil.Error:
                return
            if time.monotonic() >= next_scrape:
                next_scrape += self.scrape_every
                snap = self.scrape()
                if snap is not None:
                    with self._lock:
                        self._last = snap
                        received = self._received_before + total(snap, "trades_received")
                        lag = max(snap.get("tradestore_lag_seconds", {}).values(), default=0.0)
                        self.samples.append((time.monotonic(), received, lag))

    def end_life(self, snap: dict | None) -> None:
        """Keep the last figures of this life (counters restart with the next one)."""
        self._stop.set()
        if self._sampler is not None:
            self._sampler.join()
        with self._lock:
            snap = snap if snap is not None else self._last
            self._last = None
        if snap is not None:
            self.lives.append(snap)
            self._received_before += total(snap, "trades_received")

    def kill(self) -> None:
        snap = self.scrape()  # the figures of this life, a moment before it ends
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.end_life(snap)

    def terminate(self) -> int:
        snap = self.scrape()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.end_life(snap)
        return rc


def parse_metrics(text: str) -> dict[str, dict[tuple, float]]:
    """{sample name: {sorted label items: value}} from Prometheus text."""
    out: dict[str, dict[tuple, float]] = defaultdict(dict)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[s.name][tuple(sorted(s.labels.items()))] = s.value
    return dict(out)


def total(snap: dict, name: str, **labels) -> float:
    """Sum of tradestore_<name> (counters carry _total) over samples matching labels."""
    values = snap.get(f"tradestore_{name}_total") or snap.get(f"tradestore_{name}") or {}
    return sum(v for k, v in values.items() if all((n, x) in k for n, x in labels.items()))


def drained(snap: dict | None) -> bool:
    return (
        snap is not None
        and total(snap, "gaps", status="open") == 0
        and total(snap, "buffered_trades") == 0
        and total(snap, "frame_queue_used") == 0
    )


# ---------------------------------------------------------------- the run


def soak(args) -> dict:
    symbols = symbol_names(args.symbols)
    rng = random.Random(args.seed)
    kill_at = args.kill_at if args.kill_at is not None else rng.uniform(1 / 3, 2 / 3) * args.seconds
    work = args.workdir or Path(tempfile.mkdtemp(prefix="tradestore-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    db = work / "db"
    config = work / "recorder.toml"
    # Quicker than production so a short run sees them: the watchdog notices a silent
    # connection (and the stall check a silent symbol) after a few seconds, and a failed
    # fill is retried after 5 s, not 60.
    config.write_text(
        f"watchdog_floor = {args.watchdog_floor}\nstall_floor = {args.watchdog_floor}\n"
        "backfill_retry = 5.0\nhealthy_after = 5.0\n"
        f"line_b_delay = {args.line_b_delay}\n"
    )
    exchange, ws_url = start_exchange(args, symbols, work)
    rest_url = ws_url.replace("ws://", "http://", 1)
    argv = ["--db", str(db), "--symbols", ",".join(symbols), "--endpoint", ws_url]
    argv += ["--rest-endpoint", rest_url, "--metrics-addr", "127.0.0.1:0"]
    argv += ["--config", str(config), "--retention-days", "0"]
    if args.per_symbol_streams:
        argv.append("--per-symbol-streams")
    if args.ab_lines:
        argv.append("--ab-lines")
    daemon = Daemon(argv, work / "daemon.log")
    timeline: dict[str, float] = {}
    term_rc = None
    try:
        daemon.start()
        # The run's clock starts once the daemon serves /metrics: its connections open and
        # generation starts right after, so a slow start (a loaded machine) does not eat
        # into the timeline of the kill, the silences and the watchdog.
        t0 = time.monotonic()
        time.sleep(max(kill_at - (time.monotonic() - t0), 0))
        timeline["killed_at_s"] = time.monotonic() - t0
        timeline["killed_wall_ms"] = time.time() * 1000
        daemon.kill()
        time.sleep(args.down)
        timeline["restarted_at_s"] = time.monotonic() - t0
        daemon.start()
        # Generation started at the first subscription (~1 s in) and lasts args.seconds.
        generated_by = t0 + args.seconds + 1.0
        time.sleep(max(generated_by - time.monotonic(), 0))
        timeline["generation_ended_at_s"] = generated_by - t0
        deadline = time.monotonic() + args.drain_timeout
        stable, previous, closed_at = 0, None, None
        while time.monotonic() < deadline and stable < 3:
            time.sleep(1.0)
            snap = daemon.scrape()
            stored = total(snap, "trades_stored") if snap else None
            stable = stable + 1 if drained(snap) and stored == previous else 0
            previous = stored
            if snap is not None and total(snap, "gaps", status="open") == 0:
                closed_at = closed_at or time.monotonic()
            else:
                closed_at = None
        timeline["drained_at_s"] = time.monotonic() - t0
        timeline["drained"] = stable >= 3
        # When the open-gap count last reached 0 for good (scraped once a second).
        if closed_at is not None:
            timeline["gaps_closed_after_end_s"] = max(closed_at - generated_by, 0.0)
    finally:
        exchange.send_signal(signal.SIGTERM)
        exchange_rc = exchange.wait(timeout=60)
        if daemon.proc is not None and daemon.proc.poll() is None:
            term_rc = daemon.terminate()
    return account(args, symbols, work, daemon, timeline, term_rc, exchange_rc, kill_at)


def account(args, symbols, work, daemon, timeline, term_rc, exchange_rc, kill_at) -> dict:
    from tradestore import TradeStore
    from tradestore.cli import main
    from tradestore.codec._values import decode_batch
    from tradestore.fake import SentLog
    from tradestore.store._keys import MAX_MS

    sent = SentLog.read_json(work / "sent.json")
    per_symbol = {}
    failures: list[str] = []
    open_gaps: list[dict] = []
    causes: dict[str, int] = defaultdict(int)
    gap_causes: dict[str, int] = defaultdict(int)
    killed_ms = timeline.get("killed_wall_ms")
    with TradeStore(work / "db", read_only=True) as store:
        for symbol in symbols:
            generated = sent.generated_ids(symbol)
            stored: list[int] = []
            for key, value in store.iter_values(symbol, 0, MAX_MS):
                stored.extend(t.agg_id for t in decode_batch(value, key))
            distinct = set(stored)
            sent_ids = set(sent.sent_ids(symbol))
            gaps = store.gaps(symbol)
            skipped = set(sent.skipped_ids(symbol))
            for g in gaps:
                gap_causes[gap_cause(g, skipped, killed_ms)] += 1
            missing = sorted(set(generated) - distinct)
            foreign = len(distinct - set(generated))
            last_stored = max(distinct, default=None)
            unexplained = []
            tail = 0
            for agg_id in missing:
                gap = next((g for g in gaps if g.first_id <= agg_id <= g.last_id), None)
                if gap is not None and (gap.reason or gap.status == "open"):
                    reason = re.sub(r"\d+ |\s*\(.*", "", gap.reason) or "not yet filled"
                    causes[f"in a {gap.status} gap: {reason}"] += 1
                elif last_stored is None or agg_id > last_stored:
                    # Past the last trade that reached the daemon: only a later trade could
                    # have revealed the hole. Never sent (a cut or stall at the very end), or
                    # handed to a socket that was being cut.
                    how = "sent, lost in a cut" if agg_id in sent_ids else "never sent"
                    causes[f"after the last trade delivered (tail, {how})"] += 1
                    tail += 1
                else:
                    unexplained.append(agg_id)
            for g in gaps:
                if g.status == "open":
                    open_gaps.append(
                        {
                            "symbol": symbol,
                            "first_id": g.first_id,
                            "last_id": g.last_id,
                            "reason": g.reason or "no reason recorded",
                        }
                    )
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                verify_rc = main(
                    ["verify", "--db", str(work / "db"), "--symbol", symbol, "--format", "json"]
                )
            report = json.loads(out.getvalue())
            row = {
                "generated": len(generated),
                "sent": len(sent_ids),
                "skipped": len(sent.skipped_ids(symbol)),
                "stored": len(distinct),
                "duplicates_stored": len(stored) - len(distinct),
                "foreign_ids": foreign,
                "missing": len(missing),
                "tail": tail,
                "unexplained": unexplained[:20],
                "unexplained_count": len(unexplained),
                "gaps": len(gaps),
                "verify_exit": verify_rc,
                "verify_holes": report["holes"][:20],
            }
            per_symbol[symbol] = row
            final = daemon.lives[-1] if daemon.lives else {}
            seen = final.get("tradestore_last_agg_id", {}).get((("symbol", symbol),))
            if seen is not None and (last_stored is None or seen > last_stored):
                failures.append(f"{symbol}: id {seen:.0f} was received but not stored")
            if verify_rc != 0:
                failures.append(f"{symbol}: verify exited {verify_rc}")
            if report["undecodable_keys"] or report["out_of_order_keys"]:
                failures.append(
                    f"{symbol}: verify found undecodable {report['undecodable_keys'][:3]} "
                    f"or out-of-order {report['out_of_order_keys'][:3]} batches"
                )
            if row["duplicates_stored"] or report["duplicates"]:
                failures.append(f"{symbol}: {row['duplicates_stored']} duplicate rows stored")
            if foreign:
                failures.append(f"{symbol}: {foreign} stored ids were never generated")
            if unexplained:
                failures.append(f"{symbol}: {len(unexplained)} ids missing without a cause")
            for hole in report["holes"]:
                if hole["recorded_gap"] == "not recorded" and hole["last_id"] <= (last_stored or 0):
                    failures.append(f"{symbol}: verify hole {hole} has no gap record")
    for g in open_gaps:
        if g["reason"] == "no reason recorded":
            failures.append(f"{g['symbol']}: gap {g['first_id']}..{g['last_id']} left open")
    if term_rc != 0:
        failures.append(f"the daemon exited {term_rc} on SIGTERM (must be 0)")
    if exchange_rc != 0:
        failures.append(f"the fake exchange exited {exchange_rc}")
    log_text = daemon.log_path.read_text(errors="replace")
    if "Traceback" in log_text:
        failures.append(f"a traceback in {daemon.log_path}")
    if not timeline.get("drained"):
        failures.append(f"the daemon had not drained after {args.drain_timeout} s")

    lives = daemon.lives
    stats = sent.statistics()
    generated = sum(r["generated"] for r in per_symbol.values())
    rate, lag = achieved_rate(daemon.samples)
    drops: dict[str, float] = defaultdict(float)
    for snap in lives:
        # The symbol="" rows count every rejected frame; per-symbol rows repeat some of them.
        for labels, v in snap.get("tradestore_frames_dropped_total", {}).items():
            if dict(labels)["symbol"] == "":
                drops[dict(labels)["reason"]] += v
    dup_dropped = sum(total(s, "duplicates_dropped") for s in lives)
    # Every rejected frame here is an injected one (a not_utf8 frame is rejected as binary).
    malformed_dropped = sum(drops.values())
    return {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "extensions_loaded": __import__("tradestore").EXTENSIONS_LOADED,
        "params": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
        | {"kill_at_s": round(kill_at, 2)},
        "workdir": str(work),
        "timeline": {k: round(v, 2) if isinstance(v, float) else v for k, v in timeline.items()},
        "ok": not failures,
        "failures": failures,
        "figures": {
            "symbols": len(symbols),
            "rate_configured_per_s": args.rate * len(symbols),
            "rate_achieved_per_s": rate,
            "max_lag_s": lag,
            "generated": generated,
            "sent_over_ws": sum(r["sent"] for r in per_symbol.values()),
            "stored": sum(r["stored"] for r in per_symbol.values()),
            "duplicates_stored": sum(r["duplicates_stored"] for r in per_symbol.values()),
            "missing": sum(r["missing"] for r in per_symbol.values()),
            "missing_by_cause": dict(causes),
            "unexplained_missing": sum(r["unexplained_count"] for r in per_symbol.values()),
            "gaps_recorded": sum(r["gaps"] for r in per_symbol.values()),
            "gaps_by_cause": dict(gap_causes),
            "gaps_closed_after_end_s": timeline.get("gaps_closed_after_end_s"),
            "redundant_copies": sum(total(s, "redundant_copies") for s in lives),
            "arbitration_holds": sum(total(s, "arbitration_holds") for s in lives),
            "arbitration_holds_filled": sum(total(s, "arbitration_holds_filled") for s in lives),
            "backfill_requests_saved": sum(total(s, "backfill_requests_saved") for s in lives),
            "gaps_left_open": open_gaps,
            "verify_clean_symbols": sum(r["verify_exit"] == 0 for r in per_symbol.values()),
            "daemon_lives": len(lives),
            "reconnects": sum(
                max(s.get("tradestore_reconnects_total", {0: 0}).values()) for s in lives
            ),
            "connections_opened_by_exchange": stats["connections_opened"],
            "connections_cut": stats["drops_by_reason"],
            "trades_withheld_silent": stats["trades_withheld"],
            "ids_skipped": sum(r["skipped"] for r in per_symbol.values()),
            "malformed_injected": stats["malformed_sent"],
            "malformed_dropped": malformed_dropped,
            "duplicates_injected": stats["duplicates_sent"],
            "duplicates_dropped": dup_dropped,
            "drops_by_reason": dict(drops),
            "rest_requests": stats["rest_requests"],
            "rest_429_injected": stats["rest_429_sent"],
            "backfill_calls": sum(total(s, "backfill_calls") for s in lives),
            "backfill_rate_limited": sum(total(s, "backfill_rate_limited") for s in lives),
            "backfill_trades_fetched": sum(total(s, "backfill_trades_fetched") for s in lives),
            "peak_rss_mb": round(daemon.peak_rss / 2**20, 1),
            "worst_flush_latency_s": max(
                (total(s, "flush_latency_max_seconds") for s in lives), default=None
            ),
            "flushes": sum(total(s, "flushes") for s in lives),
            "daemon_exit_on_sigterm": term_rc,
        },
        "lives": [life_summary(s) for s in lives],
        "per_symbol": per_symbol,
    }


def gap_cause(gap, skipped: set[int], killed_ms: float | None) -> str:
    """Why a gap record exists: ids the exchange sent to nobody, the kill -9's downtime,
    or a connection cut or stall (the only kind A/B lines can cover)."""
    if all(i in skipped for i in range(gap.first_id, gap.last_id + 1)):
        return "skipped ids"
    if killed_ms is not None and gap.after_time_ms <= killed_ms <= gap.before_time_ms + 1000:
        return "kill -9"
    return "cut or stall"


def life_summary(snap: dict) -> dict:
    """The daemon's own counters over one life (the last scrape before it ended)."""
    return {
        name: total(snap, name)
        for name in (
            "trades_received",
            "trades_stored",
            "duplicates_dropped",
            "gaps_detected",
            "gap_missing_ids",
            "flushes",
            "flush_latency_max_seconds",
            "backfill_calls",
            "backfill_rate_limited",
            "backfill_trades_fetched",
        )
    } | {
        "frames_dropped": total(snap, "frames_dropped", symbol=""),
        "reconnects": max(snap.get("tradestore_reconnects_total", {0: 0}).values()),
    }


def achieved_rate(samples: list[tuple[float, float, float]]) -> tuple[float | None, float]:
    """The median rate at which the daemon received live trades over the ~1 s windows
    between scrapes that saw any (stalls, cuts and the kill are the faults' doing, not the
    machine's), and the worst lag of the last trade behind the exchange clock."""
    lag = round(max((s[2] for s in samples), default=0.0), 2)
    rates = sorted(
        (b[1] - a[1]) / (b[0] - a[0])
        for a, b in zip(samples, samples[1:], strict=False)
        if b[1] > a[1] and b[0] > a[0]
    )
    return (round(rates[len(rates) // 2], 1) if rates else None), lag


# ---------------------------------------------------------------- the table


def print_table(result: dict) -> None:
    f = result["figures"]
    ok = "[green]ok[/green]"
    bad = "[red]FAIL[/red]"
    table = Table(
        title=f"soak: {f['symbols']} symbols, {result['params']['seconds']:.0f} s, "
        f"1 kill -9 at {result['params']['kill_at_s']:.0f} s"
    )
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("", justify="left")
    rows = [
        (
            "trades/s configured / received (median)",
            f"{f['rate_configured_per_s']:.0f} / {f['rate_achieved_per_s']}",
            f"max lag {f['max_lag_s']} s",
        ),
        ("trades generated (sent)", f"{f['generated']} ({f['sent_over_ws']} over WS)", ""),
        (
            "trades stored",
            str(f["stored"]),
            ok if f["stored"] + f["missing"] == f["generated"] else bad,
        ),
        (
            "duplicates stored",
            str(f["duplicates_stored"]),
            ok if not f["duplicates_stored"] else bad,
        ),
        (
            "ids missing",
            str(f["missing"]),
            "; ".join(f"{n} {c}" for c, n in f["missing_by_cause"].items())
            + (
                f" [red]{f['unexplained_missing']} unexplained[/red]"
                if f["unexplained_missing"]
                else ""
            ),
        ),
        (
            "gaps recorded / left open",
            f"{f['gaps_recorded']} / {len(f['gaps_left_open'])}",
            "; ".join(
                f"{g['symbol']} {g['first_id']}..{g['last_id']}: {g['reason']}"
                for g in f["gaps_left_open"][:5]
            ),
        ),
        (
            "gaps by cause",
            ", ".join(f"{n} {c}" for c, n in sorted(f["gaps_by_cause"].items())) or "none",
            "",
        ),
        (
            "every gap closed, after the end of generation",
            "never (drain timeout)"
            if f["gaps_closed_after_end_s"] is None
            else f"{f['gaps_closed_after_end_s']:.0f} s",
            f"{f['backfill_requests_saved']:.0f} gaps fetched in another's page",
        ),
        (
            "A/B: copies dropped / jumps held (filled by the other line)",
            f"{f['redundant_copies']:.0f} / {f['arbitration_holds']:.0f} "
            f"({f['arbitration_holds_filled']:.0f})",
            "A/B lines" if result["params"]["ab_lines"] else "one line",
        ),
        ("verify clean", f"{f['verify_clean_symbols']} / {f['symbols']} symbols", ""),
        (
            "reconnects (daemon) / connections cut (exchange)",
            f"{f['reconnects']:.0f} / {sum(f['connections_cut'].values())}",
            ", ".join(f"{k} {v}" for k, v in f["connections_cut"].items()),
        ),
        ("trades withheld by silent stalls", str(f["trades_withheld_silent"]), ""),
        ("ids skipped (REST only)", str(f["ids_skipped"]), ""),
        (
            "malformed frames injected / dropped",
            f"{f['malformed_injected']} / {f['malformed_dropped']:.0f}",
            "",
        ),
        (
            "duplicate frames injected / dropped",
            f"{f['duplicates_injected']} / {f['duplicates_dropped']:.0f}",
            "",
        ),
        (
            "REST requests / 429s injected / backfill waits",
            f"{f['rest_requests']} / {f['rest_429_injected']} / {f['backfill_rate_limited']:.0f}",
            f"{f['backfill_trades_fetched']:.0f} trades backfilled",
        ),
        ("peak RSS of the daemon", f"{f['peak_rss_mb']} MB", ""),
        (
            "worst flush latency",
            f"{f['worst_flush_latency_s'] * 1000:.1f} ms"
            if f["worst_flush_latency_s"] is not None
            else "n/a",
            f"{f['flushes']:.0f} flushes",
        ),
        (
            "daemon lives / exit on SIGTERM",
            f"{f['daemon_lives']} / {f['daemon_exit_on_sigterm']}",
            ok if f["daemon_exit_on_sigterm"] == 0 else bad,
        ),
    ]
    for row in rows:
        table.add_row(*row)
    console = Console(width=140)
    console.print(table)
    verdict = "[green]ACCOUNTING OK[/green]" if result["ok"] else "[red]ACCOUNTING FAILED[/red]"
    console.print(verdict)
    for failure in result["failures"][:30]:
        console.print(f"  {failure}", markup=False)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = soak(args)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print_table(result)
    print(f"figures: {args.json}; DB, logs and sent-log: {result['workdir']}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
