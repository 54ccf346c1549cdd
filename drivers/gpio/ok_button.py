"""`gpio.ok_button`: her "I'm OK" button, a push button set apart from the SOS button.

Wiring as `gpio.sos`: the button's normally-open contact between the GPIO
and ground (`pull = "up"`, active low). Each press is an `ok` reading (True,
role "ok") on the press edge: it answers the kit's "are you all right?" and
is her daily check-in. It shares the SOS button's debounce and stuck-button
detection (`SosButton`), but never raises and never cancels an alarm: that
is why it is a separate button on a separate pin.
"""

from __future__ import annotations

from typing import ClassVar

from edgeagent_drivers.gpio.base import GpioOptions, Pull
from edgeagent_drivers.gpio.sos import SosDriver
from edgeagent_drivers.gpio.timing import Change, SosButton
from pydantic import Field

from edgeagent.driver import DriverContext, DriverOptions
from edgeagent.models import Reading


class OkButtonOptions(GpioOptions):
    pull: Pull = "up"
    bounce_time: float | None = Field(default=0.05, ge=0, le=1)
    stuck_after: float = Field(default=60.0, gt=0)


class OkButtonDriver(SosDriver):
    """"I'm OK" presses from a push button: the SOS button's timing, an `ok` reading."""

    Options: ClassVar[type[DriverOptions]] = OkButtonOptions
    options: OkButtonOptions  # type: ignore[assignment]

    def __init__(self, options: DriverOptions, context: DriverContext, *,
                 pin_factory: object = None) -> None:
        super(SosDriver, self).__init__(options, context, pin_factory=pin_factory)
        self.machine = SosButton(3.0, "none", 0.0, debounce=self.options.bounce_time or 0.0)

    def _fault(self, t: float) -> str | None:
        held = self.machine.held_for(t)
        if held >= self.options.stuck_after:
            return f"I'm OK button held for {held:.0f} s (stuck button or shorted cable?)"
        return None

    def _to_reading(self, change: Change) -> Reading:
        return self.reading_at(change.at, "ok", change.value, role="ok", data=change.data)
