"""One error base: every exception tradestore defines is a ``TradestoreError`` (and keeps
the builtin base callers catch it by), and whatever one reaches the command line becomes
one line on stderr and its exit status: 2 for bad input, 1 for a failure at run time."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections import Counter

import pytest

import tradestore
from tests.helpers.cli import run_cli
from tests.helpers.trades import make_trades, store_with
from tradestore import CorruptValue, FixedPointError, InvalidMessage, StoreError, TradestoreError
from tradestore.analytics import InsufficientData
from tradestore.api import BadArgument, ExposureError, NotFound, Unavailable
from tradestore.archive import ArchiveValueError, ConflictError, DestinationError
from tradestore.binance import CsvFormatError, ExchangeInfoError, RestError
from tradestore.cli import _stats
from tradestore.cli._common import UsageError
from tradestore.recorder import ConfigError, StoreUnavailable
from tradestore.store import MarketMismatch, NoStore, UnknownSymbol, UnusablePath

# (public error, the builtin base code and tests catch it by as well)
PUBLIC = [
    (InvalidMessage, ValueError),
    (FixedPointError, ValueError),
    (CorruptValue, ValueError),
    (StoreError, RuntimeError),
    (MarketMismatch, RuntimeError),
    (UnusablePath, RuntimeError),
    (NoStore, RuntimeError),
    (UnknownSymbol, LookupError),
    (InsufficientData, ValueError),
    (ExposureError, ValueError),
    (BadArgument, Exception),
    (ArchiveValueError, ValueError),
    (ConflictError, RuntimeError),
    (DestinationError, RuntimeError),
    (CsvFormatError, ValueError),
    (ExchangeInfoError, ValueError),
    (RestError, RuntimeError),
    (ConfigError, ValueError),
    (StoreUnavailable, RuntimeError),
]


# Modules the package imports only when their extra is installed, by name.
OPTIONAL = {"pyspark"}


def defined_exceptions() -> list[type[BaseException]]:
    """Every exception class a module of the package defines (private ones too)."""
    found = []
    for info in pkgutil.walk_packages(tradestore.__path__, "tradestore."):
        if info.name.endswith("__main__"):
            continue
        try:
            module = importlib.import_module(info.name)
        except ModuleNotFoundError as exc:
            if exc.name in OPTIONAL:
                continue  # an extra this install lacks (the Spark entry point imports it)
            raise
        found += [
            obj
            for obj in vars(module).values()
            if inspect.isclass(obj)
            and issubclass(obj, BaseException)
            and obj.__module__ == module.__name__
        ]
    return found


@pytest.mark.parametrize(("error", "builtin"), PUBLIC, ids=lambda x: x.__name__)
def test_public_error_is_a_tradestore_error(error, builtin):
    assert issubclass(error, TradestoreError)
    assert issubclass(error, builtin)


def test_every_exception_of_the_package_has_the_base_and_its_own_name():
    errors = defined_exceptions()
    assert len(errors) >= 30
    assert [e for e in errors if not issubclass(e, TradestoreError)] == []
    names = Counter(e.__name__ for e in errors)
    assert [name for name, n in names.items() if n > 1] == []


def test_the_base_is_public():
    assert "TradestoreError" in tradestore.__all__
    assert tradestore.TradestoreError is TradestoreError


# (what the command ran into, exit status): bad input 2, a failure at run time 1
STATUSES = [
    (UsageError("--limit must be >= 0"), 2),
    (ConfigError("symbols: none given"), 2),
    (UnknownSymbol("ETHUSDX", ["BTCUSDT"]), 2),
    (NotFound("no trades were ever stored for ETHUSDX"), 2),
    (NoStore("no trade store at ./db"), 2),
    (MarketMismatch("the store holds spot trades"), 2),
    (CsvFormatError("day.csv:3: price '-1' is not above zero"), 2),
    (InsufficientData("BTCUSDT", 3, 100, 0, 3_600_000), 2),
    (StoreError("IO error: No space left on device"), 1),
    (CorruptValue(b"t:BTCUSDT:1", "truncated"), 1),
    (StoreUnavailable("the store cannot be written"), 1),
    (RestError("REST 500 after 5 tries"), 1),
    (DestinationError("s3://bucket: listing day=2026-01-01: access denied"), 1),
    (Unavailable("the store is not readable"), 1),
]


@pytest.mark.parametrize(("error", "status"), STATUSES, ids=lambda x: type(x).__name__)
def test_the_command_line_maps_an_error_to_its_exit_status(
    capsys, monkeypatch, tmp_path, error, status
):
    def fails(args):
        raise error

    monkeypatch.setattr(_stats, "run", fails)  # registered when main builds its parser
    code, out, err = run_cli(capsys, "stats", "--db", tmp_path / "db")
    assert code == status
    assert out == ""
    assert err == f"tradestore-trio stats: {error}\n"


def test_a_library_error_reaching_main_is_one_line_and_exit_2(capsys, tmp_path):
    """A window the library refuses (WindowError, no conversion on the way) exits 2."""
    db = tmp_path / "db"
    store_with(db, make_trades(10)).close()
    code, out, err = run_cli(
        capsys, "query", "--db", db, "--symbol", "BTCUSDT", "--start", "yesterday-ish"
    )
    assert code == 2
    assert out == ""
    assert err.startswith("tradestore-trio query: --start: invalid time 'yesterday-ish'")
    assert err.count("\n") == 1
