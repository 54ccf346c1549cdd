"""`gpio.bedmat`: a bed-exit pressure mat whose controller has a relay or switch output.

Wiring: the controller's dry contact (closed while weight is on the mat,
as most nurse-call bed-mat controllers do) between the GPIO and ground;
defaults `pull = "up"`, active low, *active* meaning "weight on the mat".
A controller with a normally-closed output needs `active_high = true`.

Readings: sensor `bed`, value "in_bed" or "out_of_bed". A sleeper turning
over lifts weight for a few seconds: the mat must be empty for
`exit_settle` seconds before "out_of_bed" is reported (stamped at the
moment it became sure), and loaded for `entry_settle` seconds before
"in_bed". Brief drops are counted as `glitches` on the next reading.
"""

from __future__ import annotations

from typing import ClassVar

from edgeagent_drivers.gpio.base import GpioDriver, GpioOptions, Pull
from edgeagent_drivers.gpio.timing import Change, Settler
from pydantic import Field

from edgeagent.driver import DriverContext, DriverOptions
from edgeagent.models import Reading

IN_BED = "in_bed"
OUT_OF_BED = "out_of_bed"


class BedMatOptions(GpioOptions):
    pull: Pull = "up"
    bounce_time: float | None = Field(default=0.05, ge=0, le=1)
    exit_settle: float = Field(default=15.0, ge=0, le=600,
                               description="seconds without weight before out_of_bed")
    entry_settle: float = Field(default=2.0, ge=0, le=600,
                                description="seconds with weight before in_bed")


class BedMatDriver(GpioDriver):
    """In bed / out of bed from a mat's contact output, with settle times."""

    Options: ClassVar[type[DriverOptions]] = BedMatOptions
    options: BedMatOptions

    def __init__(self, options: DriverOptions, context: DriverContext, *,
                 pin_factory: object = None) -> None:
        super().__init__(options, context, pin_factory=pin_factory)
        self.machine = Settler(settle_on=self.options.entry_settle,
                               settle_off=self.options.exit_settle)

    def _start(self, active: bool, t: float) -> list[Change]:
        return self.machine.feed(active, t)

    def _edge(self, active: bool, t: float) -> list[Change]:
        changes = self.machine.feed(active, t)
        self.health.counters["glitches"] = self.machine.glitches
        return changes

    def _tick(self, t: float) -> list[Change]:
        return self.machine.tick(t)

    def _deadline(self) -> float | None:
        return self.machine.deadline()

    def _to_reading(self, change: Change) -> Reading:
        value = IN_BED if change.value else OUT_OF_BED
        return self.reading_at(change.at, "bed", value, data=change.data)
