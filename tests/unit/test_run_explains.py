"""``run`` names what failed when it cannot connect, and refuses a mistyped setting."""

from __future__ import annotations

import os
import socket
import ssl

import pytest
import trio

from tradestore.cli import main
from tradestore.recorder._diagnose import explain
from tradestore.recorder._wsconn import ConnectionRejected


def chained(outer: BaseException, cause: BaseException) -> BaseException:
    """``outer`` raised from ``cause``, as the libraries wrap their errors."""
    try:
        try:
            raise cause
        except BaseException as exc:
            raise outer from exc
    except BaseException as exc:
        return exc


def test_explains_dns_refused_tls_and_http_answers():
    dns = chained(OSError("connect failed"), socket.gaierror(-2, "Name or service not known"))
    assert explain(dns, "stream.binance.com", 9443) == (
        "cannot resolve stream.binance.com (DNS lookup failed: Name or service not known): "
        "no network, or no DNS server reachable"
    )
    # trio wraps the per-address errors of a connect in an exception group.
    refused = chained(
        OSError("all attempts to connect to 127.0.0.1:1 failed"),
        ExceptionGroup("attempts", [ConnectionRefusedError(111, "Connection refused")]),
    )
    assert "127.0.0.1:1 refused the connection" in explain(refused, "127.0.0.1", 1)
    cert = ssl.SSLCertVerificationError(1, "certificate verify failed")
    cert.verify_message = "self-signed certificate in certificate chain"
    tls = chained(trio.BrokenResourceError(), cert)
    assert "could not be verified (self-signed certificate" in explain(tls, "x", 443)
    assert "proxy or firewall intercepting TLS" in explain(tls, "x", 443)
    blocked = ConnectionRejected(451, [], b"")
    assert "HTTP 451" in explain(blocked, "stream.binance.com", 9443)
    assert "geo-blocked" in explain(blocked, "stream.binance.com", 9443)
    assert "HTTP 403 (Forbidden)" in explain(ConnectionRejected(403, [], b""), "x", 1)
    assert explain(ValueError("no idea"), "x", 1) is None


@pytest.fixture
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("TRADESTORE_") and name != "TRADESTORE_NO_EXTENSIONS":
            monkeypatch.delenv(name)
    return monkeypatch


def test_a_mistyped_environment_variable_is_an_error(clean_env, capsys):
    clean_env.setenv("TRADESTORE_SYMBOL", "SOLUSDT")  # the setting is TRADESTORE_SYMBOLS
    assert main(["run", "--print-config"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "tradestore-trio run: unknown environment variable TRADESTORE_SYMBOL (did you mean "
        "TRADESTORE_SYMBOLS?); the settings are TRADESTORE_<KEY> for the keys of --print-config\n"
    )
    clean_env.delenv("TRADESTORE_SYMBOL")
    clean_env.setenv("TRADESTORE_SYMBOLS", "SOLUSDT")
    assert main(["run", "--print-config"]) == 0
    assert 'symbols = ["SOLUSDT"]' in capsys.readouterr().out
