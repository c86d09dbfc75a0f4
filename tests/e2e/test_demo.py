"""``tradestore-trio demo``: offline, end to end, through main(argv)."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.helpers import REPO
from tests.helpers.plot import hide_matplotlib
from tradestore import TradeStore
from tradestore._timeparse import format_time_ms
from tradestore.cli import main


def test_demo_records_and_reports(tmp_path, capsys):
    db = tmp_path / "demo-db"
    assert main(["demo", "--seconds", "2.5", "--rate", "500", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "fake exchange on ws://127.0.0.1:" in out
    with TradeStore(db, read_only=True) as store:
        stats = store.stats()["symbols"]
        first, last = store.trade_time_span("BTCUSDT")
    assert set(stats) == {"BTCUSDT", "ETHUSDT"}
    for row in stats.values():
        assert row["trades"] >= 500  # about 2.5 s at 500/s each
        assert row["open_gaps"] == 0
        assert str(row["trades"]) in out  # the report shows the stored counts
    assert f"the DB stays in {db}" in out
    # It ends with an HTML report of the first symbol beside the kept DB.
    report = tmp_path / "demo-db-BTCUSDT-report.html"
    assert f"report: {report}" in out
    page = report.read_text()
    assert "BTCUSDT market profile" in page and 'src="data:image/svg+xml;base64,' in page
    assert f"{stats['BTCUSDT']['trades']:,} trades" in page

    # The profile's window is the trades' own span, not a guess around the run.
    assert f"BTCUSDT volume profile {format_time_ms(first)} .. {format_time_ms(last)}" in out
    # The POC row is labelled with the number the summary gives as the POC.
    poc = re.search(r"^POC (\S+) ", out, re.MULTILINE).group(1)
    (row,) = [
        line
        for line in out.splitlines()
        if "◀" in line and line.rstrip().endswith(tuple("0123456789"))
    ]
    assert row.split()[0] == poc
    # Captured output is not a terminal: buy and sell bars differ by character, not colour.
    assert "█" in row or "▒" in row
    assert "\x1b[" not in out
    bars = "".join(line for line in out.splitlines() if "│" in line or "◀" in line)
    assert "█" in bars and "▒" in bars


def test_demo_without_db_cleans_up(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    assert main(["demo", "--seconds", "1", "--rate", "500", "--symbols", "SOLUSDT"]) == 0
    out = capsys.readouterr().out
    assert "SOLUSDT" in out
    # The temporary DB was removed (so its path is never shown); the report is kept in a
    # folder of its own, and its path is the one printed.
    (folder,) = tmp_path.iterdir()
    assert folder.name.startswith("tradestore-demo-report-")
    assert [p.name for p in folder.iterdir()] == ["SOLUSDT-report.html"]
    assert f"report: {folder / 'SOLUSDT-report.html'}" in out
    assert out.count(str(tmp_path)) == 1
    assert "a temporary store (removed at the end; --db PATH keeps it)" in out


def test_demo_without_matplotlib_still_records_and_says_why(tmp_path, capsys, monkeypatch):
    hide_matplotlib(monkeypatch)
    db = tmp_path / "db"
    assert main(["demo", "--seconds", "1", "--rate", "200", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "no HTML report: it needs matplotlib (pip install 'tradestore-trio[plot]')" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db"]


def test_demo_rejects_bad_arguments(capsys):
    assert main(["demo", "--seconds", "0"]) == 2
    assert main(["demo", "--symbols", "BTC-USDT"]) == 2
    assert "invalid symbol" in capsys.readouterr().err


# An install without the plot extra, as a fresh interpreter sees it: matplotlib does not
# import at all (None in sys.modules makes every `import matplotlib` fail).
WITHOUT_MATPLOTLIB = """
import sys
sys.modules["matplotlib"] = None
from tradestore.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_readme_first_command_installs_what_the_demo_promises():
    """The README's first command installs the plot extra: the demo's HTML report and its
    pictures work straight after it, while the recorder's own install stays light."""
    readme = (REPO / "README.md").read_text()
    first = re.search(r"```bash\n(.*?)\n```", readme, re.DOTALL).group(1)
    assert "pip install '.[plot]'" in first
    pyproject = (REPO / "pyproject.toml").read_text()
    assert 'plot = ["matplotlib' in pyproject
    assert "matplotlib" not in pyproject.split("dependencies = [", 1)[1].split("]", 1)[0]


def test_demo_in_a_process_without_matplotlib(tmp_path, cli_env):
    """`pip install .` alone: the demo records, prints the stats and the profile, and says
    how to get the report instead of failing or writing a broken one."""
    db = tmp_path / "db"
    argv = ["demo", "--seconds", "1", "--rate", "200", "--db", str(db)]
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_MATPLOTLIB, *argv],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr
    assert "no HTML report: it needs matplotlib (pip install 'tradestore-trio[plot]')" in (
        done.stdout
    )
    assert "BTCUSDT volume profile" in done.stdout
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db"]
