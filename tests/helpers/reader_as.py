"""Read a trade store as another (unprivileged) user: ``python -m tests.helpers.reader_as
UID WARM_DB DB SYMBOL [--until-more]``, run as root from the repository root.

Started as root, it first runs every read it will make against WARM_DB (so each module
the reads need is imported while the interpreter's own files are still readable: the
venv's interpreter may live under /root), then drops to UID and GID UID for good, and
reads DB: a TradeStore opened read-only (with ``--until-more``, refreshed until it sees
the writer add trades), then ``stats``, ``query`` and ``verify`` through the CLI. Prints
one JSON document of what it saw; any failure is an exception and a non-zero exit.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time

from tradestore import TradeStore
from tradestore.cli import main as cli_main
from tradestore.store._keys import MAX_MS


def cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli_main(list(argv))
    return code, out.getvalue()


def reads(db: str, symbol: str, *, until_more: bool) -> dict:
    with TradeStore(db, read_only=True) as store:
        first = store.stats()["symbols"][symbol]["trades"]
        later = first
        while until_more and later == first:  # the harness bounds this with its timeout
            time.sleep(0.05)
            later = store.stats()["symbols"][symbol]["trades"]
        window = store.query_columns(symbol, 0, MAX_MS).agg_id.tolist()
    code_stats, stats = cli("stats", "--db", db, "--format", "json")
    code_query, query = cli(
        "query", "--db", db, "--symbol", symbol, "--start", "0", "--end", str(MAX_MS),
        "--format", "jsonl",
    )  # fmt: skip
    code_verify, verify = cli("verify", "--db", db, "--symbol", symbol, "--format", "json")
    return {
        "first": first,
        "later": later,
        "library_ids": window,
        "stats": [code_stats, json.loads(stats)],
        "query_ids": [code_query, [json.loads(line)["agg_id"] for line in query.splitlines()]],
        "verify": [code_verify, json.loads(verify)],
    }


def main(argv: list[str]) -> int:
    uid, warm_db, db, symbol = int(argv[0]), argv[1], argv[2], argv[3]
    until_more = "--until-more" in argv[4:]
    reads(warm_db, symbol, until_more=False)  # as root: every import happens now
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    seen = reads(db, symbol, until_more=until_more)
    seen["uid"] = os.getuid()
    seen["may_write"] = os.access(db, os.W_OK)
    print(json.dumps(seen))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
