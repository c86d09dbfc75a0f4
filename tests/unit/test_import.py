"""``import`` of several data.binance.vision files: symbols from names, one summary, holes
between the files recorded as gaps (and closed when the missing file comes)."""

from __future__ import annotations

import json

import pytest

from tests.helpers.cli import run_cli
from tradestore import TradeStore

FIRST_ID, LAST_ID = 3800397495, 3800402494


@pytest.fixture
def parts(tmp_path, real_csv):
    """The real sample cut in three: rows 0-1999, 2000-2999 and 3000-4999."""
    lines = real_csv.read_text().splitlines()
    folder = tmp_path / "files"
    folder.mkdir()
    cuts = {"a": lines[:2000], "b": lines[2000:3000], "c": lines[3000:]}
    paths = {}
    for name, rows in cuts.items():
        paths[name] = folder / f"BTCUSDT-aggTrades-2026-01-01-{name}.csv"
        paths[name].write_text("\n".join(rows) + "\n")
    return paths


def stored_ids(db, symbol="BTCUSDT") -> list[int]:
    with TradeStore(db, read_only=True) as store:
        return [t.agg_id for t in store.query_trades(symbol, 0, 2 * 10**12)]


def test_several_files_and_a_glob_with_one_summary(tmp_path, capsys, parts):
    db = tmp_path / "db"
    pattern = str(parts["a"].parent / "BTCUSDT-aggTrades-2026-01-01-[ac].csv")
    code, out, err = run_cli(capsys, "import", "--create", "--db", db, pattern, "--no-progress")
    assert code == 0, err
    assert out.startswith(f"imported 2 files into {db} (spot):\n")
    assert (
        "BTCUSDT: 4,000 trades read, 4,000 new trades stored, 0 already stored; 1 gap recorded"
        in out
    )
    assert "3800399495..3800400494 between 2026-01-01T00:05:18.897Z and" in out

    # Exact accounting: every id of the files stored once, the hole on record as a gap.
    assert stored_ids(db) == [
        *range(FIRST_ID, FIRST_ID + 2000),
        *range(FIRST_ID + 3000, LAST_ID + 1),
    ]
    code, out, _ = run_cli(capsys, "gaps", "--db", db, "--format", "json")
    (gap,) = json.loads(out)["gaps"]
    assert (gap["first_id"], gap["last_id"], gap["missing"], gap["status"]) == (
        FIRST_ID + 2000, FIRST_ID + 2999, 1000, "open",
    )  # fmt: skip
    assert gap["from"] == "2026-01-01T00:05:18.897Z" and gap["to"] == "2026-01-01T00:06:10.570Z"
    code, out, _ = run_cli(capsys, "query", "--db", db, "--symbol", "BTCUSDT", "--start",
                           "2026-01-01T00:05:00Z", "--end", "2026-01-01T00:07:00Z")  # fmt: skip
    assert "record INCOMPLETE: 1000 agg ids missing, 1 unfilled gap overlaps" in " ".join(
        out.split()
    )
    assert run_cli(capsys, "verify", "--db", db, "--symbol", "BTCUSDT")[0] == 1

    # The missing file arrives: stored, the gap closed, the record whole.
    code, out, _ = run_cli(capsys, "import", "--create", "--db", db, parts["b"], parts["a"])
    assert code == 0
    assert (
        "3,000 trades read, 1,000 new trades stored, 2,000 already stored; 1 open gap filled" in out
    )
    assert stored_ids(db) == list(range(FIRST_ID, LAST_ID + 1))
    code, out, _ = run_cli(capsys, "gaps", "--db", db, "--open", "--format", "json")
    assert json.loads(out)["gaps"] == []
    assert run_cli(capsys, "verify", "--db", db, "--symbol", "BTCUSDT")[0] == 0


def test_a_hole_before_earlier_data_is_found_too(tmp_path, capsys, parts):
    db = tmp_path / "db"
    assert run_cli(capsys, "import", "--create", "--db", db, parts["c"])[0] == 0
    code, out, _ = run_cli(capsys, "import", "--create", "--db", db, parts["a"])
    assert "1 gap recorded (1,000 agg ids not in the files: 3800399495..3800400494" in out
    code, out, _ = run_cli(capsys, "gaps", "--db", db, "--format", "csv")
    assert out.count("\n") == 2 and ",open," in out


