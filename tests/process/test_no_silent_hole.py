"""No silent hole, whatever the market does: ``tradestore-trio run`` as a real process
against the fake exchange, with exact agg-id accounting.

- A quiet market hides a crash's tail: the restart after ``kill -9`` catches every symbol
  up from its last stored id over REST at once, without waiting for a live trade.
- A stuck symbol inside a busy combined connection: detected by its silence, confirmed
  against the exchange's latest trade, filled by backfill, its connection replaced.
- A/B lines: a cut of one line leaves no gap record.
- Liveness is judged by frames received: trades from a past day keep /healthz at 200.
"""

from __future__ import annotations

import signal
import time

import httpx
import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import wait_for
from tests.helpers.daemon import kill_daemon, start_daemon, stop_daemon, wait_for_log
from tests.helpers.store import caught_up, stored_count, stored_ids
from tradestore import TradeStore
from tradestore.fake import FakeExchangeConfig, open_fake_exchange
from tradestore.store._gaps import FILLED
from tradestore.store._verify import verify

SYMBOLS = ("BTCUSDT", "ETHUSDT")


def daemon_argv(fx, db, tmp_path, symbols=SYMBOLS, settings: str = "", *extra: str) -> list[str]:
    config = tmp_path / "recorder.toml"
    config.write_text(settings)
    argv = ["--db", str(db), "--endpoint", fx.ws_url, "--rest-endpoint", fx.rest_url]
    argv += ["--symbols", ",".join(symbols), "--retention-days", "0"]
    argv += ["--metrics-addr", "127.0.0.1:0", "--config", str(config), *extra]
    return argv


async def metrics_url(log_path, after: int = 0) -> str:
    found = await wait_for_log(
        log_path, r"metrics on (http://127\.0\.0\.1:\d+)/metrics", after=after
    )
    return found.group(1)


async def scrape(client: httpx.AsyncClient, url: str) -> dict:
    """{(sample name, sorted labels): value} of one /metrics scrape."""
    text = (await client.get(f"{url}/metrics")).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def assert_exact(db, fx, symbols) -> None:
    """Every generated id stored exactly once, and verify finds nothing wrong."""
    with TradeStore(db, read_only=True) as store:
        for symbol in symbols:
            report = verify(store, symbol)
            assert report.ok and report.duplicates == 0, report
    for symbol in symbols:
        assert stored_ids(db, symbol) == fx.log.generated_ids(symbol)


@pytest.mark.slow
async def test_quiet_market_restart_after_kill_9_catches_up_the_tail(tmp_path):
    """The recorder stores a prefix (its size valve flushes once), receives the rest of a
    burst that then stops for good, and is killed with the tail still buffered. Nothing
    live will ever come again; the restart must fetch the tail by itself."""
    n = 600  # per symbol, 12 s at 50 trades/s; then the market is silent
    db = tmp_path / "db"
    log_path = tmp_path / "daemon.log"
    fcfg = FakeExchangeConfig(symbols=SYMBOLS, rate=50.0, max_trades=n)
    # No timer flush; one early flush at 1000 buffered trades (of 1200): the rest stays
    # buffered until the kill.
    settings = "flush_interval = 3600.0\nflush_max_trades = 1000\n"
    async with open_fake_exchange(fcfg) as fx, httpx.AsyncClient() as client:
        argv = daemon_argv(fx, db, tmp_path, SYMBOLS, settings)
        proc = await start_daemon(argv, log_path)
        try:
            with trio.fail_after(60):
                url = await metrics_url(log_path)
                for symbol in SYMBOLS:
                    await fx.wait_generated(symbol, n)
                last = {s: fx.log.generated_ids(s)[-1] for s in SYMBOLS}

                async def received_all() -> bool:
                    m = await scrape(client, url)
                    return all(
                        m.get(("tradestore_last_agg_id", (("symbol", s),))) == last[s]
                        for s in SYMBOLS
                    )

                while not await received_all():  # noqa: ASYNC110 - polls /metrics
                    await trio.sleep(0.1)
                await wait_for(lambda: stored_count(db) >= 1000, step=0.1)
                await stop_daemon(proc, log_path, signal.SIGKILL)
            before = {s: stored_ids(db, s) for s in SYMBOLS}
            lost = sum(n - len(ids) for ids in before.values())
            assert 0 < lost <= 2 * n - 1000, "the kill must leave a buffered tail behind"
            offset = log_path.stat().st_size
            (tmp_path / "recorder.toml").write_text("")  # the restart flushes every second
            restarted = trio.current_time()
            proc = await start_daemon(argv, log_path)
            with trio.fail_after(60):  # a hang guard; the time taken is printed below
                await wait_for(lambda: caught_up(db, fx, SYMBOLS), step=0.1)
            took = trio.current_time() - restarted
            print(
                f"quiet-market restart: the tail of {lost} trades was back {took:.1f} s after the restart"
            )
            url = await metrics_url(log_path, after=offset)
            m = await scrape(client, url)
            await stop_daemon(proc, log_path)
        finally:
            await kill_daemon(proc)
    text = log_path.read_text()
    assert "Traceback" not in text
    assert "catch-up: the exchange is at agg id" in text[offset:]
    assert m[("tradestore_stall_checks_total", (("kind", "catch_up"),))] == len(SYMBOLS)
    # Nothing was received live after the restart: the catch-up alone brought the tail.
    for symbol in SYMBOLS:
        assert m[("tradestore_trades_received_total", (("symbol", symbol),))] == 1
    assert_exact(db, fx, SYMBOLS)
    for symbol in SYMBOLS:
        with TradeStore(db, read_only=True) as store:
            (gap,) = store.gaps(symbol)
        # One gap, from the last stored id to the one before the exchange's latest trade
        # (which the catch-up took itself), filled.
        assert gap.status == FILLED
        assert (gap.first_id, gap.last_id) == (before[symbol][-1] + 1, last[symbol] - 1)


