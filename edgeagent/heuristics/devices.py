"""Device health as alerts: a sensor gone silent (reported by its driver) or a low battery.

Offline detection itself belongs to the drivers, which know each device's
own heartbeat rhythm; here a `device_status` reading only becomes an alert
with a lifecycle, and a battery level becomes `low_battery` with hysteresis
so a cell hovering at the threshold does not flap.
"""

from __future__ import annotations

from typing import Any

from edgeagent.heuristics.settings import HeuristicsSettings


def battery_action(settings: HeuristicsSettings, percent: float, is_open: bool) -> str:
    """"raise", "resolve" or "none" for a battery level given whether an alert is open."""
    if not is_open and percent < settings.low_battery_percent:
        return "raise"
    if is_open and percent >= settings.low_battery_percent + settings.battery_hysteresis_percent:
        return "resolve"
    return "none"


def status_action(value: Any) -> str:
    """"raise" for offline, "resolve" for online, "none" for anything else."""
    text = str(value).lower()
    if text in ("offline", "false", "0", "down"):
        return "raise"
    if text in ("online", "true", "1", "up"):
        return "resolve"
    return "none"
