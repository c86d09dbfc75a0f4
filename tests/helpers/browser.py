"""A real headless Chromium driven over the DevTools protocol, for pages the package writes.

Debian's ``chromium`` package is the browser (no browser download); the protocol runs over
trio-websocket, which the test extra installs anyway, so nothing else is needed. A page
records every request it makes (``Network.requestWillBeSent``), which is how a test tells
that a report is self-contained."""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio
from trio_websocket import open_websocket_url

from tests.helpers import wait_for

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
]
MAX_MESSAGE = 64 * 1024 * 1024  # a full-page screenshot in base64


def chromium() -> str | None:
    """The Chromium executable, or None when it is not installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Page:
    """One tab, attached through a flat DevTools session."""

    def __init__(self, browser: Browser, session: str) -> None:
        self._browser = browser
        self._session = session
        self.requests: list[str] = []  # every URL the page asked for, in order
        self.loaded = trio.Event()

    def on_event(self, method: str, params: dict) -> None:
        if method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
        elif method == "Page.loadEventFired":
            self.loaded.set()

    async def send(self, method: str, **params: Any) -> dict:
        return await self._browser.send(method, params, session=self._session)

    async def goto(self, url: str) -> None:
        """Navigate and wait for the load event (pictures decoded)."""
        self.loaded = trio.Event()
        await self.send("Page.navigate", url=url)
        await self.loaded.wait()

    async def evaluate(self, expression: str) -> Any:
        reply = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return reply["result"].get("value")

    async def screenshot(self) -> bytes:
        reply = await self.send("Page.captureScreenshot", format="png")
        return base64.b64decode(reply["data"])


class Browser:
    """The browser-wide DevTools connection: commands by id, events to their page."""

    def __init__(self, ws) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self._waiting: dict[int, trio.MemorySendChannel] = {}
        self._pages: dict[str, Page] = {}

    async def send(self, method: str, params: dict, *, session: str | None = None) -> dict:
        ident = next(self._ids)
        send, receive = trio.open_memory_channel[dict](1)
        self._waiting[ident] = send
        message: dict[str, Any] = {"id": ident, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        await self._ws.send_message(json.dumps(message))
        reply = await receive.receive()
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    async def serve(self) -> None:
        """Route replies to their callers and events to their pages."""
        while True:
            message = json.loads(await self._ws.get_message())
            if "id" in message:
                waiter = self._waiting.pop(message["id"], None)
                if waiter is not None:
                    waiter.send_nowait(message)
            elif message.get("sessionId") in self._pages:
                self._pages[message["sessionId"]].on_event(message["method"], message["params"])

    async def new_page(self, width: int, height: int) -> Page:
        """A blank tab of width x height CSS pixels (scale 1), recording its requests."""
        target = await self.send("Target.createTarget", {"url": "about:blank"})
        attached = await self.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
        )
        page = Page(self, attached["sessionId"])
        self._pages[attached["sessionId"]] = page
        await page.send("Page.enable")
        await page.send("Network.enable")
        await page.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        return page


@asynccontextmanager
async def open_browser(profile: Path) -> AsyncIterator[Browser]:
    """A headless Chromium with a fresh profile folder, stopped on the way out (callers
    bound the start-up with ``trio.fail_after``)."""
    exe = chromium()
    assert exe is not None, "chromium is not installed"
    profile.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - a local folder, once
    port_file = profile / "DevToolsActivePort"
    with open(profile / "chromium.log", "wb") as log:  # noqa: ASYNC230 - a local file
        proc = await trio.lowlevel.open_process(
            [exe, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
    try:
        await wait_for(lambda: len(_lines(port_file)) >= 2, step=0.05)
        port, path = _lines(port_file)[:2]
        async with open_websocket_url(
            f"ws://127.0.0.1:{port}{path}", max_message_size=MAX_MESSAGE
        ) as ws:
            browser = Browser(ws)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(browser.serve)
                yield browser
                nursery.cancel_scope.cancel()
    finally:
        proc.terminate()
        with trio.move_on_after(10, shield=True):
            await proc.wait()
        if proc.returncode is None:
            proc.kill()


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text().split()
    except FileNotFoundError:
        return []
