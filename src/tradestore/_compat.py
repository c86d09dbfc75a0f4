"""The one place that chooses between the compiled modules and their pure-Python twins.

``TRADESTORE_NO_EXTENSIONS=1`` forces the twins (as yarl and msgpack do). Otherwise the
compiled module is used when it imports; ``EXTENSIONS_LOADED`` tells which happened, and
a test fails when a build that should have extensions fell back silently.
"""

from __future__ import annotations

import os

NO_EXTENSIONS = bool(os.environ.get("TRADESTORE_NO_EXTENSIONS"))

if NO_EXTENSIONS:
    from tradestore._pure import decode, parse, profile

    EXTENSIONS_LOADED = False
else:
    try:
        from tradestore._ext import decode, parse, profile  # type: ignore[no-redef]

        EXTENSIONS_LOADED = True
    except ImportError:  # pragma: no cover - exercised by test_ext_loaded
        from tradestore._pure import decode, parse, profile

        EXTENSIONS_LOADED = False

decode_columns = decode.decode_columns
decode_trades = decode.decode_trades
accumulate_levels = profile.accumulate
parse_event = parse.parse_event
parse_agg_trade = parse.parse_agg_trade

# module name -> the module in use, compiled or pure (test_ext_loaded checks each)
MODULES = {"decode": decode, "parse": parse, "profile": profile}

__all__ = [
    "EXTENSIONS_LOADED",
    "accumulate_levels",
    "MODULES",
    "NO_EXTENSIONS",
    "decode_columns",
    "decode_trades",
    "parse_agg_trade",
    "parse_event",
]
