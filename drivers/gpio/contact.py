"""`gpio.contact`: a door, window or fridge reed contact on one GPIO.

Wiring: a normally-open reed switch (closed while the magnet is near, i.e.
while the door is shut) between the GPIO and ground; the Pi's pull-up
holds the line high when the door opens. Defaults: `pull = "up"`, active
low, where *active* means "door closed". A normally-closed reed (or an
alarm-panel contact wired the other way) needs `active_high = true`.

Readings: sensor `door`, value "open" or "closed", reported once the
contact has held its new position for `settle` seconds (a door left ajar
chatters at the magnet's edge). `role` tells the heuristics what an opening
means: `entrance` (night exit, away), `bathroom_door`, `fridge` (a daily
check), `window`, `door`, `cupboard`, ...
"""

from __future__ import annotations

from typing import ClassVar

from edgeagent_drivers.gpio.base import GpioOptions, Pull, SettledGpioDriver
from edgeagent_drivers.gpio.timing import Change, Settler
from pydantic import Field

from edgeagent.driver import DriverContext, DriverOptions
from edgeagent.models import Reading

KNOWN_ROLES = ("entrance", "bathroom_door", "fridge", "window", "door", "cupboard",
               "medicine_cabinet", "appliance")


class ContactOptions(GpioOptions):
    pull: Pull = "up"
    bounce_time: float | None = Field(default=0.05, ge=0, le=1)
    settle: float = Field(default=0.2, ge=0, le=60,
                          description="seconds a new position must hold before it is reported")
    role: str = Field(default="door", pattern=r"^[a-z][a-z0-9_]{0,31}$",
                      description=f"what the contact guards: {', '.join(KNOWN_ROLES)}, ...")


class ContactDriver(SettledGpioDriver):
    """Open/closed from a reed contact, with its role in the home."""

    Options: ClassVar[type[DriverOptions]] = ContactOptions
    options: ContactOptions

    def __init__(self, options: DriverOptions, context: DriverContext, *,
                 pin_factory: object = None) -> None:
        super().__init__(options, context, pin_factory=pin_factory)
        self.machine = Settler(self.options.settle, self.options.settle)

    def _to_reading(self, change: Change) -> Reading:
        value = "closed" if change.value else "open"
        return self.reading_at(change.at, "door", value, role=self.options.role, data=change.data)
