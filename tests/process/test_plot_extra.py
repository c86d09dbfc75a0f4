"""The plot extra stays out of the recorder's way: nothing ``run`` imports loads
matplotlib, so an install without the extra records as before."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
from tradestore.cli import build_parser, main
import tradestore.recorder, tradestore.cli._run
build_parser()
main(["run", "--print-config"])
loaded = sorted(m for m in sys.modules if m.startswith(("matplotlib", "tradestore.plot")))
print(json.dumps(loaded))
"""


def test_run_never_imports_matplotlib(cli_env):
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=cli_env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
