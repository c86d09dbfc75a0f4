"""``fake-exchange``: a Binance-compatible market-data server on loopback."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

import trio

from tradestore._excgroup import leaves
from tradestore._flags import add_flags, given_flags
from tradestore.cli import _common as c

log = logging.getLogger("tradestore.cli.fake")

# Binance's own WebSocket port, so a URL needs only its host changed (the library's
# FakeExchangeConfig binds a free port instead, which tests want).
DEFAULT_PORT = 9443


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "fake-exchange",
        help="serve a fake Binance (WebSocket + REST) for tests, the demo and replay",
        description="Serve Binance's market-data API for aggTrades on one port, as spot, "
        "USD-M or COIN-M futures (--market): "
        "WebSocket /ws/<sym>@aggTrade, /stream?streams=..., bare /ws and /stream with "
        "SUBSCRIBE/UNSUBSCRIBE/LIST_SUBSCRIPTIONS (at most the market's messages per second "
        "per connection), server pings, a connection lifetime with "
        "the serverShutdown event, and REST GET aggTrades, exchangeInfo, ping and time "
        "under /api/v3, /fapi/v1 or /dapi/v1. Symbols can be listed and delisted while "
        "running (--listings, --delistings). Trades come from a seeded random walk (--rate "
        "per symbol, skewed by --zipf, with --burst-every), a "
        "data.binance.vision CSV (--csv, first symbol) or an existing store (--replay-db). "
        "Once bound it prints one line, 'listening on ws://HOST:PORT', to stdout. "
        "SIGTERM or Ctrl-C stop it with exit status 0, after writing --sent-log. "
        "It only binds loopback addresses unless --allow-remote is given: it is a test "
        "tool with fault injection and no authentication, not something to expose.",
    )
    from tradestore.fake import FakeExchangeConfig

    add_flags(
        p,
        FakeExchangeConfig,
        shown_defaults={"port": DEFAULT_PORT},
        group_titles={"faults": "fault injection (0 or absent: off)"},
    )
    p.add_argument(
        "--sent-log", type=Path, metavar="FILE", help="write the JSON log of sent ids on exit"
    )
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace):
    from tradestore.fake import FakeExchangeConfig

    values = {"port": DEFAULT_PORT, **given_flags(args, FakeExchangeConfig)}
    for name in ("csv", "replay_db"):
        path = values.get(name)
        if path is not None and not path.exists():
            flag = "--" + name.replace("_", "-")
            raise c.UsageError(f"{flag}: {path}: no such file or directory")
    try:
        return FakeExchangeConfig(**values)
    except ValueError as exc:
        raise c.UsageError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    failures: list[BaseException] = []
    try:
        return trio.run(serve_until_signal, config, args.sent_log)
    except* OSError as group:  # cannot bind (address in use), unreadable source file
        failures = list(leaves(group))
    for exc in failures:
        print(f"tradestore-trio fake-exchange: {exc}", file=sys.stderr)
    return 1


async def serve_until_signal(config, sent_log: Path | None) -> int:
    from tradestore.fake import serve_fake_exchange

    exchange = None
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        try:
            async with trio.open_nursery() as nursery:
                exchange = await nursery.start(serve_fake_exchange, config)
                print(f"listening on {exchange.ws_url}", flush=True)
                async for signum in signals:
                    log.info("%s: stopping", signal.Signals(signum).name)
                    nursery.cancel_scope.cancel()
                    break
        finally:
            if exchange is not None and sent_log is not None:
                exchange.log.write_json(sent_log)
    return 0
