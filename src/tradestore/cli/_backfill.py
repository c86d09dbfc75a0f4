"""``backfill``: fetch missing trades from Binance REST into the store."""

from __future__ import annotations

import argparse
import sys
import time

from tradestore.cli import _common as c

GIVE_UP_AFTER_S = 60.0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "backfill",
        help="fetch missing agg ids from Binance REST (an id range, or every open gap)",
        description="Fetch trades from GET aggTrades (/api/v3, /fapi/v1 or /dapi/v1: the "
        "market the DB records) by agg id and store them in the "
        "live format. With --from-id/--to-id, that range; without, every open gap recorded "
        "for --symbol (or for all symbols), marking each filled or unfillable. Honours "
        "Binance's weight limits and Retry-After. When the exchange does not answer at all "
        "(no network, DNS, a refused connection) it retries for --give-up-after seconds, "
        "then says why and exits 1 with nothing more stored. The running daemon backfills "
        "by itself; this command needs the DB not to be held by a daemon.",
    )
    c.add_db(p, create=True)
    c.add_symbol(p, required=False)
    p.add_argument("--from-id", type=int, metavar="A", help="first agg id to fetch")
    p.add_argument("--to-id", type=int, metavar="B", help="last agg id to fetch (inclusive)")
    p.add_argument(
        "--rest-endpoint",
        default=None,
        metavar="HTTP_BASE_URL",
        help="the part before /api/v3/... (default: the DB's market's, e.g. "
        "https://api.binance.com for spot)",
    )
    p.add_argument(
        "--give-up-after",
        type=float,
        default=GIVE_UP_AFTER_S,
        metavar="SECONDS",
        help="stop when the exchange has not answered at all for this long (default: "
        f"{GIVE_UP_AFTER_S:g})",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import trio

    from tradestore.binance import ExchangeUnreachable

    if (args.from_id is None) != (args.to_id is None):
        raise c.UsageError("give both --from-id and --to-id, or neither (to fill open gaps)")
    if args.from_id is not None:
        if args.symbol is None:
            raise c.UsageError("--from-id/--to-id need --symbol")
        if args.from_id < 0 or args.to_id < args.from_id:
            raise c.UsageError("need 0 <= --from-id <= --to-id")
    if args.rest_endpoint is not None and not args.rest_endpoint.startswith(
        ("http://", "https://")
    ):
        raise c.UsageError(f"--rest-endpoint must be an http(s) URL, not {args.rest_endpoint!r}")
    if not args.give_up_after > 0:
        raise c.UsageError("--give-up-after must be a positive number of seconds")
    symbol = c.symbol_arg(args) if args.symbol else None
    with c.open_writer(args) as store:
        try:
            return trio.run(_backfill, store, args, symbol)
        except ExchangeUnreachable as exc:
            print(_unreachable(exc), file=sys.stderr)
            return 1


def _unreachable(exc) -> str:
    """Why the exchange did not answer, in ``run``'s words, and where to turn."""
    import httpx

    from tradestore.recorder._diagnose import OFFLINE_HINT, explain

    url = httpx.URL(exc.url)
    port = url.port or (443 if url.scheme == "https" else 80)
    why = explain(exc, url.host, port) or str(exc.__cause__ or exc)
    return (
        f"{why}. {OFFLINE_HINT}\ntradestore-trio backfill: gave up: {exc}; nothing more was stored"
    )


async def _backfill(store, args, symbol: str | None) -> int:
    from tradestore.binance import MARKETS, BinanceRest, RestError, backfill_range, fill_gap

    failed = 0
    market = MARKETS[store.market() or "spot"]
    rest_endpoint = args.rest_endpoint or market.rest_url
    async with BinanceRest(rest_endpoint, market=market, give_up_after=args.give_up_after) as rest:
        if args.from_id is not None:
            assert symbol is not None  # run() refuses --from-id without --symbol
            try:
                result = await backfill_range(store, rest, symbol, args.from_id, args.to_id)
            except RestError as exc:
                raise c.UsageError(str(exc)) from None
            print(
                f"{symbol}: {result.stored} trades stored for ids {args.from_id}..{args.to_id}, "
                f"{result.invalid_skipped} invalid rows skipped, "
                f"{sum(b - a + 1 for a, b in result.missing)} ids not returned by the exchange"
            )
            return 0
        symbols = [symbol] if symbol else store.symbols()
        for sym in symbols:
            for gap in store.gaps(sym):
                if gap.status != "open":
                    continue
                started = time.monotonic()
                updated = await fill_gap(store, rest, sym, gap)
                failed += updated.status == "open"
                print(
                    f"{sym}: gap {gap.first_id}..{gap.last_id} ({gap.size} ids) -> {updated.status}"
                    f"{': ' + updated.reason if updated.reason else ''} "
                    f"[{time.monotonic() - started:.1f} s]"
                )
    print(
        f"REST: {rest.stats.calls} calls, {rest.stats.rate_limited} rate-limited, waited {rest.stats.waited_s:.0f} s"
    )
    return 1 if failed else 0
