"""screen over a database the recorder is writing: ``symbols = ALL`` against the fake
exchange, then the command line (a secondary instance beside the writer), the library
and the recorder's own HTTP API screen the whole market; each row counts exactly the
agg ids the exchange generated and equals that symbol's single-symbol profile."""

from __future__ import annotations

import json

import httpx
import pytest
import trio

from tests.helpers import wait_for
from tests.helpers.api import cli_json
from tests.helpers.store import stored_ids
from tradestore import TradeStore
from tradestore.analytics import screen
from tradestore.fake import FakeExchangeConfig, open_fake_exchange
from tradestore.recorder import RecorderConfig, run

SYMBOLS = tuple(f"S{i:02d}USDT" for i in range(24)) + ("S24BTC", "S25BTC")
TRADES = 1_200  # per symbol: enough for a profile (1,000)


@pytest.mark.slow
async def test_screen_the_whole_market_while_it_is_recorded(tmp_path, capsys):
    db = tmp_path / "db"
    fcfg = FakeExchangeConfig(symbols=SYMBOLS, rate=150.0, max_trades=TRADES)
    async with open_fake_exchange(fcfg) as fx:
        cfg = RecorderConfig(
            symbols=("ALL",),
            endpoint=fx.ws_url,
            rest_endpoint=fx.rest_url,
            db=str(db),
            retention_days=0,
            api_addr="127.0.0.1:0",
        )
        with trio.fail_after(120):
            async with trio.open_nursery() as nursery:
                recorder = await nursery.start(run, cfg)
                for symbol in SYMBOLS:
                    await fx.wait_generated(symbol, TRADES)

                def all_stored() -> bool:
                    rows = recorder.statistics().symbols
                    return all(rows[s].stored >= TRADES for s in SYMBOLS)

                await wait_for(all_stored, step=0.1)
                # The recorder is still running (and serving): read beside it.
                doc = await trio.to_thread.run_sync(
                    lambda: cli_json(capsys, "screen", "--db", db, "--sort", "symbol")
                )
                async with httpx.AsyncClient(base_url=recorder.api_url) as http:
                    response = await http.get(
                        "/api/v1/screen", params={"sort": "symbol", "top": 1000}
                    )
                assert response.status_code == 200, response.text
                served = response.json()
                nursery.cancel_scope.cancel()

    assert [r["symbol"] for r in doc["rows"]] == sorted(SYMBOLS)
    assert [r["symbol"] for r in served["rows"]] == sorted(SYMBOLS)
    for row, api_row in zip(doc["rows"], served["rows"], strict=True):
        generated = fx.log.generated_ids(row["symbol"])[:TRADES]
        assert stored_ids(db, row["symbol"]) == generated  # every id once
        assert row["trade_count"] == api_row["trade_count"] == TRADES
        # The last 24 h began before the first trade (outside the record): partly
        # recorded, and not one id missing inside the record.
        assert row["recorded"] == "partial" and row["coverage"]["missing_ids"] == 0
        assert not row["coverage"]["open_gaps"]
        assert {k: v for k, v in row.items() if k != "coverage"} == {
            k: v for k, v in api_row.items() if k != "coverage"
        }
    with TradeStore(db, read_only=True) as store:
        result = screen(store, "*BTC", doc_start(doc), doc_end(doc))
    assert [r.symbol for r in result.rows] == ["S24BTC", "S25BTC"]
    by_symbol = {r["symbol"]: r for r in doc["rows"]}
    for symbol in ("S00USDT", "S24BTC"):
        flags = ["--db", db, "--symbol", symbol, "--start", doc["time_period_start"]]
        profile = cli_json(capsys, "profile", *flags, "--end", doc["time_period_end"])
        assert by_symbol[symbol]["poc"] == profile["point_of_control"]
        assert by_symbol[symbol]["value_area_low"] == profile["value_area_low"]
        assert by_symbol[symbol]["base_volume"] == profile["total_volume"]
    assert json.dumps(doc)  # plain JSON


def doc_start(doc: dict) -> int:
    from tradestore._timeparse import parse_time_ms

    return parse_time_ms(doc["time_period_start"])


def doc_end(doc: dict) -> int:
    from tradestore._timeparse import parse_time_ms

    return parse_time_ms(doc["time_period_end"])
