"""Time sources. Everything that needs "now" takes a Clock, so tests and replay inject one.

A Raspberry Pi has no RTC: until NTP has synchronised, wall time may be
1970 or last shutdown's time. We record monotonic time and the boot id with
every event and correct the wall time once the clock is known to be good.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

TIMESYNC_FLAG = Path("/run/systemd/timesync/synchronized")
_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


class Clock(Protocol):
    """A source of monotonic seconds and UTC wall time."""

    def monotonic(self) -> float: ...

    def wall(self) -> datetime: ...


class SystemClock:
    """The real clocks of this machine."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to: tests, replay and the accelerated demo."""

    def __init__(self, start: datetime | None = None, monotonic_start: float = 1000.0) -> None:
        self._wall = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._mono = monotonic_start

    def monotonic(self) -> float:
        return self._mono

    def wall(self) -> datetime:
        return self._wall

    def advance(self, seconds: float) -> None:
        self._mono += seconds
        self._wall += timedelta(seconds=seconds)

    def step_wall(self, seconds: float) -> None:
        """Jump the wall clock only, as NTP does after boot."""
        self._wall += timedelta(seconds=seconds)

    def set_wall(self, when: datetime) -> None:
        self._wall = when


class ScaledClock:
    """Wall and monotonic time running `speed` times faster than real time (the demo)."""

    def __init__(self, speed: float, start: datetime | None = None) -> None:
        self.speed = speed
        self._mono0 = time.monotonic()
        self._wall0 = start or datetime.now(UTC)

    def monotonic(self) -> float:
        return self._mono0 + (time.monotonic() - self._mono0) * self.speed

    def wall(self) -> datetime:
        return self._wall0 + timedelta(seconds=(time.monotonic() - self._mono0) * self.speed)


class _Timex(ctypes.Structure):
    # struct timex from <sys/timex.h>, enough fields for maxerror and status.
    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time_sec", ctypes.c_long),
        ("time_usec", ctypes.c_long),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("_padding", ctypes.c_int * 11),
    ]


_STA_UNSYNC = 0x0040


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """libc, looked up once: `find_library` runs `ldconfig -p` in a child process, which
    fails (and used to kill the agent) when the process is out of file descriptors."""
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        return ctypes.CDLL(name, use_errno=True)
    except OSError:
        return None


def kernel_clock_synced() -> bool:
    """What systemd's `ntp_synced()` asks: adjtimex() without STA_UNSYNC and a sane maxerror.

    Falls back to timesyncd's flag file where adjtimex is unavailable.
    """
    libc = _libc()
    if libc is not None:
        try:
            tx = _Timex()
            if libc.adjtimex(ctypes.byref(tx)) >= 0:
                return not (tx.status & _STA_UNSYNC) and tx.maxerror < 16_000_000
        except (OSError, AttributeError):
            pass
    return TIMESYNC_FLAG.exists()


SyncProbe = Callable[[], bool]


def boot_id() -> str:
    """The kernel's id of this boot; monotonic times are comparable only within one."""
    try:
        return _BOOT_ID.read_text().strip()
    except OSError:
        return str(uuid.uuid4())


def iso_utc(when: datetime) -> str:
    """RFC 3339 UTC with milliseconds and a Z, the event schema's `ts` form."""
    utc = when if when.tzinfo is UTC else when.astimezone(UTC)
    return utc.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
