"""Markets and the whole market through real processes: ``tradestore-trio run`` against
``tradestore-trio fake-exchange`` in another process, each impersonating spot, USD-M or
COIN-M; ``--symbols ALL --quote`` following listings and delistings; one database per
market. Every agg id is accounted for from the exchange's sent-log."""

from __future__ import annotations

import signal
import subprocess
import sys

import httpx
import pytest
import trio

from tests.helpers import wait_for
from tests.helpers.daemon import daemon_env, kill_daemon, start_daemon, stop_daemon, wait_for_log
from tests.helpers.store import stored_ids
from tradestore import TradeStore
from tradestore.binance import MARKETS
from tradestore.fake import SentLog


async def start_exchange(argv: list[str], log_path) -> tuple[trio.Process, str]:
    """``tradestore-trio fake-exchange`` in a child process; its ws:// URL."""
    with open(log_path, "ab") as log:  # noqa: ASYNC230 - a local file, opened once
        proc = await trio.lowlevel.open_process(
            [sys.executable, "-m", "tradestore", "fake-exchange", "--port", "0", *argv],
            stdout=subprocess.PIPE,
            stderr=log,
            env=daemon_env(),
        )
    line = b""
    with trio.fail_after(30):
        while not line.endswith(b"\n"):
            chunk = await proc.stdout.receive_some(1)
            if not chunk:
                break
            line += chunk
    text = line.decode().strip()
    assert text.startswith("listening on "), text
    return proc, text.removeprefix("listening on ")


async def stop_exchange(proc: trio.Process) -> None:
    proc.send_signal(signal.SIGTERM)
    with trio.fail_after(30):
        assert await proc.wait() == 0


async def last_id(rest_url: str, prefix: str, symbol: str) -> int | None:
    """The exchange's latest agg id of ``symbol``, over its own REST (None: no trade)."""
    async with httpx.AsyncClient(base_url=rest_url) as client:
        response = await client.get(f"{prefix}/aggTrades", params={"symbol": symbol, "limit": 1})
    assert response.status_code == 200, response.text
    rows = response.json()
    return rows[-1]["a"] if rows else None


def caught_up(db, symbols_and_ids: dict[str, int]) -> bool:
    """Each symbol's last id is stored and no gap is open (read through a secondary)."""
    if not (db / "CURRENT").exists():
        return False
    with TradeStore(db, read_only=True) as store:
        for symbol, last in symbols_and_ids.items():
            if store.last_agg_id(symbol) != last:
                return False
            if any(g.status == "open" for g in store.gaps(symbol)):
                return False
    return True


def holds(db, symbols_and_ids: dict[str, int]) -> bool:
    """Each symbol's store has reached the given id (or passed it)."""
    if not (db / "CURRENT").exists():
        return False
    with TradeStore(db, read_only=True) as store:
        return all((store.last_agg_id(s) or -1) >= i for s, i in symbols_and_ids.items())


async def wait_caught_up(db, rest_url: str, prefix: str, symbols: list[str]) -> None:
    """Once the exchange stopped generating (its last ids the same twice in a row):
    everything it has is stored. The exchange is asked again only once the store holds
    what it answered last time, so the test's own REST use stays a few requests (futures
    aggTrades weigh 20, and the exchange counts the test's weight against the IP the
    recorder's backfill budget is read from)."""
    previous: dict[str, int | None] | None = None
    while True:
        if previous is None or holds(db, {s: i for s, i in previous.items() if i}):
            lasts = {s: await last_id(rest_url, prefix, s) for s in symbols}
            if lasts == previous and caught_up(db, {s: i for s, i in lasts.items() if i}):
                return
            previous = lasts
        await trio.sleep(0.5)


def owed(sent: SentLog, symbol: str, *, from_first: bool = False) -> list[int]:
    """The ids a recorder owes: all of them for a listing, else from the first delivered."""
    generated = sent.generated_ids(symbol)
    if from_first:
        return generated
    first = sent.sent_ids(symbol)[0]
    return [i for i in generated if i >= first]


