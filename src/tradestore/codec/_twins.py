"""The one place that chooses between the compiled modules and their pure-Python twins.

``REGISTRY`` lists every hot-path module once; the switch below, the tests and the fuzz
harnesses all take the twins from it. ``TRADESTORE_NO_EXTENSIONS=1`` forces the twins (as
yarl and msgpack do). Otherwise each compiled module is used when it imports;
``EXTENSIONS_LOADED`` tells whether all did, and a test fails when a build that should
have extensions fell back silently.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

# module name -> (compiled module: _ext/<name>.pyx, its pure-Python twin: _pure/<name>.py)
REGISTRY: dict[str, tuple[str, str]] = {
    name: (f"tradestore.codec._ext.{name}", f"tradestore.codec._pure.{name}")
    for name in ("decode", "encode", "parse", "profile", "rollup")
}

NO_EXTENSIONS = bool(os.environ.get("TRADESTORE_NO_EXTENSIONS"))


def compiled(name: str) -> ModuleType:
    """The compiled module; ImportError when it was not built (or refuses to load)."""
    return importlib.import_module(REGISTRY[name][0])


def pure(name: str) -> ModuleType:
    """The pure-Python twin."""
    return importlib.import_module(REGISTRY[name][1])


def twins(name: str) -> list[tuple[str, ModuleType]]:
    """[("pure", module), ("compiled", module)], without "compiled" when it did not build.

    Both whatever TRADESTORE_NO_EXTENSIONS says: it picks what the package runs on, while
    tests and fuzzers compare the two.
    """
    found = [("pure", pure(name))]
    try:
        found.append(("compiled", compiled(name)))
    except ImportError:
        pass
    return found


# module name -> why its compiled module did not load (empty when all did, or were not tried)
IMPORT_ERRORS: dict[str, str] = {}


def _choose(name: str) -> ModuleType:
    if not NO_EXTENSIONS:
        try:
            return compiled(name)
        except ImportError as exc:  # pragma: no cover - exercised by test_ext_loaded
            IMPORT_ERRORS[name] = str(exc)
    return pure(name)


# module name -> the module in use, compiled or pure (test_ext_loaded checks each)
MODULES: dict[str, ModuleType] = {name: _choose(name) for name in REGISTRY}
EXTENSIONS_LOADED = not NO_EXTENSIONS and not IMPORT_ERRORS

decode_columns = MODULES["decode"].decode_columns
decode_trades = MODULES["decode"].decode_trades
encode_batch = MODULES["encode"].encode_batch
trades_shape = MODULES["encode"].trades_shape
accumulate_levels = MODULES["profile"].accumulate
parse_event = MODULES["parse"].parse_event
parse_agg_trade = MODULES["parse"].parse_agg_trade
parse_row = MODULES["parse"].parse_row
Rollup = MODULES["rollup"].Rollup
rollup_split = MODULES["rollup"].split
rollup_split_segments = MODULES["rollup"].split_segments
rollup_summary = MODULES["rollup"].summary
rollup_decode = MODULES["rollup"].decode
rollup_bin_values = MODULES["rollup"].bin_values

__all__ = [
    "EXTENSIONS_LOADED",
    "IMPORT_ERRORS",
    "MODULES",
    "NO_EXTENSIONS",
    "REGISTRY",
    "Rollup",
    "accumulate_levels",
    "compiled",
    "decode_columns",
    "decode_trades",
    "encode_batch",
    "parse_agg_trade",
    "parse_event",
    "parse_row",
    "pure",
    "rollup_bin_values",
    "rollup_decode",
    "rollup_split",
    "rollup_split_segments",
    "rollup_summary",
    "trades_shape",
    "twins",
]
