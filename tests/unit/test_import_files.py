"""``import`` reads a file by what it is: a header by its column names, values checked,
a damaged zip named as one, futures files into a futures database. A file refused stores
nothing."""

from __future__ import annotations

import zipfile
from decimal import Decimal
from pathlib import Path

import pytest

from tests.helpers.cli import official_zip, run_cli
from tradestore import TradeStore

FIRST_ID = 3800397495
FUTURES_HEADER = (
    "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker"
)
NAME = "BTCUSDT-aggTrades-2026-01-01"


def sample_rows(real_csv: Path, n: int = 300) -> list[list[str]]:
    return [line.split(",") for line in real_csv.read_text().splitlines()[:n]]


def futures_text(rows: list[list[str]], header: str = FUTURES_HEADER) -> str:
    """The rows as Binance's futures daily files have them: a header row, ms times, and
    lower-case flags, columns where ``header`` puts them."""
    source = {
        "agg_trade_id": 0,
        "price": 1,
        "quantity": 2,
        "first_trade_id": 3,
        "last_trade_id": 4,
        "transact_time": 5,
        "is_buyer_maker": 6,
    }
    names = header.split(",")
    lines = [header]
    for row in rows:
        values = [*row[:5], str(int(row[5]) // 1000), row[6].lower()]
        lines.append(",".join(values[source[n]] if n in source else "0" for n in names))
    return "\n".join(lines) + "\n"


def zipped(folder: Path, name: str, text: str) -> Path:
    """``text`` as data.binance.vision ships it: NAME.zip holding NAME.csv."""
    folder.mkdir(exist_ok=True)
    archive = folder / f"{name}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{name}.csv", text)
    return archive


def stored(db: Path, symbol: str = "BTCUSDT"):
    with TradeStore(db, read_only=True) as store:
        return store.query_trades(symbol, 0, 2 * 10**12), store.market()


# ------------------------------------------------------------------ headers


def test_a_header_is_read_by_name(tmp_path, capsys, real_csv):
    rows = sample_rows(real_csv)
    swapped = FUTURES_HEADER.replace("price,quantity", "quantity,price")
    path = zipped(tmp_path / "files", NAME, futures_text(rows, swapped))
    db = tmp_path / "db"
    code, out, err = run_cli(capsys, "import", "--create", "--db", db, path, "--no-progress")
    assert code == 0, err
    trades, market = stored(db)
    assert market == "usdm"
    assert [(t.agg_id, t.price, t.qty) for t in trades] == [
        (int(r[0]), Decimal(r[1]), Decimal(r[2])) for r in rows
    ]
    assert trades[0].time_ms == int(rows[0][5]) // 1000


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (
            FUTURES_HEADER.replace("first_trade_id", "foo"),
            f"{NAME}.csv:1: unknown column in the header: foo",
        ),
        (
            FUTURES_HEADER.replace(",is_buyer_maker", ""),
            f"{NAME}.csv:1: the header has no column for maker",
        ),
        ("hello world", f"{NAME}.csv:1: neither a trade row nor a header: 'hello world'"),
        (
            FUTURES_HEADER.replace("first_trade_id", "qty"),
            f"{NAME}.csv:1: two columns in the header hold the qty",
        ),
    ],
)
def test_a_header_it_cannot_map_is_refused(tmp_path, capsys, real_csv, header, message):
    text = futures_text(sample_rows(real_csv, 5)) if "," in header else header + "\n"
    text = text.replace(FUTURES_HEADER, header, 1)
    path = tmp_path / f"{NAME}.csv"
    path.write_text(text)
    code, _, err = run_cli(capsys, "import", "--create", "--db", tmp_path / "db", path)
    assert code == 2
    assert err.startswith(f"tradestore-trio import: {message}")
    assert not (tmp_path / "db").exists()


# ------------------------------------------------------------------ values


@pytest.mark.parametrize(
    ("line", "edit", "message"),
    [
        (10, lambda r: [r[0], "0.00000000", *r[2:]], ":11: price '0.00000000' is not above zero"),
        (20, lambda r: [r[0], r[1], "0", *r[3:]], ":21: qty '0' is not above zero"),
        (30, lambda r: [str(FIRST_ID + 5), *r[1:]], ":31: agg id 3800397500 does not follow"),
        (
            40,
            lambda r: [*r[:5], "1767312000000000", *r[6:]],
            ":41: trade time 2026-01-02T00:00:00.000Z is outside 2026-01-01T00:00:00.000Z .. "
            "2026-01-01T23:59:59.999Z, the period its name gives",
        ),
    ],
)
def test_bad_values_are_refused_and_nothing_is_stored(
    tmp_path, capsys, real_csv, line, edit, message
):
    db = tmp_path / "db"
    rows = sample_rows(real_csv, 100)
    good = tmp_path / "BTCUSDT-aggTrades-2025-12-31.csv"  # another day: its name must not lie
    good_rows = [[*r[:5], str(int(r[5]) - 86_400_000_000), *r[6:]] for r in rows]
    good_rows = [[str(int(r[0]) - 1000), *r[1:]] for r in good_rows]
    good.write_text("\n".join(",".join(r) for r in good_rows) + "\n")
    assert run_cli(capsys, "import", "--create", "--db", db, good, "--no-progress")[0] == 0
    before = stored(db)

    rows[line] = edit(rows[line])
    bad = tmp_path / f"{NAME}.csv"
    bad.write_text("\n".join(",".join(r) for r in rows) + "\n")
    code, _, err = run_cli(capsys, "import", "--create", "--db", db, bad, "--no-progress")
    assert code == 2 and f"{NAME}.csv{message}" in err
    assert stored(db) == before