@pytest.mark.slow
async def test_stuck_symbol_in_a_busy_connection_is_detected_and_filled(tmp_path):
    """Three symbols share one combined connection; the exchange stops sending ETHUSDT on
    it while the other two flow. The recorder notices the silence (short thresholds
    here), confirms it against the exchange, fills the hole and replaces the
    connection, after which ETHUSDT flows again. No other symbol loses anything."""
    symbols = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
    n = 1200  # per symbol: 24 s at 50 trades/s
    db = tmp_path / "db"
    log_path = tmp_path / "daemon.log"
    fcfg = FakeExchangeConfig(symbols=symbols, rate=50.0, max_trades=n)
    settings = "stall_floor = 2.0\nstall_factor = 20.0\nstall_max = 10.0\n"
    async with open_fake_exchange(fcfg) as fx, httpx.AsyncClient() as client:
        proc = await start_daemon(daemon_argv(fx, db, tmp_path, symbols, settings), log_path)
        try:
            with trio.fail_after(120):
                url = await metrics_url(log_path)
                await wait_for(lambda: len(fx.log.sent_ids("ETHUSDT")) >= 100, step=0.05)
                assert fx.stall("ETHUSDT") == 1  # one connection carries it
                stuck_at = fx.generated("ETHUSDT")
                # The connection is replaced (make-before-break) and ETHUSDT flows again.
                await wait_for(lambda: fx.log.connections_opened >= 2, step=0.05)
                await wait_for(
                    lambda: (
                        max(fx.log.sent_ids("ETHUSDT")) > fx.log.generated_ids("ETHUSDT")[stuck_at]
                    ),
                    step=0.05,
                )
                for symbol in symbols:
                    await fx.wait_generated(symbol, n)
                await wait_for(lambda: caught_up(db, fx, symbols), step=0.2)
            m = await scrape(client, url)
            await stop_daemon(proc, log_path)
        finally:
            await kill_daemon(proc)
    text = log_path.read_text()
    assert "Traceback" not in text
    assert "ETHUSDT: stuck: no trade received" in text
    eth = (("symbol", "ETHUSDT"),)
    assert m[("tradestore_stall_suspected_total", eth)] >= 1
    assert m[("tradestore_stall_confirmed_total", eth)] >= 1
    assert "stream-0: rotated to a new connection (stalled" in text
    assert m[("tradestore_connection_rotations_total", (("connection", "stream-0"),))] >= 1
    for symbol in ("BTCUSDT", "SOLUSDT"):
        assert m[("tradestore_stall_confirmed_total", (("symbol", symbol),))] == 0
    assert_exact(db, fx, symbols)
    with TradeStore(db, read_only=True) as store:
        assert store.gaps("BTCUSDT") == store.gaps("SOLUSDT") == []
        gaps = store.gaps("ETHUSDT")
    assert gaps and {g.status for g in gaps} == {FILLED}
    # What the exchange withheld is inside the filled gaps, but for the latest trade each
    # confirming check took from REST itself.
    withheld = set(fx.log.generated_ids("ETHUSDT")) - set(fx.log.sent_ids("ETHUSDT"))
    outside = [i for i in withheld if not any(g.first_id <= i <= g.last_id for g in gaps)]
    assert withheld and len(outside) <= m[("tradestore_stall_confirmed_total", eth)]


