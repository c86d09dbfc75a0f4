"""The compiled hot path really is in use (as aiohttp's test_c_parser_loaded), and each
compiled module and its pure twin offer the same names.

Without this, a broken build would pass the whole suite silently on the pure twins.
"""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import textwrap
from types import ModuleType

import pytest

from tradestore.codec import _twins as _compat


def test_compiled_modules_loaded_unless_disabled():
    if os.environ.get("TRADESTORE_NO_EXTENSIONS"):
        assert not _compat.EXTENSIONS_LOADED
        for name, (_compiled, pure) in _compat.REGISTRY.items():
            assert _compat.MODULES[name].__name__ == pure
        return
    assert _compat.EXTENSIONS_LOADED, (
        f"the Cython extensions did not load ({_compat.IMPORT_ERRORS}): rebuild them"
    )
    for name, (compiled, _pure) in _compat.REGISTRY.items():
        module = _compat.MODULES[name]
        assert module.__name__ == compiled, f"{name} fell back to pure"
        assert not module.__file__.endswith(".py")


def test_public_entry_points_use_the_chosen_twins():
    import tradestore
    from tradestore.recorder import _dispatch

    assert _compat.parse_event is _compat.MODULES["parse"].parse_event
    assert tradestore.parse_agg_trade is _compat.MODULES["parse"].parse_agg_trade
    assert _dispatch.parse_row is _compat.MODULES["parse"].parse_row  # live frames
    assert _compat.decode_columns is _compat.MODULES["decode"].decode_columns
    assert _compat.accumulate_levels is _compat.MODULES["profile"].accumulate


def _own_names(module: ModuleType) -> set[str]:
    """Public names a module defines itself: not modules, not names imported from others."""
    names = set()
    for name, value in vars(module).items():
        if name.startswith("_") or isinstance(value, ModuleType):
            continue
        owner = getattr(value, "__module__", module.__name__)  # constants have none
        if owner == module.__name__:
            names.add(name)
    return names


def _shape(obj) -> tuple:
    """Parameter names, kinds and defaults (annotations exist in the pure twin only)."""
    try:
        signature = inspect.signature(obj)
    except ValueError:  # a compiled class: compared through its attributes instead
        return ()
    return tuple((p.name, p.kind, p.default) for p in signature.parameters.values())


@pytest.mark.parametrize("name", sorted(_compat.REGISTRY))
def test_twins_mirror_each_other(name):
    found = dict(_compat.twins(name))
    if "compiled" not in found:
        pytest.skip("not built")
    pure, compiled = found["pure"], found["compiled"]
    assert _own_names(pure) == _own_names(compiled)
    for attr in _own_names(pure):
        mine, theirs = getattr(pure, attr), getattr(compiled, attr)
        if isinstance(mine, type):
            public = {a for a in dir(mine) if not a.startswith("_")}
            assert public == {a for a in dir(theirs) if not a.startswith("_")}, attr
            for method in public:
                if callable(getattr(mine, method)):
                    assert _shape(getattr(mine, method)) == _shape(getattr(theirs, method))
        elif callable(mine):
            assert _shape(mine) == _shape(theirs), attr
        else:
            assert mine == theirs, attr


def test_compiled_modules_refuse_other_fixed_point_constants():
    """src/tradestore/codec/_ext/_fixed.pxd and tradestore/codec/_fixed.py hold the same scale, or nothing loads."""
    if "compiled" not in dict(_compat.twins("decode")):
        pytest.skip("not built")
    code = textwrap.dedent(
        """
        from tradestore.codec import _fixed
        _fixed.SCALE_DIGITS, _fixed.SCALE = 9, 10**9
        for name in ("decode", "parse", "profile"):
            try:
                __import__(f"tradestore.codec._ext.{name}")
            except ImportError as exc:
                print(name, "refused:", exc)
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "TRADESTORE_NO_EXTENSIONS"}
    env["TRADESTORE_NO_EXTENSIONS"] = "1"  # import tradestore without loading ext first
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.stdout.count("refused:") == 3, done.stdout + done.stderr
