"""FakeExchangeConfig: everything the fake exchange can be told, validated once."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from tradestore._addr import is_loopback
from tradestore._flags import cli, off_if_zero
from tradestore._timeparse import parse_time_ms
from tradestore.binance import DEFAULT_MARKET, Market, market
from tradestore.store import check_symbol


@dataclass(frozen=True)
class FakeExchangeConfig:
    """How the fake exchange serves, what it plays and which faults it injects.

    Times are seconds of the Trio clock, so a test under ``autojump_clock`` runs a day of
    lifetime in milliseconds of wall time. Sources: the first symbol replays ``csv`` if
    given, every symbol replays ``replay_db`` if given, the rest walk randomly from
    ``seed``. Faults (0 / None: off):

    - ``malformed_every=N``: per connection, every Nth data frame is a broken one (cycling
      through the kinds in ``_frames.MALFORMED_KINDS``, named after the parser's reasons),
      inserted before the next trade: no trade is lost to it.
    - ``duplicate_every=N``: per connection, every Nth data frame re-sends that symbol's
      previous trade.
    - ``skip_every=N``: every Nth generated trade of a symbol is sent to nobody; REST has it.
    - ``drop_every=S``: every S seconds every connection is cut (no close frame).
    - ``drop_one_every=S``: every S seconds the connection open the longest is cut (a cut of
      one line, where ``drop_every`` cuts them all at once).
    - ``silent_after=S, silent_for=M``: S seconds into each connection, M seconds without
      data (pings continue); the trades of that window are never sent to it.
    - ``stall_symbol=SYM, stall_after=S, stall_for=M``: S seconds into each connection, M
      seconds (0: until it ends) without that one symbol's trades, while its other streams
      flow: a stuck subscription.
    - ``rest_429_every`` / ``rest_418_every=N``: every Nth REST request (all endpoints) is
      answered 429 / 418 with ``Retry-After: retry_after``.
    - ``rest_invalid_every=N``: REST returns the row of every agg id divisible by N marked
      invalid (``p="0"``, ``q="0"``, ``f=-1``, ``l=-1``), as Binance does for some
      historical rows; WebSocket still sends the real trade.
    """

    host: str = field(
        default="127.0.0.1",
        metadata=cli("address to bind (loopback only, unless --allow-remote)", metavar="HOST"),
    )
    port: int = field(default=0, metadata=cli("port to bind; 0 picks a free one"))
    market: str = field(
        default=DEFAULT_MARKET,
        metadata=cli(
            "the Binance market to impersonate: spot, usdm or coinm (REST paths, weights, "
            "limits, event shape)",
            metavar="spot|usdm|coinm",
        ),
    )
    # None: the market's defaults (BTCUSDT,ETHUSDT; COIN-M: BTCUSD_PERP,ETHUSD_PERP).
    symbols: tuple[str, ...] = field(
        default=None,  # type: ignore[arg-type]  # resolved in __post_init__
        metadata=cli("symbols listed from the start", metavar="S,S"),
    )
    rate: float = field(
        default=10.0, metadata=cli("trades per second per symbol (the mean, with --zipf)")
    )
    # Skew: the symbols share rate x N trades/s by rank k (1 = the first symbol) with
    # weights 1/k^zipf, so a few symbols carry most trades and most trade rarely.
    zipf: float = field(
        default=0.0,
        metadata=cli("share the total rate by Zipf's law with this exponent (0: evenly)"),
    )
    # Bursts: in the middle of every burst_every seconds, burst_for seconds at
    # burst_factor x the rate.
    burst_every: float | None = field(
        default=None,
        metadata=cli("every S seconds a burst of trades", metavar="S", parse=off_if_zero(float)),
    )
    burst_for: float = field(default=5.0, metadata=cli("how long a burst lasts", metavar="S"))
    burst_factor: float = field(default=6.0, metadata=cli("the rate multiplier of a burst"))
    # Listings and delistings while running: "SECONDS:SYMBOL" entries (seconds after start).
    listings: tuple[str, ...] = field(
        default=(),
        metadata=cli(
            "list symbols while running, e.g. 30:NEWUSDT,90:NEW2USDT", metavar="S:SYM,..."
        ),
    )
    delistings: tuple[str, ...] = field(
        default=(),
        metadata=cli("delist symbols while running, e.g. 60:ETHUSDT", metavar="S:SYM,..."),
    )
    # Binance cuts a connection that sends more than the market's limit of messages a
    # second (pongs and control messages alike); False only counts them.
    enforce_message_limit: bool = field(
        default=True,
        metadata=cli(
            "count but do not enforce the limit on incoming messages per second",
            name="--no-message-limit",
        ),
    )
    seed: int = field(default=0, metadata=cli("random-walk seed"))
    start_id: int = field(default=1_000_000, metadata=cli("first synthetic agg id"))
    start_time_ms: int | None = field(
        default=None,
        metadata=cli(
            "exchange time at start: epoch ms or ISO-8601 (default: now)",
            name="--start-time",
            metavar="TIME",
            parse=parse_time_ms,
        ),
    )
    max_trades: int | None = field(
        default=None, metadata=cli("stop after N trades per symbol (default: never)")
    )
    stop_after: float | None = field(
        default=None,
        metadata=cli(
            "stop generating S seconds after the start (default: never)",
            metavar="S",
            parse=off_if_zero(float),
        ),
    )
    start_on_first_subscriber: bool = field(
        default=True,
        metadata=cli(
            "generate from the start, not from the first subscription of each symbol",
            name="--no-wait",
        ),
    )
    csv: Path | None = field(
        default=None,
        metadata=cli("replay a data.binance.vision CSV or ZIP (first symbol)", metavar="FILE"),
    )
    replay_db: Path | None = field(default=None, metadata=cli("replay a trade store"))
    # None: the market's (spot: a ping every 20 s, 60 s to pong; futures: 180 s, 600 s).
    ping_interval: float = field(
        default=None,  # type: ignore[assignment]  # resolved in __post_init__
        metadata=cli("seconds between server pings (default: the market's)", metavar="S"),
    )
    pong_timeout: float = field(
        default=None,  # type: ignore[assignment]  # resolved in __post_init__
        metadata=cli(
            "disconnect a client that has not ponged for S (default: the market's)", metavar="S"
        ),
    )
    lifetime: float = field(
        default=86400.0, metadata=cli("seconds each connection lives", metavar="S")
    )
    # serverShutdown is announced this long before the lifetime ends (None: min(10 s, 10 %)).
    shutdown_notice: float | None = field(
        default=None,
        metadata=cli(
            "seconds between serverShutdown and the end of a connection (default: "
            "min(10, lifetime / 10))",
            metavar="S",
        ),
    )
    drop_every: float | None = field(
        default=None,
        metadata=cli(
            "cut all connections every S seconds",
            metavar="S",
            group="faults",
            parse=off_if_zero(float),
        ),
    )
    drop_one_every: float | None = field(
        default=None,
        metadata=cli(
            "cut the connection open the longest every S seconds",
            metavar="S",
            group="faults",
            parse=off_if_zero(float),
        ),
    )
    silent_after: float | None = field(
        default=None,
        metadata=cli(
            "S seconds into each connection, stop sending data", metavar="S", group="faults"
        ),
    )
    # <= 0 with silent_after set: silent until the connection ends.
    silent_for: float = field(
        default=0.0,
        metadata=cli(
            "how long the silence lasts (0: until the connection ends)", metavar="S", group="faults"
        ),
    )
    stall_symbol: str | None = field(
        default=None,
        metadata=cli(
            "stop sending this one symbol on each connection after --stall-after S while its "
            "other streams flow",
            metavar="SYMBOL",
            group="faults",
        ),
    )
    stall_after: float = field(
        default=0.0,
        metadata=cli(
            "seconds into each connection the --stall-symbol stops", metavar="S", group="faults"
        ),
    )
    stall_for: float = field(
        default=0.0,
        metadata=cli(
            "how long that symbol stays stuck (0: until the connection ends)",
            metavar="S",
            group="faults",
        ),
    )
    malformed_every: int = field(
        default=0, metadata=cli("every Nth frame per connection is malformed", group="faults")
    )
    duplicate_every: int = field(
        default=0,
        metadata=cli("every Nth frame per connection repeats the previous trade", group="faults"),
    )
    skip_every: int = field(
        default=0,
        metadata=cli("every Nth trade is sent to nobody (REST has it)", group="faults"),
    )
    rest_429_every: int = field(
        default=0, metadata=cli("every Nth REST request is answered 429", group="faults")
    )
    rest_418_every: int = field(
        default=0, metadata=cli("every Nth REST request is answered 418", group="faults")
    )
    rest_invalid_every: int = field(
        default=0,
        metadata=cli(
            "REST rows of agg ids divisible by N come back marked invalid (p=0, q=0, f=-1)",
            group="faults",
        ),
    )
    retry_after: int = field(
        default=1,
        metadata=cli("the Retry-After of 429/418 answers", metavar="S", group="faults"),
    )
    # Binance's REQUEST_WEIGHT limit per minute (None: the market's); above it every
    # call gets a 429.
    rest_weight_limit: int = field(
        default=None,  # type: ignore[assignment]  # resolved in __post_init__
        metadata=cli("REST request weight allowed per minute (default: the market's)"),
    )
    # Frames waiting for one connection; a client that lets more pile up is disconnected.
    queue_size: int = field(
        default=4096, metadata=cli("frames queued per connection before it is dropped")
    )
    # Trades kept per symbol for REST and history(); the oldest go first (~0.4 KB each).
    history_limit: int | None = field(
        default=1_000_000,
        metadata=cli("trades kept per symbol for REST (0: all)", parse=off_if_zero(int)),
    )
    allow_remote: bool = field(
        default=False,
        metadata=cli("allow a --host that is not loopback (anyone who can reach it can connect)"),
    )

    def __post_init__(self) -> None:
        info = market(self.market)  # ValueError naming the choices
        set_ = object.__setattr__
        symbols = info.default_symbols if self.symbols is None else self.symbols
        if isinstance(symbols, str):
            symbols = tuple(symbols.split(","))
        symbols = tuple(dict.fromkeys(check_symbol(s) for s in symbols if s.strip()))
        if not symbols:
            raise ValueError("at least one symbol is needed")
        set_(self, "symbols", symbols)
        if self.ping_interval is None:
            set_(self, "ping_interval", info.ping_interval_s)
        if self.pong_timeout is None:
            set_(self, "pong_timeout", info.pong_timeout_s)
        if self.rest_weight_limit is None:
            set_(self, "rest_weight_limit", info.weight_per_minute)
        for name in ("listings", "delistings"):
            value = getattr(self, name)
            entries = value.split(",") if isinstance(value, str) else value
            set_(self, name, tuple(_schedule_entry(e, name) for e in entries if str(e).strip()))
        for name in ("csv", "replay_db"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, Path(value))
        if self.csv is not None and self.replay_db is not None:
            raise ValueError("give csv or replay_db, not both")
        if not self.allow_remote and not is_loopback(self.host):
            raise ValueError(
                f"host {self.host!r} is not a loopback address (allow_remote=True to serve it)"
            )
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port {self.port} out of range")
        _positive("rate", self.rate)
        if not (math.isfinite(self.zipf) and self.zipf >= 0):
            raise ValueError("zipf must be >= 0 (0: every symbol at the same rate)")
        if self.burst_every is not None:
            _positive("burst_every", self.burst_every)
            _positive("burst_for", self.burst_for)
            if self.burst_for >= self.burst_every:
                raise ValueError("burst_for must be shorter than burst_every")
        _positive("burst_factor", self.burst_factor)
        _positive("ping_interval", self.ping_interval)
        _positive("pong_timeout", self.pong_timeout)
        _positive("lifetime", self.lifetime)
        if self.drop_every is not None:
            _positive("drop_every", self.drop_every)
        if self.drop_one_every is not None:
            _positive("drop_one_every", self.drop_one_every)
        if self.stall_symbol is not None:
            object.__setattr__(self, "stall_symbol", check_symbol(self.stall_symbol))
            if self.stall_symbol not in symbols:
                raise ValueError(f"stall_symbol {self.stall_symbol} is not one of the symbols")
        if not (math.isfinite(self.stall_after) and self.stall_after >= 0):
            raise ValueError("stall_after must be >= 0")
        if self.silent_after is not None and not self.silent_after >= 0:
            raise ValueError("silent_after must be >= 0")
        if self.shutdown_notice is not None and not 0 <= self.shutdown_notice <= self.lifetime:
            raise ValueError("shutdown_notice must lie between 0 and lifetime")
        if self.stop_after is not None:
            _positive("stop_after", self.stop_after)
        if self.max_trades is not None and self.max_trades < 0:
            raise ValueError("max_trades must be >= 0")
        if self.start_id < 0:
            raise ValueError("start_id must be >= 0")
        for name in (
            "malformed_every",
            "duplicate_every",
            "skip_every",
            "rest_429_every",
            "rest_418_every",
            "rest_invalid_every",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0 (0 turns it off)")
        for name in ("malformed_every", "duplicate_every", "skip_every"):
            if getattr(self, name) == 1:
                raise ValueError(f"{name}=1 would leave no room for trades (use 0 for off)")
        if self.rest_weight_limit < 1:
            raise ValueError("rest_weight_limit must be >= 1")
        if self.retry_after < 0:
            raise ValueError("retry_after must be >= 0")
        if self.queue_size < 1:
            raise ValueError("queue_size must be >= 1")
        if self.history_limit is not None and self.history_limit < 1:
            raise ValueError("history_limit must be >= 1 (None keeps everything)")

    @property
    def market_info(self) -> Market:
        return market(self.market)

    def schedule(self) -> list[tuple[float, str, str]]:
        """(seconds after start, "list" or "delist", symbol), in time order."""
        events = [(*_split_entry(e), "list") for e in self.listings]
        events += [(*_split_entry(e), "delist") for e in self.delistings]
        return sorted((at, kind, symbol) for at, symbol, kind in events)

    @property
    def notice(self) -> float:
        """Seconds between the serverShutdown event and the end of a connection."""
        if self.shutdown_notice is not None:
            return self.shutdown_notice
        return min(10.0, self.lifetime / 10)


def _schedule_entry(entry: str, name: str) -> str:
    """Validate and normalise one "SECONDS:SYMBOL" entry."""
    at, sep, symbol = str(entry).strip().partition(":")
    try:
        seconds = float(at)
    except ValueError:
        seconds = math.nan
    if not sep or not (math.isfinite(seconds) and seconds >= 0):
        raise ValueError(f"{name}: {entry!r} is not SECONDS:SYMBOL (e.g. 30:NEWUSDT)")
    return f"{seconds:g}:{check_symbol(symbol)}"


def _split_entry(entry: str) -> tuple[float, str]:
    at, _sep, symbol = entry.partition(":")
    return float(at), symbol


def _positive(name: str, value: float) -> None:
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a positive number, not {value!r}")
