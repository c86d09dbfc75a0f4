"""What every ASGI app here shares with the server that runs it (the listening socket is
``tradestore._addr.bind_listener``)."""

from __future__ import annotations


async def serve_lifespan(receive, send) -> None:
    """Answer the server's lifespan messages: nothing to start or stop, so acknowledge
    startup and shutdown, and return with the shutdown."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
