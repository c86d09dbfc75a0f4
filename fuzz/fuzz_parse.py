"""atheris harness: the frame parser (both twins) against the json.loads oracle.

Each input is tried as bytes, as a one-byte-kind str (latin-1) and, when it is UTF-8, as
the decoded str. Anything but the oracle's trade or an allowed InvalidMessage reason --
the same in both twins -- is a crash that libFuzzer saves. See fuzz/README.md.
"""

from __future__ import annotations

import json
import sys

import _common

PARSERS = _common.twins("parse")

from tests.helpers.fuzz import check_frame  # noqa: E402 - after the instrumented imports


def test_one_input(data: bytes) -> None:
    check_frame(data, PARSERS)
    check_frame(data.decode("latin-1"), PARSERS)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return
    check_frame(text, PARSERS)


def seeds() -> list[bytes]:
    frames = _common.ROOT / "tests" / "data"
    found = [p.read_bytes().splitlines() for p in frames.glob("*aggTrade*.jsonl")]
    lines = [line for group in found for line in group][:8]
    event = {"e": "aggTrade", "E": 1, "s": "BTCUSDT", "a": 12, "p": "87648.21000000",
             "q": "0.08185000", "f": 1, "l": 2, "T": 1767225600039, "m": True, "M": True}  # fmt: skip
    lines.append(json.dumps(event).encode())
    lines.append(json.dumps({"stream": "btcusdt@aggTrade", "data": event}).encode())
    lines.append(json.dumps(event, indent=1, ensure_ascii=True).encode())
    return lines


if __name__ == "__main__":
    _common.start(test_one_input, seeds())
    sys.exit(0)
