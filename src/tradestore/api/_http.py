"""The HTTP JSON API: ``GET /api/v1/<endpoint>?arguments``, served by hypercorn's Trio worker.

A plain ASGI app over the table of tools: the query string is read by each tool's
parameters, the answer comes from a worker thread (``StoreReader``), and the document is
the one ``--format json`` prints. Status codes: 200, 400 bad argument, 401 no or wrong
token, 404 unknown endpoint or symbol, 405 not GET, 414 query too long, 422 too few
trades for an analysis, 503 store unavailable or server busy, 500 a bug (logged).
"""

from __future__ import annotations

import json
import logging
import time
from functools import partial
from typing import Any
from urllib.parse import parse_qsl

import trio

from tradestore._addr import bind_listener, listener_url, parse_addr
from tradestore._asgi import serve_lifespan
from tradestore.api._auth import BearerToken, check_exposure
from tradestore.api._errors import BadArgument, Busy, ToolError
from tradestore.api._openapi import PREFIX, openapi_document
from tradestore.api._reader import DEFAULT_WORKERS, StoreReader
from tradestore.api._tools import TOOLS, Tool

log = logging.getLogger(__name__)

MAX_QUERY_BYTES = 4096
MAX_FIELDS = 32
RETRY_AFTER_S = 1


class ApiApp:
    """The ASGI app; ``reader`` answers, ``token`` (if any) is required on every request."""

    def __init__(
        self, reader: StoreReader, *, token: str | None = None, tools: tuple[Tool, ...] = TOOLS
    ) -> None:
        self.reader = reader
        self._auth = None if token is None else BearerToken(token)
        self._tools = {t.path: t for t in tools}
        self._openapi = _json(openapi_document(token_required=token is not None, tools=tools))
        self._index = _json(
            {
                "endpoints": {f"{PREFIX}/{t.path}": t.summary for t in tools},
                "openapi": f"{PREFIX}/openapi.json",
            }
        )

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        began = time.perf_counter()
        status = await self._answer(scope, send)
        log.debug(
            "%s %s?%s -> %d in %.1f ms",
            scope["method"],
            scope["path"],
            scope.get("query_string", b"").decode("latin-1"),
            status,
            (time.perf_counter() - began) * 1000,
        )

    async def _answer(self, scope, send) -> int:
        head = scope["method"] == "HEAD"
        if self._auth is not None and not self._auth.allows(scope["headers"]):
            return await _error(
                send,
                401,
                "unauthorized",
                "this server needs Authorization: Bearer <token>",
                head,
                [(b"www-authenticate", b'Bearer realm="tradestore"')],
            )
        if scope["method"] not in ("GET", "HEAD"):
            return await _error(
                send, 405, "method_not_allowed", "only GET", head, [(b"allow", b"GET, HEAD")]
            )
        path = scope["path"].rstrip("/")
        if path == PREFIX:
            return await _respond(send, 200, self._index, head)
        if path == f"{PREFIX}/openapi.json":
            return await _respond(send, 200, self._openapi, head)
        name = path[len(PREFIX) + 1 :] if path.startswith(PREFIX + "/") else None
        tool = self._tools.get(name) if name else None
        if tool is None:
            return await _error(
                send,
                404,
                "no_such_endpoint",
                f"no endpoint {scope['path']}: the endpoints are "
                + ", ".join(f"{PREFIX}/{p}" for p in self._tools)
                + f" (described in {PREFIX}/openapi.json)",
                head,
            )
        query = scope.get("query_string", b"")
        if len(query) > MAX_QUERY_BYTES:
            return await _error(
                send, 414, "uri_too_long", f"the query is longer than {MAX_QUERY_BYTES} bytes", head
            )
        try:
            request = tool.request(_arguments(query))
            body = await self.reader.call(_answer_json, tool, request)
        except Busy as exc:
            retry = [(b"retry-after", str(RETRY_AFTER_S).encode())]
            return await _error(send, exc.status, exc.code, str(exc), head, retry)
        except ToolError as exc:
            return await _error(send, exc.status, exc.code, str(exc), head)
        except Exception:
            log.exception("%s failed", scope["path"])
            return await _error(
                send, 500, "internal_error", "the server failed; its log says why", head
            )
        return await _respond(send, 200, body, head)


def _answer_json(store, tool: Tool, request: dict[str, Any]) -> bytes:
    """The answer as JSON bytes, encoded in the worker thread too: a page of 10,000 trades
    takes milliseconds to encode, which the event loop (the recorder's, under
    ``run --api-addr``) must not spend."""
    return _json(tool.answer(store, request))


def _arguments(query: bytes) -> dict[str, str]:
    try:
        pairs = parse_qsl(
            query.decode("ascii"),
            keep_blank_values=True,
            strict_parsing=False,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadArgument(f"the query string cannot be read: {exc}") from None
    arguments: dict[str, str] = {}
    for key, value in pairs:
        if key in arguments:
            raise BadArgument(f"{key} is given more than once")
        arguments[key] = value
    return arguments


def _json(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


async def _respond(
    send, status: int, body: bytes, head: bool, extra: list[tuple[bytes, bytes]] | None = None
) -> int:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                *(extra or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b"" if head else body})
    return status


async def _error(
    send,
    status: int,
    code: str,
    message: str,
    head: bool,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> int:
    body = _json({"error": code, "message": message, "status": status})
    return await _respond(send, status, body, head, extra)


async def serve_api(
    addr: str,
    db: str,
    *,
    token: str | None = None,
    workers: int = DEFAULT_WORKERS,
    task_status=trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the HTTP API on ``addr`` (HOST:PORT; port 0 picks a free one) over the store
    at ``db``, read-only, until cancelled. ``task_status.started`` receives the bound
    ``http://host:port`` URL. A non-loopback ``addr`` needs a ``token`` (ExposureError);
    an address that cannot be bound raises OSError."""
    from hypercorn.config import Config, Sockets
    from hypercorn.trio.run import worker_serve
    from hypercorn.utils import wrap_app

    host, port = parse_addr(addr)
    check_exposure(host, token)
    config = Config()
    config.accesslog = None
    config.errorlog = logging.getLogger("tradestore.api.hypercorn")
    config.graceful_timeout = 5.0
    reader = StoreReader(db, workers=workers)
    app = wrap_app(ApiApp(reader, token=token), config.wsgi_max_body_size, "asgi")
    try:
        with bind_listener(host, port) as sock:
            url = listener_url(sock)
            sockets = Sockets(secure_sockets=[], insecure_sockets=[sock], quic_sockets=[])
            async with trio.open_nursery() as nursery:
                await nursery.start(partial(worker_serve, app, config, sockets=sockets))
                log.info("HTTP API on %s%s/ (OpenAPI: %s%s/openapi.json)", url, PREFIX, url, PREFIX)
                task_status.started(url)
    finally:
        reader.close()
