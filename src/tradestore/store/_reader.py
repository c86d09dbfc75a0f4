"""What the parts beside the store read of it: a small public range reader.

``TradeStore`` is one. The rollups, the adoption pass and retention are written against
these protocols, so none of them imports the store or reaches into its private state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import rocksdict

from tradestore.store._book import RollupState
from tradestore.store._columns import TradeColumns
from tradestore.store._gaps import Gap

if TYPE_CHECKING:
    from tradestore._model import AggTrade
    from tradestore.store._record import Record

T = TypeVar("T")


class RangeReader(Protocol):
    """Raw (key, value) pairs of the database, by key range."""

    @property
    def path(self) -> Path: ...

    @property
    def db(self) -> rocksdict.Rdict: ...

    def refresh(self) -> None: ...

    def iter_range(
        self, lower: bytes, upper: bytes | None, *, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]: ...

    def iter_keys(self, lower: bytes, upper: bytes) -> Iterator[bytes]: ...


class TradeReader(RangeReader, Protocol):
    """A symbol's trades by time: what the rollups are summed from."""

    def margins(self, symbol: str) -> tuple[int, int]: ...

    def key_window(self, symbol: str, start_ms: int, end_ms: int) -> tuple[bytes, bytes]: ...

    def next_trade_bound(self, symbol: str, from_ms: int) -> int | None: ...

    def trade_time_span(self, symbol: str) -> tuple[int, int] | None: ...

    def query_columns(self, symbol: str, start_ms: int, end_ms: int) -> TradeColumns: ...


class RollupReader(TradeReader, Protocol):
    """The trades and whether the symbol's rollups can be read (a pyramid, a check)."""

    def rollup_state(self, symbol: str) -> RollupState | None: ...

    def holds_trades(self, symbol: str, start_ms: int, end_ms: int) -> bool: ...


class TradeSource(RollupReader, Protocol):
    """What the analytics, the trade queries and the read surfaces read: a
    ``TradeStore``, or a ``tradestore.archive.History`` over a store and an archive."""

    def reading(self) -> AbstractContextManager[Any]: ...

    @property
    def read_only(self) -> bool: ...

    def retention_edge(self, symbol: str) -> int | None: ...

    def symbols(self) -> list[str]: ...

    def gaps(self, symbol: str) -> list[Gap]: ...

    def record(self, symbol: str) -> Record | None: ...

    def archived_parts(self, symbol: str, start_ms: int, end_ms: int) -> list[tuple[int, int]]: ...

    def prev_trade_bound(self, symbol: str, to_ms: int) -> int | None: ...

    def query_trades(
        self, symbol: str, start_ms: int, end_ms: int, limit: int | None = None
    ) -> list[AggTrade]: ...

    def decode_window(
        self,
        decode: Callable[[Iterator[tuple[bytes, bytes]], int, int], T],
        symbol: str,
        start_ms: int,
        end_ms: int,
    ) -> T: ...
