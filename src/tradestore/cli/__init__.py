"""The ``tradestore-trio`` command line. Each command lives in its own module here."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import traceback

from tradestore import __version__
from tradestore._errors import TradestoreError
from tradestore.cli._errors import exit_status, message

log = logging.getLogger(__name__)

# name -> module under tradestore.cli; each module has register(subparsers) and run(args).
COMMANDS = {
    "query": "_query",
    "profile": "_profile",
    "vacuums": "_vacuums",
    "stats": "_stats",
    "prune": "_prune",
    "import": "_import",
    "fake-exchange": "_fake",
    "run": "_run",
    "demo": "_demo",
    "verify": "_verify",
    "gaps": "_gaps",
    "backfill": "_backfill",
    "export": "_export",
    "adopt": "_adopt",
    "candles": "_candles",
    "footprint": "_footprint",
    "cvd": "_cvd",
    "composite": "_composite",
    "screen": "_screen",
    "rollups": "_rollups",
    "archive": "_archive",
    "report": "_report",
    "serve": "_serve",
    "mcp": "_mcp",
}

DESCRIPTION = """\
Record Binance aggTrade streams (spot, USD-M or COIN-M futures) into RocksDB and query them.

Start recording with `tradestore-trio run` (or `tradestore-trio demo` offline), then read
the data with `query`, `stats`, `profile` and the other read commands, which work while
the daemon runs, or serve them with `serve` (HTTP) and `mcp` (agents). Times are epoch
seconds or milliseconds (the digit count tells), ISO-8601 (UTC unless an offset is
given), `now` or `now-2h`.
Exit codes: 0 ok, 2 bad usage or input (a symbol never stored, a --db that cannot hold the
store), 1 runtime failure or a problem found (docs/OUTPUT.md, "Exit status")."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tradestore-trio",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMANDS.values():
        module = importlib.import_module(f"tradestore.cli.{module_name}")
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # as typed, for provenance
    _configure_logging(args.verbose, getattr(args, "log_format", "text"))
    try:
        return int(args.func(args) or 0)
    except TradestoreError as exc:
        # One line for people; -vv also logs where it was raised (a place, not a traceback:
        # a traceback on stderr reads as a crash).
        if exc.__traceback__ is not None:
            where = traceback.extract_tb(exc.__traceback__)[-1]
            log.debug(
                "%s: %s raised at %s:%s",
                args.command,
                type(exc).__name__,
                where.filename,
                where.lineno,
            )
        print(f"tradestore-trio {args.command}: {message(exc)}", file=sys.stderr)
        return exit_status(exc)
    except KeyboardInterrupt:
        print(f"tradestore-trio {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def _configure_logging(verbosity: int, log_format: str) -> None:
    from tradestore.cli._logging import configure

    level = logging.WARNING - 10 * min(verbosity, 2)
    configure(level=min(level, logging.INFO) if verbosity else logging.WARNING, fmt=log_format)


def entry_point() -> None:
    sys.exit(main())
