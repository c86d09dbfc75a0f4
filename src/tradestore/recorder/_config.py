"""RecorderConfig: defaults < TOML file < ``TRADESTORE_*`` environment < command-line flags.

Every field has a default that works against the real Binance with no configuration at
all. The TOML file is flat (``key = value`` with the field names below); an unknown key is
an error naming the key, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tradestore._errors import BadInput
from tradestore._flags import cli
from tradestore.binance import DEFAULT_MARKET, MARKETS, Market, market
from tradestore.recorder._shard import own_symbols, parse_shard
from tradestore.store import DEFAULT_PATH, check_symbol

ENV_PREFIX = "TRADESTORE_"
# ``symbols = ALL``: every trading symbol of the market, kept current from exchangeInfo.
ALL = "ALL"


class ConfigError(BadInput, ValueError):
    """A configuration value (from any source) that cannot be used."""


@dataclass(frozen=True, slots=True)
class RecorderConfig:
    """Everything ``tradestore-trio run`` needs; validated and normalised on creation."""

    # None: the market's defaults (BTCUSDT,ETHUSDT; COIN-M: BTCUSD_PERP,ETHUSD_PERP).
    symbols: tuple[str, ...] = field(
        default=None,  # type: ignore[arg-type]  # resolved in __post_init__
        metadata=cli(
            "symbols to record, or ALL for every trading symbol of the market, kept current "
            "from its exchangeInfo (default: BTCUSDT,ETHUSDT; coinm: BTCUSD_PERP,ETHUSD_PERP)",
            metavar="S,S|ALL",
        ),
    )
    quote: tuple[str, ...] = field(
        default=(),
        metadata=cli(
            "with --symbols ALL: only symbols quoted in these assets, e.g. USDT or USDT,FDUSD",
            metavar="ASSET,ASSET",
        ),
    )
    market: str = field(
        default=DEFAULT_MARKET,
        metadata=cli(
            "the Binance market: spot, usdm (USD-M futures) or coinm (COIN-M futures); it "
            "picks the default hosts, REST paths, weights and limits. One database per market",
            metavar="spot|usdm|coinm",
        ),
    )
    # None: the market's (spot: wss://stream.binance.com:9443, https://api.binance.com).
    endpoint: str = field(
        default=None,  # type: ignore[assignment]  # resolved in __post_init__
        metadata=cli(
            "WebSocket base URL, the part before /ws or /stream (default: the market's, "
            "e.g. wss://stream.binance.com:9443 for spot)",
            metavar="WS_BASE_URL",
        ),
    )
    rest_endpoint: str = field(
        default=None,  # type: ignore[assignment]  # resolved in __post_init__
        metadata=cli(
            "REST base URL, the part before /api/v3, /fapi/v1 or /dapi/v1 (default: the "
            "market's, e.g. https://api.binance.com for spot)",
            metavar="HTTP_BASE_URL",
        ),
    )
    # With symbols = ALL: how often the market's exchangeInfo is read again for listings
    # and delistings (spot: weight 20 a read, 0.3 % of the minute's budget at 60 s).
    exchange_info_interval: float = field(
        default=60.0,
        metadata=cli("with --symbols ALL: seconds between two reads of exchangeInfo", metavar="S"),
    )
    db: str = field(default=DEFAULT_PATH, metadata=cli("the store directory", metavar="PATH"))
    metrics_addr: str | None = field(
        default=None, metadata=cli("serve /metrics and /healthz", metavar="HOST:PORT")
    )
    # The HTTP JSON API (tradestore.api) over the store being recorded, read-only. Loopback
    # only: beyond this machine, run `tradestore-trio serve --token-file` beside the daemon.
    api_addr: str | None = field(
        default=None,
        metadata=cli(
            "also serve the read-only HTTP JSON API (/api/v1/...) on a loopback address",
            metavar="HOST:PORT",
        ),
    )
    backfill: bool = field(
        default=True, metadata=cli("do not fill gaps from the REST API", name="--no-backfill")
    )
    log_format: str = field(
        default="text", metadata=cli("log lines as text or json", metavar="text|json")
    )
    # Retention: delete trades as they age past this many days (0 keeps everything); never
    # what was already older when stored (imported or adopted history). At start, then
    # every prune_interval. The rule lives in tradestore.store._retention.
    retention_days: float = field(
        default=7.0,
        metadata=cli(
            "delete trades as they age past N days, hourly (0 keeps everything; history that "
            "was already older when imported is kept)",
            metavar="N",
        ),
    )
    # The price-level rollups outlive the trades: the analytics answer exactly over this
    # many days (0 keeps them for ever), from the rollups where the trades are gone.
    rollup_retention_days: float = field(
        default=400.0,
        metadata=cli(
            "keep the price-level rollups N days (the analytics answer over them after the "
            "trades are deleted; 0 keeps them for ever; at least retention_days)",
            metavar="N",
        ),
    )
    prune_interval: float = 3600.0
    # Scale-out: N hosts share one symbol list, each records its own stable share.
    shard: str | None = field(
        default=None,
        metadata=cli(
            "record only this host's share of the symbols: I of N hosts (1-based, stable "
            "by symbol name; see docs/SCALING.md)",
            metavar="I/N",
        ),
    )
    # The cold archive: closed UTC days as Parquet partitions (local path or s3://).
    archive_to: str | None = field(
        default=None,
        metadata=cli(
            "archive each closed UTC day to this directory or s3://bucket/prefix; retention "
            "then deletes only days archived and verified",
            metavar="DEST",
        ),
    )
    # A day is archived this long after it ends (UTC), so late backfills make it in.
    archive_grace: float = field(
        default=3600.0,
        metadata=cli("seconds after a UTC day ends before it is archived", metavar="S"),
    )
    archive_interval: float = 900.0
    # Streams: combined /stream?streams=... sharded per connection, or one /ws/<s> each.
    per_symbol_streams: bool = field(
        default=False,
        metadata=cli("one /ws/<symbol>@aggTrade connection per symbol instead of combined streams"),
    )
    max_streams_per_connection: int = 200
    # A/B lines: every connection's streams also on a second connection (line B), opened
    # line_b_delay seconds later (so the two never reconnect or rotate in step), optionally
    # from another local address; each agg id is taken from whichever line delivers it
    # first, so a cut, stall or rotation of one line leaves no hole.
    ab_lines: bool = field(
        default=False,
        metadata=cli(
            "subscribe every stream on two connections (A/B lines) and take each trade from "
            "whichever delivers it first: a cut of one line leaves no gap"
        ),
    )
    line_b_delay: float = 5.0
    line_b_local_address: str | None = field(
        default=None,
        metadata=cli("local address line B connects from (e.g. a second interface)", metavar="IP"),
    )
    # A jump in the agg ids seen on one line waits this long for another live line to
    # deliver the missing ids before it is recorded as a gap (only while one could).
    arbitration_hold: float = 1.0
    # Batching: flush every interval (on a fixed grid), early at flush_max_trades buffered.
    flush_interval: float = 1.0
    flush_max_trades: int = 10_000
    # Last resort when the disk stalls: stop taking frames (the exchange will eventually
    # drop us and the hole becomes a recorded gap) rather than grow memory without bound.
    max_buffered_trades: int = 500_000
    frame_queue_size: int = 4096
    # A store that refuses every write (disk full) is reopened and retried with backoff;
    # after this many seconds of nothing but failures the daemon gives up and exits 1.
    write_failure_timeout: float = 300.0
    # Seconds between giving freed memory back to the system (glibc malloc_trim, after a
    # flush); 0 never does.
    memory_trim_interval: float = 10.0
    # Seconds a thread holds Python's GIL before one that waits takes it
    # (sys.setswitchinterval; Python's default is 0.005), set by `tradestore-trio run`.
    # The event loop and the writer thread share the GIL. A running write goes first
    # (Batcher.write_first), so the intake does not contend with it; what remains is the
    # rest of the event loop (timers, REST, /metrics) beside a write, and a busy event
    # loop beside the writer's other work. Switching less often spares both the cost of
    # each switch, at the price of up to this much delay for the other thread. Measured
    # with write-first (whole-market benchmark, 5 min, 2,000 symbols): at 0.02 worst
    # flush 83 ms, 0 slow-client drops, 4 gaps (all filled); at Python's 0.005, 89 ms,
    # 3 drops, 604 gaps.
    gil_switch_interval: float = 0.02
    # Reconnect: exponential backoff with full jitter, reset after a healthy connection.
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    healthy_after: float = 60.0
    # Process-wide budget, under Binance's 300 connection attempts per 5 minutes per IP.
    connect_budget: int = 250
    connect_budget_window: float = 300.0
    connect_timeout: float = 15.0
    # Data watchdog: recycle a connection silent for max(floor, factor x mean inter-arrival).
    watchdog_floor: float = 30.0
    watchdog_factor: float = 10.0
    watchdog_max: float = 900.0
    shutdown_grace: float = 10.0
    # Rotation: Binance cuts every connection at 24 h; we replace it make-before-break
    # before that (23 h 50 m), keeping old and new open for rotation_overlap seconds.
    rotate_after: float = 85_800.0
    rotation_overlap: float = 1.0
    # Backfill: gaps waiting for REST (beyond it they stay open in the DB and are picked
    # up again by the next scan), and the delay before a failed fill is retried.
    backfill_queue_size: int = 1000
    backfill_retry: float = 60.0
    # Backfill reaches back at most this many days, and never past the retention window:
    # the older part of a hole (a resume point months old) is recorded once as unfillable,
    # for an import of data.binance.vision's daily files, instead of millions of REST
    # calls. A day of BTCUSDT is ~1.5M ids: ~1,500 requests, about a minute of weight.
    backfill_max_days: float = 1.0
    backfill_concurrency: int = 4  # REST requests of the backfill running at once
    # Share of the market's REST weight per minute the daemon may use (backfill, stall
    # checks and exchangeInfo together; the exchange reports the IP's use), leaving the
    # rest to other tools on the same IP; stall checks may use stall_check_share of it.
    # Under half, with room for two requests that each see the budget free just before
    # the other lands.
    rest_weight_share: float = 0.45
    # Stall checks: a symbol silent for max(stall_floor, stall_factor x its mean interval
    # between trades) -- at most stall_max -- is checked against the exchange's latest
    # trade (one cheap REST request). Newer ids there: a confirmed stall, the hole is
    # recorded and backfilled and the connection replaced. None: merely quiet, and the
    # next check of that symbol waits twice as long (up to stall_recheck_max).
    stall_check: bool = field(
        default=True,
        metadata=cli(
            "do not check silent symbols against the exchange (nor catch up at start)",
            name="--no-stall-check",
        ),
    )
    stall_floor: float = 60.0
    stall_factor: float = 30.0
    stall_max: float = 900.0
    stall_recheck_max: float = 3600.0
    stall_check_share: float = 0.1
    # /healthz: 503 when no line of a connection was open, or a confirmed stall stayed
    # unrepaired, for this many seconds (a quiet market never makes it unhealthy).
    health_stale_after: float = 120.0
    # Event lag (receive time - trade time) outside [-clock_skew_tolerance,
    # event_lag_plausible] on most symbols logs a clock-skew warning.
    clock_skew_tolerance: float = 2.0
    event_lag_plausible: float = 60.0

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        try:
            info = market(self.market)
        except ValueError as exc:
            raise ConfigError(f"market: {exc}") from None
        symbols = info.default_symbols if self.symbols is None else self.symbols
        if isinstance(symbols, str):
            symbols = symbols.split(",")
        names = [str(s).strip() for s in symbols if str(s).strip()]
        if any(n.upper() == ALL for n in names):
            if len(names) > 1:
                raise ConfigError("symbols: ALL stands alone (it means every symbol)")
            normal: tuple[str, ...] = (ALL,)
        else:
            try:
                normal = tuple(dict.fromkeys(check_symbol(s) for s in names))
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"symbols: {exc}") from None
        if not normal:
            raise ConfigError("symbols: at least one symbol is required")
        if self.shard is not None:
            try:
                shard = parse_shard(self.shard)
            except ValueError as exc:
                raise ConfigError(f"shard: {exc}") from None
            set_(self, "shard", f"{shard[0]}/{shard[1]}")
            # With ALL, the shard filters what exchangeInfo lists (recorder/_universe.py).
            own = normal if normal == (ALL,) else own_symbols(normal, shard)
            if not own:
                raise ConfigError(
                    f"shard: {self.shard} records none of the {len(normal)} symbols "
                    f"({', '.join(normal[:5])}{', ...' if len(normal) > 5 else ''})"
                )
            normal = own
        set_(self, "symbols", normal)
        quote = self.quote.split(",") if isinstance(self.quote, str) else self.quote
        quote = tuple(dict.fromkeys(str(q).strip().upper() for q in quote if str(q).strip()))
        for asset in quote:
            if not (asset.isascii() and asset.isalnum()):
                raise ConfigError(f"quote: {asset!r} is not an asset name like USDT")
        if quote and normal != (ALL,):
            raise ConfigError("quote: only applies with symbols = ALL")
        set_(self, "quote", quote)
        endpoint = info.ws_url if self.endpoint is None else self.endpoint
        rest_endpoint = info.rest_url if self.rest_endpoint is None else self.rest_endpoint
        set_(self, "endpoint", _url(endpoint, "endpoint", ("ws", "wss")))
        set_(self, "rest_endpoint", _url(rest_endpoint, "rest_endpoint", ("http", "https")))
        _same_market(info, self.endpoint, self.rest_endpoint)
        if not str(self.db).strip():
            raise ConfigError("db: empty path")
        set_(self, "db", str(self.db))
        if self.metrics_addr is not None:
            _host_port(self.metrics_addr)
        if self.api_addr is not None:
            _loopback(_host_port(self.api_addr, "api_addr")[0], "api_addr")
        if self.log_format not in ("text", "json"):
            raise ConfigError(f"log_format: {self.log_format!r} is not 'text' or 'json'")
        if not 1 <= self.max_streams_per_connection <= info.max_streams_per_connection:
            raise ConfigError(
                f"max_streams_per_connection: {self.max_streams_per_connection} is not "
                f"within 1..{info.max_streams_per_connection} ({info.title}'s limit)"
            )
        for name in (
            "flush_max_trades",
            "max_buffered_trades",
            "frame_queue_size",
            "backfill_queue_size",
            "backfill_concurrency",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: must be >= 1")
        if not (math.isfinite(self.gil_switch_interval) and 0 < self.gil_switch_interval <= 0.1):
            raise ConfigError(
                f"gil_switch_interval: must be more than 0 and at most 0.1 s, "
                f"not {self.gil_switch_interval!r}"
            )
        if not (math.isfinite(self.memory_trim_interval) and self.memory_trim_interval >= 0):
            raise ConfigError(
                f"memory_trim_interval: must be 0 (never) or a positive number of seconds, "
                f"not {self.memory_trim_interval!r}"
            )
        if self.max_buffered_trades < self.flush_max_trades:
            raise ConfigError("max_buffered_trades: must be >= flush_max_trades")
        if not 1 <= self.connect_budget <= info.max_connects_per_window:
            raise ConfigError(
                f"connect_budget: must be within 1..{info.max_connects_per_window} "
                f"({info.title} allows {info.max_connects_per_window} connections per "
                f"{info.connect_window_s:.0f} s per IP)"
            )
        for name in (
            "prune_interval",
            "flush_interval",
            "write_failure_timeout",
            "backoff_initial",
            "backoff_max",
            "connect_budget_window",
            "connect_timeout",
            "watchdog_floor",
            "watchdog_factor",
            "watchdog_max",
            "shutdown_grace",
            "rotate_after",
            "rotation_overlap",
            "backfill_retry",
            "backfill_max_days",
            "health_stale_after",
            "exchange_info_interval",
            "archive_interval",
            "line_b_delay",
            "arbitration_hold",
            "stall_floor",
            "stall_factor",
            "stall_max",
            "stall_recheck_max",
            "clock_skew_tolerance",
            "event_lag_plausible",
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{name}: must be a positive number, not {value!r}")
        if not (math.isfinite(self.retention_days) and self.retention_days >= 0):
            raise ConfigError("retention_days: must be >= 0 (0 keeps everything)")
        if not (math.isfinite(self.rollup_retention_days) and self.rollup_retention_days >= 0):
            raise ConfigError("rollup_retention_days: must be >= 0 (0 keeps them for ever)")
        if 0 < self.rollup_retention_days < self.retention_days:
            raise ConfigError(
                f"rollup_retention_days ({self.rollup_retention_days:g}) must be at least "
                f"retention_days ({self.retention_days:g}), or 0: the rollups outlive the "
                "trades they summarise, never the reverse"
            )
        if not (math.isfinite(self.archive_grace) and self.archive_grace >= 0):
            raise ConfigError("archive_grace: must be >= 0 seconds")
        if self.archive_to is not None:
            if not str(self.archive_to).strip():
                raise ConfigError("archive_to: empty destination")
            _check_archive(self.archive_to)
        if self.healthy_after < 0:
            raise ConfigError("healthy_after: must be >= 0")
        if self.backoff_max < self.backoff_initial:
            raise ConfigError("backoff_max: must be >= backoff_initial")
        if self.watchdog_max < self.watchdog_floor:
            raise ConfigError("watchdog_max: must be >= watchdog_floor")
        if self.stall_max < self.stall_floor:
            raise ConfigError("stall_max: must be >= stall_floor")
        for name in ("rest_weight_share", "stall_check_share"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0 < value <= 1):
                raise ConfigError(f"{name}: must be a fraction in (0, 1], not {value!r}")
        if self.line_b_local_address is not None:
            try:
                ipaddress.ip_address(self.line_b_local_address)
            except ValueError:
                raise ConfigError(
                    f"line_b_local_address: {self.line_b_local_address!r} is not an IP address"
                ) from None

    # ------------------------------------------------------------------ sources

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, source: str = "config") -> RecorderConfig:
        """Build from field-name -> value pairs, rejecting unknown names and wrong types."""
        known = {f.name: f for f in fields(cls)}
        kwargs = {}
        for key, value in values.items():
            if key not in known:
                raise ConfigError(f"{source}: unknown key {key!r}")
            kwargs[key] = _coerce(known[key], value, f"{source}: {key}")
        return cls(**kwargs)

    @classmethod
    def load(
        cls,
        *,
        config_file: str | os.PathLike | None = None,
        environ: Mapping[str, str] | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> RecorderConfig:
        """defaults < TOML file < TRADESTORE_* environment < overrides (the set flags)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        if config_file is None:
            config_file = environ.get(ENV_PREFIX + "CONFIG") or None
        if config_file is not None:
            values.update(read_toml(config_file))
        values.update(env_values(environ))
        values.update(overrides or {})
        return cls.from_mapping(values)

    def replace(self, **changes: Any) -> RecorderConfig:
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------ output

    def to_toml(self) -> str:
        """The effective configuration as a TOML file that ``--config`` reads back."""
        lines = ["# tradestore-trio run: effective configuration"]
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                lines.append(f"# {f.name} = (unset)")
            else:
                lines.append(f"{f.name} = {_toml_value(value)}")
        return "\n".join(lines) + "\n"

    @property
    def market_info(self) -> Market:
        """The market's hosts, paths, weights and limits."""
        return MARKETS[self.market]

    @property
    def rest_weight_budget(self) -> int:
        """The REST weight per minute the recorder may use."""
        return max(1, int(self.market_info.weight_per_minute * self.rest_weight_share))

    @property
    def follow_all(self) -> bool:
        """True with ``symbols = ALL``: the symbol list comes from exchangeInfo."""
        return self.symbols == (ALL,)

    @property
    def db_path(self) -> Path:
        return Path(self.db)

    @property
    def backfill_horizon_days(self) -> float:
        """How far back backfill fetches: backfill_max_days, within the retention window."""
        if self.retention_days > 0:
            return min(self.backfill_max_days, self.retention_days)
        return self.backfill_max_days


