"""The driver -> core boundary: what a reading means before the heuristics see it.

* Room and role names are canonicalised (names.py), so `卫生间` or `Bathroom`
  reaches the heuristics as `bathroom`.
* The state a door, motion or bed-mat sensor reports when its driver (re)starts
  (a GPIO level read at start, a retained MQTT state: drivers mark it
  `data.initial`) is a *baseline*, not an opening, a bed exit or motion: an
  agent started at 04:49 with the front door open must not raise `night_exit`.
  A bed found occupied is fed as usual: it is no event, and without it the
  night rules never learn she is in bed, so her first bed exit after a night-time
  restart would raise nothing. Held states marked `initial` (occupancy, a BLE tag
  present or absent) are fed too: the state found is what they need. Alarm inputs
  (SOS, smoke, gas, CO) are never held back: active at start-up is an alarm.
* Events caused by a simulated driver carry `"simulated": true` in `source`
  (the v1 schema leaves `source` open; a top-level field would break validators).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from edgeagent.config_lint import is_simulated
from edgeagent.names import canonical_role, canonical_room

if TYPE_CHECKING:
    from edgeagent.config import AgentConfig
    from edgeagent.models import Draft, Reading

BASELINE_SENSORS = frozenset({"door", "contact", "window", "motion", "bed"})
IN_BED = frozenset({"in_bed", "occupied", "in", "on"})  # as the engine reads a mat


class ReadingGate:
    def __init__(self, config: Callable[[], AgentConfig]) -> None:
        self._config = config
        self.baselines: dict[str, dict[str, Any]] = {}  # "driver/device/sensor" -> last baseline
        self._simulated: tuple[int, frozenset[str]] = (0, frozenset())

    def canonical(self, reading: Reading) -> Reading:
        """The reading with canonical room and role names."""
        aliases = self._config().home.room_aliases
        room = canonical_room(reading.room, aliases)
        role = canonical_role(reading.role)
        if room != reading.room or role != reading.role:
            reading = replace(reading, room=room, role=role)
        return reading

    def is_baseline(self, reading: Reading) -> bool:
        """A door/motion/bed state read at (re)start: forwarded, never fed to the heuristics."""
        if (reading.sensor not in BASELINE_SENSORS or reading.role == "sos"
                or reading.data.get("initial") is not True or _in_bed(reading)):
            return False
        key = "/".join((reading.driver, reading.device, reading.sensor))
        self.baselines[key] = {"value": reading.value, "room": reading.room,
                               "role": reading.role}
        return True

    def simulated(self, driver: str) -> bool:
        config = self._config()
        if self._simulated[0] != id(config):
            self._simulated = (id(config), frozenset(
                d.name for d in config.drivers if is_simulated(d)))
        return driver in self._simulated[1]

    def mark(self, reading: Reading, drafts: list[Draft]) -> list[Draft]:
        """Drafts caused by a simulated driver's reading say so in `source`."""
        if not drafts or not self.simulated(reading.driver):
            return drafts
        return [replace(d, source={**d.source, "simulated": True}) for d in drafts]


def _in_bed(reading: Reading) -> bool:
    """A bed mat reporting her in bed: a state the night rules need, never an event."""
    value = reading.value
    return reading.sensor == "bed" and (
        value is True or (isinstance(value, str) and value.lower() in IN_BED))
