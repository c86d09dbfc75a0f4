"""SentLog: the exact account of what the fake exchange generated and sent."""

from __future__ import annotations

import json
import os
from array import array
from collections import Counter


class SentLog:
    """Per symbol: every generated id, the skipped ones, the ones sent over WebSocket.

    Unlike the exchange's history, the log is never trimmed: it is the exact account.

    Ids are recorded when the frame has been handed to the connection's socket, so a
    frame lost in a connection that was being torn down is not counted as sent.
    """

    def __init__(self, symbols: tuple[str, ...] = ()) -> None:
        # 8 bytes per generated id (a day at 10 trades/s is 7 MB per symbol).
        self._generated: dict[str, array] = {s: array("q") for s in symbols}
        self._skipped: dict[str, set[int]] = {s: set() for s in symbols}
        self._sent: dict[str, set[int]] = {s: set() for s in symbols}
        self.duplicates_sent = 0
        self.malformed_sent = 0
        self.malformed_by_kind: Counter[str] = Counter()
        self.frames_sent = 0
        # Trades a subscribed connection did not get because it was silent (fault).
        self.trades_withheld = 0
        self.connections_opened = 0
        self.connections_dropped = 0
        self.drops_by_reason: Counter[str] = Counter()
        self.shutdown_events_sent = 0
        self.pings_sent = 0
        self.pongs_received = 0
        self.rest_requests = 0
        self.rest_429_sent = 0
        self.rest_418_sent = 0
        self.rest_invalid_rows = 0  # rows REST returned marked invalid (rest_invalid_every)
        # Listings and delistings while running (symbols listed from the start not counted).
        self.listings: list[str] = []
        self.delistings: list[str] = []
        self._started = set(symbols)
        # Incoming WebSocket messages: control messages (SUBSCRIBE, ...), and the most
        # messages of any kind (pongs too) one connection sent within one second.
        self.control_messages = 0
        self.control_by_method: Counter[str] = Counter()
        self.max_messages_per_second = 0
        self.message_limit_drops = 0  # connections cut for exceeding the limit
        # REST request weight used, by minute of exchange time (epoch minute -> weight).
        self.rest_weight_by_minute: dict[int, int] = {}

    # -- recording (the exchange calls these)

    def note_generated(self, symbol: str, agg_id: int, skipped: bool) -> None:
        self._generated.setdefault(symbol, array("q")).append(agg_id)
        if skipped:
            self._skipped.setdefault(symbol, set()).add(agg_id)

    def note_sent(self, symbol: str, agg_id: int) -> None:
        self._sent.setdefault(symbol, set()).add(agg_id)

    def note_listed(self, symbol: str) -> None:
        self._generated.setdefault(symbol, array("q"))
        if symbol in self._started:
            self._started.discard(symbol)  # listed from the start: not a listing
        else:
            self.listings.append(symbol)

    def note_delisted(self, symbol: str) -> None:
        self.delistings.append(symbol)

    def note_control(self, method: str) -> None:
        self.control_messages += 1
        self.control_by_method[method] += 1

    def note_rest_weight(self, minute: int, used: int) -> None:
        self.rest_weight_by_minute[minute] = used

    def note_dropped(self, reason: str) -> None:
        self.connections_dropped += 1
        self.drops_by_reason[reason] += 1

    def note_malformed(self, kind: str) -> None:
        self.malformed_sent += 1
        self.malformed_by_kind[kind] += 1

    # -- reading

    @property
    def symbols(self) -> list[str]:
        return list(self._generated)

    def sent_ids(self, symbol: str) -> list[int]:
        """Sorted distinct agg ids sent at least once over WebSocket."""
        return sorted(self._sent.get(symbol, ()))

    def generated_ids(self, symbol: str) -> list[int]:
        """Every id that exists (sent or skipped), in generation order."""
        return self._generated[symbol].tolist() if symbol in self._generated else []

    def skipped_ids(self, symbol: str) -> list[int]:
        """Ids that exist (REST serves them) but were never sent over WebSocket."""
        return sorted(self._skipped.get(symbol, ()))

    def statistics(self) -> dict:
        """Counters and per-symbol totals, JSON-ready."""
        return {
            "symbols": {
                s: {
                    "generated": len(self._generated[s]),
                    "sent": len(self._sent.get(s, ())),
                    "skipped": len(self._skipped.get(s, ())),
                    "first_id": self._generated[s][0] if self._generated[s] else None,
                    "last_id": self._generated[s][-1] if self._generated[s] else None,
                }
                for s in self._generated
            },
            "frames_sent": self.frames_sent,
            "trades_withheld": self.trades_withheld,
            "duplicates_sent": self.duplicates_sent,
            "malformed_sent": self.malformed_sent,
            "malformed_by_kind": dict(self.malformed_by_kind),
            "connections_opened": self.connections_opened,
            "connections_dropped": self.connections_dropped,
            "drops_by_reason": dict(self.drops_by_reason),
            "shutdown_events_sent": self.shutdown_events_sent,
            "pings_sent": self.pings_sent,
            "pongs_received": self.pongs_received,
            "rest_requests": self.rest_requests,
            "rest_429_sent": self.rest_429_sent,
            "rest_418_sent": self.rest_418_sent,
            "rest_invalid_rows": self.rest_invalid_rows,
            "listings": list(self.listings),
            "delistings": list(self.delistings),
            "control_messages": self.control_messages,
            "control_by_method": dict(self.control_by_method),
            "max_messages_per_second": self.max_messages_per_second,
            "message_limit_drops": self.message_limit_drops,
            "rest_weight_by_minute": {str(k): v for k, v in self.rest_weight_by_minute.items()},
        }

    def to_dict(self) -> dict:
        data = self.statistics()
        data["ids"] = {
            s: {
                "generated": self.generated_ids(s),
                "sent": self.sent_ids(s),
                "skipped": self.skipped_ids(s),
            }
            for s in self._generated
        }
        return data

    def write_json(self, path: str | os.PathLike) -> None:
        """Write the whole log (ids included) atomically: a reader never sees half a file."""
        tmp = f"{os.fspath(path)}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(self.to_dict(), fh)
            fh.write("\n")
        os.replace(tmp, path)

    @classmethod
    def read_json(cls, path: str | os.PathLike) -> SentLog:
        """The log back from write_json, for a test that ran the exchange in a subprocess."""
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        log = cls(tuple(data["ids"]))
        for symbol, ids in data["ids"].items():
            log._generated[symbol] = array("q", ids["generated"])
            log._skipped[symbol] = set(ids["skipped"])
            log._sent[symbol] = set(ids["sent"])
        for name in (
            "frames_sent",
            "trades_withheld",
            "duplicates_sent",
            "malformed_sent",
            "connections_opened",
            "connections_dropped",
            "shutdown_events_sent",
            "pings_sent",
            "pongs_received",
            "rest_requests",
            "rest_429_sent",
            "rest_418_sent",
            "rest_invalid_rows",
            "control_messages",
            "max_messages_per_second",
            "message_limit_drops",
        ):
            setattr(log, name, data.get(name, 0))
        log.listings = list(data.get("listings", []))
        log.delistings = list(data.get("delistings", []))
        log.control_by_method.update(data.get("control_by_method", {}))
        log.rest_weight_by_minute = {
            int(k): v for k, v in data.get("rest_weight_by_minute", {}).items()
        }
        log.malformed_by_kind.update(data["malformed_by_kind"])
        log.drops_by_reason.update(data["drops_by_reason"])
        return log
