"""Stream names, the connection plan, and the JSON control messages of a live connection.

A combined connection (``/stream?streams=a@aggTrade/b@aggTrade``) can change what it
carries without reconnecting: ``{"method": "SUBSCRIBE", "params": [...], "id": N}`` adds
streams, ``UNSUBSCRIBE`` removes them, and the exchange answers each with
``{"result": null, "id": N}`` (or ``{"error": {...}, "id": N}``) on the same socket, after
every frame it sent before handling the request.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

SUBSCRIBE = "SUBSCRIBE"
UNSUBSCRIBE = "UNSUBSCRIBE"
# Streams named in one control message: a few KB of JSON, far below any frame limit.
MAX_STREAMS_PER_CONTROL_MESSAGE = 200


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """Which symbols one connection carries and the URL that subscribes to them."""

    name: str
    symbols: tuple[str, ...]
    url: str


@dataclass(frozen=True, slots=True)
class ControlReply:
    """The exchange's answer to a control message: its id, and the error if it failed."""

    id: int
    error: str | None


def stream_name(symbol: str) -> str:
    """The aggTrade stream of a symbol, as Binance names it: ``btcusdt@aggTrade``."""
    return f"{symbol.lower()}@aggTrade"


def combined_url(base_url: str, symbols: Iterable[str]) -> str:
    """The combined-stream URL carrying ``symbols`` (``/stream`` alone when empty)."""
    streams = "/".join(stream_name(s) for s in symbols)
    return f"{base_url}/stream?streams={streams}" if streams else f"{base_url}/stream"


def plan_streams(
    base_url: str,
    symbols: Sequence[str],
    *,
    per_symbol: bool = False,
    max_streams: int,
    first_index: int = 0,
) -> list[StreamSpec]:
    """Per-symbol ``/ws/<s>@aggTrade`` URLs, or combined ``/stream?streams=`` shards of at
    most ``max_streams`` symbols, named ``stream-<n>`` from ``first_index`` on (so shards
    added later get names of their own)."""
    if per_symbol:
        return [StreamSpec(f"ws-{s}", (s,), f"{base_url}/ws/{stream_name(s)}") for s in symbols]
    specs = []
    for n, i in enumerate(range(0, len(symbols), max_streams), start=first_index):
        shard = tuple(symbols[i : i + max_streams])
        specs.append(StreamSpec(f"stream-{n}", shard, combined_url(base_url, shard)))
    return specs


def control_message(method: str, symbols: Iterable[str], request_id: int) -> str:
    """A SUBSCRIBE or UNSUBSCRIBE request for the aggTrade streams of ``symbols``."""
    params = [stream_name(s) for s in symbols]
    return json.dumps({"method": method, "params": params, "id": request_id})


def parse_control_reply(frame: str) -> ControlReply | None:
    """The reply to a control message, or None when ``frame`` is something else."""
    if '"id"' not in frame:
        return None
    try:
        doc = json.loads(frame)
    except ValueError:
        return None
    if not isinstance(doc, dict) or "e" in doc or "stream" in doc:
        return None
    request_id = doc.get("id")
    if type(request_id) is not int or not ("result" in doc or "error" in doc):
        return None
    error = doc.get("error")
    if error is None:
        return ControlReply(request_id, None)
    if isinstance(error, dict):
        return ControlReply(request_id, f"code {error.get('code')}: {error.get('msg')}")
    return ControlReply(request_id, str(error))
