"""Why a connection to the exchange failed, in words an operator can act on.

The libraries report a failed connection as a chain of exceptions (trio wraps the
per-address errors of a connect in an OSError, a TLS failure surfaces as a broken stream,
a refused handshake as an HTTP status). ``explain`` finds the cause in that chain and
names it: the DNS lookup, a refused or unanswered TCP connection, TLS, or an HTTP answer
such as Binance's geo-block (451) or a forbidding proxy (403).
"""

from __future__ import annotations

import errno
import socket
import ssl
from collections.abc import Iterator

import trio

from tradestore.recorder._wsconn import ConnectionRejected

GEO_BLOCK = 451
# Where to turn when the exchange cannot be reached: `run` and `backfill` both say it.
OFFLINE_HINT = (
    "Without internet access, or where Binance is not reachable, `tradestore-trio demo` "
    "shows the whole tool working offline against a local fake exchange."
)


def explain(exc: BaseException, host: str, port: int) -> str | None:
    """What went wrong connecting to host:port, or None if ``exc`` is nothing recognised."""
    where = f"{host}:{port}"
    for cause in _causes(exc):
        if isinstance(cause, ConnectionRejected):
            return _rejected(cause.status_code, where)
        if isinstance(cause, socket.gaierror):
            return (
                f"cannot resolve {host} (DNS lookup failed: {cause.strerror or cause}): "
                "no network, or no DNS server reachable"
            )
        if isinstance(cause, ssl.SSLCertVerificationError):
            return (
                f"the TLS certificate of {where} could not be verified "
                f"({cause.verify_message or cause.reason}): a proxy or firewall intercepting "
                "TLS, or missing CA certificates"
            )
        if isinstance(cause, ssl.SSLError):
            return f"the TLS handshake with {where} failed ({cause.reason or cause})"
        if isinstance(cause, ConnectionRefusedError):
            return (
                f"{where} refused the connection (nothing listens there, or a firewall rejects it)"
            )
        if isinstance(cause, TimeoutError | trio.TooSlowError):
            return f"no answer from {where} (a firewall dropping packets, or no route to it)"
        if isinstance(cause, OSError) and cause.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return f"no route to {where} ({cause.strerror}): is this machine online?"
    return None


def _rejected(status: int | None, where: str) -> str | None:
    """The blocks, in words; None for the rest (a 429/418 rate limit says what it is)."""
    if status == GEO_BLOCK:
        return (
            f"{where} answered HTTP 451 (Unavailable For Legal Reasons): Binance refuses "
            "connections from this country or region (binance.com is geo-blocked in the US "
            "and some other places)"
        )
    if status == 403:
        return (
            f"{where} answered HTTP 403 (Forbidden): a geo-block, or a proxy or firewall "
            "refusing the connection"
        )
    return None


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, then everything it wraps: causes, contexts and exception-group members."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            todo.extend(current.exceptions)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                todo.append(linked)
