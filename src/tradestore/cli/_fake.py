"""``fake-exchange``: a Binance-compatible market-data server on loopback."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

import trio

from tradestore._excgroup import leaves
from tradestore.cli import _common as c

log = logging.getLogger("tradestore.cli.fake")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "fake-exchange",
        help="serve a fake Binance (WebSocket + REST) for tests, the demo and replay",
        description="Serve Binance's spot market-data API for aggTrades on one port: "
        "WebSocket /ws/<sym>@aggTrade, /stream?streams=..., bare /ws and /stream with "
        "SUBSCRIBE/UNSUBSCRIBE/LIST_SUBSCRIPTIONS, server pings, a connection lifetime with "
        "the serverShutdown event, and REST GET /api/v3/aggTrades, /api/v3/ping, "
        "/api/v3/time. Trades come from a seeded random walk (--rate per symbol), a "
        "data.binance.vision CSV (--csv, first symbol) or an existing store (--replay-db). "
        "Once bound it prints one line, 'listening on ws://HOST:PORT', to stdout. "
        "SIGTERM or Ctrl-C stop it with exit status 0, after writing --sent-log. "
        "It only binds loopback addresses unless --allow-remote is given: it is a test "
        "tool with fault injection and no authentication, not something to expose.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument(
        "--port", type=int, default=9443, help="port to bind; 0 picks a free one (default: 9443)"
    )
    p.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a --host that is not loopback (anyone who can reach it can connect)",
    )
    p.add_argument("--symbols", default="BTCUSDT,ETHUSDT", metavar="S,S", help="served symbols")
    p.add_argument(
        "--rate", type=float, default=10.0, help="trades per second per symbol (default: 10)"
    )
    p.add_argument("--seed", type=int, default=0, help="random-walk seed (default: 0)")
    p.add_argument("--start-id", type=int, default=1_000_000, help="first synthetic agg id")
    p.add_argument(
        "--start-time", metavar="TIME", help="exchange time at start: epoch ms or ISO-8601"
    )
    p.add_argument("--max-trades", type=int, metavar="N", help="stop after N trades per symbol")
    p.add_argument(
        "--no-wait",
        dest="start_on_first_subscriber",
        action="store_false",
        help="generate from the start, not from the first subscription of each symbol",
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument(
        "--csv", type=Path, metavar="FILE", help="replay a data.binance.vision CSV or ZIP"
    )
    source.add_argument("--replay-db", type=Path, metavar="PATH", help="replay a trade store")
    p.add_argument("--lifetime", type=float, default=86400.0, metavar="S", help="per connection")
    p.add_argument("--ping-interval", type=float, default=20.0, metavar="S")
    p.add_argument("--pong-timeout", type=float, default=60.0, metavar="S")
    faults = p.add_argument_group("fault injection (0 or absent: off)")
    faults.add_argument("--drop-every", type=float, metavar="S", help="cut all connections")
    faults.add_argument("--silent-after", type=float, metavar="S", help="per connection")
    faults.add_argument(
        "--silent-for", type=float, default=0.0, metavar="S", help="0: until it ends"
    )
    faults.add_argument("--malformed-every", type=int, default=0, metavar="N")
    faults.add_argument("--duplicate-every", type=int, default=0, metavar="N")
    faults.add_argument("--skip-every", type=int, default=0, metavar="N")
    faults.add_argument("--rest-429-every", type=int, default=0, metavar="N")
    faults.add_argument("--rest-418-every", type=int, default=0, metavar="N")
    faults.add_argument(
        "--rest-invalid-every",
        type=int,
        default=0,
        metavar="N",
        help="REST rows of agg ids divisible by N come back marked invalid (p=0, q=0, f=-1)",
    )
    faults.add_argument("--retry-after", type=int, default=1, metavar="S")
    p.add_argument(
        "--history-limit",
        type=int,
        default=1_000_000,
        metavar="N",
        help="trades kept per symbol for REST (default: 1000000; 0: all)",
    )
    p.add_argument(
        "--sent-log", type=Path, metavar="FILE", help="write the JSON log of sent ids on exit"
    )
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace):
    from tradestore.fake import FakeExchangeConfig

    start_ms = c.time_arg(args.start_time, "--start-time") if args.start_time else None
    for flag, path in (("--csv", args.csv), ("--replay-db", args.replay_db)):
        if path is not None and not path.exists():
            raise c.UsageError(f"{flag}: {path}: no such file or directory")
    try:
        return FakeExchangeConfig(
            host=args.host,
            port=args.port,
            symbols=tuple(s for s in args.symbols.split(",") if s.strip()),
            rate=args.rate,
            seed=args.seed,
            start_id=args.start_id,
            start_time_ms=start_ms,
            max_trades=args.max_trades,
            start_on_first_subscriber=args.start_on_first_subscriber,
            csv=args.csv,
            replay_db=args.replay_db,
            ping_interval=args.ping_interval,
            pong_timeout=args.pong_timeout,
            lifetime=args.lifetime,
            drop_every=args.drop_every or None,
            silent_after=args.silent_after,
            silent_for=args.silent_for,
            malformed_every=args.malformed_every,
            duplicate_every=args.duplicate_every,
            skip_every=args.skip_every,
            rest_429_every=args.rest_429_every,
            rest_418_every=args.rest_418_every,
            rest_invalid_every=args.rest_invalid_every,
            retry_after=args.retry_after,
            allow_remote=args.allow_remote,
            history_limit=args.history_limit or None,
        )
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
