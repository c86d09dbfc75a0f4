"""The compiled hot path really is in use (as aiohttp's test_c_parser_loaded).

Without this, a broken build would pass the whole suite silently on the pure twins.
"""

from __future__ import annotations

import os

from tradestore import _compat

COMPILED = ("decode", "parse", "profile")


def test_compiled_modules_loaded_unless_disabled():
    if os.environ.get("TRADESTORE_NO_EXTENSIONS"):
        assert not _compat.EXTENSIONS_LOADED
        for name in COMPILED:
            assert _compat.MODULES[name].__name__ == f"tradestore._pure.{name}"
        return
    assert _compat.EXTENSIONS_LOADED, "the Cython extensions did not load: rebuild them"
    for name in COMPILED:
        module = _compat.MODULES[name]
        assert module.__name__ == f"tradestore._ext.{name}", f"{name} fell back to pure"
        assert not module.__file__.endswith(".py")


def test_public_entry_points_use_the_chosen_twins():
    import tradestore
    from tradestore.recorder import _dispatch

    assert _compat.parse_event is _compat.MODULES["parse"].parse_event
    assert tradestore.parse_agg_trade is _compat.MODULES["parse"].parse_agg_trade
    assert _dispatch.parse_event is _compat.MODULES["parse"].parse_event  # live frames
    assert _compat.decode_columns is _compat.MODULES["decode"].decode_columns
    assert _compat.accumulate_levels is _compat.MODULES["profile"].accumulate
