"""Frame parsing entry point (the compiled parser replaces the pure one in _compat later)."""

from tradestore._pure.parse import parse_agg_trade, parse_event

__all__ = ["parse_agg_trade", "parse_event"]
