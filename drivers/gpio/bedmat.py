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
The settling is the shared pad code of `pad.py`.
"""

from __future__ import annotations

from typing import ClassVar

from edgeagent_drivers.gpio.pad import PadDriver, PadOptions
from edgeagent_drivers.gpio.timing import Change
from pydantic import Field

from edgeagent.driver import DriverOptions
from edgeagent.models import Reading

IN_BED = "in_bed"
OUT_OF_BED = "out_of_bed"


class BedMatOptions(PadOptions):
    exit_settle: float = Field(default=15.0, ge=0, le=600,
                               description="seconds without weight before out_of_bed")
    entry_settle: float = Field(default=2.0, ge=0, le=600,
                                description="seconds with weight before in_bed")


class BedMatDriver(PadDriver):
    """In bed / out of bed from a mat's contact output, with settle times."""

    Options: ClassVar[type[DriverOptions]] = BedMatOptions
    options: BedMatOptions

    def _to_reading(self, change: Change) -> Reading:
        value = IN_BED if change.value else OUT_OF_BED
        return self.reading_at(change.at, "bed", value, data=change.data)
