"""The daemon's archive keeper: closed UTC days to the archive, and the retention guard.

With ``archive_to`` set, every ``archive_interval`` seconds the keeper runs
``tradestore-trio archive`` over the days that ended more than ``archive_grace`` ago, and
before each prune it runs ``tradestore-trio verify --archive`` over the days the prune
would touch. Both run as child processes on a read-only (secondary) view of the store:
decoding a day of a busy symbol holds the GIL for seconds and its columns take hundreds
of megabytes, neither of which the recorder's event loop can lend. The partitions are
written atomically, so cancelling (or killing) a child never leaves half a day visible.

Retention asks ``retention_limits(cutoff)``: for each symbol, the start of the first day
before the cutoff that is not archived and verified trade by trade. Nothing from there on
is deleted. A day is only ever written into after the fact by backfill, which answers gap
records: if any gap record of a symbol changed while the verification ran, that symbol is
not pruned this round.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import date, timedelta

import trio

from tradestore.archive import day_of, day_start_ms, last_closed_day, store_market
from tradestore.recorder._backoff import LogThrottle
from tradestore.recorder._config import RecorderConfig
from tradestore.recorder._statistics import ArchiveStatistics, frozen
from tradestore.store import TradeStore

log = logging.getLogger(__name__)

# Archive results that leave the day archived (nothing more to do for now).
_DONE_ACTIONS = frozenset({"written", "replaced", "unchanged", "complete"})


class ArchiveKeeper:
    """Runs the archive and the retention guard for one recorder."""

    def __init__(self, config: RecorderConfig, store: TradeStore, throttle: LogThrottle) -> None:
        if config.archive_to is None:
            raise ValueError("ArchiveKeeper needs config.archive_to")
        self.config = config
        self.store = store
        self.throttle = throttle
        self.dest = config.archive_to
        self._market: str | None = None
        self._runs = 0
        self._failed_runs = 0
        self._written = 0
        self._failed_days = 0
        self._last_success_ms: int | None = None
        self._last_run_ms: int | None = None
        self._archived_through: dict[str, date] = {}
        self._held_days = 0
        # symbol -> gap records when its days were last settled; a change re-reads them.
        self._gap_marks: dict[str, tuple] = {}
        self._settled_through: date | None = None
        self._lock = trio.Lock()  # one child at a time: archive and verify never overlap
        self.first_run_done = trio.Event()

    # ------------------------------------------------------------------ archiving

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Archive at start, then every ``archive_interval`` seconds (on a fixed grid)."""
        next_at = trio.current_time()
        task_status.started()
        while True:
            await trio.sleep_until(next_at)
            await self.archive_once()
            next_at += self.config.archive_interval

    async def archive_once(self, now_ms: int | None = None) -> list[dict]:
        """One archive run over the closed days; the per-day results (empty on failure)."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        through = last_closed_day(now_ms, int(self.config.archive_grace * 1000))
        market = await self.market()
        marks = await trio.to_thread.run_sync(self._gap_marks_now)
        changed = any(self._gap_marks.get(s) != m for s, m in marks.items())
        settled = self._settled_through
        since = None if changed or settled is None else settled + timedelta(days=1)
        argv = ["archive", "--to", self.dest, "--through", through.isoformat(), "--market", market]
        argv += ["--format", "jsonl"]
        if since is not None:
            argv += ["--since", since.isoformat()]
        self._runs += 1
        self._last_run_ms = now_ms
        try:
            async with self._lock:
                code, out, err = await self._child(argv)
        finally:
            self.first_run_done.set()
        results = _json_lines(out)
        failed = [r for r in results if r.get("action") not in _DONE_ACTIONS]
        self._failed_days = len(failed)
        for r in results:
            if r.get("action") in ("written", "replaced"):
                self._written += 1
            if r.get("action") in _DONE_ACTIONS:
                day = date.fromisoformat(r["date"])
                prev = self._archived_through.get(r["symbol"])
                if prev is None or day > prev:
                    self._archived_through[r["symbol"]] = day
        if code == 0 and not failed:
            self._last_success_ms = int(time.time() * 1000)
            self._gap_marks = marks
            self._settled_through = through
            written = [r for r in results if r.get("action") in ("written", "replaced")]
            log.log(
                logging.INFO if written else logging.DEBUG,
                "archive: %d days written through %s to %s",
                len(written),
                through,
                _redact(self.dest),
            )
        else:
            self._failed_runs += 1
            reasons = "; ".join(f"{r['symbol']} {r['date']}: {r.get('error')}" for r in failed[:3])
            self.throttle.log(
                "archive",
                logging.ERROR,
                "archive run failed (exit %s): %s",
                code,
                reasons or _last_line(err),
            )
        return results

    # ------------------------------------------------------------------ the retention guard

    async def retention_limits(self, cutoff_ms: int, now_ms: int | None = None) -> dict[str, int]:
        """symbol -> the time from which nothing may be deleted (see the module doc).

        Every symbol of the store gets a limit; when the verification cannot run, the
        limit is 0 for all of them (nothing is pruned this round).
        """
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        symbols = await trio.to_thread.run_sync(self.store.symbols)
        nothing = dict.fromkeys(symbols, 0)
        last_checked = min(day_of(cutoff_ms), last_closed_day(now_ms))
        # Days after the last closed one are not archived yet: never beyond its end.
        beyond = day_start_ms(last_checked + timedelta(days=1))
        market = await self.market()
        before = await trio.to_thread.run_sync(self._gap_marks_now)
        argv = ["verify", "--archive", self.dest, "--through", last_checked.isoformat()]
        argv += ["--market", market, "--format", "json"]
        async with self._lock:
            code, out, err = await self._child(argv)
        after = await trio.to_thread.run_sync(self._gap_marks_now)
        if code not in (0, 1):
            self.throttle.log(
                "archive-verify",
                logging.ERROR,
                "retention: verifying the archive failed (exit %s), nothing pruned: %s",
                code,
                _last_line(err),
            )
            return nothing
        try:
            checks = json.loads(out or "[]")
        except ValueError:
            log.error("retention: unreadable verify output, nothing pruned")
            return nothing
        limits = dict.fromkeys(symbols, beyond)
        held = 0
        for check in checks:
            if check.get("safe_to_delete"):
                continue
            symbol = check["symbol"]
            start = day_start_ms(date.fromisoformat(check["date"]))
            if start < cutoff_ms:
                held += 1
            limits[symbol] = min(limits.get(symbol, beyond), start)
            if start < cutoff_ms:
                self.throttle.log(
                    f"retention-{symbol}",
                    logging.WARNING,
                    "retention keeps %s %s: %s (%s)",
                    symbol,
                    check["date"],
                    check["verdict"],
                    check.get("detail", ""),
                )
        for symbol in symbols:
            if before.get(symbol) != after.get(symbol):
                # A backfill wrote while we compared: what it wrote may not be archived.
                limits[symbol] = 0
        self._held_days = held
        return limits

    # ------------------------------------------------------------------ helpers

    async def market(self) -> str:
        if self._market is None:
            self._market = await trio.to_thread.run_sync(store_market, self.store)
        return self._market

    def _gap_marks_now(self) -> dict[str, tuple]:
        return {s: tuple(self.store.gaps(s)) for s in self.store.symbols()}

    async def _child(self, argv: Sequence[str]) -> tuple[int, str, str]:
        cmd = [sys.executable, "-m", "tradestore", *argv[:1], "--db", self.config.db, *argv[1:]]
        try:
            done = await trio.run_process(
                cmd,
                stdin=subprocess.DEVNULL,
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
        except OSError as exc:
            return -1, "", str(exc)
        return (
            done.returncode,
            done.stdout.decode("utf-8", "replace"),
            done.stderr.decode("utf-8", "replace"),
        )

    def statistics(self, now_ms: int | None = None) -> ArchiveStatistics:
        return ArchiveStatistics(
            destination=_redact(self.dest),
            runs=self._runs,
            failed_runs=self._failed_runs,
            partitions_written=self._written,
            failed_days=self._failed_days,
            last_run_ms=self._last_run_ms,
            last_success_ms=self._last_success_ms,
            archived_through=frozen({s: d.isoformat() for s, d in self._archived_through.items()}),
            retention_held_days=self._held_days,
        )


def _json_lines(text: str) -> list[dict]:
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _redact(url: str) -> str:
    from tradestore.archive import redact

    return redact(url)
