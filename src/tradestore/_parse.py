"""Frame parsing entry point: the compiled parser, or its pure twin (chosen in _compat)."""

from tradestore._compat import parse_agg_trade, parse_event, parse_fields

__all__ = ["parse_agg_trade", "parse_event", "parse_fields"]
