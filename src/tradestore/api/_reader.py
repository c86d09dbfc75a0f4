"""The store behind the servers: read-only, opened on first use, read in worker threads.

Every answer runs in a worker thread under this reader's own ``CapacityLimiter``, never
Trio's default one, which the recorder's flushes use: however many requests arrive, a
server inside the recorder (``run --api-addr``) takes at most ``workers`` threads and
never delays a flush. Requests beyond ``workers`` wait, up to ``max_waiting`` of them;
more are refused as busy (503) rather than queued without bound.

The store is a RocksDB secondary instance (``TradeStore(read_only=True)``), as the read
commands open it: no write path exists on it, and it catches up with a recording daemon
before each read. A database that does not exist yet, or cannot be opened, makes the
answer "unavailable" (503) and is tried again on the next request, so a server may start
before the recorder has created its database.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import trio

from tradestore.api._errors import Busy, Unavailable
from tradestore.store import StoreError, TradeStore

if TYPE_CHECKING:
    from tradestore.archive import ArchiveReader

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_WORKERS = 2
DEFAULT_MAX_WAITING = 64


@dataclass(frozen=True, slots=True)
class ReaderStatistics:
    """A snapshot: worker threads, how many answer now, how many requests wait."""

    workers: int
    busy: int
    waiting: int
    max_waiting: int
    store_open: bool


class StoreReader:
    """``await reader.call(fn, *args)`` runs ``fn(store, *args)`` in a worker thread;
    with an ``archive``, ``store`` is a ``History`` of the store and the archive."""

    def __init__(
        self,
        path: str | Path,
        *,
        workers: int = DEFAULT_WORKERS,
        max_waiting: int = DEFAULT_MAX_WAITING,
        archive: ArchiveReader | None = None,
    ) -> None:
        if workers < 1 or max_waiting < 0:
            raise ValueError("workers must be >= 1 and max_waiting >= 0")
        self.path = Path(path)
        # With an archive every answer reads the store and the archive as one record.
        self.archive = archive
        self._limiter = trio.CapacityLimiter(workers)
        self._max_waiting = max_waiting
        self._store: TradeStore | None = None
        self._lock = threading.Lock()  # opening and closing, from worker threads
        self._closed = False
        self._unavailable: str | None = None  # the last reason, logged once per change
        self._users: dict[int, int] = {}  # id(store) -> calls using it now

    def statistics(self) -> ReaderStatistics:
        limiter = self._limiter.statistics()
        return ReaderStatistics(
            workers=int(limiter.total_tokens),
            busy=limiter.borrowed_tokens,
            waiting=limiter.tasks_waiting,
            max_waiting=self._max_waiting,
            store_open=self._store is not None,
        )

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(store, *args)`` in a worker thread; Unavailable or Busy when it cannot run.

        A cancelled call (shutdown, a client gone) returns at once and leaves its thread to
        finish alone, so stopping a server, or the recorder around it, never waits for a
        long analysis; the store it reads is closed by the last reader (``_release``).
        """
        stats = self._limiter.statistics()
        if stats.borrowed_tokens >= stats.total_tokens and stats.tasks_waiting >= self._max_waiting:
            raise Busy(
                f"{stats.tasks_waiting} requests are waiting for the {stats.total_tokens} "
                "workers: try again shortly"
            )
        return await trio.to_thread.run_sync(
            partial(self._run, fn, *args), limiter=self._limiter, abandon_on_cancel=True
        )

    def _run(self, fn: Callable[..., T], *args: Any) -> T:
        store = self._acquire()
        try:
            if self.archive is not None:
                from tradestore.archive import History

                return fn(History(store, self.archive), *args)
            return fn(store, *args)
        except StoreError as exc:
            self._drop(store, str(exc))
            raise Unavailable(f"the store cannot be read: {exc}") from None
        finally:
            self._release(store)

    def _acquire(self) -> TradeStore:
        with self._lock:
            if self._closed:
                raise Unavailable("the server is shutting down")
            if self._store is None:
                try:
                    self._store = TradeStore(self.path, read_only=True, skip_corrupt=True)
                except FileNotFoundError:
                    raise self._refuse(f"no trade store at {self.path} (yet)") from None
                except StoreError as exc:
                    raise self._refuse(str(exc)) from None
                if self._unavailable is not None:
                    log.info("the store at %s can be read again", self.path)
                self._unavailable = None
            store = self._store
            self._users[id(store)] = self._users.get(id(store), 0) + 1
            return store

    def _release(self, store: TradeStore) -> None:
        """One reader less; the last reader of a dropped store closes it."""
        with self._lock:
            left = self._users[id(store)] - 1
            if left:
                self._users[id(store)] = left
                return
            del self._users[id(store)]
            if store is self._store:
                return
        store.close()

    def _refuse(self, reason: str) -> Unavailable:
        if reason != self._unavailable:
            log.warning("answering 'unavailable': %s", reason)
            self._unavailable = reason
        return Unavailable(reason)

    def _drop(self, store: TradeStore, reason: str) -> None:
        """Forget a store that failed: the next request opens it afresh, and the last
        reader still using it closes it (``_release``)."""
        with self._lock:
            if self._store is store:
                log.warning("reopening the store on the next request: %s", reason)
                self._store = None
                self._unavailable = reason

    def close(self) -> None:
        """Close the store (once no call uses it); later calls are answered "unavailable"."""
        with self._lock:
            self._closed = True
            store, self._store = self._store, None
            busy = store is not None and id(store) in self._users
        if store is not None and not busy:
            store.close()
