"""The HTTP JSON API: ``GET /api/v1/<endpoint>?arguments``, served by hypercorn's Trio worker.

One route per tool on ``tradestore._asgi.HttpApp`` (the request prologue every server
here shares): the query string is read by each tool's parameters, the answer comes from a
worker thread (``StoreReader``), and the document is the one ``--format json`` prints.
Status codes: 200, 400 bad argument, 401 no or wrong token, 404 unknown endpoint or
symbol, 405 not GET, 414 query too long, 422 too few trades for an analysis, 503 store
unavailable or server busy, 500 a bug (logged).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import trio

from tradestore._addr import parse_addr
from tradestore._asgi import (
    JSON,
    Handler,
    HttpApp,
    HttpError,
    Request,
    Response,
    json_body,
    open_http_server,
)
from tradestore.api._auth import BearerToken, check_exposure
from tradestore.api._errors import Busy, ToolError
from tradestore.api._openapi import PREFIX, openapi_document
from tradestore.api._reader import DEFAULT_WORKERS, StoreReader
from tradestore.api._tools import TOOLS, Tool
from tradestore.store import TradeStore

if TYPE_CHECKING:
    from tradestore.archive import ArchiveReader

log = logging.getLogger(__name__)

RETRY_AFTER_S = 1


class ApiApp(HttpApp):
    """The ASGI app; ``reader`` answers, ``token`` (if any) is required on every request."""

    def __init__(
        self, reader: StoreReader, *, token: str | None = None, tools: tuple[Tool, ...] = TOOLS
    ) -> None:
        self.reader = reader
        openapi = json_body(openapi_document(token_required=token is not None, tools=tools))
        index = json_body(
            {
                "endpoints": {f"{PREFIX}/{t.path}": t.summary for t in tools},
                "openapi": f"{PREFIX}/openapi.json",
            }
        )
        routes: dict[str, Handler] = {
            PREFIX: _fixed(index),
            f"{PREFIX}/openapi.json": _fixed(openapi),
        }
        for tool in tools:
            routes[f"{PREFIX}/{tool.path}"] = _tool_route(reader, tool)
        super().__init__(
            routes,
            not_found="the endpoints are "
            + ", ".join(f"{PREFIX}/{t.path}" for t in tools)
            + f" (described in {PREFIX}/openapi.json)",
            authorize=None if token is None else BearerToken(token).allows,
            log=log,
        )


def _fixed(body: bytes) -> Handler:
    async def route(_request: Request) -> Response:
        return Response(200, body, JSON)

    return route


def _tool_route(reader: StoreReader, tool: Tool) -> Handler:
    async def route(request: Request) -> Response:
        try:
            checked = tool.request(request.arguments())
            body = await reader.call(_answer_json, tool, checked)
        except Busy as exc:
            retry = ((b"retry-after", str(RETRY_AFTER_S).encode()),)
            raise HttpError(exc.status, exc.code, str(exc), retry) from None
        except ToolError as exc:
            raise HttpError(exc.status, exc.code, str(exc)) from None
        return Response(200, body, JSON)

    return route


def _answer_json(store: TradeStore, tool: Tool, request: dict[str, Any]) -> bytes:
    """The answer as JSON bytes, encoded in the worker thread too: a page of 10,000 trades
    takes milliseconds to encode, which the event loop (the recorder's, under
    ``run --api-addr``) must not spend."""
    return json_body(tool.answer(store, request))


async def serve_api(
    addr: str,
    db: str,
    *,
    token: str | None = None,
    workers: int = DEFAULT_WORKERS,
    archive: ArchiveReader | None = None,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the HTTP API on ``addr`` (HOST:PORT; port 0 picks a free one) over the store
    at ``db``, read-only, until cancelled. ``task_status.started`` receives the bound
    ``http://host:port`` URL. A non-loopback ``addr`` needs a ``token`` (ExposureError);
    an address that cannot be bound raises OSError. With an ``archive`` every answer
    reads the store and the archive as one record (``tradestore.archive.History``)."""
    host, port = parse_addr(addr)
    check_exposure(host, token)
    reader = StoreReader(db, workers=workers, archive=archive)
    try:
        app = ApiApp(reader, token=token)
        async with open_http_server(
            app, host, port, errorlog="tradestore.api.hypercorn", graceful_timeout=5.0
        ) as url:
            log.info("HTTP API on %s%s/ (OpenAPI: %s%s/openapi.json)", url, PREFIX, url, PREFIX)
            task_status.started(url)
            await trio.sleep_forever()
    finally:
        reader.close()
