"""Is her tag in the home? Pure hysteresis over advert RSSI, and iBeacon frames.

A wristband or pendant advertises every second or so; one lost advert, a
body between tag and hub or a wall makes RSSI jump 10-20 dB. So:

- present when an advert arrives at or above `present_rssi`;
- while present, any advert at or above `absent_rssi` (weaker) keeps it
  present (hysteresis: a tag at the edge does not flap);
- absent only when no advert strong enough to keep it has arrived for
  `miss_window_s` (a miss window, not one lost advert).

Before the first strong advert the state is unknown; it turns absent once
the window has passed without one (a tag that was never heard).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

APPLE_COMPANY_ID = 0x004C
_IBEACON_PREFIX = bytes([0x02, 0x15])


@dataclass(frozen=True, slots=True)
class IBeacon:
    uuid: str
    major: int
    minor: int


def parse_ibeacon(manufacturer_data: dict[int, bytes]) -> IBeacon | None:
    """The iBeacon in Apple's manufacturer data (02 15, UUID, major, minor, power), or None."""
    raw = manufacturer_data.get(APPLE_COMPANY_ID)
    if raw is None or len(raw) < 22 or raw[:2] != _IBEACON_PREFIX:
        return None
    return IBeacon(str(uuid.UUID(bytes=bytes(raw[2:18]))),
                   int.from_bytes(raw[18:20], "big"), int.from_bytes(raw[20:22], "big"))


class TagPresence:
    """Present/absent for one tag, fed adverts (`heard`) and time (`tick`)."""

    def __init__(self, present_rssi: int, absent_rssi: int, miss_window_s: float,
                 start: float) -> None:
        if absent_rssi > present_rssi:
            raise ValueError("absent_rssi must not be above present_rssi")
        self.present_rssi = present_rssi
        self.absent_rssi = absent_rssi
        self.miss_window_s = miss_window_s
        self.present: bool | None = None
        self.last_kept = start          # the last advert strong enough to keep "present"
        self.last_heard: float | None = None

    def heard(self, rssi: int | None, at: float) -> bool | None:
        """One advert; returns the new state on a change, else None."""
        self.last_heard = at
        level = rssi if rssi is not None else self.present_rssi
        if level >= self.present_rssi or (self.present and level >= self.absent_rssi):
            self.last_kept = at
            if self.present is not True:
                self.present = True
                return True
        return None

    def tick(self, at: float) -> bool | None:
        """Time passed; returns False when the tag has just gone absent."""
        if self.present is not False and at - self.last_kept > self.miss_window_s:
            self.present = False
            return False
        return None

    def deadline(self) -> float | None:
        return None if self.present is False else self.last_kept + self.miss_window_s