def read_toml(path: str | os.PathLike) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path}: not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror}") from None
    known = {f.name for f in fields(RecorderConfig)}
    for key in doc:
        if key not in known:
            raise ConfigError(f"config file {path}: unknown key {key!r}")
    return doc


# TRADESTORE_* variables that are not settings of the recorder.
OTHER_VARIABLES = frozenset({"TRADESTORE_CONFIG", "TRADESTORE_NO_EXTENSIONS"})


def env_values(environ: Mapping[str, str]) -> dict[str, str]:
    """Field values from TRADESTORE_<FIELD> variables (TRADESTORE_CONFIG names the file).

    Any other TRADESTORE_* variable is an error naming it, as an unknown key of the file
    is: a mistyped ``TRADESTORE_SYMBOL`` must not silently leave the default in force."""
    names = {ENV_PREFIX + f.name.upper(): f.name for f in fields(RecorderConfig)}
    for variable in environ:
        if variable.startswith(ENV_PREFIX) and variable not in names.keys() | OTHER_VARIABLES:
            close = difflib.get_close_matches(variable, list(names), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(
                f"unknown environment variable {variable}{hint}; the settings are "
                "TRADESTORE_<KEY> for the keys of --print-config"
            )
    found = {}
    for variable, name in names.items():
        raw = environ.get(variable)
        if raw is not None and raw != "":
            found[name] = raw
    return found


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _coerce(f: dataclasses.Field, value: Any, where: str) -> Any:
    """TOML values keep their type (checked); environment strings are converted."""
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    try:
        if kind == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
                return value.strip().lower() in _TRUE
            raise ValueError(f"{value!r} is not a boolean")
        if kind == "int":
            if isinstance(value, bool) or not isinstance(value, int | str):
                raise ValueError(f"{value!r} is not an integer")
            return int(value)
        if kind == "float":
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise ValueError(f"{value!r} is not a number")
            return float(value)
        if kind == "tuple[str, ...]":
            if isinstance(value, str):
                return tuple(value.split(","))
            if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
                return tuple(value)
            raise ValueError(f"{value!r} is not a list of strings")
        if kind in ("str", "str | None"):
            if not isinstance(value, str):
                raise ValueError(f"{value!r} is not a string")
            return value
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    raise AssertionError(f"unhandled config field type {kind}")  # a new field needs a case


def _url(value: str, name: str, schemes: tuple[str, ...]) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{name}: not a string")
    url = value.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in schemes or not parts.hostname:
        raise ConfigError(f"{name}: {value!r} is not a {'/'.join(schemes)}:// URL")
    if parts.query or parts.fragment:
        raise ConfigError(f"{name}: {value!r} must be a base URL (no query or fragment)")
    return url


def _same_market(info: Market, endpoint: str, rest_endpoint: str) -> None:
    """Refuse another market's default host: a config written for spot and switched to
    usdm would otherwise record spot trades as futures."""
    for other in MARKETS.values():
        if other is info:
            continue
        for name, url, theirs in (
            ("endpoint", endpoint, other.ws_url),
            ("rest_endpoint", rest_endpoint, other.rest_url),
        ):
            if url == theirs:
                raise ConfigError(
                    f"{name}: {url} is {other.title}'s, but market is {info.name} "
                    f"(remove {name} to use {info.title}'s)"
                )


def _check_archive(url: str) -> None:
    """The destination parses and pyarrow is there, so a typo fails at start, not a day later."""
    from tradestore.archive import Destination, DestinationError

    try:
        Destination(url)
    except ImportError:
        raise ConfigError(
            "archive_to: the archive needs pyarrow: pip install 'tradestore-trio[parquet]'"
        ) from None
    except DestinationError as exc:
        raise ConfigError(f"archive_to: {exc}") from None


def _host_port(addr: str, name: str = "metrics_addr") -> tuple[str, int]:
    host, sep, port = str(addr).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{name}: {addr!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def _loopback(host: str, name: str) -> None:
    from tradestore._addr import is_loopback

    if not is_loopback(host):
        raise ConfigError(
            f"{name}: {host} is not a loopback address; the recorder serves its API on this "
            "machine only (run `tradestore-trio serve --token-file` to serve it further)"
        )


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")
