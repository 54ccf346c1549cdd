"""Everything a doctor check reads from the machine, injectable so tests can make it lie.

The defaults are the real machine. Tests swap one probe at a time (an
unsynced clock, a full disk's statvfs, a sysfs without Bluetooth) and keep
every other part real.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeagent.clock_sync import clock_synced


def _no_progress(_what: str) -> None:
    return None


@dataclass(slots=True)
class DoctorContext:
    """Probes and knobs for one doctor run.

    `live` is the running daemon's `status()` (via the control socket, or the
    agent itself for the remote `doctor` command); when given, driver health
    comes from the daemon instead of opening the hardware a second time.
    `network=False` skips the active MQTT probes (the remote doctor answers
    over a working connection, so the publisher's own health is reported).
    """

    sync_probe: Callable[[], bool] = clock_synced
    statvfs: Callable[[str], os.statvfs_result] = os.statvfs
    now: Callable[[], float] = time.time
    systemctl: str | None = field(default_factory=lambda: shutil.which("systemctl"))
    service: str = "edgeagent"
    sysfs_bluetooth: Path = Path("/sys/class/bluetooth")
    sysfs_rfkill: Path = Path("/sys/class/rfkill")
    live: dict[str, Any] | None = None
    live_error: str = ""
    socket_path: str = ""
    network: bool = True
    mqtt_timeout: float = 5.0
    ble_scan_seconds: float = 5.0
    serial_listen_seconds: float = 3.0
    progress: Callable[[str], None] = _no_progress
