"""Shared set-up of the atheris harnesses: paths, instrumentation, seeds, libFuzzer flags."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parents[1]
# The oracles live in tests/helpers/fuzz.py, shared with the Hypothesis tests.
sys.path.insert(0, str(ROOT))

# Which twins a run checks against the oracle: "both" (default), "pure" or "compiled".
IMPL = os.environ.get("FUZZ_IMPL", "both")


def twins(name: str) -> list:
    from tradestore.codec._twins import twins as registered

    found = registered(name)
    chosen = [(label, m) for label, m in found if IMPL in ("both", label)]
    if not chosen:
        sys.exit(f"FUZZ_IMPL={IMPL}: no such twin of {name} is available")
    return chosen


def start(test_one_input, seeds: list[bytes]) -> None:
    """Seed an empty corpus directory (the first positional argument), then run libFuzzer.

    Defaults added unless given: -timeout=10 (a hang is a finding) and -max_len=4096.
    """
    args = list(sys.argv)
    corpus = next((a for a in args[1:] if not a.startswith("-")), None)
    if corpus is not None:
        path = Path(corpus)
        path.mkdir(parents=True, exist_ok=True)
        if not any(path.iterdir()):
            for i, seed in enumerate(seeds):
                (path / f"seed-{i:03d}").write_bytes(seed)
    for flag, default in (("-timeout=", "10"), ("-max_len=", "4096")):
        if not any(a.startswith(flag) for a in args):
            args.append(flag + default)
    # Coverage feedback from every Python function loaded so far: the pure twins, the
    # oracles and msgpack's/json's Python parts. The compiled twins are not instrumented
    # (that needs clang's -fsanitize=fuzzer-no-link); they are judged by the oracle only.
    atheris.instrument_all()
    atheris.Setup(args, test_one_input)
    atheris.Fuzz()
