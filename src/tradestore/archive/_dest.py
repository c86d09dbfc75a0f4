"""Where the archive lives: a local directory or ``s3://bucket/prefix`` on any
S3-compatible store, both through pyarrow's filesystem layer.

Layout under the root (Hive-style, the form Spark, Trino, DuckDB, polars and Athena
read without a catalog)::

    market=spot/symbol=BTCUSDT/date=2026-11-27/BTCUSDT-2026-11-27.parquet
    market=spot/symbol=BTCUSDT/date=2026-11-27/_BTCUSDT-2026-11-27.rollups   the day's rollups
    _staging/...          files being written (engines skip names starting with _ or .)

A partition appears whole or not at all: its file is written under ``_staging/`` and then
moved into place (a rename on a local disk; a server-side copy on S3, whose objects appear
whole when their upload completes). Each partition holds exactly one file with a fixed
name, so archiving a day again replaces it in one step and N hosts archiving different
symbols never write the same name.

S3 settings come from the URL's query (``?endpoint_override=host:port&scheme=http&
region=...``, pyarrow's S3 options) and the usual AWS environment variables
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``,
``AWS_REGION``/``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL``) or ``~/.aws`` files.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tradestore._errors import TradestoreError
from tradestore.archive._parquet import METADATA_KEY
from tradestore.archive._partition import PartitionInfo

STAGING = "_staging"
T = TypeVar("T")
# A staged file older than this was left by a run that died; it is removed.
STALE_STAGING_S = 24 * 3600


class DestinationError(TradestoreError, RuntimeError):
    """The archive destination cannot be used (bad URL, no bucket, no access)."""


@dataclass(frozen=True)
class PartitionKey:
    market: str
    symbol: str
    day: date

    @property
    def directory(self) -> str:
        return f"market={self.market}/symbol={self.symbol}/date={self.day.isoformat()}"

    @property
    def filename(self) -> str:
        return f"{self.symbol}-{self.day.isoformat()}.parquet"

    @property
    def path(self) -> str:
        return f"{self.directory}/{self.filename}"

    def __str__(self) -> str:
        return f"{self.market}/{self.symbol}/{self.day.isoformat()}"


class Destination:
    """An archive root on a pyarrow filesystem."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.fs, self.root = _filesystem(url)

    def __repr__(self) -> str:
        return f"Destination({redact(self.url)!r})"

    @property
    def is_local(self) -> bool:
        return self.fs.type_name == "local"

    def full(self, relative: str) -> str:
        return f"{self.root.rstrip('/')}/{relative}" if self.root else relative

    # ------------------------------------------------------------------ reading

    def read_info(self, key: PartitionKey) -> PartitionInfo | None:
        """The facts in a partition's footer, or None when the partition does not exist."""
        _pa, pq = _pyarrow()
        path = self.full(key.path)
        try:
            with self.fs.open_input_file(path) as fh:
                meta = pq.read_metadata(fh)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if _not_found(exc):
                return None
            raise DestinationError(f"{redact(self.url)}: reading {key.path}: {exc}") from exc
        raw = (meta.metadata or {}).get(METADATA_KEY.encode())
        if raw is None:
            raise DestinationError(f"{key.path} has no {METADATA_KEY} footer entry")
        info = PartitionInfo.from_json(raw.decode())
        if info.rows != meta.num_rows:
            raise DestinationError(
                f"{key.path}: footer says {info.rows} rows, the file has {meta.num_rows}"
            )
        return info

    def read_table(self, key: PartitionKey):
        """The partition's rows (an Arrow table), or None when it does not exist."""
        _pa, pq = _pyarrow()
        path = self.full(key.path)
        try:
            with self.fs.open_input_file(path) as fh:
                return pq.read_table(fh)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if _not_found(exc):
                return None
            raise DestinationError(f"{redact(self.url)}: reading {key.path}: {exc}") from exc

    def with_parquet(self, relative: str, read: Callable[[Any], T]) -> T | None:
        """``read(pyarrow.parquet.ParquetFile)`` of the file at ``relative`` while it is
        open; None when there is no such file."""
        _pa, pq = _pyarrow()
        try:
            with self.fs.open_input_file(self.full(relative)) as fh:
                return read(pq.ParquetFile(fh))
        except FileNotFoundError:
            return None
        except OSError as exc:
            if _not_found(exc):
                return None
            raise DestinationError(f"{redact(self.url)}: reading {relative}: {exc}") from exc

    def partitions(self, market: str, symbol: str | None = None) -> Iterator[PartitionKey]:
        """The partitions stored for ``market`` (and ``symbol``), by walking the layout."""
        import pyarrow.fs as pafs

        base = f"market={market}" + (f"/symbol={symbol}" if symbol else "")
        selector = pafs.FileSelector(self.full(base), recursive=True, allow_not_found=True)
        try:
            infos = self.fs.get_file_info(selector)
        except OSError as exc:
            raise DestinationError(f"{redact(self.url)}: listing {base}: {exc}") from exc
        for info in infos:
            if info.type != pafs.FileType.File or not info.path.endswith(".parquet"):
                continue
            key = parse_partition_path(info.path)
            if key is not None and key.market == market and key.path in info.path:
                yield key

    # ------------------------------------------------------------------ writing

    def write_atomic(
        self,
        key: PartitionKey,
        produce: Callable[[Any], None],
        *,
        before_move: Callable[[int], None] | None = None,
    ) -> int:
        """Write a partition's file whole or not at all; returns its size in bytes.

        ``produce(stream)`` writes the complete file to a staged name; only when it returns
        (and the stream is closed) is the file moved to its place, replacing any earlier one.
        ``before_move(size)`` runs between the two (the archiver writes the day's rollups
        there, so a partition in place always has them); when it raises, nothing moves.
        """
        return self._write_staged(key, key.path, produce, before_move)

    def write_beside(self, key: PartitionKey, name: str, produce: Callable[[Any], None]) -> int:
        """Write another file of the partition's directory (``name``) whole or not at all."""
        return self._write_staged(key, f"{key.directory}/{name}", produce, None)

    def _write_staged(
        self,
        key: PartitionKey,
        relative: str,
        produce: Callable[[Any], None],
        before_move: Callable[[int], None] | None,
    ) -> int:
        suffix = relative.rpartition(".")[2]
        staged = self.full(f"{STAGING}/{_staging_name(key, suffix)}")
        final = self.full(relative)
        try:
            self.fs.create_dir(self.full(STAGING), recursive=True)
            with self.fs.open_output_stream(staged) as stream:
                produce(stream)
            if self.is_local:
                _fsync_file(staged)
            size = self.fs.get_file_info(staged).size
            if before_move is not None:
                before_move(size)
            self.fs.create_dir(self.full(key.directory), recursive=True)
            self.fs.move(staged, final)
            if self.is_local:
                _fsync_dir(os.path.dirname(final))
            return size
        except BaseException:
            try:
                self.fs.delete_file(staged)
            except OSError:
                pass  # never created, or already moved; a leftover is swept later
            raise

    def size(self, relative: str) -> int | None:
        """The size in bytes of the file at ``relative`` under the root (None: no file)."""
        import pyarrow.fs as pafs

        try:
            info = self.fs.get_file_info(self.full(relative))
        except OSError as exc:
            raise DestinationError(f"{redact(self.url)}: looking for {relative}: {exc}") from exc
        return int(info.size) if info.type == pafs.FileType.File else None

    def list_files(self, relative: str, *, recursive: bool = True) -> list:
        """pyarrow FileInfos under ``relative`` (none when it does not exist)."""
        import pyarrow.fs as pafs

        selector = pafs.FileSelector(self.full(relative), recursive=recursive, allow_not_found=True)
        try:
            return list(self.fs.get_file_info(selector))
        except OSError as exc:
            raise DestinationError(f"{redact(self.url)}: listing {relative}: {exc}") from exc

    def sweep_staging(self, now: float | None = None) -> int:
        """Remove staged files left by runs that died long ago; the number removed."""
        import pyarrow.fs as pafs

        now = time.time() if now is None else now
        selector = pafs.FileSelector(self.full(STAGING), allow_not_found=True)
        removed = 0
        try:
            infos = self.fs.get_file_info(selector)
        except OSError:
            return 0
        for info in infos:
            mtime = info.mtime.timestamp() if info.mtime is not None else now
            if info.type == pafs.FileType.File and now - mtime > STALE_STAGING_S:
                try:
                    self.fs.delete_file(info.path)
                    removed += 1
                except OSError:
                    pass
        return removed

    def check_writable(self) -> None:
        """Fail early, with the reason, when the root cannot be written."""
        probe = self.full(f"{STAGING}/.probe-{uuid.uuid4().hex}")
        try:
            self.fs.create_dir(self.full(STAGING), recursive=True)
            with self.fs.open_output_stream(probe) as stream:
                stream.write(b"ok")
            self.fs.delete_file(probe)
        except OSError as exc:
            raise DestinationError(f"cannot write to {redact(self.url)}: {exc}") from exc


