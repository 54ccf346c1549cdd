"""`gpio.pir`: a PIR motion sensor (HC-SR501, AM312, Panasonic EKMC) on one GPIO.

Wiring: the module's VCC to 5 V (HC-SR501) or 3.3 V (AM312), GND to ground,
OUT to the configured GPIO. The output drives the line high on motion, so
the default is `pull = "down"`, active high. Set the HC-SR501's own delay
potentiometer to its minimum and its jumper to "repeat" (H): the agent does
the holding.

Readings: sensor `motion`, value True when motion starts (and again at most
every `repeat_every` seconds while it goes on), False once the output has
been low for `hold_off` seconds. A PIR that re-triggers every 2 s makes one
True at the start, one per `repeat_every`, one False at the end.
"""

from __future__ import annotations

from typing import ClassVar

from edgeagent_drivers.gpio.base import GpioDriver, GpioOptions, Pull
from edgeagent_drivers.gpio.timing import Change, MotionHoldOff
from pydantic import Field

from edgeagent.driver import DriverContext, DriverOptions
from edgeagent.models import Reading


class PirOptions(GpioOptions):
    pull: Pull = "down"
    hold_off: float = Field(default=30.0, ge=0, le=3600,
                            description="seconds of quiet output before motion ends")
    repeat_every: float = Field(default=60.0, gt=0, le=3600,
                                description="while motion continues, report it again this often")
    stuck_after: float = Field(default=7200.0, gt=0,
                               description="output high this long = faulty sensor")


class PirDriver(GpioDriver):
    """Motion start/end from a PIR, with a per-sensor hold-off."""

    Options: ClassVar[type[DriverOptions]] = PirOptions
    options: PirOptions

    def __init__(self, options: DriverOptions, context: DriverContext, *,
                 pin_factory: object = None) -> None:
        super().__init__(options, context, pin_factory=pin_factory)
        o = self.options
        self.machine = MotionHoldOff(o.hold_off, o.repeat_every, o.stuck_after)

    def _start(self, active: bool, t: float) -> list[Change]:
        # The level read at start is a baseline (the core's reading gate), not motion.
        changes = self.machine.feed(active, t)
        return [Change(c.value, c.at, c.sensor, {**c.data, "initial": True}) for c in changes] \
            or [Change(False, t, data={"initial": True})]

    def _edge(self, active: bool, t: float) -> list[Change]:
        changes = self.machine.feed(active, t)
        self.health.counters["retriggers"] = self.machine.retriggers
        return changes

    def _tick(self, t: float) -> list[Change]:
        return self.machine.tick(t)

    def _deadline(self) -> float | None:
        return self.machine.deadline()

    def _fault(self, t: float) -> str | None:
        if self.machine.stuck(t):
            return (f"PIR output high for over {self.options.stuck_after:.0f} s "
                    "(faulty sensor, wiring short or sensor facing a heater?)")
        return None

    def _to_reading(self, change: Change) -> Reading:
        return self.reading_at(change.at, "motion", bool(change.value), data=change.data)
