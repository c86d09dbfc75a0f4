"""The one-symbol reads asked of several symbols at once, keyed by symbol.

Each function answers every symbol inside one ``store.reading()``, so all of them rest on
one state of the database (a running recorder's later writes are in none or in all), and
each symbol's answer is exactly what the one-symbol function gives for it. The results
come back as a dict in the order the symbols were given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from tradestore._model import AggTrade
from tradestore.analytics._bars import CandleSeries, VolumeDelta
from tradestore.analytics._candles import candles, check_interval, cumulative_volume_delta
from tradestore.analytics._profile import check_window
from tradestore.store import MINUTE_MS, TradeColumns, TradeSource, check_symbol

R = TypeVar("R")


def check_symbols(symbols: Iterable[str]) -> tuple[str, ...]:
    """The symbols in Binance's upper-case form, in the order given. A ValueError for
    none at all, a name that is not a symbol, or one named twice (``btcusdt`` and
    ``BTCUSDT`` are the same); a TypeError for one string instead of several."""
    if isinstance(symbols, str):
        raise TypeError(
            f"symbols must be a sequence of symbols, not one string ({symbols!r}): "
            "e.g. ['BTCUSDT', 'ETHUSDT']"
        )
    checked: list[str] = []
    for symbol in symbols:
        normal = check_symbol(symbol)
        if normal in checked:
            raise ValueError(f"{normal} is named twice in the symbols")
        checked.append(normal)
    if not checked:
        raise ValueError("no symbol given: name at least one")
    return tuple(checked)


def _each(store: TradeSource, symbols: Iterable[str], answer: Callable[[str], R]) -> dict[str, R]:
    checked = check_symbols(symbols)
    with store.reading():
        return {symbol: answer(symbol) for symbol in checked}


def candles_by_symbol(
    store: TradeSource,
    symbols: Iterable[str],
    start_ms: int,
    end_ms: int,
    interval_ms: int = MINUTE_MS,
    *,
    use_rollups: bool = True,
) -> dict[str, CandleSeries]:
    """``candles`` of each symbol over the same window and interval, keyed by symbol."""
    check_window(start_ms, end_ms)
    check_interval(interval_ms)
    return _each(
        store,
        symbols,
        lambda s: candles(store, s, start_ms, end_ms, interval_ms, use_rollups=use_rollups),
    )


def cvd_by_symbol(
    store: TradeSource,
    symbols: Iterable[str],
    start_ms: int,
    end_ms: int,
    interval_ms: int = MINUTE_MS,
    *,
    use_rollups: bool = True,
) -> dict[str, VolumeDelta]:
    """``cumulative_volume_delta`` of each symbol over the same window and interval,
    keyed by symbol."""
    check_window(start_ms, end_ms)
    check_interval(interval_ms)
    return _each(
        store,
        symbols,
        lambda s: cumulative_volume_delta(
            store, s, start_ms, end_ms, interval_ms, use_rollups=use_rollups
        ),
    )


def trades_by_symbol(
    store: TradeSource,
    symbols: Iterable[str],
    start_ms: int,
    end_ms: int,
    limit: int | None = None,
) -> dict[str, list[AggTrade]]:
    """``store.query_trades`` of each symbol over the same window, keyed by symbol (not
    merged: each symbol's trades ascend by its own agg ids). ``limit`` holds for each
    symbol: at most that many trades of each, the first ones."""
    check_window(start_ms, end_ms)
    return _each(store, symbols, lambda s: store.query_trades(s, start_ms, end_ms, limit))


def columns_by_symbol(
    store: TradeSource, symbols: Iterable[str], start_ms: int, end_ms: int
) -> dict[str, TradeColumns]:
    """``store.query_columns`` of each symbol over the same window, keyed by symbol: the
    same trades as ``trades_by_symbol``, as numpy columns."""
    check_window(start_ms, end_ms)
    return _each(store, symbols, lambda s: store.query_columns(s, start_ms, end_ms))
