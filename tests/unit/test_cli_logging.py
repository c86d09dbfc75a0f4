"""The command line's log handler follows sys.stderr, so a handler left installed by an
in-process ``main()`` never writes to a stream that has since been closed."""

from __future__ import annotations

import io
import logging
import sys

from tradestore.cli import main


def test_a_record_after_main_returned_goes_to_the_current_stderr(monkeypatch, tmp_path):
    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    # Any command configures logging; one that fails on its arguments is enough.
    assert main(["stats", "--db", str(tmp_path / "nothing-here")]) == 2
    first.close()  # as pytest closes a test's captured stream
    second = io.StringIO()
    monkeypatch.setattr(sys, "stderr", second)
    errors = []
    monkeypatch.setattr(logging, "raiseExceptions", True)
    monkeypatch.setattr(logging.Handler, "handleError", lambda self, record: errors.append(record))
    logging.getLogger("tradestore.test").warning("after the command: %s", "still heard")
    assert errors == []
    assert "after the command: still heard" in second.getvalue()
