"""A private view of a database folder for read-only (secondary) instances.

Opening a DB, rocksdict (re)writes ``rocksdict-config.json`` inside the folder it is
given, and a RocksDB secondary instance needs a folder of its own for its info log. A
user who may read a recorder's folder but not write it (an analyst's account, a
read-only mount) could therefore not open it at all. So a reader never opens the folder
itself: it opens a private temporary folder holding a symbolic link to each of the
folder's files, and keeps its own files (rocksdict's config, the secondary's LOG) there.

The writer creates files as it goes (table files, write-ahead logs, a new MANIFEST), so
the links are brought up to date before and after each catch-up with the writer: a file
the catch-up may have learnt about was created before it returned, and is linked before
anything is read.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

# Files of the folder a reader must never open for writing (through a link it would
# write into the writer's folder) or has no use for.
_NOT_LINKED = frozenset({"LOCK", "LOG", "rocksdict-config.json"})


class FolderMirror:
    """``view`` (links to the DB folder's files) and ``secondary`` (the instance's own)."""

    def __init__(self, source: Path) -> None:
        self.source = source
        self._root = Path(tempfile.mkdtemp(prefix="tradestore-reader-"))
        self.view = self._root / "db"
        self.secondary = self._root / "secondary"
        self.view.mkdir()
        self.secondary.mkdir()
        self._linked: set[str] = set()
        self.sync()

    def sync(self) -> None:
        """Link every file the writer has created since; drop links to files it deleted."""
        try:
            names = set(os.listdir(self.source))
        except FileNotFoundError:
            names = set()
        for name in sorted(names - self._linked):
            if name in _NOT_LINKED or name.startswith("LOG.old"):
                continue
            try:
                os.symlink(self.source / name, self.view / name)
            except FileExistsError:
                pass
            self._linked.add(name)
        for name in self._linked - names:
            try:
                os.unlink(self.view / name)
            except FileNotFoundError:
                pass
            self._linked.discard(name)

    def close(self) -> None:
        shutil.rmtree(self._root, ignore_errors=True)
