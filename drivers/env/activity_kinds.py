"""One table: which wireless sensor values are activity, and as which reading.

Shared by `ble.sensors` (BTHome binary objects) and `mqtt.local`
(Zigbee2MQTT fields), so a wireless kit produces the same `motion` and
`door` readings as `gpio.pir` and `gpio.contact`, and every heuristic works
unchanged. Held presence (BTHome occupancy 0x23, presence 0x25,
Zigbee2MQTT mmWave `presence`) becomes `motion` on each change, marked
`held` in the reading's data: the engine has no held-occupancy kind.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ActivityKind:
    """A binary value's reading: `sensor` "motion" or "door"; for doors what True means."""

    sensor: str
    default_role: str | None = None
    true_is_open: bool = True
    held: bool = False


ACTIVITY_KINDS: dict[str, ActivityKind] = {
    "motion": ActivityKind("motion"),                        # BTHome 0x21, Z2M PIR
    "occupancy": ActivityKind("motion", held=True),          # BTHome 0x23; Z2M PIR motion
    "presence": ActivityKind("motion", held=True),           # BTHome 0x25, Z2M mmWave
    "door": ActivityKind("door", "door"),                    # BTHome 0x1A: 1 = open
    "window": ActivityKind("door", "window"),                # BTHome 0x2D: 1 = open
    "opening": ActivityKind("door", "door"),                 # BTHome 0x11: 1 = open
    "contact": ActivityKind("door", "door", true_is_open=False),  # Z2M: true = closed
}
"""By BTHome object name / Zigbee2MQTT field. Z2M PIRs report `occupancy` for motion."""


def activity_reading(kind: str, flag: bool) -> tuple[str, bool | str]:
    """(sensor, value) for one binary value of a kind in `ACTIVITY_KINDS`."""
    spec = ACTIVITY_KINDS[kind]
    if spec.sensor == "door":
        return "door", "open" if flag == spec.true_is_open else "closed"
    return spec.sensor, flag
