"""``verify --against``: a stored (or archived) day certified against Binance's published
daily file, with the real first 5000 rows of BTCUSDT-aggTrades-2026-01-01 (µs stamps).

Binance's own defects (a wrong .CHECKSUM, repeated rows) are reported as Binance's and
never change our record; a certification shows in ``stats``, in the footer of the day's
partition when it is archived, and is dropped by a later write into the day."""

from __future__ import annotations

import json
import zipfile
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from tests.helpers.cli import official_zip, run_cli
from tradestore import TradeStore
from tradestore._model import AggTrade
from tradestore.store import certification, certified_days

pytest.importorskip("pyarrow")

from tradestore.archive import Destination, PartitionKey  # noqa: E402

DAY = date(2026, 1, 1)
FIRST_ID, LAST_ID = 3800397495, 3800402494  # the sample's agg ids
KEY = PartitionKey("spot", "BTCUSDT", DAY)


def lines_of(real_csv: Path) -> list[str]:
    return real_csv.read_text().splitlines(keepends=True)


def binance_zip(folder: Path, lines: list[str], *, checksum: bool = False, day: str = "2026-01-01"):
    """``lines`` as data.binance.vision publishes them: SYMBOL-aggTrades-DAY.zip (with
    its .CHECKSUM when asked), in a folder of their own."""
    folder.mkdir(parents=True, exist_ok=True)
    csv_path = folder / "rows.csv"
    csv_path.write_text("".join(lines))
    return official_zip(csv_path, folder, day=day, checksum=checksum)


def imported_db(tmp_path, capsys, lines: list[str]) -> Path:
    """A store holding ``lines`` (imported as the official zip, no .CHECKSUM)."""
    db = tmp_path / "db"
    archive = binance_zip(tmp_path / "ours", lines)
    code, out, _ = run_cli(capsys, "import", "--create", "--db", db, archive, "--no-progress")
    assert code == 0, out
    return db


@pytest.fixture
def db(tmp_path, capsys, real_csv) -> Path:
    return imported_db(tmp_path, capsys, lines_of(real_csv))


def against(capsys, db, path, *more) -> tuple[int, dict]:
    code, out, err = run_cli(
        capsys, "verify", "--db", db, "--against", path, "--format", "json", *more
    )
    assert code in (0, 1), err
    return code, json.loads(out)


def stats_certified(capsys, db) -> tuple[int, str | None]:
    code, out, _ = run_cli(capsys, "stats", "--db", db, "--format", "json")
    assert code == 0
    row = json.loads(out)["symbols"]["BTCUSDT"]
    return row["certified_days"], row["last_certified"]


def test_a_matching_day_is_certified_and_shown_by_stats(db, tmp_path, capsys, real_csv):
    published = binance_zip(tmp_path / "binance", lines_of(real_csv), checksum=True)
    assert stats_certified(capsys, db) == (0, None)
    code, doc = against(capsys, db, published)
    assert code == 0 and doc["verdict"] == "certified"
    assert doc["binance"]["checksum"] == "ok" and doc["binance"]["defects"] == []
    assert (doc["binance"]["trades"], doc["ours"]) == (5000, {"source": "store", "trades": 5000})
    assert (doc["missing"]["count"], doc["extra"]["count"]) == (0, 0)
    assert {k: d["count"] for k, d in doc["differing"].items()} == {
        "price": 0,
        "qty": 0,
        "time": 0,
        "maker": 0,
    }
    # µs stamps compared at the ms the store holds; the report says sub-ms digits exist.
    assert doc["binance"]["time_unit"] == "us"
    assert doc["binance"]["sub_ms_trades"] == sum(
        not line.split(",")[5].endswith("000") for line in lines_of(real_csv)
    )
    cert = doc["certified"]
    assert (cert["file"], cert["rows"], cert["first_agg_id"], cert["last_agg_id"]) == (
        "BTCUSDT-aggTrades-2026-01-01.zip",
        5000,
        FIRST_ID,
        LAST_ID,
    )
    assert cert["sha256"] == doc["sha256"] and cert["binance_defects"] == []
    assert stats_certified(capsys, db) == (1, "2026-01-01")
    with TradeStore(db, read_only=True) as store:
        assert list(certified_days(store, "BTCUSDT")) == [DAY]
    # Coverage names it: a query of the day, and a window beside it names none.
    code, out, _ = run_cli(
        capsys, "query", "--db", db, "--symbol", "BTCUSDT", "--start", "2026-01-01",
        "--hours", "1", "--format", "json",
    )  # fmt: skip
    assert json.loads(out)["coverage"]["certified_days"] == ["2026-01-01"]
    code, out, _ = run_cli(
        capsys, "query", "--db", db, "--symbol", "BTCUSDT", "--start", "2025-12-31",
        "--hours", "1", "--format", "json",
    )  # fmt: skip
    assert json.loads(out)["coverage"]["certified_days"] == []
    # The table says the same in words.
    code, out, _ = run_cli(capsys, "verify", "--db", db, "--against", published)
    assert code == 0
    assert "CERTIFIED" in out and "sub-millisecond digits" in out and "floor(us / 1000)" in out


