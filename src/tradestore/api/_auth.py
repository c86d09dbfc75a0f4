"""Who may ask: loopback by default, a bearer token for anything wider.

A server bound to a loopback address answers anyone on this machine, as the read
commands would. Bound anywhere else it must be given a token (``--token-file``), which
every request then carries as ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import hmac
import logging
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from tradestore._addr import is_loopback
from tradestore._errors import BadInput

log = logging.getLogger(__name__)

MIN_TOKEN_LENGTH = 16


class ExposureError(BadInput, ValueError):
    """A server setting that would expose the store without protection."""


def check_exposure(host: str, token: str | None, *, option: str = "--token-file") -> None:
    """Refuse a non-loopback bind without a token."""
    if token is None and not is_loopback(host):
        raise ExposureError(
            f"{host} is not a loopback address: serving beyond this machine needs a bearer "
            f"token ({option} FILE), or bind 127.0.0.1"
        )


def read_token_file(path: str | os.PathLike[str]) -> str:
    """The token in ``path`` (its first line, trimmed); ExposureError when it cannot be
    used. Warns when others than the owner may read the file."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
        mode = file.stat().st_mode
    except FileNotFoundError:
        raise ExposureError(f"token file {file}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ExposureError(f"token file {file}: {getattr(exc, 'strerror', None) or exc}") from None
    lines = text.strip().splitlines()
    token = lines[0].strip() if lines else ""
    if len(token) < MIN_TOKEN_LENGTH or any(c.isspace() for c in token) or not token.isprintable():
        raise ExposureError(
            f"token file {file}: the token (its first line) must be at least "
            f"{MIN_TOKEN_LENGTH} printable characters without spaces, e.g. the output of "
            "`openssl rand -hex 32`"
        )
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        log.warning("token file %s is readable by other users (chmod 600 it)", file)
    return token


class BearerToken:
    """Checks ``Authorization: Bearer <token>`` in constant time."""

    def __init__(self, token: str) -> None:
        self._expected = token.encode()

    def allows(self, headers: Iterable[tuple[bytes, bytes]]) -> bool:
        for name, value in headers:
            if name.lower() == b"authorization":
                scheme, _, credentials = value.strip().partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(
                    credentials.strip(), self._expected
                )
        return False
