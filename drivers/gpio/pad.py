"""A pressure pad on one GPIO that holds a state while someone's weight is on it.

Shared by `gpio.bedmat` and `gpio.chairpad`: both are a controller's dry
contact (closed while loaded) between the GPIO and ground, `pull = "up"`,
active low by default, *active* meaning "weight on the pad". A person
shifting their weight lifts it for a few seconds, so a new state is
reported only once it has held: empty for `exit_settle` seconds, loaded
for `entry_settle` seconds, stamped at the moment it became sure. Brief
drops are counted as `glitches` on the next reading. Subclasses say what
the state is called (`_to_reading`; `change.value` True: weight on the pad).
"""

from __future__ import annotations

from typing import ClassVar

from edgeagent_drivers.gpio.base import GpioOptions, Pull, SettledGpioDriver
from edgeagent_drivers.gpio.timing import Settler
from pydantic import Field

from edgeagent.driver import DriverContext, DriverOptions


class PadOptions(GpioOptions):
    pull: Pull = "up"
    bounce_time: float | None = Field(default=0.05, ge=0, le=1)
    exit_settle: float = Field(default=15.0, ge=0, le=600,
                               description="seconds without weight before the pad reads empty")
    entry_settle: float = Field(default=2.0, ge=0, le=600,
                                description="seconds with weight before the pad reads loaded")


class PadDriver(SettledGpioDriver):
    """Loaded / empty from a pad's contact output, with settle times in and out."""

    Options: ClassVar[type[DriverOptions]] = PadOptions
    options: PadOptions

    def __init__(self, options: DriverOptions, context: DriverContext, *,
                 pin_factory: object = None) -> None:
        super().__init__(options, context, pin_factory=pin_factory)
        self.machine = Settler(settle_on=self.options.entry_settle,
                               settle_off=self.options.exit_settle)
