"""The CLI in-process, through ``main(argv)``."""

from __future__ import annotations

from tradestore.cli import main


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``tradestore-trio ARGV`` (paths may be Path objects)."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err
