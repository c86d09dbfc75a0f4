"""The codec: how trades and rollups are written as bytes and read back.

Below this face: the v1 value format (``_values``), the fixed-point scale (``_fixed``),
the aggTrade frame rules (``_frame``), exact decimal text (``_decimal``), the rollup
value layout (``_rollupfmt``), and the hot-path modules in two twins, compiled
(``_ext/*.pyx``) and pure Python (``_pure/``), of which ``_twins`` chooses one. Nothing
in here imports the store, the recorder or the analytics; they import from here.
"""

from tradestore.codec._twins import (
    EXTENSIONS_LOADED,
    Rollup,
    accumulate_levels,
    decode_columns,
    decode_trades,
    encode_batch,
    parse_agg_trade,
    parse_event,
    parse_row,
    rollup_bin_values,
    rollup_decode,
    rollup_split,
    rollup_split_segments,
    rollup_summary,
    trades_shape,
)
from tradestore.codec._values import decode_batch, decode_fixed_rows

__all__ = [
    "EXTENSIONS_LOADED",
    "Rollup",
    "accumulate_levels",
    "decode_batch",
    "decode_columns",
    "decode_fixed_rows",
    "decode_trades",
    "encode_batch",
    "parse_agg_trade",
    "parse_event",
    "parse_row",
    "rollup_bin_values",
    "rollup_decode",
    "rollup_split",
    "rollup_split_segments",
    "rollup_summary",
    "trades_shape",
]
