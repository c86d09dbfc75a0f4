"""Why a request was not answered: one exception per answer a client can act on.

The HTTP API turns each into its status code and a JSON body; the MCP server into a tool
error carrying the same message.
"""

from __future__ import annotations

from tradestore._errors import BadInput, TradestoreError


class ToolError(TradestoreError):
    """A request that gets no result; ``status`` is its HTTP status, ``code`` a stable
    word for programs, the message one line for people."""

    status = 500
    code = "internal_error"


class BadArgument(BadInput, ToolError):
    """An argument that cannot be read or is not allowed (400)."""

    status = 400
    code = "bad_argument"


class NotFound(BadInput, ToolError):
    """Nothing is stored for the symbol asked about (404)."""

    status = 404
    code = "not_found"


class InsufficientTrades(BadInput, ToolError):
    """The window holds too few trades for the analysis (422)."""

    status = 422
    code = "insufficient_data"


class Unavailable(ToolError):
    """The store cannot be read right now: not created yet, or failing (503)."""

    status = 503
    code = "store_unavailable"


class Busy(ToolError):
    """Too many requests are waiting for a worker already (503, retry shortly)."""

    status = 503
    code = "busy"
