"""Helpers shared by the tests of every kind (factories live in tests/conftest.py)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]  # the repository root
DATA = REPO / "tests" / "data"  # the real Binance samples
