"""The REST side: aggTrades, exchangeInfo, ping and time under the impersonated market's
prefix (/api/v3, /fapi/v1 or /dapi/v1), Binance's errors and weight headers, and injected
429/418 answers."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, unquote

from tradestore._errors import TradestoreError
from tradestore.fake._exchange import FakeExchange
from tradestore.fake._frames import rest_row
from tradestore.fake._info import exchange_info
from tradestore.fake._wire import Response

MAX_LIMIT = 1000
DEFAULT_LIMIT = 500
MAX_WINDOW_MS = 3_600_000

_LONG = re.compile(r"[0-9]{1,20}")
_SYMBOL = re.compile(r"[A-Z0-9\-_.]{1,20}")


class ApiError(TradestoreError):
    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


class RestApi:
    def __init__(self, exchange: FakeExchange) -> None:
        self.exchange = exchange
        self.market = exchange.market
        self.weights = self.market.weights  # request weight by path
        self._minute = -1
        self._used = 0

    def respond(self, method: str, target: str) -> Response:
        """The HTTP answer to one request for ``target`` (path and query string)."""
        path, _sep, query = target.partition("?")
        status, headers, body = self.handle(method, unquote(path), query.encode("latin-1"))
        content = [("content-type", "application/json;charset=UTF-8"), *headers.items()]
        return Response(status, content, encode(body))

    def handle(
        self, method: str, path: str, query_string: bytes
    ) -> tuple[int, dict[str, str], object]:
        """(status, extra headers, JSON body) for one request."""
        log = self.exchange.log
        cfg = self.exchange.config
        weight = self.weights.get(path)
        if weight is None:
            return 404, {}, {"code": -1, "msg": f"Not found: {path}"}
        if method not in ("GET", "HEAD"):
            return 405, {}, {"code": -1, "msg": f"Method {method} not allowed"}
        log.rest_requests += 1
        n = log.rest_requests
        headers = {"X-MBX-USED-WEIGHT-1M": str(self._use_weight(weight))}
        if cfg.rest_418_every and n % cfg.rest_418_every == 0:
            log.rest_418_sent += 1
            until = self.exchange.now_ms() + cfg.retry_after * 1000
            headers["Retry-After"] = str(cfg.retry_after)
            return (
                418,
                headers,
                {
                    "code": -1003,
                    "msg": f"Way too many requests; IP(127.0.0.1) banned until {until}. "
                    "Please use the websocket for live updates to avoid bans.",
                },
            )
        injected = bool(cfg.rest_429_every) and n % cfg.rest_429_every == 0
        if injected or self._used > cfg.rest_weight_limit:
            # Over the real limit, Binance answers 429 until the minute is over.
            wait = cfg.retry_after if injected else self._seconds_to_next_minute()
            log.rest_429_sent += 1
            headers["Retry-After"] = str(wait)
            return (
                429,
                headers,
                {
                    "code": -1003,
                    "msg": f"Too many requests; current limit of IP(127.0.0.1) is "
                    f"{cfg.rest_weight_limit} requests per minute. Please use the websocket "
                    "for live updates to avoid polling the API.",
                },
            )
        try:
            market = self.market
            if path == market.ping_path:
                return 200, headers, {}
            if path == market.time_path:
                return 200, headers, {"serverTime": self.exchange.now_ms()}
            query = parse_qs(query_string.decode("latin-1"))
            if path == market.exchange_info_path:
                return 200, headers, self._exchange_info(query)
            return 200, headers, self._agg_trades(query)
        except ApiError as exc:
            return exc.status, headers, {"code": exc.code, "msg": exc.msg}

    def _seconds_to_next_minute(self) -> int:
        return -(-(60_000 - self.exchange.now_ms() % 60_000) // 1000)

    def _use_weight(self, weight: int) -> int:
        minute = self.exchange.now_ms() // 60_000
        if minute != self._minute:
            self._minute, self._used = minute, 0
        self._used += weight
        self.exchange.log.note_rest_weight(minute, self._used)
        return self._used

    def _exchange_info(self, query: dict[str, list[str]]) -> dict:
        """Every symbol listed so far (delisted ones with their status), or the ones named
        by ``symbol`` / ``symbols`` (a JSON list), as Binance filters them."""
        status = self.exchange.status
        one = _one(query, "symbol")
        many = _one(query, "symbols")
        if one is not None and many is not None:
            raise ApiError(400, -1128, "Combination of optional parameters invalid.")
        names: list[str] | None = None
        if one is not None:
            names = [one]
        elif many is not None:
            try:
                names = json.loads(many)
            except ValueError:
                names = None
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise ApiError(400, -1100, "Illegal characters found in parameter 'symbols'.")
        if names is not None:
            missing = [n for n in names if n not in status]
            if missing:
                raise ApiError(400, -1121, "Invalid symbol.")
            status = {n: status[n] for n in names}
        return exchange_info(
            self.market,
            dict(status),
            self.exchange.now_ms(),
            self.exchange.config.rest_weight_limit,
        )

    def _agg_trades(self, query: dict[str, list[str]]) -> list[dict]:
        symbol = _one(query, "symbol")
        if not symbol:
            raise ApiError(
                400,
                -1102,
                "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
            )
        if not _SYMBOL.fullmatch(symbol):
            raise ApiError(
                400,
                -1100,
                "Illegal characters found in parameter 'symbol'; legal range is "
                "'^[A-Z0-9-_.]{1,20}$'.",
            )
        if not self.exchange.serves(symbol):
            raise ApiError(400, -1121, "Invalid symbol.")
        from_id = _long(query, "fromId")
        start = _long(query, "startTime")
        end = _long(query, "endTime")
        limit = _long(query, "limit")
        if limit is None:
            limit = DEFAULT_LIMIT
        elif not 1 <= limit <= MAX_LIMIT:
            raise ApiError(400, -1130, "Data sent for parameter 'limit' is not valid.")
        if from_id is not None and (start is not None or end is not None):
            raise ApiError(400, -1128, "Combination of optional parameters invalid.")
        if start is not None and end is not None:
            if end < start:
                raise ApiError(400, -1128, "Combination of optional parameters invalid.")
            if end - start > MAX_WINDOW_MS:
                raise ApiError(400, -1127, "More than 1 hours between startTime and endTime.")
        if from_id is not None:
            records = self.exchange.by_id(symbol, from_id, limit)
        elif start is not None or end is not None:
            records = self.exchange.by_time(symbol, start, end, limit)
        else:
            records = self.exchange.recent(symbol, limit)
        every = self.exchange.config.rest_invalid_every
        best_match = self.market.event_has_best_match
        if not every:
            return [rest_row(r, False, best_match) for r in records]
        rows = []
        for r in records:
            invalid = r.trade.agg_id % every == 0
            self.exchange.log.rest_invalid_rows += invalid
            rows.append(rest_row(r, invalid, best_match))
        return rows


def _one(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise ApiError(400, -1101, f"Duplicate values for parameter '{name}'.")
    return values[0]


def _long(query: dict[str, list[str]], name: str) -> int | None:
    value = _one(query, name)
    if value is None or value == "":
        return None
    if not _LONG.fullmatch(value):
        raise ApiError(
            400,
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.",
        )
    return int(value)


def encode(body: object) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()
