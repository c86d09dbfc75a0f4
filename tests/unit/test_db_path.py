"""A --db that cannot hold the trade store is refused before anything is written: a file,
a path below one, a folder holding other things, a read-only folder. A one-shot writer
makes a new store only with --create; ``run`` makes its own on its first start."""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.cli import run_cli
from tradestore import TradeStore
from tradestore.store import UnusablePath, check_store_path
from tradestore.store import _folder as folder_module


def snapshot(*paths: Path) -> dict:
    """Every file and folder under ``paths`` with its size and modification time."""
    found = {}
    for path in paths:
        if path.is_file():
            found[str(path)] = path.stat().st_size, path.stat().st_mtime_ns
            continue
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                st = os.stat(os.path.join(root, name))
                found[os.path.join(root, name)] = (st.st_size, st.st_mtime_ns)
    return found


@pytest.fixture
def notes(tmp_path) -> Path:
    """The user's folder of notes: no trade store."""
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "readme.txt").write_text("my notes\n")
    return folder


@pytest.fixture
def cli_logging():
    """``run`` configures the root logger and the GIL switch interval: put them back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    interval = sys.getswitchinterval()
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    sys.setswitchinterval(interval)


def test_import_refuses_a_folder_holding_other_things_and_a_file(notes, tmp_path, capsys, real_csv):
    afile = tmp_path / "trades.db"
    afile.write_text("not a store\n")
    before = snapshot(notes, afile)
    cases = [
        (
            notes,
            f"{notes} holds other things and no trade store (readme.txt); give a new "
            "path or an empty folder",
        ),
        (afile, f"{afile} is a file, not a trade store folder"),
        (afile / "db", f"{afile / 'db'} lies below {afile}, which is a file"),
    ]
    for db, message in cases:
        for create in ([], ["--create"]):
            code, out, err = run_cli(capsys, "import", "--db", db, *create, real_csv)
            assert (code, out, err) == (2, "", f"tradestore-trio import: {message}\n")
    assert snapshot(notes, afile) == before


def test_one_shot_writers_make_a_new_store_only_with_create(tmp_path, capsys, real_csv):
    missing = tmp_path / "data"
    empty = tmp_path / "empty"
    empty.mkdir()
    for db in (missing, empty):
        code, out, err = run_cli(capsys, "import", "--db", db, "--no-progress", real_csv)
        assert (code, out) == (2, "")
        assert err == f"tradestore-trio import: no trade store at {db}; --create makes a new one\n"
        code, _, err = run_cli(
            capsys, "backfill", "--db", db, "--symbol", "BTCUSDT", "--from-id", 1, "--to-id", 2
        )
        assert code == 2 and f"no trade store at {db}; --create makes a new one" in err
        # A command that never makes a store points at --db instead.
        code, _, err = run_cli(capsys, "prune", "--db", db, "--before", "2026-01-01")
        assert code == 2 and f"no trade store at {db}" in err and "--create" not in err
    assert not missing.exists() and list(empty.iterdir()) == []

    code, _, err = run_cli(capsys, "import", "--db", missing, "--create", real_csv)
    assert code == 0, err
    code, _, err = run_cli(capsys, "import", "--db", empty, "--create", real_csv)
    assert code == 0, err
    # Once there, the store takes more without --create.
    code, _, err = run_cli(capsys, "import", "--db", missing, real_csv)
    assert code == 0, err
    with TradeStore(missing, read_only=True) as store:
        assert store.trade_count("BTCUSDT") == 5_000


def test_readers_name_what_is_there(notes, tmp_path, capsys):
    afile = tmp_path / "file"
    afile.write_text("x")
    before = snapshot(notes, afile)
    code, _, err = run_cli(capsys, "stats", "--db", notes)
    assert code == 2 and "holds other things and no trade store (readme.txt)" in err
    code, _, err = run_cli(capsys, "query", "--db", afile, "--symbol", "BTCUSDT")
    assert code == 2 and f"{afile} is a file, not a trade store folder" in err
    assert snapshot(notes, afile) == before


def run_argv(db) -> list:
    # A closed local port: were the store opened, nothing would reach the network.
    return ["run", "--db", db, "--endpoint", "ws://127.0.0.1:9/ws", "--no-backfill"]


def test_run_and_demo_refuse_what_cannot_hold_the_store(notes, tmp_path, capsys, cli_logging):
    afile = tmp_path / "file"
    afile.write_text("x")
    before = snapshot(notes, afile)
    for db, message in (
        (
            notes,
            f"{notes} holds other things and no trade store (readme.txt); give a new "
            "path or an empty folder",
        ),
        (afile, f"{afile} is a file, not a trade store folder"),
    ):
        code, out, err = run_cli(capsys, *run_argv(db))
        assert (code, out, err) == (2, "", f"tradestore-trio run: {message}\n")
        code, out, err = run_cli(capsys, "demo", "--db", db, "--seconds", "1")
        assert (code, out, err) == (2, "", f"tradestore-trio demo: {message}\n")
    assert snapshot(notes, afile) == before


def test_run_on_a_read_only_folder_says_so_and_exits_2(tmp_path, capsys, cli_logging, monkeypatch):
    """Emulated at the OS boundary: ``statvfs`` reports the folder's file system mounted
    read-only (as root, chmod 0o555 would not stop a write). The real mount is below."""
    db = tmp_path / "ro"
    db.mkdir()
    real_statvfs = os.statvfs

    def statvfs(path):
        result = real_statvfs(path)
        if Path(path) == db:
            return os.statvfs_result((*result[:8], result.f_flag | os.ST_RDONLY, *result[9:]))
        return result

    monkeypatch.setattr(folder_module.os, "statvfs", statvfs)
    code, out, err = run_cli(capsys, *run_argv(db))
    assert (code, out) == (2, "")
    assert err == f"tradestore-trio run: cannot write into {db}: Read-only file system\n"
    assert list(db.iterdir()) == []


@contextlib.contextmanager
def read_only_mount(path: Path):
    """A tmpfs mounted read-only at ``path``; skips where mounting is not allowed."""
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode:
        pytest.skip(f"cannot mount a read-only tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def test_run_and_import_on_a_real_read_only_mount(tmp_path, capsys, cli_logging, real_csv):
    with read_only_mount(tmp_path / "ro") as ro:
        for db in (ro, ro / "db"):
            code, out, err = run_cli(capsys, *run_argv(db))
            assert (code, out) == (2, ""), err
            assert err == f"tradestore-trio run: cannot write into {ro}: Read-only file system\n"
            code, _, err = run_cli(capsys, "import", "--db", db, "--create", real_csv)
            assert code == 2
            assert err == f"tradestore-trio import: cannot write into {ro}: Read-only file system\n"
        assert list(ro.iterdir()) == []


def test_the_check_itself(notes, tmp_path):
    with TradeStore(tmp_path / "db"):
        pass
    assert check_store_path(tmp_path / "db") is True
    assert check_store_path(tmp_path / "new", create=True) is False
    assert check_store_path(tmp_path / "new" / "deeper", create=True) is False
    with pytest.raises(UnusablePath, match="holds other things"):
        check_store_path(notes, create=True, write=False)
    for i in range(7):
        (notes / f"n{i}.txt").write_text("x")
    with pytest.raises(UnusablePath, match=r"\(n0.txt, n1.txt, n2.txt, n3.txt, n4.txt, …\)"):
        check_store_path(notes, create=True)
