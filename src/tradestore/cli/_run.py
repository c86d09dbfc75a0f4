"""``run``: the recorder daemon (SIGTERM/SIGINT flush and exit 0; a second signal exits at
once; SIGHUP re-reads the symbol list)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

import trio

from tradestore._excgroup import first_leaf
from tradestore._flags import add_flags, given_flags
from tradestore.cli import _common as c

log = logging.getLogger("tradestore.cli.run")
OFFLINE_STATUS_EVERY_S = 60.0
OFFLINE_POLL_S = 1.0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "run",
        help="record live aggTrade streams into the store (the daemon)",
        description="Connect to the exchange and record every aggTrade of the symbols into "
        "the store until SIGTERM or Ctrl-C, which flush the buffers and exit 0 (a second "
        "signal exits at once). Settings come from built-in defaults (the real Binance, "
        "BTCUSDT and ETHUSDT, ./tradestore-data), then the TOML file of --config (or "
        "$TRADESTORE_CONFIG), then TRADESTORE_* environment variables (TRADESTORE_SYMBOLS, "
        "TRADESTORE_DB, ... one per key of --print-config), then these flags. The first "
        "start makes the store: --db may be a new path or an empty folder; a file, a "
        "folder holding other things or one that cannot be written is refused (exit 2).",
    )
    from tradestore.recorder import RecorderConfig

    add_flags(p, RecorderConfig)
    p.add_argument("--config", default=None, metavar="FILE", help="a TOML config file")
    p.add_argument(
        "--print-config", action="store_true", help="print the effective config as TOML and exit"
    )
    p.set_defaults(func=run)


def load_config(args: argparse.Namespace, environ=None):
    from tradestore.recorder import ConfigError, RecorderConfig

    overrides = given_flags(args, RecorderConfig)
    try:
        return RecorderConfig.load(config_file=args.config, environ=environ, overrides=overrides)
    except ConfigError as exc:
        raise c.UsageError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    config = load_config(args)
    if args.print_config:
        sys.stdout.write(config.to_toml())
        return 0
    from tradestore.cli._logging import configure

    configure(level=logging.DEBUG if args.verbose >= 2 else logging.INFO, fmt=config.log_format)
    # httpx logs every backfill request at INFO; our own lines say what matters.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # The whole process is the recorder's: its event loop and writer thread share the GIL.
    sys.setswitchinterval(config.gil_switch_interval)
    return trio.run(serve_until_signal, config, lambda: load_config(args))


async def serve_until_signal(config, reload_config=None) -> int:
    """Run the recorder until SIGTERM/SIGINT; 0 after a clean final flush, else 1."""
    from tradestore._errors import BadInput
    from tradestore.recorder import StoreUnavailable
    from tradestore.recorder import run as run_recorder
    from tradestore.store import StoreError

    holder: list = []
    status = 0
    reload = None
    if reload_config is not None:

        async def reload() -> None:
            if holder:
                await reload_symbols(holder[0], reload_config)

    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
        async with trio.open_nursery() as outer:
            daemon_scope = trio.CancelScope()
            outer.start_soon(_watch_signals, signals, daemon_scope, reload)
            try:
                with daemon_scope:
                    async with trio.open_nursery() as inner:
                        holder.append(await inner.start(run_recorder, config))
                        inner.start_soon(watch_offline, holder[0], config.endpoint)
            except* BadInput as group:
                # Bad input found once the store or the exchange could be asked (a market
                # other than the store's, a --db that cannot hold the store): exit 2 as
                # for any command, nothing recorded.
                print(f"tradestore-trio run: {first_leaf(group)}", file=sys.stderr)
                status = 2
            except* StoreUnavailable as group:
                log.error(
                    "giving up: %s. Exiting 1 with the buffered trades unwritten; once the "
                    "store can be written again, a restart resumes after the last stored id "
                    "and backfills the hole",
                    first_leaf(group),
                )
                status = 1
            except* StoreError as group:
                text = str(first_leaf(group))
                if "lock" in text.lower():
                    text = f"{config.db} is in use by another process (a running daemon?)"
                log.error("%s", text)
                status = 1
            except* Exception as group:
                log.critical("the recorder failed", exc_info=first_leaf(group))
                status = 1
            finally:
                outer.cancel_scope.cancel()
    if holder and holder[0].statistics().buffered:
        status = 1
    if status == 2:
        return status
    if status == 0 and not daemon_scope.cancel_called:
        status = 1  # the daemon only ends on a signal; anything else is a failure
    return status


async def watch_offline(recorder, endpoint: str, *, every: float | None = None) -> None:
    """While no connection to the exchange is up, say so: at the first failure what failed
    and where to turn (``demo`` works offline), then a status line every ``every`` seconds
    (a minute), so a daemon that cannot connect never looks merely idle."""
    from tradestore.recorder._diagnose import OFFLINE_HINT

    every = OFFLINE_STATUS_EVERY_S if every is None else every
    hinted = False
    down_since: float | None = None
    next_status = 0.0
    while True:
        await trio.sleep(OFFLINE_POLL_S)
        # Only the connections: a whole snapshot covers every symbol (thousands with ALL).
        connections = recorder.connection_statistics()
        if any(conn.state == "open" for conn in connections):
            down_since = None
            continue
        now = trio.current_time()
        if down_since is None:
            down_since = now
            next_status = now + every
        failed = [conn for conn in connections if conn.failures]
        if not failed:
            continue
        error = failed[0].last_error
        if not hinted and not any(conn.opens for conn in connections):
            hinted = True
            log.error(
                "no connection to the exchange: %s. The recorder keeps retrying (a line a "
                "minute while no connection is up). %s",
                error,
                OFFLINE_HINT,
            )
        elif now >= next_status:
            next_status = now + every
            log.warning(
                "still no connection to %s after %.0f s (%d attempts); last error: %s",
                endpoint,
                now - down_since,
                sum(conn.attempts for conn in connections),
                error,
            )


async def reload_symbols(recorder, reload_config) -> None:
    """SIGHUP: apply the symbol list of the re-read configuration (file, environment and
    the original flags, in the usual precedence). Other keys need a restart: a change to
    one is logged, not applied. A configuration that does not load changes nothing.
    With ``symbols = ALL`` it reads exchangeInfo at once (with the new quote filter)."""
    try:
        fresh = reload_config()
    except c.UsageError as exc:
        log.error("SIGHUP: configuration not reloaded: %s", exc)
        return
    current = recorder.user_config
    reloadable = ("symbols", "quote")
    ignored = [
        name
        for name in type(current).__dataclass_fields__
        if name not in reloadable and getattr(fresh, name) != getattr(current, name)
    ]
    if ignored:
        log.warning(
            "SIGHUP: only symbols and quote are reloaded; restart to apply %s", ", ".join(ignored)
        )
    if fresh.follow_all != current.follow_all:
        log.error(
            "SIGHUP: switching between ALL and a symbol list needs a restart; nothing changed"
        )
        return
    if fresh.follow_all:
        log.info(
            "SIGHUP: reading exchangeInfo now (quote filter: %s)", ",".join(fresh.quote) or "none"
        )
        recorder.universe.refresh_soon(fresh.quote)
        return
    if fresh.symbols == current.symbols:
        log.info("SIGHUP: symbol list unchanged (%d symbols)", len(current.symbols))
        return
    try:
        await recorder.set_symbols(fresh.symbols)
    except Exception:  # never let a reload take the recording down
        log.exception("SIGHUP: applying the new symbol list failed")


async def _watch_signals(signals, daemon_scope: trio.CancelScope, reload=None) -> None:
    async for signum in signals:
        name = signal.Signals(signum).name
        if signum == signal.SIGHUP:
            if reload is not None and not daemon_scope.cancel_called:
                log.info("SIGHUP received: reloading the symbol list")
                await reload()
            continue
        if daemon_scope.cancel_called:
            print(f"tradestore-trio run: second {name}, exiting without flushing", file=sys.stderr)
            sys.stderr.flush()
            os._exit(1)
        log.info("%s received: flushing buffers and stopping (again to exit at once)", name)
        daemon_scope.cancel()
