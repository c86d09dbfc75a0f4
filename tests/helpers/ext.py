"""Shared by the hot-path tests: both twins of each module, and how they fail."""

from __future__ import annotations

import importlib

import pytest


def twins(name: str) -> list:
    """pytest params: the pure module, and the compiled one when it was built."""
    params = [pytest.param(importlib.import_module(f"tradestore._pure.{name}"), id="pure")]
    try:
        compiled = importlib.import_module(f"tradestore._ext.{name}")
    except ImportError:
        # test_ext_loaded fails in this case unless TRADESTORE_NO_EXTENSIONS is set.
        params.append(pytest.param(None, id="compiled", marks=pytest.mark.skip("not built")))
    else:
        params.append(pytest.param(compiled, id="compiled"))
    return params


def outcome(fn, *args):
    """("ok", result) or (exception type name, reason or message): comparable across twins."""
    try:
        return "ok", fn(*args)
    except Exception as exc:  # noqa: BLE001 - the twins must fail the same way
        return type(exc).__name__, getattr(exc, "reason", None) or str(exc)
