"""The `resend` downlink command: the platform asks again for the seqs it missed.

Past the broker's PUBACK an event can still vanish (a broker that drops
messages for an offline subscriber, or forgets them on a restart without
persistence). The agent keeps its delivered history for the retention
window, so the platform can name the `seq` ranges of a gap and get them
again: byte-identical bodies (same `id`, `seq`, `ts`), marked only on the
transport (MQTT 5 user property `resent=1`). Nothing durable changes: the
queue lives in memory, survives a reconnect, and after a restart the platform
simply asks again. Delivered state and `seq` are never touched.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from edgeagent.downlink import CommandArgsError

log = logging.getLogger(__name__)

MAX_RESEND_EVENTS = 10_000  # seqs one command may ask for
RESENT_PROPERTY = ("resent", "1")  # MQTT 5 user property on every resent PUBLISH
DROPS_BEFORE_GIVING_UP = 3  # link drops with a resend in flight before it is given up


def parse_ranges(args: dict[str, Any]) -> list[tuple[int, int]]:
    """`args.ranges` as sorted, merged `(from_seq, to_seq)` pairs; CommandArgsError says why not."""
    ranges = args.get("ranges")
    if not isinstance(ranges, list) or not ranges:
        raise CommandArgsError("args.ranges must be a non-empty list of [from_seq, to_seq]")
    pairs: list[tuple[int, int]] = []
    for index, item in enumerate(ranges):
        if (not isinstance(item, list) or len(item) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in item)):
            raise CommandArgsError(f"args.ranges[{index}] must be [from_seq, to_seq] (integers)")
        low, high = item
        if low < 1 or high < low:
            raise CommandArgsError(f"args.ranges[{index}] = [{low}, {high}]: need "
                                   "1 <= from_seq <= to_seq")
        pairs.append((low, high))
    merged: list[tuple[int, int]] = []
    for low, high in sorted(pairs):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    count = sum(high - low + 1 for low, high in merged)
    if count > MAX_RESEND_EVENTS:
        raise CommandArgsError(f"args.ranges cover {count} seqs, more than "
                               f"{MAX_RESEND_EVENTS} per command (split the request)")
    return merged


def to_ranges(seqs: Iterable[int]) -> list[list[int]]:
    """Sorted seqs as `[[from, to], ...]` runs, the reply's shape."""
    runs: list[list[int]] = []
    for seq in sorted(set(seqs)):
        if runs and seq == runs[-1][1] + 1:
            runs[-1][1] = seq
        else:
            runs.append([seq, seq])
    return runs


class ResendQueue:
    """Seqs to publish again, lowest first; a seq leaves only on its PUBACK (or given up).

    In flight ones are keyed by the connection's message id, like the publisher's
    own window; a lost connection puts them back, so a resend survives a reconnect.
    """

    def __init__(self, give_up_after: int = DROPS_BEFORE_GIVING_UP) -> None:
        self._waiting: list[int] = []  # a heap
        self._queued: set[int] = set()  # waiting or in flight
        self._sending: dict[int, int] = {}  # paho mid -> seq, this connection only
        self._drops: dict[int, int] = {}
        self.give_up_after = give_up_after
        self.counters: dict[str, int] = {"requested": 0, "resent": 0, "vanished": 0,
                                         "given_up": 0}

    def __len__(self) -> int:
        return len(self._queued)

    @property
    def in_flight(self) -> int:
        return len(self._sending)

    def add(self, seqs: Iterable[int]) -> int:
        """Queue seqs not already queued; the number added."""
        added = 0
        for seq in seqs:
            if seq not in self._queued:
                self._queued.add(seq)
                heapq.heappush(self._waiting, seq)
                added += 1
        self.counters["requested"] += added
        return added

    def take(self, limit: int) -> list[int]:
        """Up to `limit` waiting seqs, lowest first; hand each back to `sent` or `put_back`."""
        return [heapq.heappop(self._waiting) for _ in range(min(limit, len(self._waiting)))]

    def put_back(self, seqs: Iterable[int]) -> None:
        for seq in seqs:
            heapq.heappush(self._waiting, seq)

    def sent(self, mid: int, seq: int) -> None:
        self._sending[mid] = seq

    def vanished(self, seq: int) -> None:
        """No longer stored (evicted or pruned since it was asked for): the platform asks
        again and is told it is unavailable."""
        self._queued.discard(seq)
        self.counters["vanished"] += 1

    def owns(self, mid: int) -> bool:
        return mid in self._sending

    def acked(self, mid: int, refused: bool) -> int:
        """The broker answered a resend; its seq. A refusal gives it up (the platform may ask
        again), so a broker that says no cannot make the kit loop."""
        seq = self._sending.pop(mid)
        self._queued.discard(seq)
        self._drops.pop(seq, None)
        self.counters["given_up" if refused else "resent"] += 1
        return seq

    def link_dropped(self) -> None:
        """The broker closed the link with these in flight: count, give up a repeat offender."""
        for seq in self._sending.values():
            drops = self._drops.get(seq, 0) + 1
            self._drops[seq] = drops
            if drops >= self.give_up_after:
                log.error("resend: seq %d given up after the link dropped %d times with it in "
                          "flight", seq, drops)
                self._queued.discard(seq)
                self._drops.pop(seq, None)
                self.counters["given_up"] += 1

    def link_lost(self) -> None:
        """Whatever was in flight goes back to wait for the next connection."""
        self.put_back(seq for seq in self._sending.values() if seq in self._queued)
        self._sending.clear()

    def as_dict(self) -> dict[str, int]:
        return {"queued": len(self._queued), "in_flight": len(self._sending), **self.counters}


def resend_handler(plan: Callable[[list[tuple[int, int]]], Any],
                   queue: Callable[[list[int]], int],
                   last_seq: Callable[[], int]) -> Callable[[dict[str, Any]], Awaitable[
                       dict[str, Any]]]:
    """The `resend` command: queue the stored, delivered seqs in the ranges; say what is not.

    `plan(ranges)` returns the outbox's ResendPlan; `queue(seqs)` hands seqs to the
    publisher. Events still pending are on their way already and are not sent twice.
    """
    async def run(args: dict[str, Any]) -> dict[str, Any]:
        ranges = parse_ranges(args)
        found = plan(ranges)
        queue(found.delivered)
        return {"resent": len(found.delivered), "unavailable": to_ranges(found.unavailable),
                "pending": to_ranges(found.pending), "last_seq": last_seq()}
    return run
