"""Whether a path may hold the trade store: looked at before RocksDB writes anything.

RocksDB creates its files in whatever folder it is given, beside anything already there;
a path that is a file, or lies below one, or a read-only mount, fails deep inside it.
``check_store_path`` answers first, in words, and writes nothing: an existing store is
used, a missing path or an empty folder may become a new store, and anything else (a
file, a folder holding other things, a folder that cannot be written) is refused.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from tradestore._errors import BadInput
from tradestore.store._errors import StoreError

# RocksDB's CURRENT file names the live MANIFEST: every RocksDB folder has one.
MARKER = "CURRENT"
# The refusal of a folder holding other things names at most this many of them.
NAMED = 5


class UnusablePath(BadInput, StoreError):
    """The path cannot hold a trade store (a file, a folder holding other things, a
    folder that cannot be written). Nothing was written."""


class NoStore(UnusablePath):
    """No trade store at the path yet (a missing path or an empty folder), and creating
    one was not asked for."""


def check_store_path(
    path: str | os.PathLike[str], *, create: bool = False, write: bool = True
) -> bool:
    """True when ``path`` holds a trade store, False when it may become a new one (a
    missing path or an empty folder, only with ``create``); UnusablePath otherwise.
    With ``write``, the folder the store would be written in must be writable."""
    path = Path(path)
    try:
        entries = sorted(os.listdir(path))
    except FileNotFoundError:
        entries = None
        if not create:
            raise NoStore(f"no trade store at {path}") from None
    except NotADirectoryError:
        if path.is_file():
            raise UnusablePath(f"{path} is a file, not a trade store folder") from None
        raise UnusablePath(f"{path} lies below {_file_above(path)}, which is a file") from None
    except PermissionError:
        raise UnusablePath(f"cannot look into {path}: permission denied") from None
    if entries:
        if MARKER not in entries:
            named = ", ".join(entries[:NAMED]) + (", …" if len(entries) > NAMED else "")
            raise UnusablePath(
                f"{path} holds other things and no trade store ({named}); give a new path "
                "or an empty folder"
            )
        if write:
            _check_writable(path)
        return True
    if not create:
        raise NoStore(f"no trade store at {path}")
    if write:
        _check_writable(path if entries is not None else _existing_above(path))
    return False


def _check_writable(folder: Path) -> None:
    try:
        read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError as exc:
        raise UnusablePath(f"cannot use {folder}: {exc.strerror or exc}") from None
    if read_only:
        raise UnusablePath(f"cannot write into {folder}: {os.strerror(errno.EROFS)}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UnusablePath(f"cannot write into {folder}: {os.strerror(errno.EACCES)}")


def _existing_above(path: Path) -> Path:
    """The nearest folder above a missing ``path`` (where the new store's folders go)."""
    for parent in path.absolute().parents:
        if parent.is_dir():
            return parent
    raise UnusablePath(f"no folder above {path} exists")  # pragma: no cover - / exists


def _file_above(path: Path) -> Path:
    for parent in path.parents:
        if parent.is_file():
            return parent
    return path.parent
