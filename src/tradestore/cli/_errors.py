"""What an error that reaches ``main`` becomes: one line on stderr and an exit status.

Exit 2 when what the user gave was wrong (an argument, a file to import, a configuration,
a ``--db`` that cannot hold the store, a symbol never stored, a window too short for the
analysis); exit 1 for every other failure at run time. A command still says a failure
in its own words where it knows better; whatever ``TradestoreError`` it lets through is
decided here, and only here.
"""

from __future__ import annotations

from tradestore._errors import BadInput, TradestoreError

BAD_INPUT = 2
FAILURE = 1


def exit_status(exc: TradestoreError) -> int:
    """2 for an error in what the user gave, 1 for any other failure."""
    return BAD_INPUT if isinstance(exc, BadInput) else FAILURE


def message(exc: TradestoreError) -> str:
    """What the error says (its class name when it says nothing)."""
    return str(exc) or type(exc).__name__
