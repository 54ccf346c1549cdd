"""`ble.sensors`: BTHome motion, door and window sensors (Shelly BLU Motion, Door/Window).

Each binary object in `ACTIVITY_KINDS` (motion 0x21, door 0x1A, window 0x2D,
opening 0x11, occupancy 0x23, presence 0x25) becomes the reading the GPIO
drivers make: `motion` True/False, `door` "open"/"closed", `occupancy`
True/False (a held state, as from `gpio.chairpad`), with the device's room
and `role` (default from the object: `window` for a window sensor, `radar`
for presence, else `door`; set `entrance` on the front door, `chair` or
`sofa` on a seat sensor). Motion is reported on each new packet that says
motion, and when it clears; doors and occupancy on each change. The first value
each device reports after the driver (re)starts carries `initial`: it is the
state found, not a change (an entrance heard open at 04:49 is not a night exit),
as the GPIO drivers mark the level they read at start.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import Field

from edgeagent.driver import DriverOptions

from .activity_kinds import ACTIVITY_KINDS, activity_reading
from .bthome_devices import BthomeDeviceOptions, BthomeDevicesDriver, BthomeDriverOptions, Tag
from .formats import EnvFrame


class WirelessSensorOptions(BthomeDeviceOptions):
    """One sensor; `role` says what a door sensor guards (entrance, bathroom_door, fridge...)."""

    role: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,31}$")


class SensorsOptions(BthomeDriverOptions):
    """The `[[drivers]]` table of type `ble.sensors`."""

    devices: Sequence[WirelessSensorOptions] = Field(min_length=1)


class SensorsDriver(BthomeDevicesDriver):
    """Activity readings from BTHome motion and contact sensors."""

    Options: ClassVar[type[DriverOptions]] = SensorsOptions
    options: SensorsOptions
    kind_word: ClassVar[str] = "sensor"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.last: dict[tuple[str, str], bool] = {}

    def on_frame(self, tag: Tag, frame: EnvFrame, *, fresh: bool) -> None:
        opts = tag.opts
        assert isinstance(opts, WirelessSensorOptions)
        for name, value in frame.values.items():
            spec = ACTIVITY_KINDS.get(name)
            if spec is None or not isinstance(value, bool):
                continue
            before = self.last.get((opts.id, name))
            self.last[(opts.id, name)] = value
            changed = before is None or before != value
            again = spec.sensor == "motion" and value and fresh
            if not (changed or again):
                continue
            sensor, reading_value = activity_reading(name, value)
            data: dict[str, Any] = {"object": name, "address": opts.address, "rssi": tag.rssi,
                                    "encrypted": frame.encrypted}
            if before is None:
                data["initial"] = True  # the state found at (re)start: a baseline
            self.count("readings")
            self.context.emit(self.reading(
                sensor, reading_value, device=opts.id, room=self.room_of(tag),
                role=opts.role or spec.default_role, data=data))
