"""``demo``: the offline first run: a local fake exchange, the recorder, live progress."""

from __future__ import annotations

import argparse
import logging
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from tradestore.cli import _common as c
from tradestore.cli._plot import EXTRA, writable_target

if TYPE_CHECKING:
    from tradestore.recorder import RecorderStatistics

DEFAULT_SYMBOLS = "BTCUSDT,ETHUSDT"
REFRESH_S = 0.5
PLAIN_PROGRESS_EVERY_S = 5.0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "demo",
        help="record from a local fake exchange for a few seconds and show the results",
        description="Start a fake Binance exchange on a free loopback port and the recorder "
        "against it, show trades/s and stored trades per symbol while it runs, then (after "
        "--seconds or Ctrl-C) print the store's statistics and a volume profile, and write "
        "an HTML report of the first symbol (when matplotlib is installed). Needs no "
        "network. The DB goes to a temporary directory that is removed afterwards unless "
        "--db is given; the report is kept.",
    )
    p.add_argument(
        "--db", default=None, metavar="PATH", help="keep the recorded DB here (default: temp)"
    )
    p.add_argument("--seconds", type=float, default=20.0, metavar="S", help="run time (default 20)")
    p.add_argument("--symbols", default=DEFAULT_SYMBOLS, metavar="S,S", help=DEFAULT_SYMBOLS)
    p.add_argument(
        "--rate", type=float, default=100.0, metavar="R", help="trades/s per symbol (default 100)"
    )
    p.add_argument(
        "--report",
        metavar="FILE",
        help="write the HTML report here (default: beside --db, else in a new folder under "
        "the temporary directory, which is kept)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tradestore.recorder import ConfigError, RecorderConfig

    if not args.seconds > 0:
        raise c.UsageError("--seconds must be positive")
    if not args.rate > 0:
        raise c.UsageError("--rate must be positive")
    if args.report is not None:
        writable_target(args.report, "--report")
    temp_dir = None
    if args.db is None:
        temp_dir = tempfile.mkdtemp(prefix="tradestore-demo-")
        db = Path(temp_dir) / "db"
    else:
        db = Path(args.db)
        c.check_db(db, create=True)  # the demo's first start makes its store, as run's does
    try:
        try:
            config = RecorderConfig(
                symbols=args.symbols,
                db=str(db),
                endpoint="ws://127.0.0.1:1",  # replaced by the fake exchange's address
                retention_days=0,
                backfill=False,
            )
        except ConfigError as exc:
            raise c.UsageError(str(exc)) from None
        # The recorder's own log lines would tear the live display: warnings only.
        logging.getLogger("tradestore").setLevel(max(logging.WARNING, logging.root.level))
        where = (
            str(db)
            if temp_dir is None
            else "a temporary store (removed at the end; --db PATH keeps it)"
        )
        trio.run(_record, config, args.seconds, args.rate, where)
        _report(db, config.symbols, temp_dir is None)
        _html_report(db, config.symbols[0], args.report, kept=temp_dir is None)
    finally:
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)
    return 0


async def _record(config, seconds: float, rate: float, where: str) -> None:
    from tradestore.fake import FakeExchangeConfig, open_fake_exchange
    from tradestore.recorder import run as run_recorder

    fcfg = FakeExchangeConfig(symbols=config.symbols, rate=rate)
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with open_fake_exchange(fcfg) as fx:
            config = config.replace(endpoint=fx.ws_url, rest_endpoint=fx.rest_url)
            print(
                f"fake exchange on {fx.ws_url}; recording {', '.join(config.symbols)} "
                f"into {where} for {seconds:g} s (Ctrl-C stops early)",
                flush=True,
            )
            async with trio.open_nursery() as nursery:
                recorder = await nursery.start(run_recorder, config)
                with trio.move_on_after(seconds):
                    async with trio.open_nursery() as watch:
                        watch.start_soon(_stop_on_signal, signals, watch.cancel_scope)
                        await _show_progress(recorder, seconds)
                        watch.cancel_scope.cancel()
                nursery.cancel_scope.cancel()  # the recorder flushes everything on the way out


async def _stop_on_signal(signals, scope: trio.CancelScope) -> None:
    async for _ in signals:
        scope.cancel()
        return


async def _show_progress(recorder, seconds: float) -> None:
    if sys.stdout.isatty():
        await _live_table(recorder, seconds)
    else:
        await _plain_progress(recorder)


async def _live_table(recorder, seconds: float) -> None:
    from rich.console import Console
    from rich.live import Live

    rates = _Rates()
    rates.update(recorder.statistics())
    console = Console()
    start = trio.current_time()
    with Live(console=console, auto_refresh=False, transient=False) as live:
        while True:
            stats = recorder.statistics()
            elapsed = trio.current_time() - start
            live.update(_progress_table(stats, rates.update(stats), elapsed, seconds))
            live.refresh()
            await trio.sleep(REFRESH_S)


