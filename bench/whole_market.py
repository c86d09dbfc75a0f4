"""Whole-market benchmark: ``tradestore-trio run --symbols ALL`` against a fake exchange
serving 2,000 symbols, then an exact account of every agg id.

    python bench/whole_market.py                       # 2,000 symbols, 10 minutes (~13 min)
    python bench/whole_market.py --seconds 60          # a quick look
    python bench/whole_market.py --symbols 200 --seconds 30 --total-rate 500

Two child processes on 127.0.0.1:

- ``tradestore-trio fake-exchange`` impersonating Binance spot with ``--symbols`` symbols
  whose trades follow Zipf's law (``--zipf``: a few symbols carry most of the
  ``--total-rate`` trades/s, most trade rarely), bursts of ``--burst-factor`` x the rate
  for ``--burst-for`` s in the middle of every ``--burst-every`` s, and ``--listings`` new
  symbols listed and
  ``--delistings`` symbols delisted at even intervals during the run; generation stops
  after ``--seconds``.
- ``tradestore-trio run --symbols ALL`` (exchangeInfo re-read every
  ``--exchange-info-interval`` s) with /metrics scraped every ``--scrape-every`` s
  (each scrape of 2,000 symbols' figures costs the event loop about 0.1 s of CPU, a few
  milliseconds per metric family),
  its RSS sampled twice a second.

When generation is over the harness waits until the daemon has no open gap, nothing
buffered and nothing new arriving, stops both (the daemon must exit 0), and accounts
for every id the exchange generated: each one it delivered to the recorder (for a new
listing: each one from its first trade) must be stored exactly once, directly or through
a filled gap. Figures: lost and duplicated ids, peak RSS, worst flush, control messages
per second, REST weight per minute against the limit. One table is printed; the figures
go to bench/results-whole-market.json. Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import signal
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import psutil
from rich.console import Console
from rich.table import Table

from soak import Daemon, launch_exchange, total

RESULTS = Path(__file__).parent / "results-whole-market.json"
START_ID = 1_000_000
TARGET_RSS_MB = 250
TARGET_FLUSH_S = 0.250
TARGET_WEIGHT_SHARE = 0.5


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--symbols", type=int, default=2000, help="symbols listed at the start")
    p.add_argument("--total-rate", type=float, default=5000.0, help="trades/s, all symbols")
    p.add_argument("--seconds", type=float, default=600.0, help="how long trades are generated")
    p.add_argument("--zipf", type=float, default=1.1, help="the skew's exponent")
    p.add_argument("--burst-every", type=float, default=60.0, metavar="S")
    p.add_argument("--burst-for", type=float, default=5.0, metavar="S")
    p.add_argument("--burst-factor", type=float, default=6.0, help="30,000/s from 5,000/s")
    p.add_argument("--listings", type=int, default=10, help="symbols listed during the run")
    p.add_argument("--delistings", type=int, default=10, help="symbols delisted during the run")
    p.add_argument("--exchange-info-interval", type=float, default=10.0, metavar="S")
    p.add_argument(
        "--scrape-every",
        type=float,
        default=15.0,
        metavar="S",
        help="seconds between /metrics scrapes while trades flow, as a Prometheus server "
        "would (15 s, a common scrape_interval; the drain scrapes every second)",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--drain-timeout", type=float, default=600.0, metavar="S")
    p.add_argument("--workdir", type=Path, help="keep the DB, logs and sent-log here")
    p.add_argument("--json", type=Path, default=RESULTS, help=f"results file (default {RESULTS})")
    args = p.parse_args(argv)
    if args.symbols < 10 or args.total_rate <= 0 or args.seconds <= 0:
        p.error("--symbols (at least 10), --total-rate and --seconds must be positive")
    return args


def symbol_names(n: int) -> list[str]:
    """BTCUSDT, ETHUSDT, ... then made-up names; one in ten quoted in BTC."""
    real = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT"]
    made = [f"W{i:04d}{'BTC' if i % 10 == 9 else 'USDT'}" for i in range(n)]
    return (real + made)[:n]


def schedule(args, symbols: list[str]) -> tuple[list[str], list[str]]:
    """(listings, delistings) as SECONDS:SYMBOL, spread over the middle of the run; the
    delisted symbols are taken from the busy head and the quiet tail alike."""
    span = args.seconds * 0.8
    listings = [
        f"{args.seconds * 0.1 + span * (i + 0.5) / args.listings:.1f}:NEW{i:03d}USDT"
        for i in range(args.listings)
    ]
    victims = [symbols[i] for i in range(5, len(symbols), max(len(symbols) // args.delistings, 1))]
    delistings = [
        f"{args.seconds * 0.1 + span * (i + 0.25) / args.delistings:.1f}:{s}"
        for i, s in enumerate(victims[: args.delistings])
    ]
    return listings, delistings


def start_exchange(args, symbols, listings, delistings, work: Path):
    # The exchange ranks symbols by the order given (rank 1 trades most); a seeded shuffle
    # keeps volume unrelated to the name, as on Binance, so no one connection of the
    # recorder's alphabetical plan carries all the busy symbols.
    ranked = list(symbols)
    random.Random(args.seed).shuffle(ranked)
    argv = [sys.executable, "-m", "tradestore", "fake-exchange", "--port", "0"]
    argv += ["--symbols", ",".join(ranked), "--rate", str(args.total_rate / len(symbols))]
    argv += ["--zipf", str(args.zipf), "--seed", str(args.seed), "--start-id", str(START_ID)]
    argv += ["--burst-every", str(args.burst_every), "--burst-for", str(args.burst_for)]
    argv += ["--burst-factor", str(args.burst_factor), "--stop-after", str(args.seconds)]
    argv += ["--no-wait", "--queue-size", "20000", "--sent-log", str(work / "sent.json")]
    if listings:
        argv += ["--listings", ",".join(listings)]
    if delistings:
        argv += ["--delistings", ",".join(delistings)]
    return launch_exchange(argv, work)


def run(args) -> dict:
    symbols = symbol_names(args.symbols)
    listings, delistings = schedule(args, symbols)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="tradestore-whole-market-"))
    work.mkdir(parents=True, exist_ok=True)
    exchange, ws_url = start_exchange(args, symbols, listings, delistings, work)
    t0 = time.monotonic()
    rest_url = ws_url.replace("ws://", "http://", 1)
    argv = ["--db", str(work / "db"), "--symbols", "ALL", "--endpoint", ws_url]
    argv += ["--rest-endpoint", rest_url, "--metrics-addr", "127.0.0.1:0"]
    argv += ["--retention-days", "0", "--exchange-info-interval", str(args.exchange_info_interval)]
    daemon = Daemon(argv, work / "daemon.log", scrape_every=args.scrape_every)
    timeline: dict[str, float | bool] = {}
    term_rc = None
    try:
        daemon.start()
        timeline["daemon_up_s"] = time.monotonic() - t0
        time.sleep(max(args.seconds + 1.0 - (time.monotonic() - t0), 0))
        timeline["generation_over_s"] = time.monotonic() - t0
        deadline = time.monotonic() + args.drain_timeout
        # A listing made near the end is found at the next exchangeInfo read (then its
        # ids are caught up): the drain lasts at least two read intervals.
        settled = time.monotonic() + 2 * args.exchange_info_interval
        stable, previous = 0, None
        while time.monotonic() < deadline and (stable < 3 or time.monotonic() < settled):
            time.sleep(1.0)
            snap = daemon.scrape()
            stored = total(snap, "trades_stored") if snap else None
            quiet = snap is not None and total(snap, "gaps", status="open") == 0
            quiet = quiet and total(snap, "buffered_trades") == 0
            stable = stable + 1 if quiet and stored == previous else 0
            previous = stored
        timeline["drained_at_s"] = time.monotonic() - t0
        timeline["drained"] = stable >= 3
        timeline["cpu_s"] = {  # type: ignore[assignment]
            "recorder": round(sum(psutil.Process(daemon.proc.pid).cpu_times()[:2]), 1),
            "exchange": round(sum(psutil.Process(exchange.pid).cpu_times()[:2]), 1),
        }
    finally:
        exchange.send_signal(signal.SIGTERM)
        exchange_rc = exchange.wait(timeout=120)
        if daemon.proc is not None and daemon.proc.poll() is None:
            term_rc = daemon.terminate()
    return account(args, work, daemon, timeline, term_rc, exchange_rc, listings)


def flush_histogram(snap: dict) -> dict:
    """How many flushes there were, how many took over 250 ms, and the bucket edge that
    99% of them stayed within (from tradestore_flush_seconds)."""
    buckets = {
        float("inf") if dict(k)["le"] == "+Inf" else float(dict(k)["le"]): v
        for k, v in snap.get("tradestore_flush_seconds_bucket", {}).items()
    }
    count = buckets.get(float("inf"), 0.0)
    p99 = next((edge for edge, n in sorted(buckets.items()) if n >= 0.99 * count), 0.0)
    return {
        "count": int(count),
        "over_250ms": int(count - buckets.get(0.25, 0.0)),
        "p99_at_most_s": p99,
        "buckets": {str(edge): int(n) for edge, n in sorted(buckets.items())},
    }


def flush_line(flushes: dict) -> str:
    p99 = flushes["p99_at_most_s"] * 1000
    return f"{flushes['count']} / {flushes['over_250ms']} / {p99:.0f} ms"


def account(args, work, daemon, timeline, term_rc, exchange_rc, listings) -> dict:
    from tradestore import TradeStore
    from tradestore.binance import SPOT
    from tradestore.codec._values import decode_batch
    from tradestore.fake import SentLog
    from tradestore.store._keys import MAX_MS

    sent = SentLog.read_json(work / "sent.json")
    listed = {entry.split(":", 1)[1] for entry in listings}
    lost = tail = duplicated = foreign = delivered = stored_total = 0
    failures: list[str] = []
    per_symbol: dict[str, dict] = {}
    gap_status: dict[str, int] = defaultdict(int)
    with TradeStore(work / "db", read_only=True) as store:
        for symbol in sent.symbols:
            generated = sent.generated_ids(symbol)
            sent_ids = sent.sent_ids(symbol)
            rows: list[int] = []
            for key, value in store.iter_values(symbol, 0, MAX_MS):
                rows.extend(t.agg_id for t in decode_batch(value, key))
            distinct = set(rows)
            gaps = store.gaps(symbol)
            for g in gaps:
                gap_status[g.status] += 1
            # What the recorder owed: a listing from its first trade; any other symbol
            # from the first trade delivered to it (it starts live, as on Binance).
            if symbol in listed:
                owed = generated
            elif sent_ids:
                owed = [i for i in generated if i >= sent_ids[0]]
            else:
                owed = []
            missing = [i for i in owed if i not in distinct]
            # Past the last trade that reached the recorder, and in no gap: a cut near the
            # end of generation, which only a later trade (there is none) would reveal.
            last_stored = max(distinct, default=-1)
            ends = [i for i in missing if i > last_stored]
            if not any(g.first_id <= i <= g.last_id for g in gaps for i in ends[:1]):
                tail += len(ends)
                missing = [i for i in missing if i <= last_stored]
            delivered += len(owed)
            stored_total += len(distinct)
            lost += len(missing)
            duplicated += len(rows) - len(distinct)
            strangers = len(distinct - set(generated))
            foreign += strangers
            if missing or len(rows) != len(distinct) or strangers:
                per_symbol[symbol] = {
                    "owed": len(owed),
                    "stored": len(distinct),
                    "missing": missing[:20],
                    "missing_count": len(missing),
                    "duplicates": len(rows) - len(distinct),
                    "foreign": strangers,
                    "gaps": [str(g) for g in gaps][:5],
                }
    final = daemon.lives[-1] if daemon.lives else {}
    worst_flush = max(final.get("tradestore_flush_latency_max_seconds", {}).values(), default=0.0)
    flushes = flush_histogram(final)
    weight = sent.rest_weight_by_minute
    # The first and last minutes are partial; all count, the peak is what matters.
    peak_weight = max(weight.values(), default=0)
    control = sent.control_messages
    duration = float(timeline.get("drained_at_s", args.seconds))
    result = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": platform.platform(),
        "python": sys.version.split()[0],
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "workdir": str(work),
        "symbols_served": len(sent.symbols),
        "listings": len(sent.listings),
        "delistings": len(sent.delistings),
        "generated": sum(len(sent.generated_ids(s)) for s in sent.symbols),
        "delivered_owed": delivered,
        "stored": stored_total,
        "lost": lost,
        "tail_unrevealed": tail,
        "duplicated": duplicated,
        "foreign": foreign,
        "gap_records": dict(gap_status),
        "peak_rss_mb": round(daemon.peak_rss / 2**20, 1),
        "worst_flush_s": round(worst_flush, 4),
        "scrape_every_s": args.scrape_every,
        "flushes": flushes,
        "control_messages": control,
        "control_by_method": dict(sent.control_by_method),
        "control_per_second_avg": round(control / duration, 3) if duration else 0.0,
        "max_messages_per_second_one_connection": sent.max_messages_per_second,
        "message_limit_drops": sent.message_limit_drops,
        "connections_opened": sent.connections_opened,
        "connections_dropped": sent.connections_dropped,
        "rest_weight_peak_per_minute": peak_weight,
        "rest_weight_limit": SPOT.weight_per_minute,
        "rest_weight_by_minute": {str(k): v for k, v in sorted(weight.items())},
        "rest_requests": sent.rest_requests,
        "timeline": timeline,
        "cpu_s": timeline.pop("cpu_s", {"recorder": None, "exchange": None}),
        "daemon_exit": term_rc,
        "exchange_exit": exchange_rc,
        "problem_symbols": dict(list(per_symbol.items())[:20]),
    }
    if lost:
        failures.append(f"{lost} ids lost")
    if tail:
        failures.append(f"{tail} ids after the last delivered trade of their symbol, unrevealed")
    if duplicated:
        failures.append(f"{duplicated} ids stored twice")
    if foreign:
        failures.append(f"{foreign} stored ids were never generated")
    if term_rc != 0:
        failures.append(f"the daemon exited {term_rc} on SIGTERM")
    if not timeline.get("drained"):
        failures.append("the daemon did not drain (open gaps or buffered trades) in time")
    if result["peak_rss_mb"] > TARGET_RSS_MB:
        failures.append(f"peak RSS {result['peak_rss_mb']} MB > {TARGET_RSS_MB} MB")
    if worst_flush > TARGET_FLUSH_S:
        failures.append(f"worst flush {worst_flush * 1000:.0f} ms > {TARGET_FLUSH_S * 1000:.0f} ms")
    if peak_weight > TARGET_WEIGHT_SHARE * SPOT.weight_per_minute:
        failures.append(f"REST weight {peak_weight}/min > 50% of {SPOT.weight_per_minute}")
    if sent.message_limit_drops:
        failures.append(f"{sent.message_limit_drops} connections cut for too many messages")
    result["failures"] = failures
    return result


def show(result: dict) -> None:
    table = Table(title="whole market: ALL symbols, one recorder process")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    rows = [
        ("symbols served (listed at start + listings)", result["symbols_served"], ""),
        ("listings / delistings during the run", f"{result['listings']} / {result['delistings']}", ""),
        ("trades generated", f"{result['generated']:,}", ""),
        ("ids owed to the recorder", f"{result['delivered_owed']:,}", ""),
        ("ids stored", f"{result['stored']:,}", ""),
        ("lost (inside the record)", result["lost"], "0"),
        ("missing after the last delivered trade", result["tail_unrevealed"], "0"),
        ("duplicated", result["duplicated"], "0"),
        ("gap records by status", json.dumps(result["gap_records"]), "all filled"),
        ("peak RSS", f"{result['peak_rss_mb']} MB", f"<= {TARGET_RSS_MB} MB"),
        ("worst flush", f"{result['worst_flush_s'] * 1000:.0f} ms", f"<= {TARGET_FLUSH_S * 1000:.0f} ms"),
        ("flushes: all / over 250 ms / 99% took at most", flush_line(result["flushes"]), ""),
        ("control messages (SUBSCRIBE/UNSUBSCRIBE)", json.dumps(result["control_by_method"]), ""),
        ("control messages per second (whole run)", result["control_per_second_avg"], ""),
        ("most messages in 1 s on one connection", result["max_messages_per_second_one_connection"], "<= 5"),
        ("REST weight, peak minute", f"{result['rest_weight_peak_per_minute']} / {result['rest_weight_limit']}", "<= 50%"),
        ("connections opened / dropped", f"{result['connections_opened']} / {result['connections_dropped']}", ""),
        ("CPU seconds: recorder / fake exchange", f"{result['cpu_s']['recorder']} / {result['cpu_s']['exchange']}", ""),
        ("daemon exit on SIGTERM", result["daemon_exit"], "0"),
    ]  # fmt: skip
    for name, value, target in rows:
        table.add_row(name, str(value), target)
    Console().print(table)
    for failure in result["failures"]:
        print(f"FAIL: {failure}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = run(args)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    show(result)
    print(f"figures in {args.json}; DB, logs and sent-log in {result['workdir']}")
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
