"""UUIDv7 event ids: time-ordered, so the platform can dedup and sort by id alone."""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def uuid7() -> uuid.UUID:
    """A new UUIDv7 (RFC 9562) with a 12-bit monotonic counter in rand_a.

    Ids minted in the same millisecond stay ordered, which keeps outbox
    exports and platform logs sortable without consulting `seq`. When the
    counter runs out within a millisecond, the next ids borrow the next one.
    """
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms > _last_ms:
            _last_ms = ms
            _counter = int.from_bytes(os.urandom(2), "big") & 0x3FF
        elif _counter < 0xFFF:
            _counter += 1
        else:
            _last_ms += 1
            _counter = 0
        unix_ms, counter = _last_ms, _counter
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    return uuid.UUID(int=(unix_ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | counter << 64
                     | 0b10 << 62 | rand_b)


def uuid7_str() -> str:
    """The canonical text of a new UUIDv7."""
    return str(uuid7())
