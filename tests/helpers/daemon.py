"""``tradestore-trio run`` as a real process: environment, start, stop, its log."""

from __future__ import annotations

import os
import re
import signal
import sys

import httpx
import trio


def daemon_env() -> dict[str, str]:
    """The environment of a CLI subprocess: this interpreter's package, unbuffered output,
    no stray TRADESTORE_* settings (only the switch to the pure-Python twins passes)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return {
        k: v
        for k, v in env.items()
        if not k.startswith("TRADESTORE_") or k == "TRADESTORE_NO_EXTENSIONS"
    }


async def start_daemon(argv: list[str], log_path) -> trio.Process:
    """``python -m tradestore run ARGV`` with stdout and stderr appended to log_path."""
    with open(log_path, "ab") as log:  # noqa: ASYNC230 - a local file, opened once
        return await trio.lowlevel.open_process(
            [sys.executable, "-m", "tradestore", "run", *argv],
            stdout=log,
            stderr=log,
            env=daemon_env(),
        )


async def stop_daemon(proc: trio.Process, log_path, sig: int = signal.SIGTERM) -> int:
    """Send sig and wait for the exit status (a SIGTERM must end with 0)."""
    proc.send_signal(sig)
    with trio.fail_after(30):
        rc = await proc.wait()
    if sig == signal.SIGTERM:
        assert rc == 0, log_path.read_text()
    return rc


async def kill_daemon(proc: trio.Process) -> None:
    if proc.returncode is None:
        proc.kill()
        with trio.CancelScope(shield=True):
            await proc.wait()


async def wait_for_log(log_path, pattern: str, *, after: int = 0) -> re.Match:
    """The first match of the regex pattern in the log (from byte offset ``after``)."""
    while True:
        text = log_path.read_text(errors="replace")[after:] if log_path.exists() else ""
        match = re.search(pattern, text)
        if match:
            return match
        await trio.sleep(0.05)


async def metrics_url(log_path, *, after: int = 0) -> str:
    """The daemon's metrics base URL (``--metrics-addr 127.0.0.1:0``), from its log."""
    pattern = r"metrics on (http://127\.0\.0\.1:\d+)/metrics"
    return (await wait_for_log(log_path, pattern, after=after)).group(1)


async def accepted_up_to(base_url: str, last_ids: dict[str, int]) -> bool:
    """Whether the daemon's highest accepted agg id (received, perhaps not yet flushed) is
    ``last_ids[symbol]`` for every symbol, by its /metrics."""
    text = (await get(f"{base_url}/metrics")).text
    return all(metric(text, "tradestore_last_agg_id", symbol=s) == i for s, i in last_ids.items())


async def get(url: str) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.get(url)


def metric(text: str, name: str, **labels) -> float | None:
    """The value of one sample in Prometheus text, or None."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    prefix = f"{name}{{{want}}} " if want else f"{name} "
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix) :])
    return None