def test_a_wrong_checksum_is_binances_defect_and_the_content_still_compared(
    db, tmp_path, capsys, real_csv
):
    published = binance_zip(tmp_path / "binance", lines_of(real_csv), checksum=True)
    sidecar = published.with_name(published.name + ".CHECKSUM")
    sidecar.write_text("0" * 64 + f"  {published.name}\n")
    code, doc = against(capsys, db, published)
    assert code == 0 and doc["verdict"] == "certified"
    assert "does not match" in doc["binance"]["checksum"]
    assert "comparison ran on the file's content as published" in doc["binance"]["checksum"]
    assert doc["binance"]["defects"] == [doc["binance"]["checksum"]]
    assert doc["certified"]["binance_defects"] == doc["binance"]["defects"]
    code, out, _ = run_cli(capsys, "verify", "--db", db, "--against", published)
    assert code == 0 and "DEFECT OF BINANCE'S FILE" in out


def test_repeated_rows_are_binances_defect_and_compared_once(db, tmp_path, capsys, real_csv):
    lines = lines_of(real_csv)
    changed = lines[20].split(",")
    changed[1] = "1.00000000"  # the same agg id again with another price
    doubled = [*lines[:11], lines[10], *lines[11:21], ",".join(changed), *lines[21:]]
    published = binance_zip(tmp_path / "binance", doubled)
    code, doc = against(capsys, db, published)
    assert code == 0 and doc["verdict"] == "certified"
    assert doc["binance"]["trades"] == 5000
    assert doc["binance"]["repeated_rows"] == [FIRST_ID + 10]
    assert doc["binance"]["conflicting_rows"] == [FIRST_ID + 20]
    assert len(doc["binance"]["defects"]) == 2
    assert f"agg ids {FIRST_ID + 10}" in doc["binance"]["defects"][0]
    with TradeStore(db, read_only=True) as store:  # our record was not touched
        cols = store.query_columns("BTCUSDT", 0, 1767312000000)
        assert len(cols) == 5000 and int(cols.price[20]) != 100_000_000


def test_a_changed_price_is_a_difference_and_not_certified(db, tmp_path, capsys, real_csv):
    lines = lines_of(real_csv)
    fields = lines[100].split(",")
    ours_price = fields[1]
    fields[1] = "87000.01000000"
    lines[100] = ",".join(fields)
    code, doc = against(capsys, db, binance_zip(tmp_path / "binance", lines))
    assert code == 1 and doc["verdict"] == "differences" and doc["certified"] is None
    price = doc["differing"]["price"]
    assert price["count"] == 1
    assert price["examples"] == [
        {
            "agg_id": FIRST_ID + 100,
            "binance": "87000.01000000",
            "ours": ours_price,
        }
    ]
    assert stats_certified(capsys, db) == (0, None)


def test_missing_and_extra_agg_ids(tmp_path, capsys, real_csv):
    lines = lines_of(real_csv)
    # Ours lacks row 50; Binance's file lacks row 60 (ours has it).
    db = imported_db(tmp_path, capsys, lines[:50] + lines[51:])
    code, doc = against(capsys, db, binance_zip(tmp_path / "binance", lines[:60] + lines[61:]))
    assert code == 1 and doc["certified"] is None
    assert doc["missing"] == {"count": 1, "runs": [[FIRST_ID + 50, FIRST_ID + 50]], "more_runs": 0}
    assert doc["extra"] == {"count": 1, "runs": [[FIRST_ID + 60, FIRST_ID + 60]], "more_runs": 0}
    code, out, _ = run_cli(
        capsys, "verify", "--db", db, "--against", binance_zip(tmp_path / "b2", lines)
    )
    assert code == 1 and "DIFFERENCES FOUND" in out and f"{FIRST_ID + 50}" in out


def test_bad_input_exits_2(db, tmp_path, capsys, real_csv):
    lines = lines_of(real_csv)
    good = binance_zip(tmp_path / "binance", lines)
    broken = tmp_path / "broken" / "BTCUSDT-aggTrades-2026-01-01.zip"
    broken.parent.mkdir()
    broken.write_bytes(b"not a zip at all")
    later = [_shift_day(line) for line in lines]
    cases = [
        (["--against", good, "--symbol", "ETHUSDT"], "not ETHUSDT"),
        (["--against", broken], "not a zip file"),
        (["--against", tmp_path / "nothing.zip"], "no such file"),
        (["--against", binance_zip(tmp_path / "named", lines, day="2026-01-02")], "its name says"),
        (
            ["--against", binance_zip(tmp_path / "later", later, day="2026-01-02")],
            "no trades of that day",
        ),
        (["--against", good, "--hours", "2"], "no window"),
    ]
    for argv, message in cases:
        code, out, err = run_cli(capsys, "verify", "--db", db, *argv)
        assert code == 2 and message in err, (argv, out, err)


def _shift_day(line: str) -> str:
    fields = line.split(",")
    fields[5] = str(int(fields[5]) + 86_400_000_000)
    return ",".join(fields)


