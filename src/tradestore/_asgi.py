"""The HTTP layer every server here stands on: /metrics and /healthz (the recorder) and
the JSON API (``tradestore.api``) are each a table of routes given to one ``HttpApp``,
served by hypercorn's Trio worker on a socket from ``tradestore._addr.bind_listener``.

``HttpApp`` is the request prologue once: the lifespan messages, the bearer token (if
any), GET and HEAD only, the route by exact path (a trailing ``/`` ignored), a bound on the
query string, the error document (JSON or text, chosen by the app), a handler that fails
answered 500 with the traceback in the log, and the body left out for HEAD. A handler is
``async (Request) -> Response``; ``HttpError`` is how it (or ``Request.arguments``)
refuses a request with a status, a code for programs and a message for people.

A small own layer rather than a framework: both servers answer a handful of exact paths
with bodies they build themselves, and what they promise their clients (the token before
anything else, 405 before 404, the API's error document on every path) would have to be
undone in a framework's defaults.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import parse_qsl

import trio
from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, HTTPScope, Scope

from tradestore._addr import bind_listener, listener_url
from tradestore._errors import TradestoreError

Headers = tuple[tuple[bytes, bytes], ...]

JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
MAX_QUERY_BYTES = 4096
MAX_FIELDS = 32
# Every answer is of the moment it is asked: figures, health, a store being recorded into.
NO_STORE: Headers = ((b"cache-control", b"no-store"),)
ALLOW: Headers = ((b"allow", b"GET, HEAD"),)
BEARER_CHALLENGE: Headers = ((b"www-authenticate", b'Bearer realm="tradestore"'),)


class HttpError(TradestoreError):
    """A request refused: ``status`` (HTTP), ``code`` (a stable word for programs), the
    message (one line for people) and any headers the answer carries."""

    def __init__(self, status: int, code: str, message: str, headers: Headers = ()) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.headers = headers


@dataclass(frozen=True, slots=True)
class Request:
    """What a handler reads of a request."""

    method: str
    path: str  # as asked
    query: bytes
    headers: Iterable[tuple[bytes, bytes]]

    def arguments(self) -> dict[str, str]:
        """The query string as ``{name: value}``; HttpError 400 when it cannot be read or
        names an argument twice."""
        try:
            pairs = parse_qsl(
                self.query.decode("ascii"),
                keep_blank_values=True,
                strict_parsing=False,
                encoding="utf-8",
                errors="strict",
                max_num_fields=MAX_FIELDS,
            )
        except (UnicodeDecodeError, ValueError) as exc:
            raise _bad_argument(f"the query string cannot be read: {exc}") from None
        arguments: dict[str, str] = {}
        for key, value in pairs:
            if key in arguments:
                raise _bad_argument(f"{key} is given more than once")
            arguments[key] = value
        return arguments


def _bad_argument(message: str) -> HttpError:
    return HttpError(400, "bad_argument", message)


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    content_type: str
    headers: Headers = ()


Handler = Callable[[Request], Awaitable[Response]]
ErrorPage = Callable[[HttpError], Response]


def json_body(document: Any) -> bytes:
    """A document as compact JSON bytes (the API encodes its answers in worker threads)."""
    return json.dumps(document, separators=(",", ":")).encode()


def json_response(document: Any, status: int = 200) -> Response:
    return Response(status, json_body(document), JSON)


def json_error(error: HttpError) -> Response:
    """The error document of a JSON server: ``{"error", "message", "status"}``."""
    document = {"error": error.code, "message": str(error), "status": error.status}
    return Response(error.status, json_body(document), JSON, error.headers)


def text_error(error: HttpError) -> Response:
    """The error page of a text server: the message on one line."""
    return Response(error.status, f"{error}\n".encode(), TEXT, error.headers)


class HttpApp:
    """The ASGI app: ``routes`` maps exact paths to handlers.

    ``authorize`` (if given) sees every request's headers first and refuses with 401 what
    it does not allow; ``not_found`` says what a 404 suggests instead; ``error_page``
    renders every refusal; ``log`` gets a debug line per request.
    """

    def __init__(
        self,
        routes: Mapping[str, Handler],
        *,
        not_found: str,
        error_page: ErrorPage = json_error,
        authorize: Callable[[Iterable[tuple[bytes, bytes]]], bool] | None = None,
        log: logging.Logger,
    ) -> None:
        self._routes = {path.rstrip("/"): handler for path, handler in routes.items()}
        self._not_found = not_found
        self._error_page = error_page
        self._authorize = authorize
        self._log = log

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        began = time.perf_counter()
        response = await self._answer(scope)
        head = scope["method"] == "HEAD"
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": [
                    (b"content-type", response.content_type.encode()),
                    (b"content-length", str(len(response.body)).encode()),
                    *NO_STORE,
                    *response.headers,
                ],
            }
        )
        await send(
            {
                "type": "http.response.body",
                "body": b"" if head else response.body,
                "more_body": False,
            }
        )
        self._log.debug(
            "%s %s?%s -> %d in %.1f ms",
            scope["method"],
            scope["path"],
            scope["query_string"].decode("latin-1"),
            response.status,
            (time.perf_counter() - began) * 1000,
        )

    async def _answer(self, scope: HTTPScope) -> Response:
        request = Request(scope["method"], scope["path"], scope["query_string"], scope["headers"])
        try:
            return await self._route(request)
        except HttpError as refused:
            return self._error_page(refused)
        except Exception:
            self._log.exception("%s %s failed", request.method, request.path)
            failed = HttpError(500, "internal_error", "the server failed; its log says why")
            return self._error_page(failed)

    async def _route(self, request: Request) -> Response:
        if self._authorize is not None and not self._authorize(request.headers):
            raise HttpError(
                401,
                "unauthorized",
                "this server needs Authorization: Bearer <token>",
                BEARER_CHALLENGE,
            )
        if request.method not in ("GET", "HEAD"):
            raise HttpError(405, "method_not_allowed", "only GET", ALLOW)
        handler = self._routes.get(request.path.rstrip("/"))
        if handler is None:
            raise HttpError(
                404, "no_such_endpoint", f"no endpoint {request.path}: {self._not_found}"
            )
        if len(request.query) > MAX_QUERY_BYTES:
            raise HttpError(
                414, "uri_too_long", f"the query is longer than {MAX_QUERY_BYTES} bytes"
            )
        return await handler(request)


async def serve_lifespan(receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    """Answer the server's lifespan messages: nothing to start or stop, so acknowledge
    startup and shutdown, and return with the shutdown."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


@asynccontextmanager
async def open_http_server(
    app: HttpApp, host: str, port: int, *, errorlog: str, graceful_timeout: float
) -> AsyncIterator[str]:
    """Serve ``app`` on host:port (port 0: a free one) while the block runs; yields the
    bound ``http://host:port``. An address that cannot be bound raises OSError at once.
    Leaving the block stops the server."""
    from hypercorn.config import Config
    from hypercorn.trio import serve

    config = Config()
    config.accesslog = None
    config.errorlog = logging.getLogger(errorlog)
    config.graceful_timeout = graceful_timeout
    with bind_listener(host, port) as sock:
        # hypercorn's public entry point serves a bound socket given as fd://N; it gets a
        # duplicate of ours, which it owns, and ours stays ours to close.
        config.bind = [f"fd://{os.dup(sock.fileno())}"]
        async with trio.open_nursery() as nursery:
            await nursery.start(partial(serve, app, config, mode="asgi"))
            yield listener_url(sock)
            nursery.cancel_scope.cancel()
