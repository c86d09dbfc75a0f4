"""The README runs as written: its walk-through of commands and its library snippet.

The one stand-in: the data.binance.vision file the walk-through downloads is the real
sample in tests/data packed under the official name (no network in tests)."""

from __future__ import annotations

import re
import shlex

import pytest

from tests.helpers import REPO
from tests.helpers.cli import official_zip, run_cli

README = (REPO / "README.md").read_text()


def blocks(language: str, after: str) -> list[str]:
    section = README[README.index(after) :]
    return re.findall(rf"```{language}\n(.*?)```", section, re.DOTALL)


def commands(block: str) -> list[str]:
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


@pytest.fixture
def walked(tmp_path, monkeypatch, capsys, real_csv):
    """Run the walk-through's commands in a fresh folder; the folder, for the snippet."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "80")
    walk = commands(blocks("bash", "## Using it")[0])
    downloads = [line.split("/")[-1] for line in walk if line.startswith("curl ")]
    assert downloads == ["BTCUSDT-aggTrades-2026-01-01.zip.CHECKSUM", downloads[0][:-9]]
    official_zip(real_csv, tmp_path, checksum=True)  # what the curl lines download
    outputs = {}
    for line in walk[len(downloads) :]:
        argv, _, redirect = line.partition(" > ")
        words = shlex.split(argv)
        assert words[0] == "tradestore-trio", line
        if words[1:] == ["--help"]:
            with pytest.raises(SystemExit) as exc:
                run_cli(capsys, *words[1:])
            assert exc.value.code == 0 and "COMMAND" in capsys.readouterr().out
            continue
        code, out, err = run_cli(capsys, *words[1:])
        assert code == 0, (line, out, err)
        assert "Traceback" not in err
        if redirect:
            (tmp_path / redirect.strip()).write_text(out)
        outputs[line] = out
    return tmp_path, outputs


def test_the_walk_through_runs_as_written(walked):
    folder, outputs = walked
    imported, stats = list(outputs.values())[:2]
    assert "BTCUSDT: 5,000 trades read, 5,000 new trades stored" in imported
    assert "2026-01-01T00:00:00.000Z" in stats and "2026-01-01T23:59:59.999Z" in stats
    minute = next(out for line, out in outputs.items() if "--end 2026-01-01T00:01:00Z" in line)
    assert "487 trades; record complete" in " ".join(minute.split())
    assert (folder / "hour.csv").read_text().count("\n") == 5001  # header + the sample's trades
    assert (folder / "btc.csv").read_text().startswith("agg_id,price,qty,time_ms,is_buyer_maker")
    for line, out in outputs.items():
        if "--format" not in line:  # what a person reads fits the 80 columns of COLUMNS
            assert all(len(text) <= 80 for text in out.splitlines()), (line, out)


def test_the_library_snippet_runs_as_written(walked, capsys):
    folder, _ = walked
    (snippet,) = blocks("python", "As a library")
    exec(compile(snippet, "README.md", "exec"), {"__name__": "readme"})  # noqa: S102
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "5000 87648.21000000 8764821000000 record complete"
    assert out[1].startswith("POC ")


def test_the_daemon_line_names_real_flags():
    daemon = blocks("bash", "To record live trades")[0]
    from tradestore.cli import build_parser

    args = build_parser().parse_args(shlex.split(daemon.strip())[1:])
    assert (args.command, args.symbols, args.db) == ("run", "BTCUSDT,SOLUSDT", "live")
