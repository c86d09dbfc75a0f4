"""The MCP server: the table of tools over the Model Context Protocol (stdio).

Built on the official SDK's low-level ``Server`` (which runs on anyio, so on Trio): the
tool list and each tool's JSON schema come from ``TOOLS``; a call checks its arguments,
answers in a worker thread and returns the document as JSON text (and as structured
content). Anything a call cannot answer comes back as a tool error with the reason, and
the server goes on serving.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

import mcp_types as types
from mcp.server import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

from tradestore import __version__
from tradestore.api._errors import ToolError
from tradestore.api._reader import DEFAULT_WORKERS, StoreReader
from tradestore.api._tools import TOOLS, Tool
from tradestore.store import TradeStore

if TYPE_CHECKING:
    from tradestore.archive import ArchiveReader

log = logging.getLogger(__name__)

INSTRUCTIONS = """\
Recorded Binance spot aggregate trades and the market-profile analytics over them, read \
only. Start with get_stats to see which symbols are stored and the span each covers. \
Windows: any two of start, end and hours (start/end as ISO-8601 UTC, epoch seconds or \
milliseconds, now or now-2h; the default end is now). Prices and volumes are exact \
decimal strings. Every windowed result carries `coverage`: when it is not complete, part \
of the window was not recorded, which is different from no trades."""

READ_ONLY = types.ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)


def build_server(reader: StoreReader, tools: tuple[Tool, ...] = TOOLS) -> Server:
    """An MCP server answering ``tools`` from ``reader``."""
    by_name = {t.name: t for t in tools}
    listing = types.ListToolsResult(
        tools=[
            types.Tool(
                name=t.name,
                title=t.summary,
                description=t.description,
                input_schema=t.input_schema(),
                annotations=READ_ONLY,
            )
            for t in tools
        ]
    )

    async def list_tools(
        _ctx: ServerRequestContext, _params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return listing

    async def call_tool(
        _ctx: ServerRequestContext, params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        tool = by_name.get(params.name)
        if tool is None:
            return _error(f"unknown tool {params.name!r}: the tools are {', '.join(by_name)}")
        try:
            request = tool.request(dict(params.arguments or {}))
            document, text = await reader.call(_answer_json, tool, request)
        except ToolError as exc:
            return _error(str(exc))
        except Exception as exc:
            log.exception("%s failed", tool.name)
            return _error(f"{tool.name} failed: {exc}")
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=text)],
            structured_content=document,
        )

    return Server(
        "tradestore-trio",
        version=__version__,
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


def _answer_json(
    store: TradeStore, tool: Tool, request: dict[str, Any]
) -> tuple[dict[str, Any], str]:
    """The document and its JSON text, both made in the worker thread."""
    document = tool.answer(store, request)
    return document, json.dumps(document)


def _error(message: str) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=message)], is_error=True
    )


async def serve_mcp_stdio(
    db: str, *, workers: int = DEFAULT_WORKERS, archive: ArchiveReader | None = None
) -> None:
    """Serve the tools over this process's stdin/stdout until the client closes them."""
    reader = StoreReader(db, workers=workers, archive=archive)
    server = build_server(reader)
    try:
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())
    finally:
        reader.close()
