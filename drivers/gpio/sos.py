"""`gpio.sos`: the emergency call button (wall push button or pull cord).

Wiring: the button's normally-open contact between the GPIO and ground;
defaults `pull = "up"`, active low, *active* meaning "pressed". Pull-cord
switches that open on pull need `active_high = true`.

Readings: sensor `sos`, value True, on the press edge itself, never
delayed: the core turns it into a critical alert that bypasses batching.
With `long_press_action = "cancel"`, a *later* press within `cancel_window`
seconds is held to decide: held `long_press` seconds it reports sensor
`sos_cancel` (a carer on site), released sooner it raises `sos` again. The
press that raised the alarm can never cancel it, however long it is held.
A button held down for `stuck_after` seconds marks the driver degraded.
"""

from __future__ import annotations

from typing import ClassVar

from edgeagent_drivers.gpio.base import GpioDriver, GpioOptions, Pull
from edgeagent_drivers.gpio.timing import Change, LongPressAction, SosButton
from pydantic import Field

from edgeagent.driver import DriverContext, DriverOptions
from edgeagent.models import Reading


class SosOptions(GpioOptions):
    pull: Pull = "up"
    bounce_time: float | None = Field(default=0.05, ge=0, le=1)
    long_press: float = Field(default=3.0, gt=0, le=60)
    long_press_action: LongPressAction = "none"
    cancel_window: float = Field(default=600.0, ge=0)
    stuck_after: float = Field(default=60.0, gt=0)


class SosDriver(GpioDriver):
    """SOS press (and optional cancel) from a push button."""

    Options: ClassVar[type[DriverOptions]] = SosOptions
    options: SosOptions

    def __init__(self, options: DriverOptions, context: DriverContext, *,
                 pin_factory: object = None) -> None:
        super().__init__(options, context, pin_factory=pin_factory)
        o = self.options
        self.machine = SosButton(o.long_press, o.long_press_action, o.cancel_window,
                                 debounce=o.bounce_time or 0.0)

    def _start(self, active: bool, t: float) -> list[Change]:
        # A button already down at start is a stuck button or a person
        # holding it: raise, the carer can judge; health shows "held".
        return self.machine.feed(active, t)

    def _edge(self, active: bool, t: float) -> list[Change]:
        changes = self.machine.feed(active, t)
        self.health.counters["presses"] = self.machine.presses
        self.health.counters["bounces"] = self.machine.bounces
        return changes

    def _tick(self, t: float) -> list[Change]:
        return self.machine.tick(t)

    def _deadline(self) -> float | None:
        return self.machine.deadline()

    def _fault(self, t: float) -> str | None:
        held = self.machine.held_for(t)
        if held >= self.options.stuck_after:
            return (f"SOS button held for {held:.0f} s "
                    "(stuck button, shorted cable or wrong active level?)")
        return None

    def _to_reading(self, change: Change) -> Reading:
        return self.reading_at(change.at, change.sensor or "sos", change.value,
                               role="sos", data=change.data)
