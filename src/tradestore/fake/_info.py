"""The fake exchange's ``exchangeInfo``, in the shape Binance gives each market.

Stock clients (ccxt, python-binance) load markets from it before anything else, so every
field they read is there: rate limits, filters with Binance's names and decimal-string
values, assets, precisions, status (COIN-M: ``contractStatus``), order types. The
synthetic trades have 2-decimal prices and quantities of up to 8 decimals; the filters
say so.
"""

from __future__ import annotations

from tradestore.binance import Market

# Quote assets recognised when splitting a symbol into base and quote, longest first.
QUOTE_ASSETS = (
    "FDUSD", "USDT", "USDC", "TUSD", "BUSD", "USDP", "DAI", "EUR", "TRY", "BRL", "JPY",
    "BTC", "ETH", "BNB", "USD",
)  # fmt: skip
# Far in the future: Binance's deliveryDate of a perpetual contract.
PERPETUAL_DELIVERY_MS = 4133404800000
ONBOARD_MS = 1569398400000


def split_symbol(symbol: str, market: Market) -> tuple[str, str, str]:
    """(base asset, quote asset, pair) of a symbol: BTCUSDT -> BTC, USDT, BTCUSDT;
    COIN-M BTCUSD_PERP -> BTC, USD, BTCUSD."""
    pair = symbol.split("_", 1)[0]
    for quote in QUOTE_ASSETS:
        if pair.endswith(quote) and len(pair) > len(quote):
            return pair[: -len(quote)], quote, pair
    return pair[:-3] or pair, pair[-3:], pair


def exchange_info(
    market: Market, status: dict[str, str], server_ms: int, weight_limit: int
) -> dict:
    """The exchangeInfo document of ``market`` listing ``status`` (symbol -> status)."""
    doc: dict = {
        "timezone": "UTC",
        "serverTime": server_ms,
        "rateLimits": _rate_limits(market, weight_limit),
        "exchangeFilters": [],
    }
    if market.name == "spot":
        doc["symbols"] = [_spot_symbol(s, st, market) for s, st in status.items()]
        return doc
    doc["futuresType"] = "U_MARGINED" if market.name == "usdm" else "COIN_MARGINED"
    quotes = sorted({split_symbol(s, market)[1] for s in status} | {"USDT"})
    doc["assets"] = [
        {"asset": a, "marginAvailable": True, "autoAssetExchange": "0"} for a in quotes
    ]
    doc["symbols"] = [_futures_symbol(s, st, market) for s, st in status.items()]
    return doc


def _rate_limits(market: Market, weight_limit: int) -> list[dict]:
    limits = [
        {
            "rateLimitType": "REQUEST_WEIGHT",
            "interval": "MINUTE",
            "intervalNum": 1,
            "limit": weight_limit,
        }
    ]
    if market.name == "spot":
        limits += [
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
            {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
        ]  # fmt: skip
    else:
        limits += [
            {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
        ]  # fmt: skip
    return limits


def _spot_symbol(symbol: str, status: str, market: Market) -> dict:
    base, quote, _pair = split_symbol(symbol, market)
    return {
        "symbol": symbol,
        "status": status,
        "baseAsset": base,
        "baseAssetPrecision": 8,
        "quoteAsset": quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": [
            "LIMIT",
            "LIMIT_MAKER",
            "MARKET",
            "STOP_LOSS_LIMIT",
            "TAKE_PROFIT_LIMIT",
        ],  # fmt: skip
        "icebergAllowed": True,
        "ocoAllowed": True,
        "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "amendAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": "0.01000000",
                "maxPrice": "1000000.00000000",
                "tickSize": "0.01000000",
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": "0.00000001",
                "maxQty": "9000.00000000",
                "stepSize": "0.00000001",
            },
            {"filterType": "ICEBERG_PARTS", "limit": 10},
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": "0.00000000",
                "maxQty": "100.00000000",
                "stepSize": "0.00000000",
            },
            {
                "filterType": "TRAILING_DELTA",
                "minTrailingAboveDelta": 10,
                "maxTrailingAboveDelta": 2000,
                "minTrailingBelowDelta": 10,
                "maxTrailingBelowDelta": 2000,
            },
            {
                "filterType": "PERCENT_PRICE_BY_SIDE",
                "bidMultiplierUp": "5",
                "bidMultiplierDown": "0.2",
                "askMultiplierUp": "5",
                "askMultiplierDown": "0.2",
                "avgPriceMins": 5,
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": "5.00000000",
                "applyMinToMarket": True,
                "maxNotional": "9000000.00000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def _futures_symbol(symbol: str, status: str, market: Market) -> dict:
    base, quote, pair = split_symbol(symbol, market)
    coinm = market.name == "coinm"
    row: dict = {
        "symbol": symbol,
        "pair": pair,
        "contractType": "PERPETUAL",
        "deliveryDate": PERPETUAL_DELIVERY_MS,
        "onboardDate": ONBOARD_MS,
        market.status_field: status,
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": base,
        "quoteAsset": quote,
        "marginAsset": base if coinm else quote,
        "pricePrecision": 2,
        "quantityPrecision": 0 if coinm else 8,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": [],
        "triggerProtect": "0.0500",
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": "0.01",
                "maxPrice": "1000000",
                "tickSize": "0.01",
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": "1" if coinm else "0.00000001",
                "maxQty": "1000000",
                "stepSize": "1" if coinm else "0.00000001",
            },
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": "1" if coinm else "0.00000001",
                "maxQty": "100000",
                "stepSize": "1" if coinm else "0.00000001",
            },
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
            {
                "filterType": "PERCENT_PRICE",
                "multiplierUp": "1.0500",
                "multiplierDown": "0.9500",
                "multiplierDecimal": "4",
            },
        ],
        "orderTypes": [
            "LIMIT",
            "MARKET",
            "STOP",
            "STOP_MARKET",
            "TAKE_PROFIT",
            "TAKE_PROFIT_MARKET",
            "TRAILING_STOP_MARKET",
        ],  # fmt: skip
        "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
    }
    if coinm:
        row["contractSize"] = 100 if base == "BTC" else 10
        row["equalQtyPrecision"] = 4
        row["maxMoveOrderLimit"] = 10000
    else:
        row["filters"].append({"filterType": "MIN_NOTIONAL", "notional": "5"})
        row["settlePlan"] = 0
        row["status"] = status
    return row
