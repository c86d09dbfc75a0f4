"""Files of a remote archive kept on the local disk, at most a bound of bytes in all.

Each file is named by a digest of the object's full path and carries the object's
version (its size and modification time, as the archive's listing gives them), so a
partition replaced on the server is fetched again, never served stale; the older
version is removed when the new one arrives. A file is fetched to a temporary name and
renamed into place (a reader never sees half a file; processes sharing the folder never
clash). Every use touches the file's modification time; when the folder holds more than
the bound, the least recently used files go first.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

DEFAULT_BYTES = 2 * 1024**3
# A temporary file older than this was left by a process that died; it is removed.
STALE_TMP_S = 3600
_TMP = ".tmp-"


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/tradestore-archive``, else ``~/.cache/tradestore-archive``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tradestore-archive"


class FileCache:
    """A folder of fetched files, least recently used evicted beyond ``max_bytes``."""

    def __init__(self, directory: Path | str, max_bytes: int = DEFAULT_BYTES) -> None:
        if max_bytes < 0:
            raise ValueError("the cache bound must be 0 bytes or more")
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.fetches = 0  # files fetched by this object (the rest were found here)

    def lookup(self, name: str, version: str) -> Path | None:
        """The cached file of ``name`` at ``version``, touched as used; None if absent."""
        path = self._path(name, version)
        try:
            os.utime(path)
        except FileNotFoundError:
            return None
        return path

    def open(self, name: str, version: str, fetch: Callable[[BinaryIO], None]) -> BinaryIO:
        """The file of ``name`` at ``version``, opened for reading: from the folder, or
        ``fetch(out)`` writes it there first. A file larger than the whole bound is
        served once and not kept."""
        while True:
            path = self.lookup(name, version)
            if path is not None:
                try:
                    return open(path, "rb")  # noqa: SIM115 - the caller closes it
                except FileNotFoundError:
                    continue  # evicted by another process just now: fetch it again
            break
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(name, version)
        tmp = self.directory / f"{_TMP}{uuid.uuid4().hex}"
        try:
            with open(tmp, "wb") as out:
                fetch(out)
            self.fetches += 1
            if tmp.stat().st_size > self.max_bytes:
                fh = open(tmp, "rb")  # noqa: SIM115 - the caller closes it
                tmp.unlink()
                return fh
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        fh = open(path, "rb")  # noqa: SIM115 - the caller closes it
        self._drop_other_versions(name, keep=path)
        self.evict(keep=path)
        return fh

    def total_bytes(self) -> int:
        return sum(size for _p, size, _t in self._files())

    def evict(self, keep: Path | None = None) -> int:
        """Remove least recently used files until the folder is within its bound (never
        ``keep``); the number of bytes removed."""
        files = self._files()
        total = sum(size for _p, size, _t in files)
        removed = 0
        for path, size, _used in sorted(files, key=lambda f: f[2]):
            if total <= self.max_bytes:
                break
            if path == keep:
                continue
            try:
                path.unlink()
            except FileNotFoundError:
                pass  # another process evicted it
            total -= size
            removed += size
        return removed

    # ------------------------------------------------------------------ inside

    def _path(self, name: str, version: str) -> Path:
        return self.directory / f"{_digest(name)}.{version}"

    def _drop_other_versions(self, name: str, keep: Path) -> None:
        for path in self.directory.glob(f"{_digest(name)}.*"):
            if path != keep:
                path.unlink(missing_ok=True)

    def _files(self) -> list[tuple[Path, int, float]]:
        """(path, size, last used) of every file; stale temporary files are removed."""
        found = []
        now = time.time()
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return []
        for entry in entries:
            try:
                st = entry.stat()
            except FileNotFoundError:
                continue
            if entry.name.startswith(_TMP):
                if now - st.st_mtime > STALE_TMP_S:
                    Path(entry.path).unlink(missing_ok=True)
                else:
                    found.append((Path(entry.path), st.st_size, float("inf")))  # in use
                continue
            found.append((Path(entry.path), st.st_size, st.st_mtime))
        return found


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8")).hexdigest()[:40]
