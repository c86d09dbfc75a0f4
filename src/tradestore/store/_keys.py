"""Key families of the store (see docs/FORMAT.md).

``trades:{SYMBOL}:{13-digit unix ms}``   one batch of trades, keyed by its first trade's T
``gaps:{SYMBOL}:{20-digit first missing id}``   a hole in the agg-id sequence
``meta:...``   format version and per-symbol bookkeeping
``rollup:m:{SYMBOL}:{13-digit minute}``, ``rollup:h:{SYMBOL}:{13-digit hour}``,
    ``rollup:d:{SYMBOL}:{13-digit UTC day}``   the price-level rollups of one minute, hour
    or UTC day of trade time; ``rollup:c:...:{minute}`` the minute's summary alone,
    ``rollup:b:...:{day}`` the day's levels pre-binned at a coarse width
"""

from __future__ import annotations

import functools
import re

TRADES = b"trades:"
GAPS = b"gaps:"
META = b"meta:"
ROLLUP = b"rollup:"
MINUTE = "m"  # rollup tiers
HOUR = "h"
DAY = "d"
BINNED = "b"  # a day's levels pre-binned at a coarse width (codec/_binned.py)
CANDLE = "c"  # a minute's summary alone (candles read it without the price levels)
TIERS = (MINUTE, HOUR, DAY, BINNED, CANDLE)
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
MS_DIGITS = 13
MAX_MS = 10**MS_DIGITS - 1
ID_DIGITS = 20

# Letters and digits, and inner underscores for futures contracts (BTCUSD_PERP,
# BTCUSDT_250627); never a colon, which separates the parts of a key.
_SYMBOL_RE = re.compile(r"[A-Z0-9](?:[A-Z0-9_]{0,28}[A-Z0-9])")


def check_symbol(symbol: str) -> str:
    """Normalise a symbol to Binance's upper-case form, rejecting anything else."""
    if type(symbol) is str:
        return _check_text(symbol)
    return _check(symbol)


@functools.lru_cache(maxsize=1 << 14)
def _check_text(symbol: str) -> str:
    # Every write checks each of its symbols: a whole market's 2,000 once each.
    return _check(symbol)


def _check(symbol: str) -> str:
    if not isinstance(symbol, str):
        raise ValueError(f"symbol must be a string, not {type(symbol).__name__}")
    normal = symbol.strip().upper()
    if not _SYMBOL_RE.fullmatch(normal):
        raise ValueError(
            f"invalid symbol {symbol!r}: expected 2-30 letters or digits (inner _ allowed), "
            "e.g. BTCUSDT or BTCUSD_PERP"
        )
    return normal


def trades_prefix(symbol: str) -> bytes:
    return TRADES + symbol.encode("ascii") + b":"


def trade_key(symbol: str, ms: int) -> bytes:
    return trades_prefix(symbol) + b"%013d" % clamp_ms(ms)


def clamp_ms(ms: int) -> int:
    return int(min(max(ms, 0), MAX_MS))


def key_ms(key: bytes) -> int:
    """The 13-digit time of a trades key."""
    return int(key[-MS_DIGITS:])


def key_symbol(key: bytes) -> str:
    """The symbol of a trades: or gaps: key."""
    return key.split(b":", 2)[1].decode("ascii")


def gaps_prefix(symbol: str) -> bytes:
    return GAPS + symbol.encode("ascii") + b":"


def gap_key(symbol: str, first_missing_id: int) -> bytes:
    return gaps_prefix(symbol) + b"%020d" % first_missing_id


@functools.lru_cache(maxsize=1 << 16)
def meta_key(name: str, symbol: str | None = None) -> bytes:
    return META + name.encode("ascii") + (b":" + symbol.encode("ascii") if symbol else b"")


def prefix_end(prefix: bytes) -> bytes:
    """The smallest key greater than every key that starts with ``prefix``."""
    return prefix[:-1] + bytes([prefix[-1] + 1])


def rollup_prefix(tier: str, symbol: str) -> bytes:
    return ROLLUP + tier.encode("ascii") + b":" + symbol.encode("ascii") + b":"


def rollup_key(tier: str, symbol: str, ms: int) -> bytes:
    return rollup_prefix(tier, symbol) + b"%013d" % clamp_ms(ms)