@pytest.mark.slow
async def test_ab_lines_a_cut_of_one_line_leaves_no_gap(tmp_path):
    """Both lines carry every stream; the exchange cuts the connection open the longest,
    one line at a time, four times. The other line covers each cut: no gap record, every
    id stored exactly once, and both lines delivered some ids first."""
    n = 1500  # per symbol: 15 s at 100 trades/s
    db = tmp_path / "db"
    log_path = tmp_path / "daemon.log"
    fcfg = FakeExchangeConfig(symbols=SYMBOLS, rate=100.0, max_trades=n)
    settings = "line_b_delay = 0.5\n"
    async with open_fake_exchange(fcfg) as fx, httpx.AsyncClient() as client:
        argv = daemon_argv(fx, db, tmp_path, SYMBOLS, settings, "--ab-lines")
        proc = await start_daemon(argv, log_path)
        try:
            with trio.fail_after(90):
                url = await metrics_url(log_path)
                await wait_for(lambda: fx.connections == 2, step=0.05)
                for _cut in range(4):
                    sent = sum(len(fx.log.sent_ids(s)) for s in SYMBOLS)
                    await wait_for(
                        lambda s=sent: sum(len(fx.log.sent_ids(x)) for x in SYMBOLS) > s + 100,
                        step=0.05,
                    )
                    opened = fx.log.connections_opened
                    assert fx.drop_oldest()
                    await wait_for(
                        lambda o=opened: fx.log.connections_opened > o and fx.connections == 2,
                        step=0.05,
                    )
                for symbol in SYMBOLS:
                    await fx.wait_generated(symbol, n)
                await wait_for(lambda: caught_up(db, fx, SYMBOLS), step=0.2)
            m = await scrape(client, url)
            await stop_daemon(proc, log_path)
        finally:
            await kill_daemon(proc)
    assert "Traceback" not in log_path.read_text()
    assert fx.log.drops_by_reason["drop_one"] == 4
    assert_exact(db, fx, SYMBOLS)
    with TradeStore(db, read_only=True) as store:
        for symbol in SYMBOLS:
            assert store.gaps(symbol) == []
    for symbol in SYMBOLS:
        labels = (("symbol", symbol),)
        assert m[("tradestore_gaps_detected_total", labels)] == 0
        assert m[("tradestore_redundant_copies_total", labels)] > 0
    for line in ("stream-0", "stream-0-b"):
        assert m[("tradestore_connection_taken_total", (("connection", line),))] > 0
        assert m[("tradestore_connection_reconnects_total", (("connection", line),))] == 2


@pytest.mark.slow
async def test_trades_from_a_past_day_keep_healthz_at_200(tmp_path):
    """The fake exchange replays with trade times three days old, then goes quiet. The
    recorder receives frames all along: /healthz stays 200 while they flow and after
    they stop; the event lag shows the three days, with a clock-skew warning."""
    n = 300  # per symbol: 15 s at 20 trades/s
    past_ms = int(time.time() * 1000) - 3 * 86_400_000
    db = tmp_path / "db"
    log_path = tmp_path / "daemon.log"
    fcfg = FakeExchangeConfig(symbols=SYMBOLS, rate=20.0, max_trades=n, start_time_ms=past_ms)
    settings = "health_stale_after = 5.0\n"
    async with open_fake_exchange(fcfg) as fx, httpx.AsyncClient() as client:
        proc = await start_daemon(daemon_argv(fx, db, tmp_path, SYMBOLS, settings), log_path)
        try:
            with trio.fail_after(90):
                url = await metrics_url(log_path)
                answers = []
                skew_seen = False
                # While trades flow (far longer than stale_after), then once they stopped.
                while fx.generated("BTCUSDT") < n or not skew_seen:
                    r = await client.get(f"{url}/healthz")
                    answers.append((r.status_code, r.json()["status"]))
                    skew_seen = r.json()["event_lag"]["clock_skew_suspected"]
                    await trio.sleep(0.5)
                await wait_for(lambda: caught_up(db, fx, SYMBOLS), step=0.2)
                quiet_from = trio.current_time()
                while trio.current_time() < quiet_from + 2 * 5.0:
                    r = await client.get(f"{url}/healthz")
                    answers.append((r.status_code, r.json()["status"]))
                    await trio.sleep(0.5)
            doc = r.json()
            m = await scrape(client, url)
            await stop_daemon(proc, log_path)
        finally:
            await kill_daemon(proc)
    assert len(answers) > 20
    assert set(answers) == {(200, "ok")}, answers
    three_days = 3 * 86_400
    for symbol in SYMBOLS:
        lag = doc["symbols"][symbol]["event_lag_seconds"]
        assert three_days - 60 < lag < three_days + 60
        assert three_days - 60 < m[("tradestore_event_lag_seconds", (("symbol", symbol),))]
    assert m[("tradestore_clock_skew_suspected", ())] == 1
    assert (
        "trades arrive" in log_path.read_text()
        and "after their exchange time" in log_path.read_text()
    )
    assert_exact(db, fx, SYMBOLS)