def test_a_later_write_into_the_day_drops_the_certification(db, tmp_path, capsys, real_csv):
    published = binance_zip(tmp_path / "binance", lines_of(real_csv))
    assert against(capsys, db, published)[0] == 0
    with TradeStore(db) as store:
        assert certification(store, "BTCUSDT", DAY) is not None
        # A backfill brings a trade of that day the certified file did not hold.
        store.write_batches(
            {
                "BTCUSDT": [
                    AggTrade(LAST_ID + 1, Decimal("87700.5"), Decimal("0.1"), 1767226400000, False)
                ]
            }
        )
        assert certification(store, "BTCUSDT", DAY) is None
    assert stats_certified(capsys, db) == (0, None)
    # Verified again, the day differs from the file: not certified.
    code, doc = against(capsys, db, published)
    assert code == 1 and doc["extra"]["count"] == 1


def test_a_busy_store_cannot_record_but_the_verdict_stands(db, tmp_path, capsys, real_csv):
    published = binance_zip(tmp_path / "binance", lines_of(real_csv))
    with TradeStore(db):  # the writer (a running daemon) holds the lock
        code, doc = against(capsys, db, published)
    assert code == 0 and doc["verdict"] == "certified" and doc["certified"] is None
    assert any("could not be recorded" in note for note in doc["notes"])
    assert stats_certified(capsys, db) == (0, None)


def test_the_certification_goes_into_the_archive_footer(db, tmp_path, capsys, real_csv):
    published = binance_zip(tmp_path / "binance", lines_of(real_csv))
    root = tmp_path / "archive"
    assert against(capsys, db, published)[0] == 0
    code, out, _ = run_cli(capsys, "archive", "--db", db, "--to", root, "--through", "2026-01-01")
    assert code == 0, out
    footer = Destination(str(root)).read_info(KEY)
    assert footer is not None and footer.certified is not None
    assert footer.certified["sha256"] == _sha(published)
    assert footer.certified["rows"] == footer.rows == 5000


def test_an_archived_day_certified_later_says_its_footer_predates_it(
    db, tmp_path, capsys, real_csv
):
    published = binance_zip(tmp_path / "binance", lines_of(real_csv))
    root = tmp_path / "archive"
    assert run_cli(capsys, "archive", "--db", db, "--to", root, "--through", "2026-01-01")[0] == 0
    code, doc = against(capsys, db, published, "--archive", root)
    assert code == 0 and doc["ours"]["source"] == "store"
    assert any("written before this certification" in note for note in doc["notes"])
    assert Destination(str(root)).read_info(KEY).certified is None  # footers are not changed
    # Archived again by force, the partition's new footer carries it.
    code, _, _ = run_cli(
        capsys, "archive", "--db", db, "--to", root, "--through", "2026-01-01", "--force"
    )
    assert code == 0
    assert Destination(str(root)).read_info(KEY).certified["sha256"] == _sha(published)
    code, doc = against(capsys, db, published, "--archive", root)
    assert code == 0 and doc["notes"] == []  # the footer carries this file's certification


def test_a_day_the_store_no_longer_holds_is_compared_with_the_archive(
    db, tmp_path, capsys, real_csv
):
    published = binance_zip(tmp_path / "binance", lines_of(real_csv))
    root = tmp_path / "archive"
    assert run_cli(capsys, "archive", "--db", db, "--to", root, "--through", "2026-01-01")[0] == 0
    with TradeStore(db) as store:
        store.prune(1767312000000)  # all of 2026-01-01
        assert not len(store.query_columns("BTCUSDT", 0, 1767312000000))
    code, out, err = run_cli(capsys, "verify", "--db", db, "--against", published)
    assert code == 2 and "no archive to look in" in err
    config = tmp_path / "config.toml"
    config.write_text(f'archive_to = "{root}"\n')
    code, doc = against(capsys, db, published, "--config", config)
    assert code == 0 and doc["ours"] == {"source": "archive", "trades": 5000}
    assert doc["certified"]["source"] == "archive"
    assert stats_certified(capsys, db) == (1, "2026-01-01")


def test_a_certification_outlives_the_pruned_trades(db, tmp_path, capsys, real_csv):
    assert against(capsys, db, binance_zip(tmp_path / "binance", lines_of(real_csv)))[0] == 0
    with TradeStore(db) as store:
        store.prune(1767225600000 + 300_000)  # the first five minutes of the day
    assert stats_certified(capsys, db) == (1, "2026-01-01")
    with TradeStore(db) as store:
        store.prune(1767312000000, keep_rollups=False)  # the rest, rollups too
    assert stats_certified(capsys, db) == (1, "2026-01-01")


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_zip_member_is_what_is_compared(db, tmp_path, capsys, real_csv):
    # A zip holding two CSVs is not one of Binance's daily files: bad input, nothing recorded.
    folder = tmp_path / "two"
    folder.mkdir()
    path = folder / "BTCUSDT-aggTrades-2026-01-01.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.write(real_csv, "a.csv")
        zf.write(real_csv, "b.csv")
    code, _, err = run_cli(capsys, "verify", "--db", db, "--against", path)
    assert code == 2 and "expected one .csv inside" in err
    assert stats_certified(capsys, db) == (0, None)
