"""Shared fixtures: the real Binance samples in tests/data, the CLI environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from tests.helpers import DATA

# Locally every run explores new examples; in CI the same ones each time, so a red CI
# always means a regression (the long, random runs are in fuzz/README.md).
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

REAL_CSV = DATA / "BTCUSDT-aggTrades-2026-01-01-first5000.csv"
REAL_FRAMES = DATA / "binance-spot-btcusdt-aggTrade-combined-2026-09-08.jsonl"


@pytest.fixture
def real_csv() -> Path:
    return REAL_CSV


@pytest.fixture
def real_frames() -> list[str]:
    return REAL_FRAMES.read_text().splitlines()


@pytest.fixture
def cli_env() -> dict[str, str]:
    """Environment for CLI subprocesses: the same interpreter's package, no user config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADESTORE_")}
    if os.environ.get("TRADESTORE_NO_EXTENSIONS"):
        env["TRADESTORE_NO_EXTENSIONS"] = os.environ["TRADESTORE_NO_EXTENSIONS"]
    return env


KINDS = ("unit", "property", "e2e", "process")


def pytest_collection_modifyitems(config, items) -> None:
    """Mark each test with its kind, the folder it lives in, so ``-m "not process"`` or
    ``-m unit`` select by kind."""
    for item in items:
        parts = item.path.parts
        for kind in KINDS:
            if kind in parts:
                item.add_marker(getattr(pytest.mark, kind))
                break
