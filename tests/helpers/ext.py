"""Shared by the hot-path tests: both twins of each module, and how they fail."""

from __future__ import annotations

import pytest

from tradestore.codec import _twins as _compat


def twin_params(name: str) -> list:
    """pytest params of _compat.twins(name): "compiled" is skipped when it was not built."""
    found = dict(_compat.twins(name))
    params = [pytest.param(found["pure"], id="pure")]
    if "compiled" in found:
        params.append(pytest.param(found["compiled"], id="compiled"))
    else:
        # test_ext_loaded fails in this case unless TRADESTORE_NO_EXTENSIONS is set.
        params.append(pytest.param(None, id="compiled", marks=pytest.mark.skip("not built")))
    return params


def outcome(fn, *args):
    """("ok", result) or (exception type name, reason or message): comparable across twins."""
    try:
        return "ok", fn(*args)
    except Exception as exc:  # noqa: BLE001 - the twins must fail the same way
        return type(exc).__name__, getattr(exc, "reason", None) or str(exc)
