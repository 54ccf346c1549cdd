"""Has NTP synchronised the system clock? Asked without `adjtimex()`.

The unit sets `ProtectClock=yes`, which filters `adjtimex()` entirely (reads
included), so the agent asks the time daemon instead, cheapest first:

1. systemd-timesyncd's flag file `/run/systemd/timesync/synchronized`
   (present once it has synchronised; a file check, no process);
2. chrony: `chronyc -n -c tracking` (over chronyd's local command port);
3. `timedatectl show -p NTPSynchronized --value` (systemd-timedated over
   D-Bus, which reads the kernel's state outside our sandbox).

A source that is not installed or does not answer is skipped; no answer at all
means "unsynced" (events are then stamped with monotonic time and corrected
later, never lost). The commands are asked at most every `command_interval`
seconds: the supervisor polls every few seconds and a process per poll is
wasted work (and descriptors) on a Pi.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

TIMESYNC_FLAG = Path("/run/systemd/timesync/synchronized")
COMMAND_TIMEOUT_S = 2.0
COMMAND_INTERVAL_S = 60.0
_CHRONY_UNSYNCED = "Not synchronised"


def timesyncd_synced(flag: Path = TIMESYNC_FLAG) -> bool:
    """timesyncd creates the flag once it has synchronised; it is gone after a reboot."""
    try:
        return flag.exists()
    except OSError:
        return False


def _run(argv: list[str]) -> str | None:
    """stdout of a command that succeeded, else None (missing, failed, hung, out of fds)."""
    exe = shutil.which(argv[0])
    if exe is None:
        return None
    try:
        done = subprocess.run([exe, *argv[1:]], capture_output=True, text=True,  # noqa: S603
                              timeout=COMMAND_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def chrony_synced() -> bool | None:
    """chronyd's answer: synchronised unless its leap status says not (None: no chrony)."""
    out = _run(["chronyc", "-n", "-c", "tracking"])
    if not out or not out.strip():
        return None
    fields = out.strip().splitlines()[0].split(",")
    if len(fields) < 14:
        return None
    try:
        stratum = int(fields[2])
    except ValueError:
        return None
    return fields[-1] != _CHRONY_UNSYNCED and 0 < stratum < 16


def timedatectl_synced() -> bool | None:
    """systemd-timedated's NTPSynchronized property (None: no timedatectl or no D-Bus)."""
    out = _run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"])
    if out is None:
        return None
    answer = out.strip()
    return {"yes": True, "no": False}.get(answer)


class ClockSyncProbe:
    """A `SyncProbe`: the flag file on every call, the commands at most every interval."""

    def __init__(self, flag: Path = TIMESYNC_FLAG, *,
                 command_interval: float = COMMAND_INTERVAL_S,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.flag = flag
        self.command_interval = command_interval
        self._monotonic = monotonic
        self._asked_at: float | None = None
        self._answer = False
        self.source = "none"

    def __call__(self) -> bool:
        if timesyncd_synced(self.flag):
            self.source = "timesyncd"
            return True
        now = self._monotonic()
        if self._asked_at is not None and now - self._asked_at < self.command_interval:
            return self._answer
        self._asked_at = now
        self._answer, self.source = False, "none"
        for name, ask in (("chrony", chrony_synced), ("timedatectl", timedatectl_synced)):
            answer = ask()
            if answer is not None:
                self._answer, self.source = answer, name
                break
        return self._answer


clock_synced = ClockSyncProbe()
"""The process's probe (the supervisor's default `sync_probe`, doctor, test-alarm)."""
