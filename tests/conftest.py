"""Shared fixtures: the real Binance samples in tests/data, the CLI environment, the
in-memory network of the autojump-clock tests; the markers by folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import trio
from hypothesis import settings

from tests.helpers import DATA
from tests.helpers.daemon import daemon_env
from tests.helpers.recorder import MemoryNetwork, run_sync_inline

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
    return daemon_env()


@pytest.fixture
def inline_threads(monkeypatch) -> None:
    """For tests on the autojump clock: ``trio.to_thread.run_sync`` runs its function in
    the loop's own thread (see tests/helpers/recorder.py)."""
    monkeypatch.setattr(trio.to_thread, "run_sync", run_sync_inline)


@pytest.fixture
def memory_network(monkeypatch, inline_threads) -> MemoryNetwork:
    """For tests on the autojump clock: connections to a ``MiniExchange`` started on it go
    through memory, and worker threads run inline (see tests/helpers/recorder.py)."""
    network = MemoryNetwork()
    monkeypatch.setattr(trio, "open_tcp_stream", network.open_tcp_stream)
    return network


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
