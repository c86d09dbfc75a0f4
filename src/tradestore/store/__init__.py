"""The trade store: RocksDB keys, writes and range reads, bookkeeping, rollups, gaps,
coverage and the auditor.

Everything that reads or writes the database lives here, and nothing here knows about
the exchange, the recorder, the analytics or the command line::

    from tradestore.store import TradeStore
    with TradeStore("data", read_only=True) as store:
        cols = store.query_columns("BTCUSDT", start_ms, end_ms)
"""

from tradestore.codec._twins import encode_batch
from tradestore.codec._values import decode_batch
from tradestore.store._adopt import AdoptProgress, AdoptReport, SymbolAdoption
from tradestore.store._book import RollupState
from tradestore.store._certify import (
    FROM_ARCHIVE,
    FROM_STORE,
    Certification,
    CertifiedFile,
    DayPrint,
    certification,
    certified_days,
    certify_day,
    day_print,
)
from tradestore.store._columns import TradeColumns
from tradestore.store._coverage import (
    Coverage,
    coverage_from_range,
    coverage_in,
    coverage_of,
    declare_recorded,
    record_of,
    recorded_span,
    window_coverage,
)
from tradestore.store._errors import MarketMismatch, StoreError
from tradestore.store._folder import NoStore, UnusablePath, check_store_path
from tradestore.store._gaps import FILLED, OPEN, UNFILLABLE, Gap, gap_tally
from tradestore.store._idset import AggIdSet
from tradestore.store._keys import (
    MAX_MS,
    check_symbol,
    key_ms,
    prefix_end,
    rollup_key,
    rollup_prefix,
)
from tradestore.store._pyramid import (
    Pyramid,
    add_binned_days,
    day_pyramids,
    minute_summaries,
    open_runs,
    pyramid,
    rollup_counts,
    whole_minutes,
)
from tradestore.store._reader import TradeSource
from tradestore.store._record import Record
from tradestore.store._retention import (
    DAY_MS,
    RetentionPlan,
    SymbolRetention,
    apply_retention,
    plan_retention,
    retention_cutoff,
)
from tradestore.store._rollcheck import RollupMismatch
from tradestore.store._rollupops import HOUR_MS, MINUTE_MS
from tradestore.store._rollups import RollupProgress, RollupReport, SymbolRollups
from tradestore.store._store import DEFAULT_PATH, FORMAT_VERSION, TradeStore, WriteReport
from tradestore.store._symbols import UnknownSymbol, ever_stored, require_symbol
from tradestore.store._verify import VerifyReport, verify

__all__ = [
    "DAY_MS",
    "HOUR_MS",
    "MAX_MS",
    "MINUTE_MS",
    "Pyramid",
    "RollupMismatch",
    "RollupProgress",
    "RollupReport",
    "RollupState",
    "SymbolRollups",
    "minute_summaries",
    "open_runs",
    "pyramid",
    "day_pyramids",
    "add_binned_days",
    "rollup_counts",
    "whole_minutes",
    "DEFAULT_PATH",
    "FILLED",
    "FORMAT_VERSION",
    "OPEN",
    "AdoptProgress",
    "AdoptReport",
    "AggIdSet",
    "FROM_ARCHIVE",
    "FROM_STORE",
    "Certification",
    "CertifiedFile",
    "DayPrint",
    "certification",
    "certified_days",
    "certify_day",
    "day_print",
    "RetentionPlan",
    "SymbolAdoption",
    "SymbolRetention",
    "WriteReport",
    "apply_retention",
    "plan_retention",
    "retention_cutoff",
    "UNFILLABLE",
    "Coverage",
    "Gap",
    "gap_tally",
    "MarketMismatch",
    "NoStore",
    "Record",
    "StoreError",
    "TradeColumns",
    "TradeSource",
    "TradeStore",
    "UnknownSymbol",
    "UnusablePath",
    "VerifyReport",
    "check_store_path",
    "check_symbol",
    "key_ms",
    "coverage_from_range",
    "coverage_in",
    "coverage_of",
    "declare_recorded",
    "decode_batch",
    "encode_batch",
    "ever_stored",
    "record_of",
    "recorded_span",
    "require_symbol",
    "verify",
    "window_coverage",
    "rollup_key",
    "rollup_prefix",
    "prefix_end",
]
