"""Helpers shared by the tests of every kind.

``trades`` builds trades and small stores, ``store`` reads a store the way an outside
reader does, ``cli`` runs the CLI in-process and ``daemon`` as a real process,
``recorder`` scripts WebSocket servers for the recorder (in memory on the autojump clock),
``fake`` serves the fake exchange without loopback TCP, ``ext`` and ``fuzz`` serve the
hot-path twins. Waits poll a condition under the caller's ``trio.fail_after``.
"""

from collections.abc import Awaitable, Callable
from pathlib import Path

import trio

REPO = Path(__file__).resolve().parents[2]  # the repository root
DATA = REPO / "tests" / "data"  # the real Binance samples


async def wait_for(predicate: Callable[[], bool], *, step: float = 0.01) -> None:
    """Poll until predicate() holds, for counters no event exposes. Callers bound the wait
    with ``trio.fail_after``: the deadline is a safety net, never the verdict."""
    while not predicate():  # noqa: ASYNC110 - polls counters no event exposes
        await trio.sleep(step)


async def wait_for_async(predicate: Callable[[], Awaitable[bool]], *, step: float = 0.05) -> None:
    """wait_for for a predicate that has to await, such as a scrape of /metrics."""
    while not await predicate():  # noqa: ASYNC110 - polls a process no event reaches
        await trio.sleep(step)
