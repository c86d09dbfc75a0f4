"""Reconnect pacing: jittered exponential backoff, a connection budget, throttled logs."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable

import trio


class Backoff:
    """Exponential backoff with full jitter: the n-th delay is uniform in [0, min(max, b*2^n)].

    Full jitter spreads the reconnects of many connections (and many daemons) that were
    dropped at the same moment, so they do not hammer the exchange in lock step.
    """

    def __init__(
        self, initial: float = 1.0, maximum: float = 60.0, rng: random.Random | None = None
    ) -> None:
        self.initial = initial
        self.maximum = maximum
        self.rng = rng or random.Random()
        self.failures = 0

    def ceiling(self) -> float:
        """The upper bound of the next delay."""
        return min(self.maximum, self.initial * 2 ** min(self.failures, 62))

    def next_delay(self) -> float:
        delay = self.rng.uniform(0.0, self.ceiling())
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.failures = 0


class ConnectionBudget:
    """A process-wide token bucket of connection attempts (``capacity`` per ``window`` s).

    Binance bans an IP that opens more than 300 connections in 5 minutes; every stream
    task takes one token before each attempt, so even a storm of failures stays under it.
    """

    def __init__(self, capacity: int, window: float) -> None:
        self.capacity = capacity
        self.rate = capacity / window
        self._tokens = float(capacity)
        self._stamp: float | None = None
        self._lock = trio.Lock()
        self.waited = 0  # attempts that had to wait for a token

    def _refill(self, now: float) -> None:
        if self._stamp is not None:
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    @property
    def tokens(self) -> float:
        self._refill(trio.current_time())
        return self._tokens

    async def acquire(self) -> None:
        # The lock makes waiters queue in order instead of racing for each new token.
        async with self._lock:
            self._refill(trio.current_time())
            if self._tokens < 1.0:
                self.waited += 1
                await trio.sleep((1.0 - self._tokens) / self.rate)
                self._refill(trio.current_time())
            self._tokens -= 1.0


class LogThrottle:
    """Log the first ``burst`` events of a key at full level, then at most one per interval.

    The later lines carry how many similar events were suppressed since the last one, so a
    flapping connection or a stream of bad frames cannot flood the log.
    """

    def __init__(
        self,
        logger: logging.Logger,
        *,
        burst: int = 3,
        interval: float = 60.0,
        clock: Callable[[], float] = trio.current_time,
    ) -> None:
        self.logger = logger
        self.burst = burst
        self.interval = interval
        self.clock = clock
        self._seen: dict[str, int] = {}
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def log(
        self, key: str, level: int, msg: str, *args: object, later_level: int | None = None
    ) -> bool:
        """Log msg % args unless throttled; returns whether a line was written."""
        seen = self._seen.get(key, 0) + 1
        self._seen[key] = seen
        now = self.clock()
        if seen <= self.burst:
            self._last[key] = now
            self.logger.log(level, msg, *args)
            return True
        if now - self._last.get(key, -self.interval) >= self.interval:
            suppressed = self._suppressed.pop(key, 0)
            self._last[key] = now
            self.logger.log(
                level if later_level is None else later_level,
                msg + " (%d in total, %d similar suppressed since the last line)",
                *args,
                seen,
                suppressed,
            )
            return True
        self._suppressed[key] = self._suppressed.get(key, 0) + 1
        return False

    def reset(self, key: str) -> None:
        """Forget a key, so its next event is logged in full (e.g. after recovery)."""
        self._seen.pop(key, None)
        self._last.pop(key, None)
        self._suppressed.pop(key, None)
