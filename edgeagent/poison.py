"""Events the broker drops the link over, found and set aside so the rest drains.

A broker that cannot take an event (over its `max_packet_size`, a plugin
that chokes on it) does not answer with a PUBACK reason code: it closes the
connection. Resent first on every reconnect, such an event blocked the drain
forever. So every event in flight when the broker drops the link is a
suspect; a suspect is sent alone (nothing else in flight), which both keeps
innocent events from being lost with it and makes the next drop its own.
After QUARANTINE_AFTER drops the outbox sets it aside (Outbox.set_aside):
quarantined, or for an alert, cut to a small size and sent again. An alert
that is dropped even when cut is never quarantined: it is held back, sent
alone after everything else pending, on every connection.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from edgeagent.outbox import Outbox

log = logging.getLogger(__name__)

QUARANTINE_AFTER = 3  # drops of the link with an event in flight before it is set aside


class DropTracker:
    """Per seq: how often the link dropped with it in flight (this run of the agent)."""

    def __init__(self, outbox: Outbox, limit: int = QUARANTINE_AFTER) -> None:
        self.outbox = outbox
        self.limit = limit
        self.attempts: dict[int, int] = {}
        self.held_back: set[int] = set()  # alerts dropped even when cut: sent last, alone
        self.quarantined = 0  # this run; the outbox keeps the lasting list

    def is_suspect(self, seq: int) -> bool:
        return seq in self.attempts

    def link_dropped(self, seqs: Iterable[int], reason: str) -> str:
        """The broker closed the link with `seqs` in flight: count, set aside; say what."""
        seqs = sorted(seqs)
        if not seqs:
            return ""
        notes = []
        for seq in seqs:
            count = self.attempts.get(seq, 0) + 1
            self.attempts[seq] = count
            if count < self.limit:
                continue
            outcome = self.outbox.set_aside(seq, count, reason)
            if outcome == "quarantined":
                self.quarantined += 1
                del self.attempts[seq]
                notes.append(f"seq {seq} quarantined after {count} drops")
            elif outcome == "cut":
                self.attempts[seq] = 0  # a fresh count for the cut alert
                notes.append(f"alert seq {seq} cut to fit and sent again")
            elif outcome == "kept":
                if seq not in self.held_back:
                    log.error("publisher: alert seq %d is dropped with the link even when "
                              "small (%s); it is sent after everything else, never given up",
                              seq, reason)
                self.held_back.add(seq)
                notes.append(f"alert seq {seq} held back (sent last)")
            else:
                del self.attempts[seq]
        which = f"seq {seqs[0]}" if len(seqs) == 1 else f"{len(seqs)} events in flight"
        tail = f" ({'; '.join(notes)})" if notes else ""
        return f"broker dropped the link with {which}: {reason}{tail}"

    def delivered(self, seqs: Iterable[int]) -> None:
        for seq in seqs:
            if self.attempts.pop(seq, None) is not None:
                self.held_back.discard(seq)
