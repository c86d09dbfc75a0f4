"""What an error that reaches ``main`` becomes: one line on stderr and an exit status.

Exit 2 when what the user gave was wrong (an argument, a file to import, a configuration,
a ``--db`` that cannot hold the store, a symbol never stored, a window too short for the
analysis); exit 1 for every other failure at run time. A command still says a failure
in its own words where it knows better; whatever ``TradestoreError`` it lets through is
decided here, and only here.
"""

from __future__ import annotations

import functools

from tradestore._errors import TradestoreError

BAD_INPUT = 2
FAILURE = 1


@functools.cache
def bad_input_errors() -> tuple[type[TradestoreError], ...]:
    """The errors that mean the input was wrong (imported on the first error, so a
    command that succeeds never loads the recorder or the API to learn them)."""
    from tradestore._window import WindowError
    from tradestore.analytics import InsufficientData
    from tradestore.api import BadArgument, ExposureError, InsufficientTrades, NotFound
    from tradestore.archive import ArchiveValueError
    from tradestore.binance import CsvFormatError
    from tradestore.cli._common import UsageError
    from tradestore.recorder import ConfigError
    from tradestore.store import MarketMismatch, UnknownSymbol, UnusablePath

    return (
        UsageError,
        WindowError,
        ConfigError,
        UnusablePath,  # NoStore among them
        MarketMismatch,
        UnknownSymbol,
        CsvFormatError,
        ArchiveValueError,
        InsufficientData,
        ExposureError,
        BadArgument,
        NotFound,
        InsufficientTrades,
    )


def exit_status(exc: TradestoreError) -> int:
    """2 for an error in what the user gave, 1 for any other failure."""
    return BAD_INPUT if isinstance(exc, bad_input_errors()) else FAILURE


def message(exc: TradestoreError) -> str:
    """What the error says (its class name when it says nothing)."""
    return str(exc) or type(exc).__name__
