"""``mcp``: the read side as Model Context Protocol tools over stdio, for AI agents."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import trio

from tradestore._excgroup import leaves
from tradestore.cli import _common as c

log = logging.getLogger("tradestore.cli.mcp")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "mcp",
        help="serve the read side as MCP tools over stdio (for AI agents)",
        description="Speak the Model Context Protocol on stdin/stdout: an MCP client (Claude "
        "Desktop, an agent framework) starts this command and calls its tools: "
        "get_volume_profile, get_liquidity_vacuums, get_candles, get_footprint, get_cvd, "
        "query_trades, get_stats, get_gaps and get_coverage, with arguments named as the read commands' flags; each answers the "
        "document the command prints with --format json. The store is opened read-only "
        "and may be recorded into at the same time. Logs go to stderr. Needs the mcp "
        "extra: pip install 'tradestore-trio[mcp]'. docs/MCP.md has a client configuration.",
    )
    c.add_db(p)
    c.add_archive(p)
    p.add_argument(
        "--workers",
        type=int,
        default=2,
        metavar="N",
        help="tool calls answered at once, each in a worker thread (default: 2)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.workers < 1:
        raise c.UsageError("--workers must be at least 1")
    try:
        from tradestore.api._mcp import serve_mcp_stdio
    except ImportError as exc:
        print(
            f"tradestore-trio mcp: the MCP SDK is not installed ({exc}): "
            "pip install 'tradestore-trio[mcp]'",
            file=sys.stderr,
        )
        return 1
    if not (Path(args.db) / "CURRENT").is_file():
        log.warning(
            "no trade store at %s yet: tools answer 'unavailable' until one appears", args.db
        )
    if _isatty(sys.stdin):
        print(
            "tradestore-trio mcp: speaking MCP (JSON-RPC) on stdin/stdout; an MCP client "
            "starts this command (docs/MCP.md). Ctrl-C or Ctrl-D ends it.",
            file=sys.stderr,
        )
    archive = c.archive_for_server(args)
    failures: list[BaseException] = []
    try:
        trio.run(lambda: serve_mcp_stdio(args.db, workers=args.workers, archive=archive))
        return 0
    except* OSError as group:  # stdin or stdout closed or unreadable
        failures = list(leaves(group))
    for failure in failures:
        print(f"tradestore-trio mcp: cannot use stdin/stdout: {failure}", file=sys.stderr)
    return 1


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False