def parse_partition_path(path: str) -> PartitionKey | None:
    """The partition a file path belongs to (None when it is not in the layout)."""
    parts = {}
    for segment in path.split("/"):
        name, sep, value = segment.partition("=")
        if sep and name in ("market", "symbol", "date"):
            parts[name] = value
    if len(parts) != 3:
        return None
    try:
        day = date.fromisoformat(parts["date"])
    except ValueError:
        return None
    return PartitionKey(parts["market"], parts["symbol"], day)


def redact(url: str) -> str:
    """The URL without any secret in its query (for logs and messages)."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    query = [(k, "***" if "secret" in k or "key" in k or "token" in k else v) for k, v in
             parse_qsl(parts.query)]  # fmt: skip
    return urlunsplit(parts._replace(query=urlencode(query)))


def _filesystem(url: str):
    _pa, _pq = _pyarrow()
    import pyarrow.fs as pafs

    text = str(url).strip()
    if not text:
        raise DestinationError("empty archive destination")
    scheme = urlsplit(text).scheme
    if scheme in ("", "file") or (len(scheme) == 1 and os.name == "nt"):
        local = text[len("file://") :] if scheme == "file" else text
        root = os.path.abspath(os.path.expanduser(local))
        if os.path.exists(root) and not os.path.isdir(root):
            raise DestinationError(f"{root} exists and is not a directory")
        return pafs.LocalFileSystem(), root
    if scheme != "s3":
        raise DestinationError(
            f"{redact(text)}: the archive goes to a local path or s3://bucket/prefix"
        )
    if not urlsplit(text).netloc:
        raise DestinationError(f"{redact(text)}: no bucket named (s3://bucket/prefix)")
    try:
        fs, root = pafs.FileSystem.from_uri(_with_env_endpoint(text))
    except (OSError, ValueError) as exc:
        raise DestinationError(f"{redact(text)}: {exc}") from exc
    return fs, root.rstrip("/")


def _with_env_endpoint(url: str) -> str:
    """Honour AWS_ENDPOINT_URL(_S3) when the URL names no endpoint of its own."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    if endpoint and "endpoint_override" not in query:
        ep = urlsplit(endpoint)
        query["endpoint_override"] = ep.netloc or ep.path
        if ep.scheme:
            query.setdefault("scheme", ep.scheme)
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region and "region" not in query:
        query["region"] = region
    return urlunsplit(parts._replace(query=urlencode(query)))


def _staging_name(key: PartitionKey, kind: str = "parquet") -> str:
    host = socket.gethostname().replace("/", "_")[:40]
    unique = f"{host}.{os.getpid()}.{uuid.uuid4().hex[:12]}"
    return f"{key.symbol}-{key.day.isoformat()}.{kind}.{unique}.tmp"


def _not_found(exc: OSError) -> bool:
    text = str(exc).lower()
    return "not found" in text or "does not exist" in text or "nosuchkey" in text


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pyarrow():
    from tradestore.archive._parquet import load_pyarrow

    return load_pyarrow()
