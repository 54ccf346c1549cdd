"""`gpio.alarm_input`: a smoke, gas or CO detector's alarm relay (dry contact).

Wiring: most mains and 12 V detectors have a relay output for an alarm
panel. Wire its normally-open contact (closes on alarm) between the GPIO
and ground: defaults `pull = "up"`, active low, *active* meaning "alarm".
For the normally-closed contact (opens on alarm, and also on a cut cable,
which is the safer choice) set `active_high = true`. Never connect a
detector's 12 V output straight to a GPIO: use its relay, or an optocoupler.

Readings: sensor `smoke`, `gas` or `co` (option `alarm`), value True when
the alarm has been active for `confirm` seconds (0 = on the edge), False
once it has been quiet for `clear_after` seconds. The core turns a True
into a critical alert.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from edgeagent_drivers.gpio.base import GpioOptions, Pull, SettledGpioDriver
from edgeagent_drivers.gpio.timing import Change, Settler
from pydantic import Field

from edgeagent.driver import DriverContext, DriverOptions
from edgeagent.models import Reading


class AlarmInputOptions(GpioOptions):
    pull: Pull = "up"
    alarm: Literal["smoke", "gas", "co"]
    bounce_time: float | None = Field(default=0.05, ge=0, le=1)
    confirm: float = Field(default=0.0, ge=0, le=30,
                           description="seconds the alarm must stay active before it is reported")
    clear_after: float = Field(default=5.0, ge=0, le=600,
                               description="seconds of quiet before the alarm is reported clear")


class AlarmInputDriver(SettledGpioDriver):
    """Smoke/gas/CO alarm from a detector's relay contact."""

    Options: ClassVar[type[DriverOptions]] = AlarmInputOptions
    options: AlarmInputOptions
    counts_glitches: ClassVar[bool] = False

    def __init__(self, options: DriverOptions, context: DriverContext, *,
                 pin_factory: object = None) -> None:
        super().__init__(options, context, pin_factory=pin_factory)
        self.machine = Settler(settle_on=self.options.confirm,
                               settle_off=self.options.clear_after)

    def _to_reading(self, change: Change) -> Reading:
        return self.reading_at(change.at, self.options.alarm, bool(change.value),
                               role="alarm", data=change.data)
