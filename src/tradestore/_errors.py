"""The base of every tradestore exception, and the exceptions shared by the pure-Python and
the compiled implementations."""


class TradestoreError(Exception):
    """The base of every exception tradestore raises on purpose: ``except TradestoreError``
    catches what the library means to say (a bad argument, a store it cannot use, an
    exchange that refuses), and lets through what is a bug. Each subclass keeps the builtin
    base its meaning has (``ValueError`` for a bad value, ``OSError``-like failures as
    ``RuntimeError``), so code catching those still catches it."""


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
