"""Shared fixtures: real Binance sample data from ../shared/data (skipped where absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# Locally every run explores new examples; in CI the same ones each time, so a red CI
# always means a regression (the long, random runs are in fuzz/README.md).
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
REAL_CSV = SHARED_DATA / "BTCUSDT-aggTrades-2026-01-01-first5000.csv"
REAL_FRAMES = SHARED_DATA / "binance-spot-btcusdt-aggTrade-combined-2026-09-08.jsonl"


@pytest.fixture
def real_csv() -> Path:
    if not REAL_CSV.is_file():
        pytest.skip(f"{REAL_CSV} is absent (no ../shared/data on this machine)")
    return REAL_CSV


@pytest.fixture
def real_frames() -> list[str]:
    if not REAL_FRAMES.is_file():
        pytest.skip(f"{REAL_FRAMES} is absent (no ../shared/data on this machine)")
    return REAL_FRAMES.read_text().splitlines()


@pytest.fixture
def cli_env() -> dict[str, str]:
    """Environment for CLI subprocesses: the same interpreter's package, no user config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADESTORE_")}
    if os.environ.get("TRADESTORE_NO_EXTENSIONS"):
        env["TRADESTORE_NO_EXTENSIONS"] = os.environ["TRADESTORE_NO_EXTENSIONS"]
    return env