# ------------------------------------------------------------------ damaged zips


def damaged(archive: Path, flip) -> Path:
    data = bytearray(archive.read_bytes())
    for at in flip(data):
        data[at] ^= 0x55  # "T" becomes "\x01": not ASCII text
    archive.write_bytes(bytes(data))
    return archive


def test_a_zip_that_fails_its_crc_says_so(tmp_path, capsys, real_csv):
    """A stored (uncompressed) member with one byte changed: first a row that does not
    parse, and the CRC, checked only at the member's end, is what is reported."""
    name = NAME
    archive = tmp_path / f"{name}.zip"
    text = real_csv.read_text()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{name}.csv", text)
    at = archive.read_bytes().index(b"True", 60_000)  # an isBuyerMaker flag mid-file
    damaged(archive, lambda data: [at])
    code, _, err = run_cli(capsys, "import", "--create", "--db", tmp_path / "db", archive)
    assert code == 2
    assert err == (
        f"tradestore-trio import: corrupt archive: {name}.csv in {name}.zip fails its CRC check\n"
    )
    assert not (tmp_path / "db").exists()


def test_a_changed_digit_is_caught_by_the_crc_too(tmp_path, capsys, real_csv):
    """A change that still parses (a price digit) is caught at the member's end."""
    archive = tmp_path / f"{NAME}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{NAME}.csv", real_csv.read_text())
    data = bytearray(archive.read_bytes())
    data[data.index(b",87", 60_000) + 1] = ord("9")  # a price 87xxx becomes 97xxx
    archive.write_bytes(bytes(data))
    code, _, err = run_cli(capsys, "import", "--create", "--db", tmp_path / "db", archive)
    assert code == 2 and "corrupt archive" in err and "fails its CRC check" in err
    assert not (tmp_path / "db").exists()


def test_a_deflated_zip_with_flipped_bytes_is_a_corrupt_archive(tmp_path, capsys, real_csv):
    archive = official_zip(real_csv, tmp_path)
    size = archive.stat().st_size
    damaged(archive, lambda data: range(size // 2, size // 2 + 100))
    code, _, err = run_cli(capsys, "import", "--create", "--db", tmp_path / "db", archive)
    assert code == 2
    assert err.startswith(f"tradestore-trio import: corrupt archive: {NAME}.csv in {NAME}.zip")
    assert not (tmp_path / "db").exists()


# ------------------------------------------------------------------ futures


def test_usdm_and_coinm_files_go_into_databases_of_their_market(tmp_path, capsys, real_csv):
    rows = sample_rows(real_csv)
    usdm = zipped(tmp_path / "um", NAME, futures_text(rows))
    db = tmp_path / "usdm"
    code, out, err = run_cli(capsys, "import", "--create", "--db", db, usdm, "--no-progress")
    assert code == 0, err
    assert out.startswith(f"imported 1 file into {db} (usdm, inferred from the futures header):")
    trades, market = stored(db)
    assert market == "usdm" and len(trades) == len(rows)
    assert trades[-1].time_ms == int(rows[-1][5]) // 1000  # ms times read as ms

    coin = zipped(tmp_path / "cm", "BTCUSD_PERP-aggTrades-2026-01-01", futures_text(rows))
    cdb = tmp_path / "coinm"
    code, out, err = run_cli(capsys, "import", "--create", "--db", cdb, coin, "--no-progress")
    assert code == 0, err
    assert "(coinm, inferred from the futures header)" in out and "BTCUSD_PERP: 300" in out
    trades, market = stored(cdb, "BTCUSD_PERP")
    assert market == "coinm" and len(trades) == len(rows)

    # Said outright, it is not inferred; the database's own market needs no flag.
    code, out, _ = run_cli(capsys, "import", "--create", "--db", db, usdm, "--market", "usdm")
    assert code == 0 and f"into {db} (usdm):" in out


def test_a_file_of_another_market_is_refused(tmp_path, capsys, real_csv):
    rows = sample_rows(real_csv)
    futures = zipped(tmp_path / "um", NAME, futures_text(rows))
    spot = official_zip(real_csv, tmp_path)
    db = tmp_path / "usdm"
    assert run_cli(capsys, "import", "--create", "--db", db, futures, "--no-progress")[0] == 0
    before = stored(db)

    code, _, err = run_cli(capsys, "import", "--create", "--db", db, spot, "--no-progress")
    assert code == 2
    assert err == (
        f"tradestore-trio import: {NAME}.zip is a spot file (no header row), but {db} holds "
        "usdm trades: import it into a spot database\n"
    )
    assert stored(db) == before

    code, _, err = run_cli(capsys, "import", "--create", "--db", db, futures, "--market", "coinm")
    assert code == 2 and f"{db} holds usdm trades; it cannot take coinm trades" in err
    assert stored(db) == before

    new = tmp_path / "new"
    code, _, err = run_cli(capsys, "import", "--create", "--db", new, futures, "--market", "spot")
    assert code == 2 and "is a futures file (its header row says so), but --market is spot" in err
    code, _, err = run_cli(capsys, "import", "--create", "--db", new, futures, spot)
    assert code == 2 and "import them into separate databases" in err
    assert not new.exists()

    spot_db = tmp_path / "spot"
    assert run_cli(capsys, "import", "--create", "--db", spot_db, spot, "--no-progress")[0] == 0
    code, _, err = run_cli(capsys, "import", "--create", "--db", spot_db, futures)
    assert code == 2 and f"but {spot_db} holds spot trades" in err