def test_the_symbol_comes_from_the_name_and_must_agree(tmp_path, capsys, parts, real_csv):
    db = tmp_path / "db"
    code, _, err = run_cli(
        capsys, "import", "--create", "--db", db, "--symbol", "ETHUSDT", parts["a"]
    )
    assert code == 2
    assert err == (
        "tradestore-trio import: BTCUSDT-aggTrades-2026-01-01-a.csv is named for BTCUSDT, "
        "not ETHUSDT (--force imports it as ETHUSDT anyway)\n"
    )
    assert not db.exists()  # refused before anything was written
    code, out, _ = run_cli(
        capsys, "import", "--create", "--db", db, "--symbol", "ETHUSDT", "--force", parts["a"]
    )
    assert code == 0 and "ETHUSDT: 2,000 trades read" in out
    assert len(stored_ids(db, "ETHUSDT")) == 2000

    nameless = tmp_path / "trades.csv"
    nameless.write_text(real_csv.read_text())
    code, _, err = run_cli(capsys, "import", "--create", "--db", db, nameless)
    assert code == 2 and "cannot be told from the file name" in err and "--symbol" in err
    code, _, err = run_cli(
        capsys, "import", "--create", "--db", db, str(tmp_path / "nothing-*.zip")
    )
    assert code == 2 and "no file matches" in err


def test_a_bad_file_among_several_writes_nothing(tmp_path, capsys, parts):
    db = tmp_path / "db"
    bad = parts["c"].with_name("BTCUSDT-aggTrades-2026-01-01-z.csv")
    bad.write_text("3800402495,87759.14,0.1,,,1767226339347397,True,True\nnot,a,row\n")
    code, _, err = run_cli(capsys, "import", "--create", "--db", db, parts["a"], bad)
    assert code == 2 and "BTCUSDT-aggTrades-2026-01-01-z.csv:2" in err
    assert not db.exists()


def test_our_own_csv_imports_back(tmp_path, capsys, parts):
    db, copy = tmp_path / "db", tmp_path / "copy"
    assert run_cli(capsys, "import", "--create", "--db", db, parts["a"], parts["b"])[0] == 0
    exported = tmp_path / "BTCUSDT-export.csv"
    assert run_cli(capsys, "export", "--db", db, "--symbol", "BTCUSDT", "-o", exported)[0] == 0
    assert exported.read_text().startswith("agg_id,price,qty,time_ms,is_buyer_maker\n")
    code, out, err = run_cli(
        capsys, "import", "--create", "--db", copy, "--symbol", "BTCUSDT", exported
    )
    assert code == 0, err
    with TradeStore(db, read_only=True) as a, TradeStore(copy, read_only=True) as b:
        assert a.query_trades("BTCUSDT", 0, 2 * 10**12) == b.query_trades("BTCUSDT", 0, 2 * 10**12)


def test_far_neighbours_on_both_sides_are_found(tmp_path, capsys, parts):
    """Stored trades ten days before and after the import: both holes are recorded."""
    from decimal import Decimal

    from tradestore import AggTrade

    db = tmp_path / "db"
    day = 86_400_000
    t_first, t_last = 1767225600039, 1767226339347
    with TradeStore(db) as store:
        one = Decimal(1)
        store.store_batch("BTCUSDT", [AggTrade(FIRST_ID - 50, one, one, t_first - 10 * day, True)])
        store.store_batch("BTCUSDT", [AggTrade(LAST_ID + 70, one, one, t_last + 10 * day, False)])
    code, out, _ = run_cli(
        capsys, "import", "--create", "--db", db, parts["a"], parts["b"], parts["c"]
    )
    assert code == 0 and "2 gaps recorded (118 agg ids not in the files" in out
    code, out, _ = run_cli(capsys, "gaps", "--db", db, "--format", "json")
    assert [(g["first_id"], g["last_id"]) for g in json.loads(out)["gaps"]] == [
        (FIRST_ID - 49, FIRST_ID - 1),
        (LAST_ID + 1, LAST_ID + 69),
    ]
