"""The read side as tools: an HTTP JSON API and an MCP server over one table.

``TOOLS`` lists every question a client can ask (volume profile, liquidity vacuums,
trades a page at a time, stats, gaps, coverage), each with its arguments (named as the
command line's flags) and its answer (the document ``--format json`` prints)::

    from tradestore.api import serve_api
    await nursery.start(serve_api, "127.0.0.1:8765", "tradestore-data")

``serve_api`` serves them over HTTP (``GET /api/v1/<endpoint>``, OpenAPI at
``/api/v1/openapi.json``); ``tradestore.api._mcp.serve_mcp_stdio`` over MCP, and needs
the ``mcp`` extra. Both read the store as a read-only secondary instance in worker
threads of their own.
"""

from tradestore.api._auth import (
    BearerToken,
    ExposureError,
    check_exposure,
    read_token_file,
)
from tradestore.api._documents import (
    GAP_FIELDS,
    STATS_FIELDS,
    TRADE_FIELDS,
    Cursor,
    coverage_document,
    gap_records,
    gaps_document,
    stats_document,
    stats_record,
    stats_records,
    trade_record,
    trades_page,
)
from tradestore.api._errors import (
    BadArgument,
    Busy,
    InsufficientTrades,
    NotFound,
    ToolError,
    Unavailable,
)
from tradestore.api._http import ApiApp, serve_api
from tradestore.api._openapi import PREFIX, openapi_document
from tradestore.api._params import Param, read_arguments
from tradestore.api._reader import ReaderStatistics, StoreReader
from tradestore.api._tools import MAX_BINS, MAX_PAGE, TOOLS, TOOLS_BY_NAME, TOOLS_BY_PATH, Tool

__all__ = [
    "GAP_FIELDS",
    "MAX_BINS",
    "MAX_PAGE",
    "PREFIX",
    "STATS_FIELDS",
    "TOOLS",
    "TOOLS_BY_NAME",
    "TOOLS_BY_PATH",
    "TRADE_FIELDS",
    "ApiApp",
    "BadArgument",
    "BearerToken",
    "Busy",
    "Cursor",
    "ExposureError",
    "InsufficientTrades",
    "NotFound",
    "Param",
    "ReaderStatistics",
    "StoreReader",
    "Tool",
    "ToolError",
    "Unavailable",
    "check_exposure",
    "coverage_document",
    "gap_records",
    "gaps_document",
    "openapi_document",
    "read_arguments",
    "read_token_file",
    "serve_api",
    "stats_document",
    "stats_record",
    "stats_records",
    "trade_record",
    "trades_page",
]
