"""Stream names and the connection plan: which symbols ride on which WebSocket URL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """Which symbols one connection carries and the URL that subscribes to them."""

    name: str
    symbols: tuple[str, ...]
    url: str


def stream_name(symbol: str) -> str:
    """The aggTrade stream of a symbol, as Binance names it: ``btcusdt@aggTrade``."""
    return f"{symbol.lower()}@aggTrade"


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
        streams = "/".join(stream_name(s) for s in shard)
        specs.append(StreamSpec(f"stream-{n}", shard, f"{base_url}/stream?streams={streams}"))
    return specs