async def _plain_progress(recorder) -> None:
    rates = _Rates()
    rates.update(recorder.statistics())
    start = trio.current_time()
    while True:
        await trio.sleep(PLAIN_PROGRESS_EVERY_S)
        stats = recorder.statistics()
        per_s = rates.update(stats)
        parts = [
            f"{s} {per_s.get(s, 0.0):.0f}/s stored {v.stored}" for s, v in stats.symbols.items()
        ]
        print(f"[{trio.current_time() - start:4.0f} s] " + "  ".join(parts), flush=True)


class _Rates:
    """Trades/s per symbol between two snapshots."""

    def __init__(self) -> None:
        self._last: tuple[float, dict[str, int]] | None = None

    def update(self, stats: RecorderStatistics) -> dict[str, float]:
        now = trio.current_time()
        counts = {s: v.received for s, v in stats.symbols.items()}
        rates = {}
        if self._last is not None and now > self._last[0]:
            dt = now - self._last[0]
            rates = {s: (n - self._last[1].get(s, 0)) / dt for s, n in counts.items()}
        self._last = (now, counts)
        return rates


def _progress_table(
    stats: RecorderStatistics, rates: dict[str, float], elapsed: float, seconds: float
):
    from rich.table import Table

    table = Table(title=f"recording: {elapsed:4.1f} / {seconds:g} s  (Ctrl-C to stop)")
    for name in ("symbol", "trades/s", "received", "stored", "buffered", "last id", "gaps"):
        table.add_column(name, justify="left" if name == "symbol" else "right")
    for symbol, v in stats.symbols.items():
        table.add_row(
            symbol,
            f"{rates.get(symbol, 0.0):.0f}",
            str(v.received),
            str(v.stored),
            str(v.buffered),
            "" if v.last_id is None else str(v.last_id),
            str(v.gaps),
        )
    return table


def _report(db: Path, symbols, kept: bool) -> None:
    from tradestore import TradeStore
    from tradestore.cli._output import emit, field

    with TradeStore(db, read_only=True) as store:
        stats = store.stats()
        rows = [
            {
                "symbol": s,
                "stored trades": v["trades"],
                "first agg id": v["first_agg_id"],
                "last agg id": v["last_agg_id"],
                "open gaps": v["open_gaps"],
            }
            for s, v in stats["symbols"].items()
        ]
        where = db if kept else "the temporary store"
        emit(
            "table",
            rows,
            fields=list(rows[0]) if rows else ["symbol"],
            columns=[field(k, right=k != "symbol") for k in (rows[0] if rows else ["symbol"])],
            title=f"stored in {where} ({stats['bytes_on_disk']:,} bytes on disk)",
        )
        _profile_summary(store, symbols)
    if kept:
        print(
            f"the DB stays in {db}: try `tradestore-trio query --db {db} --symbol "
            f"{symbols[0]} --hours 1`"
        )


def _profile_summary(store, symbols) -> None:
    """A volume profile per symbol over the span of its recorded trades."""
    from tradestore.analytics import InsufficientData, decimal_str, volume_profile
    from tradestore.cli._profile import print_profile

    for i, symbol in enumerate(symbols):
        span = store.trade_time_span(symbol)
        if span is None:
            print(f"{symbol}: no trades were recorded")
            continue
        try:
            profile = volume_profile(store, symbol, span[0], span[1], bins=20, min_trades=100)
        except InsufficientData as exc:
            print(f"{symbol}: no volume profile ({exc})")
            continue
        if i == 0:
            print_profile(profile)
        else:
            print(
                f"{symbol}: {profile.trade_count} trades, "
                f"POC {decimal_str(profile.point_of_control)}, value area "
                f"{decimal_str(profile.value_area_low)} .. "
                f"{decimal_str(profile.value_area_high)}, "
                f"volume {decimal_str(profile.total_volume)}"
            )


DEMO_MIN_TRADES = 100  # a few seconds of a demo: fewer than the analytics commands ask


def _html_report(db: Path, symbol: str, target: str | None, *, kept: bool) -> Path | None:
    """Write the HTML report of ``symbol`` over its recorded trades and print its path.

    Without matplotlib, or with too few trades, the demo says why and goes on: the report
    is a bonus, not the demo's point."""
    from tradestore import TradeStore

    try:
        from tradestore import plot
    except ImportError:
        print(f"no HTML report: it needs matplotlib ({EXTRA})")
        return None
    with TradeStore(db, read_only=True) as store:
        span = store.trade_time_span(symbol)
        if span is None:
            print(f"no HTML report: no {symbol} trades were recorded")
            return None
        try:
            report = plot.build_report(
                store,
                symbol,
                span[0],
                span[1],
                bins=20,
                min_trades=DEMO_MIN_TRADES,
                command="tradestore-trio demo",
                db=str(db.resolve()) if kept else "a temporary store, removed after the demo",
            )
        except ValueError as exc:  # too few trades
            print(f"no HTML report: {exc}")
            return None
    if target is not None:
        path = Path(target)
    elif not kept:  # the DB's folder goes away: the report gets one of its own
        path = Path(tempfile.mkdtemp(prefix="tradestore-demo-report-")) / f"{symbol}-report.html"
    else:
        path = db.parent / f"{db.name}-{symbol}-report.html"
    report.write(path)
    print(f"report: {path.resolve()} (open it in a browser; it works offline)")
    return path
