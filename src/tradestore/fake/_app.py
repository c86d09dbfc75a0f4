"""The ASGI application: lifespan, WebSocket and HTTP routed by hand."""

from __future__ import annotations

import logging

from tradestore._asgi import serve_lifespan
from tradestore.fake._exchange import FakeExchange
from tradestore.fake._rest import RestApi, encode
from tradestore.fake._ws import serve_websocket

log = logging.getLogger(__name__)


class FakeExchangeApp:
    def __init__(self, exchange: FakeExchange) -> None:
        self.exchange = exchange
        self.rest = RestApi(exchange)

    async def __call__(self, scope, receive, send) -> None:
        kind = scope["type"]
        if kind == "websocket":
            await serve_websocket(self.exchange, scope, receive, send)
        elif kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await serve_lifespan(receive, send)

    async def _http(self, scope, receive, send) -> None:
        while True:  # drain the (empty) request body
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        status, headers, body = self.rest.handle(
            scope["method"], scope["path"], scope.get("query_string", b"")
        )
        data = encode(body)
        raw_headers = [
            (b"content-type", b"application/json;charset=UTF-8"),
            (b"content-length", b"%d" % len(data)),
        ]
        raw_headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else data}
        )
