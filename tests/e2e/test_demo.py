"""``tradestore-trio demo``: offline, end to end, through main(argv)."""

from __future__ import annotations

from tradestore import TradeStore
from tradestore.cli import main


def test_demo_records_and_reports(tmp_path, capsys):
    db = tmp_path / "demo-db"
    assert main(["demo", "--seconds", "2.5", "--rate", "500", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "fake exchange on ws://127.0.0.1:" in out
    with TradeStore(db, read_only=True) as store:
        stats = store.stats()["symbols"]
    assert set(stats) == {"BTCUSDT", "ETHUSDT"}
    for row in stats.values():
        assert row["trades"] >= 500  # about 2.5 s at 500/s each
        assert row["open_gaps"] == 0
        assert str(row["trades"]) in out  # the report shows the stored counts
    assert "POC" in out  # the volume profile summary
    assert f"the DB stays in {db}" in out


def test_demo_without_db_cleans_up(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    assert main(["demo", "--seconds", "1", "--rate", "50", "--symbols", "SOLUSDT"]) == 0
    out = capsys.readouterr().out
    assert "SOLUSDT" in out
    assert list(tmp_path.iterdir()) == []  # the temporary DB was removed


def test_demo_rejects_bad_arguments(capsys):
    assert main(["demo", "--seconds", "0"]) == 2
    assert main(["demo", "--symbols", "BTC-USDT"]) == 2
    assert "invalid symbol" in capsys.readouterr().err
