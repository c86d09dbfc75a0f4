"""``serve``: the HTTP JSON API over a store, read-only (SIGTERM/SIGINT stop it, exit 0)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

import trio

from tradestore._excgroup import leaves
from tradestore.cli import _common as c

log = logging.getLogger("tradestore.cli.serve")

DEFAULT_ADDR = "127.0.0.1:8765"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "serve",
        help="serve the read side as an HTTP JSON API (profile, vacuums, trades, ...)",
        description="Answer GET /api/v1/profile, /vacuums, /candles, /footprint, /cvd, "
        "/trades, /stats, /gaps and /coverage with the documents the read commands print with --format json; the "
        "arguments are query parameters named as their flags (?symbol=BTCUSDT&hours=4). "
        "The OpenAPI document is at /api/v1/openapi.json. The store is opened read-only "
        "and may be recorded into at the same time; until it exists the answers are 503. "
        "Binds loopback by default; any other address needs --token-file, and every "
        "request must then carry 'Authorization: Bearer TOKEN'. docs/API.md has examples.",
    )
    c.add_db(p)
    c.add_archive(p)
    p.add_argument(
        "--addr",
        default=DEFAULT_ADDR,
        metavar="HOST:PORT",
        help=f"address to listen on (default: {DEFAULT_ADDR}; port 0 picks a free one)",
    )
    p.add_argument(
        "--token-file",
        metavar="FILE",
        help="require this bearer token (the file's first line) on every request; needed "
        "to bind an address other than loopback",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=2,
        metavar="N",
        help="requests answered at once, each in a worker thread (default: 2; more wait)",
    )
    p.set_defaults(func=run)


def settings(args: argparse.Namespace) -> str | None:
    """The token (None: no token), after checking --addr, --token-file and --workers."""
    from tradestore._addr import parse_addr
    from tradestore.api import ExposureError, check_exposure, read_token_file

    try:
        host, _port = parse_addr(args.addr)
    except ValueError as exc:
        raise c.UsageError(f"--addr: {exc}") from None
    if args.workers < 1:
        raise c.UsageError("--workers must be at least 1")
    try:
        token = None if args.token_file is None else read_token_file(args.token_file)
        check_exposure(host, token)
    except ExposureError as exc:
        raise c.UsageError(str(exc)) from None
    return token


def run(args: argparse.Namespace) -> int:
    token = settings(args)
    from tradestore.cli._logging import configure

    configure(level=logging.DEBUG if args.verbose >= 2 else logging.INFO)
    if not (Path(args.db) / "CURRENT").is_file():
        log.warning("no trade store at %s yet: answering 503 until one appears", args.db)
    archive = c.archive_for_server(args)
    failures: list[BaseException] = []
    try:
        return trio.run(serve_until_signal, args.addr, args.db, token, args.workers, archive)
    except* OSError as group:  # cannot bind: address in use, not an address of this host
        failures = list(leaves(group))
    for exc in failures:
        print(f"tradestore-trio serve: cannot listen on {args.addr}: {exc}", file=sys.stderr)
    return 1


async def serve_until_signal(
    addr: str, db: str, token: str | None, workers: int, archive=None
) -> int:
    from tradestore.api import serve_api

    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            await nursery.start(
                lambda task_status: serve_api(
                    addr,
                    db,
                    token=token,
                    workers=workers,
                    archive=archive,
                    task_status=task_status,
                )
            )
            async for signum in signals:
                log.info("%s: stopping", signal.Signals(signum).name)
                nursery.cancel_scope.cancel()
                break
    return 0