@pytest.mark.slow
async def test_all_with_quote_follows_listings_and_delistings(tmp_path):
    """``run --symbols ALL --quote USDT`` against a fake exchange process that lists
    NEWUSDT and NEWBTC and delists ETHUSDT while running: the listing is subscribed on the
    live connection and recorded from its first trade, the delisting unsubscribed with
    every trade it had stored, the BTC-quoted symbols never recorded."""
    db = tmp_path / "db"
    sent_log = tmp_path / "sent.json"
    fx_argv = ["--symbols", "BTCUSDT,ETHUSDT,SOLBTC", "--rate", "40", "--no-wait"]
    # Late enough that the daemon is up before the listing (its first read must not see it).
    fx_argv += ["--listings", "6:NEWUSDT,6:NEWBTC", "--delistings", "9:ETHUSDT"]
    fx_argv += ["--stop-after", "12", "--sent-log", str(sent_log)]
    exchange, ws_url = await start_exchange(fx_argv, tmp_path / "exchange.log")
    rest_url = ws_url.replace("ws://", "http://")
    log_path = tmp_path / "daemon.log"
    argv = ["--db", str(db), "--endpoint", ws_url, "--rest-endpoint", rest_url]
    argv += ["--symbols", "ALL", "--quote", "USDT", "--exchange-info-interval", "1"]
    argv += ["--retention-days", "0"]
    proc = await start_daemon(argv, log_path)
    try:
        with trio.fail_after(60):
            await wait_for_log(log_path, r"listed NEWUSDT; delisted none")
            await wait_for_log(log_path, r"listed none; delisted ETHUSDT")
            await wait_for_log(log_path, r"NEWUSDT: new listing, recorded from its first trade")
            # The exchange has taken the UNSUBSCRIBE (paced, it may trail the delisting).
            await wait_for_log(log_path, r": unsubscribed ETHUSDT ")
            await wait_caught_up(db, rest_url, "/api/v3", ["BTCUSDT", "NEWUSDT"])
        await stop_exchange(exchange)
        await stop_daemon(proc, log_path)
    finally:
        await kill_daemon(proc)
        await kill_daemon(exchange)
    sent = SentLog.read_json(sent_log)
    assert sorted(sent.listings) == ["NEWBTC", "NEWUSDT"] and sent.delistings == ["ETHUSDT"]
    assert stored_ids(db, "BTCUSDT") == owed(sent, "BTCUSDT")
    assert stored_ids(db, "ETHUSDT") == owed(sent, "ETHUSDT")
    assert stored_ids(db, "NEWUSDT") == owed(sent, "NEWUSDT", from_first=True)
    assert stored_ids(db, "SOLBTC") == [] and stored_ids(db, "NEWBTC") == []
    assert sent.connections_opened == 1  # every change on the live connection
    assert dict(sent.control_by_method) == {"SUBSCRIBE": 1, "UNSUBSCRIBE": 1}
    assert sent.message_limit_drops == 0
    assert "Traceback" not in log_path.read_text()


@pytest.mark.slow
@pytest.mark.parametrize("market", ["spot", "usdm", "coinm"])
async def test_each_market_records_and_backfills_over_its_own_paths(tmp_path, market):
    """The recorder pointed at the fake exchange impersonating each market: its streams
    and its REST prefix (/api/v3, /fapi/v1, /dapi/v1; the fake answers no other), every
    seventh trade withheld from WebSocket so that backfill must fetch it."""
    info = MARKETS[market]
    symbols = list(info.default_symbols)
    db = tmp_path / "db"
    sent_log = tmp_path / "sent.json"
    fx_argv = ["--market", market, "--rate", "40", "--skip-every", "7", "--stop-after", "4"]
    fx_argv += ["--sent-log", str(sent_log)]
    exchange, ws_url = await start_exchange(fx_argv, tmp_path / "exchange.log")
    rest_url = ws_url.replace("ws://", "http://")
    log_path = tmp_path / "daemon.log"
    # A withheld trade that is a symbol's last one shows no jump (no later trade comes):
    # only a check against REST reveals it, once the connection has been silent for
    # watchdog_floor seconds or the symbol for stall_floor (30 and 60 in production).
    config = tmp_path / "recorder.toml"
    config.write_text("watchdog_floor = 2.0\nstall_floor = 2.0\n")
    argv = ["--market", market, "--db", str(db), "--endpoint", ws_url, "--config", str(config)]
    argv += ["--rest-endpoint", rest_url, "--retention-days", "0"]
    proc = await start_daemon(argv, log_path)
    try:
        with trio.fail_after(60):
            await wait_for_log(log_path, rf"recording 2 {market} symbols")
            await wait_for(lambda: (db / "CURRENT").exists(), step=0.1)
            await wait_caught_up(db, rest_url, info.rest_prefix, symbols)
        await stop_exchange(exchange)
        await stop_daemon(proc, log_path)
    finally:
        await kill_daemon(proc)
        await kill_daemon(exchange)
    sent = SentLog.read_json(sent_log)
    for symbol in symbols:
        # Every generated id from the first delivered one is stored once: live, or the
        # withheld ones through backfill over this market's REST path.
        assert sent.skipped_ids(symbol)
        assert stored_ids(db, symbol) == owed(sent, symbol)
    with TradeStore(db, read_only=True) as store:
        assert store.market() == market
        assert all(g.status == "filled" for s in symbols for g in store.gaps(s))
    assert sent.rest_requests > 0


def test_recording_another_market_into_a_database_is_refused(tmp_path, cli_env):
    """One database per market: usdm into a spot database exits 2 with a one-line error
    and leaves the database as it was."""
    db = tmp_path / "db"
    with TradeStore(db) as store:
        store.claim_market("spot")
    argv = [sys.executable, "-m", "tradestore", "run", "--market", "usdm", "--db", str(db)]
    argv += ["--endpoint", "ws://127.0.0.1:9", "--rest-endpoint", "http://127.0.0.1:9"]
    result = subprocess.run(argv, capture_output=True, text=True, env=cli_env, timeout=60)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if "tradestore-trio run:" in line]
    assert len(errors) == 1 and "holds spot trades; it cannot record usdm" in errors[0]
    with TradeStore(db, read_only=True) as store:
        assert store.market() == "spot"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--quote", "USDT"], "quote: only applies with symbols = ALL"),
        (["--symbols", "ALL,BTCUSDT"], "ALL stands alone"),
        (["--market", "options"], "unknown market 'options'"),
        (["--market", "usdm", "--endpoint", MARKETS["spot"].ws_url], "is Binance spot's"),
    ],
)
def test_bad_market_and_symbol_flags_exit_2(flags, message, cli_env, tmp_path):
    argv = [sys.executable, "-m", "tradestore", "run", "--db", str(tmp_path / "db"), *flags]
    result = subprocess.run(argv, capture_output=True, text=True, env=cli_env, timeout=60)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
