"""The recorder daemon: Binance aggTrade streams into the trade store.

from tradestore.recorder import RecorderConfig, run
async with trio.open_nursery() as nursery:
    recorder = await nursery.start(run, RecorderConfig(symbols=("BTCUSDT",)))
    stats = recorder.statistics()  # a frozen RecorderStatistics; .as_dict() for JSON
    print(stats.symbols["BTCUSDT"].stored)
"""

from tradestore.binance import StreamSpec
from tradestore.recorder._backoff import Backoff, ConnectionBudget, LogThrottle
from tradestore.recorder._batcher import StoreUnavailable
from tradestore.recorder._config import ConfigError, RecorderConfig
from tradestore.recorder._daemon import Recorder, run
from tradestore.recorder._dispatch import DROP_REASONS
from tradestore.recorder._shard import own_symbols, parse_shard, shard_of
from tradestore.recorder._statistics import (
    ActiveFill,
    ArchiveStatistics,
    BackfillStatistics,
    ConnectionStatistics,
    FlushStatistics,
    FrameQueueStatistics,
    PruneStatistics,
    RecorderStatistics,
    StallStatistics,
    SymbolSetStatistics,
    SymbolStatistics,
)
from tradestore.recorder._stream import plan_streams

__all__ = [
    "DROP_REASONS",
    "ActiveFill",
    "ArchiveStatistics",
    "BackfillStatistics",
    "Backoff",
    "ConfigError",
    "ConnectionBudget",
    "ConnectionStatistics",
    "FlushStatistics",
    "FrameQueueStatistics",
    "LogThrottle",
    "PruneStatistics",
    "Recorder",
    "RecorderConfig",
    "RecorderStatistics",
    "StallStatistics",
    "StoreUnavailable",
    "StreamSpec",
    "SymbolSetStatistics",
    "SymbolStatistics",
    "own_symbols",
    "parse_shard",
    "plan_streams",
    "shard_of",
    "run",
]
