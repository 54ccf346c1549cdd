"""UUIDv7 event ids: time-ordered, so the platform can dedup and sort by id alone."""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def _uuid7_int(unix_ms: int | None) -> int:
    """RFC 9562 UUIDv7 bits with a 12-bit monotonic counter in rand_a.

    Ids minted in the same millisecond stay ordered, which keeps outbox
    exports and platform logs sortable without consulting `seq`.
    """
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000 if unix_ms is None else unix_ms
        if ms <= _last_ms:
            _counter += 1
            if _counter > 0xFFF:  # counter exhausted: borrow the next millisecond
                _last_ms += 1
                _counter = 0
            ms = _last_ms
        else:
            _last_ms = ms
            _counter = int.from_bytes(os.urandom(2), "big") & 0x3FF
        rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
        return ((ms & ((1 << 48) - 1)) << 80) | (0x7 << 76) | ((_counter & 0xFFF) << 64) \
            | (0b10 << 62) | rand_b


def uuid7(unix_ms: int | None = None) -> uuid.UUID:
    return uuid.UUID(int=_uuid7_int(unix_ms))


def _text(value: int) -> str:
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def uuid7_str(unix_ms: int | None = None) -> str:
    """The canonical text of a new UUIDv7, without building a UUID object."""
    return _text(_uuid7_int(unix_ms))


def uuid7_batch(count: int) -> list[str]:
    """`count` new UUIDv7 texts, ordered, with one lock and one getrandom call.

    The outbox mints one per event inside its write path, where a lock, two
    `os.urandom` calls and a UUID object per event were a sixth of its cost.
    The 48-bit time is formatted once per batch; per id only the counter and
    the random bits (variant bits set in place) are.
    """
    global _last_ms, _counter
    if count <= 0:
        return []
    noise = bytearray(os.urandom(8 * count + 2))
    for i in range(0, 8 * count, 8):
        noise[i] = (noise[i] & 0x3F) | 0x80  # RFC 9562 variant 0b10
    rand_hex = noise.hex()
    out: list[str] = []
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms > _last_ms:
            _last_ms = ms
            _counter = int.from_bytes(noise[-2:], "big") & 0x3FF
        else:
            _counter += 1
        head = _head(_last_ms)
        for i in range(0, 16 * count, 16):
            if _counter > 0xFFF:  # counter exhausted: borrow the next millisecond
                _last_ms += 1
                _counter = 0
                head = _head(_last_ms)
            out.append(f"{head}{_counter:03x}-{rand_hex[i:i + 4]}-{rand_hex[i + 4:i + 16]}")
            _counter += 1
        _counter -= 1  # the last id used it; the next call increments as _uuid7_int does
    return out


def _head(unix_ms: int) -> str:
    """The first 15 hex digits and dashes of a UUIDv7: time, then the version nibble."""
    h = f"{unix_ms & ((1 << 48) - 1):012x}"
    return f"{h[:8]}-{h[8:]}-7"
