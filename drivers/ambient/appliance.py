"""Appliance in use from a smart plug's power: above a threshold for long enough. Pure.

Plugs report sparsely (Zigbee2MQTT on change, Tasmota every TelePeriod, 300 s
by default), so the last reported power holds until the next report
(sample-and-hold). "On" needs the power at or above `threshold_w` for
`on_after_s` (a fridge compressor's or a TV's standby spike is not a kettle);
"off" needs it below for `off_after_s` (a microwave's magnetron cycles, a
kettle's element switches off at the boil). `feed` takes a report, `tick`
evaluates timers; both return the new state when it changed, else None.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class ApplianceDetector:
    threshold_w: float
    on_after_s: float
    off_after_s: float
    on: bool = False
    power_w: float | None = None
    above_since: float | None = None
    below_since: float | None = None
    on_since: float | None = None

    def feed(self, power_w: float, now: float) -> bool | None:
        self.power_w = power_w
        if power_w >= self.threshold_w:
            self.below_since = None
            if self.above_since is None:
                self.above_since = now
        else:
            self.above_since = None
            if self.below_since is None:
                self.below_since = now
        return self.tick(now)

    def tick(self, now: float) -> bool | None:
        if not self.on and self.above_since is not None \
                and now - self.above_since >= self.on_after_s:
            self.on = True
            self.on_since = self.above_since
            return True
        if self.on and self.below_since is not None \
                and now - self.below_since >= self.off_after_s:
            self.on = False
            return False
        return None

    def deadline(self) -> float | None:
        """The next time `tick` could change the state, if any."""
        if not self.on and self.above_since is not None:
            return self.above_since + self.on_after_s
        if self.on and self.below_since is not None:
            return self.below_since + self.off_after_s
        return None
