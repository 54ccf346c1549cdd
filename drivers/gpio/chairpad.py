"""`gpio.chairpad`: a chair or sofa occupancy pad whose controller has a relay or switch output.

Wiring: as `gpio.bedmat` — the controller's dry contact (closed while
someone sits on the pad) between the GPIO and ground; defaults
`pull = "up"`, active low, *active* meaning "someone is sitting". A
controller with a normally-closed output needs `active_high = true`.

Readings: sensor `occupancy`, value true or false, with `role` "chair"
(default) or "sofa". It is a held state: true for as long as she sits,
which can be hours, so the heuristics read it as "she is here", not as
silence. Leaning forward or shifting her weight lifts it for a few
seconds: the pad must be empty for `exit_settle` seconds before false is
reported, and loaded for `entry_settle` seconds before true (the shared
pad code of `pad.py`). A cushion, a bag or a pet on the pad reads as her.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from edgeagent_drivers.gpio.pad import PadDriver, PadOptions
from edgeagent_drivers.gpio.timing import Change
from pydantic import Field

from edgeagent.driver import DriverOptions
from edgeagent.models import Reading


class ChairPadOptions(PadOptions):
    exit_settle: float = Field(default=10.0, ge=0, le=600,
                               description="seconds without weight before occupancy false")
    entry_settle: float = Field(default=3.0, ge=0, le=600,
                                description="seconds with weight before occupancy true")
    role: Literal["chair", "sofa"] = Field(default="chair",
                                           description="what the pad lies on: chair or sofa")


class ChairPadDriver(PadDriver):
    """Occupied / empty from a seat pad's contact output, with settle times."""

    Options: ClassVar[type[DriverOptions]] = ChairPadOptions
    options: ChairPadOptions

    def _to_reading(self, change: Change) -> Reading:
        return self.reading_at(change.at, "occupancy", bool(change.value),
                               role=self.options.role, data=change.data)
