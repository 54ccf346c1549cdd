"""UUIDv7 event ids: time-ordered, so the platform can dedup and sort by id alone."""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_counter = 0
_VARIANT = bytes((b & 0x3F) | 0x80 for b in range(256))


def uuid7() -> uuid.UUID:
    """A new UUIDv7 (RFC 9562) with a 12-bit monotonic counter in rand_a.

    Ids minted in the same millisecond stay ordered, which keeps outbox
    exports and platform logs sortable without consulting `seq`.
    """
    return uuid.UUID(uuid7_batch(1)[0])


def uuid7_str() -> str:
    """The canonical text of a new UUIDv7, without building a UUID object."""
    return uuid7_batch(1)[0]


def uuid7_batch(count: int) -> list[str]:
    """`count` new UUIDv7 texts, ordered, with one lock and one getrandom call.

    The outbox mints one per event inside its write path, most often one or a
    few at a time: the variant bits of all random tails are set by one
    `translate` and hex-encoded once, and per id only the counter is formatted
    and two slices are joined.
    """
    global _last_ms, _counter
    if count <= 0:
        return []
    noise = bytearray(os.urandom(8 * count + 2))
    tails = noise[:8 * count]
    tails[::8] = tails[::8].translate(_VARIANT)  # RFC 9562 variant 0b10 in every tail
    rand_hex = tails.hex()
    runs: list[tuple[int, int, int]] = []  # (unix ms, first counter, ids) per millisecond used
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms > _last_ms:
            _last_ms = ms
            _counter = int.from_bytes(noise[-2:], "big") & 0x3FF
        else:
            _counter += 1
        left = count
        while left:
            if _counter > 0xFFF:  # counter exhausted: borrow the next millisecond
                _last_ms += 1
                _counter = 0
            take = min(left, 0x1000 - _counter)
            runs.append((_last_ms, _counter, take))
            _counter += take
            left -= take
        _counter -= 1  # the last id used it; the next call starts one past it
    out: list[str] = []
    tail = 0
    for unix_ms, first, take in runs:
        head = _head(unix_ms)
        for counter in range(0x7000 | first, (0x7000 | first) + take):  # version 7 + counter
            out.append(f"{head}{counter:04x}-{rand_hex[tail:tail + 4]}-"
                       f"{rand_hex[tail + 4:tail + 16]}")
            tail += 16
    return out


_last_head: tuple[int, str] = (-1, "")


def _head(unix_ms: int) -> str:
    """The first 12 hex digits of a UUIDv7 (its millisecond time) with their dashes.

    Kept from the last call: events of one burst share their millisecond.
    """
    global _last_head
    cached_ms, head = _last_head
    if unix_ms != cached_ms:
        h = f"{unix_ms & ((1 << 48) - 1):012x}"
        head = f"{h[:8]}-{h[8:]}-"
        _last_head = (unix_ms, head)
    return head
