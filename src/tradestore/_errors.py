"""The base of every tradestore exception, and the exceptions shared by the pure-Python and
the compiled implementations."""


class TradestoreError(Exception):
    """The base of every exception tradestore raises on purpose: ``except TradestoreError``
    catches what the library means to say (a bad argument, a store it cannot use, an
    exchange that refuses) and lets a bug through. Each subclass also keeps the builtin
    base it had (``ValueError`` for a value that cannot be read, ``RuntimeError`` for a
    store or an exchange that fails, ``LookupError`` for a symbol never stored), so code
    that catches those still catches it. The command line turns one into a line on
    stderr and exit status 2 (bad input) or 1 (a failure at run time)."""


class BadInput(TradestoreError):
    """An error in what the user gave: an argument, a file to import, a configuration, a
    path that cannot hold the store, a symbol never stored, a window too short for the
    analysis. The command line exits 2 for it (1 for any other TradestoreError)."""


class InvalidMessage(TradestoreError, ValueError):
    """A WebSocket frame that is not a valid aggTrade event.

    ``reason`` is a short stable token (e.g. ``"not_json"``, ``"missing_field"``) used as
    the label of the drop counters; ``str(exc)`` is the human-readable explanation.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class FixedPointError(TradestoreError, ValueError):
    """A decimal string that is not plain or does not fit int64 at 1e-8."""


class CorruptValue(TradestoreError, ValueError):
    """A stored value that cannot be decoded; ``key`` names where it lives."""

    def __init__(self, key: bytes, detail: str) -> None:
        self.key = key
        self.detail = detail
        super().__init__(f"undecodable value at {key.decode('ascii', 'replace')}: {detail}")
