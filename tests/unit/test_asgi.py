"""The HTTP layer under /metrics, /healthz and the API (tradestore._asgi), served by
hypercorn on 127.0.0.1 and driven by httpx: the request prologue every server shares."""

from __future__ import annotations

import logging

import httpx
import pytest
import trio

from tradestore._asgi import (
    MAX_FIELDS,
    MAX_QUERY_BYTES,
    TEXT,
    HttpApp,
    HttpError,
    Request,
    Response,
    json_response,
    open_http_server,
    text_error,
)
from tradestore.api import BearerToken
from tradestore.recorder._metrics import metrics_app

log = logging.getLogger("tests.asgi")
TOKEN = "t0ken-" + "x" * 30


async def hello(_request: Request) -> Response:
    return Response(200, b"hello\n", TEXT)


async def echo(request: Request) -> Response:
    return json_response(request.arguments())


async def refuse(_request: Request) -> Response:
    raise HttpError(409, "conflict", "not now", ((b"x-why", b"because"),))


async def boom(_request: Request) -> Response:
    raise RuntimeError("a bug")


ROUTES = {"/hello": hello, "/echo": echo, "/refuse": refuse, "/boom": boom}


async def test_the_prologue_every_server_shares(caplog):
    app = HttpApp(ROUTES, not_found="try /hello", log=log)
    async with open_http_server(
        app, "127.0.0.1", 0, errorlog="tests.asgi.hypercorn", graceful_timeout=1.0
    ) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            r = await client.get("/hello")
            assert (r.status_code, r.text, r.headers["content-type"]) == (200, "hello\n", TEXT)
            assert r.headers["cache-control"] == "no-store"
            assert (await client.get("/hello/")).text == "hello\n"  # a trailing / ignored
            head = await client.head("/hello")
            assert head.status_code == 200 and head.content == b""
            assert head.headers["content-length"] == "6"

            post = await client.post("/hello")
            assert post.status_code == 405 and post.headers["allow"] == "GET, HEAD"
            assert post.json() == {
                "error": "method_not_allowed",
                "message": "only GET",
                "status": 405,
            }
            missing = (await client.get("/nothing")).json()
            assert missing["message"] == "no endpoint /nothing: try /hello"
            assert missing["status"] == 404 and missing["error"] == "no_such_endpoint"

            assert (await client.get("/echo?a=1&b=&c=%C3%A9")).json() == {
                "a": "1",
                "b": "",
                "c": "é",
            }
            for query, words in (
                ("a=1&a=2", "a is given more than once"),
                ("a=%FF", "the query string cannot be read"),
                ("&".join(f"k{i}=1" for i in range(MAX_FIELDS + 1)), "cannot be read"),
            ):
                r = await client.get(f"/echo?{query}")
                assert r.status_code == 400 and words in r.json()["message"], (query, r.text)
                assert r.json()["error"] == "bad_argument"
            long = await client.get("/echo", params={"a": "x" * MAX_QUERY_BYTES})
            assert long.status_code == 414 and long.json()["error"] == "uri_too_long"

            refused = await client.get("/refuse")
            assert refused.status_code == 409 and refused.headers["x-why"] == "because"
            assert refused.json() == {"error": "conflict", "message": "not now", "status": 409}

            with caplog.at_level(logging.ERROR, logger="tests.asgi"):
                failed = await client.get("/boom")
            assert failed.status_code == 500 and failed.json()["error"] == "internal_error"
            assert "RuntimeError: a bug" in caplog.text  # the traceback is in the log
            assert (await client.get("/hello")).status_code == 200  # and the server goes on


async def test_a_token_is_checked_before_anything_else():
    app = HttpApp(ROUTES, not_found="try /hello", authorize=BearerToken(TOKEN).allows, log=log)
    async with open_http_server(
        app, "127.0.0.1", 0, errorlog="tests.asgi.hypercorn", graceful_timeout=1.0
    ) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            for method, path in (("GET", "/hello"), ("POST", "/hello"), ("GET", "/nothing")):
                r = await client.request(method, path)
                assert r.status_code == 401 and r.json()["error"] == "unauthorized"
                assert r.headers["www-authenticate"] == 'Bearer realm="tradestore"'
            wrong = await client.get("/hello", headers={"Authorization": "Bearer " + "y" * 36})
            assert wrong.status_code == 401
            good = await client.get("/hello", headers={"Authorization": f"Bearer {TOKEN}"})
            assert good.text == "hello\n"


async def test_a_text_server_answers_refusals_in_text():
    app = HttpApp(ROUTES, not_found="try /hello", error_page=text_error, log=log)
    async with open_http_server(
        app, "127.0.0.1", 0, errorlog="tests.asgi.hypercorn", graceful_timeout=1.0
    ) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            r = await client.get("/nothing")
            assert (r.status_code, r.text) == (404, "no endpoint /nothing: try /hello\n")
            assert r.headers["content-type"] == TEXT
            r = await client.delete("/hello")
            assert (r.status_code, r.text, r.headers["allow"]) == (405, "only GET\n", "GET, HEAD")


async def test_a_taken_port_fails_at_once_and_the_server_stops_with_its_block():
    app = HttpApp(ROUTES, not_found="try /hello", log=log)
    async with open_http_server(
        app, "127.0.0.1", 0, errorlog="tests.asgi.hypercorn", graceful_timeout=1.0
    ) as url:
        port = int(url.rsplit(":", 1)[1])
        with pytest.raises(OSError):
            async with open_http_server(
                app, "127.0.0.1", port, errorlog="tests.asgi.hypercorn", graceful_timeout=1.0
            ):
                pass
    # The block is left: nothing listens there any more.
    with pytest.raises(OSError):
        await trio.open_tcp_stream("127.0.0.1", port)


async def test_metrics_and_healthz_stand_on_the_same_layer():
    """405 and 404 on the recorder's server, in text, without reading its statistics."""

    def statistics():
        raise AssertionError("read for a refused request")

    app = metrics_app(statistics)
    async with open_http_server(
        app, "127.0.0.1", 0, errorlog="tests.asgi.hypercorn", graceful_timeout=1.0
    ) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            r = await client.post("/metrics")
            assert (r.status_code, r.headers["allow"]) == (405, "GET, HEAD")
            r = await client.get("/metrix")
            assert (r.status_code, r.text) == (
                404,
                "no endpoint /metrix: try /metrics or /healthz\n",
            )
