"""Freed memory goes back to the system: the trimmer's pacing, its config key, and a
real ``malloc_trim`` on this (glibc) machine."""

from __future__ import annotations

import pytest

from tradestore.recorder import RecorderConfig
from tradestore.recorder._config import ConfigError
from tradestore.recorder._memory import MemoryTrimmer, can_trim


def test_the_trimmer_runs_at_most_once_per_interval():
    trimmer = MemoryTrimmer(10.0)
    assert trimmer.due(100.0) == can_trim()
    trimmer.trim(100.0)
    assert not trimmer.due(105.0)
    assert trimmer.due(110.0) == can_trim()
    assert trimmer.trims == (1 if can_trim() else 0)


def test_zero_never_trims():
    trimmer = MemoryTrimmer(0.0)
    assert not trimmer.due(1e9)


def test_glibc_gives_memory_back_here():
    # The CI and deployment targets are glibc Linux: a trim that silently did nothing
    # would leave the whole-market RSS where it was.
    assert can_trim()
    trimmer = MemoryTrimmer(1.0)
    trimmer.trim(0.0)
    assert trimmer.trims == 1


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_the_config_key_refuses_what_is_not_an_interval(tmp_path, bad):
    with pytest.raises(ConfigError, match="memory_trim_interval"):
        RecorderConfig(symbols=("BTCUSDT",), db=str(tmp_path / "db"), memory_trim_interval=bad)


def test_the_default_trims_every_ten_seconds(tmp_path):
    config = RecorderConfig(symbols=("BTCUSDT",), db=str(tmp_path / "db"))
    assert config.memory_trim_interval == 10.0


@pytest.mark.parametrize("bad", [0.0, -0.01, 0.5, float("nan")])
def test_the_gil_switch_interval_is_checked(tmp_path, bad):
    with pytest.raises(ConfigError, match="gil_switch_interval"):
        RecorderConfig(symbols=("BTCUSDT",), db=str(tmp_path / "db"), gil_switch_interval=bad)
