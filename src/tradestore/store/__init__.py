"""The trade store: RocksDB keys, the v1 value codec, gaps, coverage and the auditor.

Everything that reads or writes the database lives here, and nothing here knows about
the exchange, the recorder, the analytics or the command line::

    from tradestore.store import TradeStore
    with TradeStore("data", read_only=True) as store:
        cols = store.query_columns("BTCUSDT", start_ms, end_ms)
"""

from tradestore._codec import decode_batch, encode_batch
from tradestore.store._columns import TradeColumns
from tradestore.store._coverage import (
    Coverage,
    coverage_from_range,
    coverage_of,
    declare_recorded,
    recorded_span,
    window_coverage,
)
from tradestore.store._gaps import FILLED, OPEN, UNFILLABLE, Gap
from tradestore.store._keys import check_symbol
from tradestore.store._store import (
    DEFAULT_MARGIN_MS,
    DEFAULT_PATH,
    FORMAT_VERSION,
    StoreError,
    TradeStore,
)
from tradestore.store._verify import VerifyReport, verify

__all__ = [
    "DEFAULT_MARGIN_MS",
    "DEFAULT_PATH",
    "FILLED",
    "FORMAT_VERSION",
    "OPEN",
    "UNFILLABLE",
    "Coverage",
    "Gap",
    "StoreError",
    "TradeColumns",
    "TradeStore",
    "VerifyReport",
    "check_symbol",
    "coverage_from_range",
    "coverage_of",
    "declare_recorded",
    "decode_batch",
    "encode_batch",
    "recorded_span",
    "verify",
    "window_coverage",
]
