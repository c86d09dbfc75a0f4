"""The HTTP JSON API served by hypercorn on 127.0.0.1 over a real store, driven by httpx:
every endpoint equals the command line's JSON, errors have their status codes, trades
page exactly, the token is required when set, the OpenAPI document is valid."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from openapi_spec_validator import validate

from tests.helpers.api import (
    HOLE,
    Sample,
    btc_trades,
    cli_json,
    exact_bars,
    sample_store,
    serving_api,
    undated,
    without,
)
from tests.helpers.trades import T0
from tradestore import TradeStore
from tradestore._timeparse import format_time_ms
from tradestore.api import TOOLS, ExposureError, serve_api
from tradestore.api import _tools as tools


@pytest.fixture
def sample(tmp_path) -> Sample:
    return sample_store(tmp_path / "db")


async def get_json(client: httpx.AsyncClient, path: str, status: int = 200, **params):
    response = await client.get(f"/api/v1/{path}", params=params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


async def test_every_endpoint_answers_the_command_lines_json(sample, capsys):
    db = sample.db
    window = {"start": str(sample.start_ms), "end": str(sample.end_ms)}
    flags = ["--db", db, "--start", sample.start_ms, "--end", sample.end_ms]
    async with serving_api(db) as url, httpx.AsyncClient(base_url=url) as client:
        profile = await get_json(client, "profile", symbol="BTCUSDT", bins=25, **window)
        vacuums = await get_json(client, "vacuums", symbol="btcusdt", tick_size="0.5", **window)
        trades = await get_json(client, "trades", symbol="BTCUSDT", limit=10_000, **window)
        stats = await get_json(client, "stats")
        eth_stats = await get_json(client, "stats", symbol="ETHUSDT")
        gaps = await get_json(client, "gaps")
        open_btc = await get_json(client, "gaps", symbol="BTCUSDT", open="true")
        coverage = await get_json(client, "coverage", symbol="BTCUSDT", **window)

    assert profile == cli_json(capsys, "profile", "--symbol", "BTCUSDT", "--bins", 25, *flags)
    assert profile["trade_count"] == len(sample.btc_ids)
    cli_vacuums = cli_json(capsys, "vacuums", "--symbol", "BTCUSDT", "--tick-size", "0.5", *flags)
    assert undated(vacuums) == undated(cli_vacuums)
    # The sample's thin range: 104..105 traded a twentieth of the other bins' volume.
    assert [(v["price_range_low"], v["price_range_high"]) for v in vacuums["vacuums"]] == [
        ("104", "105")
    ]
    # One page holds the whole window: the trades document is the query command's.
    assert trades["next_cursor"] is None
    assert without(trades, "limit", "next_cursor") == cli_json(
        capsys, "query", "--symbol", "BTCUSDT", *flags
    )
    assert [t["agg_id"] for t in trades["trades"]] == sample.btc_ids
    assert trades["coverage"]["missing_ids"] == len(HOLE)
    assert stats == cli_json(capsys, "stats", "--db", db)
    assert eth_stats == cli_json(capsys, "stats", "--db", db, "--symbol", "ETHUSDT")
    assert gaps == cli_json(capsys, "gaps", "--db", db)
    assert open_btc == cli_json(capsys, "gaps", "--db", db, "--symbol", "BTCUSDT", "--open")
    assert gaps["count"] == 1 and gaps["gaps"][0]["first_id"] == HOLE[0]
    assert coverage["coverage"] == trades["coverage"]
    assert coverage["coverage"]["complete"] is False


async def test_trades_page_by_cursor_exactly_once(sample):
    """Pages of 700 trades, each after the previous page's cursor, give every stored id
    of the window once, in order; each page's coverage sees the hole it spans."""
    seen: list[int] = []
    pages = []
    params = {"symbol": "BTCUSDT", "start": sample.start_ms, "end": sample.end_ms, "limit": 700}
    async with serving_api(sample.db) as url, httpx.AsyncClient(base_url=url) as client:
        cursor = None
        while True:
            more = {} if cursor is None else {"cursor": cursor}
            page = await get_json(client, "trades", **params, **more)
            pages.append(page)
            seen += [t["agg_id"] for t in page["trades"]]
            assert page["count"] == len(page["trades"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        # A bare agg id is a cursor too: the trades after it.
        after = await get_json(client, "trades", **{**params, "cursor": str(HOLE[0] - 1)})
    assert seen == sample.btc_ids
    assert [p["count"] for p in pages] == [700] * 7 + [len(seen) - 4900]
    holed = [p for p in pages if p["coverage"]["missing_ids"]]
    assert len(holed) == 1 and holed[0]["coverage"]["missing_ids"] == len(HOLE)
    assert [t["agg_id"] for t in after["trades"]][:2] == [HOLE[-1] + 1, HOLE[-1] + 2]
    # The hole sits right after that cursor: the page counts it as missing.
    assert after["coverage"]["missing_ids"] == len(HOLE)


async def test_bad_requests_get_clear_errors_and_change_nothing(sample):
    ids_before = sample.btc_ids
    async with serving_api(sample.db) as url, httpx.AsyncClient(base_url=url) as client:
        cases = [
            (
                "profile",
                400,
                {"symbol": "BTCUSDT", "hours": "9000"},
                "9000 hours long: at most 8784",
            ),
            ("profile", 400, {"symbol": "BTCUSDT", "bins": "0"}, "bins must be between 1"),
            ("profile", 400, {"symbol": "BTCUSDT", "tick_size": "0.000000001"}, "tick_size"),
            ("profile", 400, {"symbol": "BTCUSDT", "start": "yesterday"}, "start: invalid time"),
            ("profile", 400, {"symbol": "BTC/USDT"}, "symbol"),
            ("profile", 400, {"hours": "2"}, "symbol is required"),
            ("profile", 400, {"symbol": "BTCUSDT", "colour": "red"}, "unknown parameter colour"),
            ("trades", 400, {"symbol": "BTCUSDT", "limit": "20000"}, "limit must be between"),
            ("trades", 400, {"symbol": "BTCUSDT", "hours": "48"}, "at most 24 hours, as a page"),
            ("trades", 400, {"symbol": "BTCUSDT", "cursor": "abc"}, "cursor"),
            ("trades", 400, {"symbol": "BTCUSDT", "start": T0 + 1, "end": T0}, "end is before"),
            ("gaps", 400, {"open": "maybe"}, "open: expected true or false"),
            ("profile", 404, {"symbol": "XRPUSDT"}, "no trades were ever stored for XRPUSDT"),
            ("trades", 404, {"symbol": "XRPUSDT"}, "no trades were ever stored for XRPUSDT"),
            ("stats", 404, {"symbol": "XRPUSDT"}, "no trades were ever stored for XRPUSDT"),
            ("gaps", 404, {"symbol": "XRPUSDT"}, "no trades were ever stored for XRPUSDT"),
            # ETHUSDT has 1,500 trades, but none in this hour.
            ("profile", 422, {"symbol": "ETHUSDT", "start": T0 + 3_600_000, "hours": "1"}, "0 "),
            ("nothing", 404, {}, "the endpoints are /api/v1/profile"),
        ]
        for path, status, params, words in cases:
            error = await get_json(client, path, status, **params)
            assert words in error["message"], (path, params, error)
            assert error["status"] == status and error["error"]
        twice = await client.get("/api/v1/profile?symbol=BTCUSDT&symbol=ETHUSDT")
        assert twice.status_code == 400 and "more than once" in twice.json()["message"]
        post = await client.post("/api/v1/stats")
        assert post.status_code == 405 and post.headers["allow"] == "GET, HEAD"
        # The server went on answering, and the store is as it was.
        assert (await get_json(client, "stats"))["symbols"]["BTCUSDT"]["trades"] == len(ids_before)
    with TradeStore(sample.db, read_only=True) as store:
        stored = [t.agg_id for t in store.query_trades("BTCUSDT", sample.start_ms, sample.end_ms)]
    assert stored == ids_before


async def test_unavailable_until_the_store_exists(tmp_path):
    db = tmp_path / "later"
    async with serving_api(db) as url, httpx.AsyncClient(base_url=url) as client:
        error = await get_json(client, "stats", 503)
        assert error["error"] == "store_unavailable" and "no trade store" in error["message"]
        sample_store(db)  # the recorder starts, say
        stats = await get_json(client, "stats")
    assert set(stats["symbols"]) == {"BTCUSDT", "ETHUSDT"}


async def test_token_is_required_on_every_request(sample):
    token = "k3y-" + "x" * 40
    async with serving_api(sample.db, token=token) as url:
        async with httpx.AsyncClient(base_url=url) as anonymous:
            for path in ("stats", "openapi.json", "nothing"):
                response = await anonymous.get(f"/api/v1/{path}")
                assert response.status_code == 401
                assert response.headers["www-authenticate"].startswith("Bearer")
            wrong = await anonymous.get(
                "/api/v1/stats", headers={"Authorization": "Bearer " + "y" * 44}
            )
            assert wrong.status_code == 401
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=url, headers=headers) as client:
            assert "BTCUSDT" in (await get_json(client, "stats"))["symbols"]
            spec = await get_json(client, "openapi.json")
    assert spec["security"] == [{"bearer": []}]


async def test_a_wider_bind_without_token_is_refused(sample):
    with pytest.raises(ExposureError, match="not a loopback address"):
        await serve_api("0.0.0.0:0", str(sample.db))


async def test_openapi_document_is_valid_and_lists_every_tool(sample):
    async with serving_api(sample.db) as url, httpx.AsyncClient(base_url=url) as client:
        spec = await get_json(client, "openapi.json")
        index = await get_json(client, "")
    validate(spec)
    for tool in TOOLS:
        operation = spec["paths"][f"/api/v1/{tool.path}"]["get"]
        assert operation["operationId"] == tool.name
        assert [p["name"] for p in operation["parameters"]] == [p.name for p in tool.params]
        assert f"/api/v1/{tool.path}" in index["endpoints"]
    assert "security" not in spec


async def test_relative_windows_and_time_forms_follow_the_command_line(sample, capsys):
    """start as ISO-8601 and epoch seconds, with hours: the same window as the CLI's."""
    iso = format_time_ms(T0)
    async with serving_api(sample.db) as url, httpx.AsyncClient(base_url=url) as client:
        by_iso = await get_json(client, "profile", symbol="BTCUSDT", start=iso, hours=1)
        by_seconds = await get_json(client, "profile", symbol="BTCUSDT", start=T0 // 1000, hours=1)
    assert by_iso == by_seconds
    assert by_iso == cli_json(
        capsys, "profile", "--db", sample.db, "--symbol", "BTCUSDT", "--start", iso, "--hours", 1
    )


async def test_head_answers_without_a_body(sample):
    async with serving_api(sample.db) as url, httpx.AsyncClient(base_url=url) as client:
        response = await client.head("/api/v1/stats")
    assert response.status_code == 200 and response.content == b""
    assert int(response.headers["content-length"]) > 0


async def test_candles_footprint_and_cvd_answer_the_command_lines_exact_json(sample, capsys):
    """A window cutting its first minute (rollups and raw trades both read): each answer is
    the command's JSON, and the figures are those summed from the raw trades."""
    start, end = sample.start_ms + 7_300, sample.end_ms
    window = {"symbol": "BTCUSDT", "start": start, "end": end}
    flags = ["--db", sample.db, "--symbol", "BTCUSDT", "--start", start, "--end", end]
    async with serving_api(sample.db) as url, httpx.AsyncClient(base_url=url) as client:
        candles = await get_json(client, "candles", **window, interval="1m")
        seconds = await get_json(client, "candles", **window, interval="15s")
        cvd = await get_json(client, "cvd", **window, interval="2m")
        footprint = await get_json(client, "footprint", **window, interval="2m")
        binned = await get_json(client, "footprint", **window, interval="2m", tick_size="0.5")
    assert candles == cli_json(capsys, "candles", *flags)
    assert seconds == cli_json(capsys, "candles", *flags, "--interval", "15s")
    assert cvd == cli_json(capsys, "cvd", *flags, "--interval", "2m")
    assert footprint == cli_json(capsys, "footprint", *flags, "--interval", "2m")
    assert binned == cli_json(capsys, "footprint", *flags, "--interval", "2m", "--tick-size", 0.5)

    trades = btc_trades()
    for doc, interval_ms in ((candles, 60_000), (seconds, 15_000)):
        exact = exact_bars(trades, start, end, interval_ms)
        assert [c["open_time_ms"] for c in doc["candles"]] == sorted(exact)
        for c in doc["candles"]:
            o, h, low, close, volume, buy, n, _ = exact[c["open_time_ms"]]
            figures = [c[k] for k in ("open", "high", "low", "close", "volume", "buy_volume")]
            assert [Decimal(x) for x in figures] == [o, h, low, close, volume, buy]
            assert c["trade_count"] == n and Decimal(c["sell_volume"]) == volume - buy
    assert candles["trade_count"] == sum(1 for t in trades if start <= t.time_ms <= end)
    assert candles["data_complete"] is False  # the window holds the open gap

    exact = exact_bars(trades, start, end, 120_000)
    running = Decimal(0)
    for point in cvd["points"]:
        bar = exact[point["open_time_ms"]]
        running += 2 * bar[5] - bar[4]
        assert Decimal(point["cumulative_delta"]) == running
    assert Decimal(cvd["delta"]) == running and len(cvd["points"]) == len(exact)
    for c in footprint["candles"]:
        levels = exact[c["open_time_ms"]][7]
        assert {Decimal(lv["price"]): (Decimal(lv["buy_volume"]), Decimal(lv["sell_volume"]))
                for lv in c["levels"]} == levels  # fmt: skip
    for c in binned["candles"]:
        per_bin: dict[Decimal, Decimal] = {}
        for price, (buy, sell) in exact[c["open_time_ms"]][7].items():
            low = (price * 2).to_integral_value(rounding="ROUND_FLOOR") / 2
            per_bin[low] = per_bin.get(low, Decimal(0)) + buy + sell
        assert {Decimal(lv["price"]): Decimal(lv["buy_volume"]) + Decimal(lv["sell_volume"])
                for lv in c["levels"]} == per_bin  # fmt: skip


async def test_candles_footprint_and_cvd_refuse_answers_too_large(sample, monkeypatch):
    monkeypatch.setattr(tools, "MAX_LEVELS", 100)
    async with serving_api(sample.db) as url, httpx.AsyncClient(base_url=url) as client:
        cases = [
            ("candles", {"interval": "1s", "hours": "12"}, "more than 10,000 per answer"),
            ("candles", {"interval": "15s", "hours": "48"}, "at most 24 hours"),
            ("candles", {"interval": "500ms"}, "interval must be at least 1s"),
            ("candles", {"interval": "soon"}, "interval: "),
            ("cvd", {"interval": "1m", "hours": "200"}, "at most 168 hours"),
            ("footprint", {"interval": "90s"}, "whole number of minutes"),
            ("footprint", {"hours": "48"}, "at most 24 hours, as an answer's footprint"),
            ("footprint", {"tick_size": "-1"}, "tick_size"),
            ("footprint", {"start": sample.start_ms, "hours": 1}, "more than 100 per answer"),
        ]
        for path, params, words in cases:
            error = await get_json(client, path, 400, symbol="BTCUSDT", **params)
            assert words in error["message"], (path, params, error)
        missing = await get_json(client, "candles", 404, symbol="XRPUSDT")
    assert "no trades were ever stored for XRPUSDT" in missing["message"]
