"""One table: which wireless sensor values are activity, and as which reading.

Shared by `ble.sensors` (BTHome binary objects) and `mqtt.local`
(Zigbee2MQTT fields, by the map entry's `kind`), so a wireless kit produces
the same `motion`, `door` and `occupancy` readings as `gpio.pir`,
`gpio.contact` and `gpio.chairpad`, and every heuristic works unchanged.

Held presence (BTHome occupancy 0x23 and presence 0x25, a Zigbee2MQTT
mmWave radar's `presence`, or its `occupancy` mapped with
`kind = "occupancy"`) becomes `occupancy` True/False: a state held for as
long as she is there, which the heuristics read as "she is here", not as
silence. A Zigbee2MQTT PIR also calls its motion `occupancy`; its map entry
says `kind = "motion"`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ActivityKind:
    """A binary value's reading: `sensor` "motion", "door" or "occupancy"; for doors
    what True means."""

    sensor: str
    default_role: str | None = None
    true_is_open: bool = True


ACTIVITY_KINDS: dict[str, ActivityKind] = {
    "motion": ActivityKind("motion"),                        # BTHome 0x21, Z2M PIR
    "occupancy": ActivityKind("occupancy"),                  # BTHome 0x23; Z2M radar (held)
    "presence": ActivityKind("occupancy", "radar"),          # BTHome 0x25, Z2M mmWave (held)
    "door": ActivityKind("door", "door"),                    # BTHome 0x1A: 1 = open
    "window": ActivityKind("door", "window"),                # BTHome 0x2D: 1 = open
    "opening": ActivityKind("door", "door"),                 # BTHome 0x11: 1 = open
    "contact": ActivityKind("door", "door", true_is_open=False),  # Z2M: true = closed
}
"""By BTHome object name / `mqtt.local` map kind."""

def activity_reading(kind: str, flag: bool) -> tuple[str, bool | str]:
    """(sensor, value) for one binary value of a kind in `ACTIVITY_KINDS`."""
    spec = ACTIVITY_KINDS[kind]
    if spec.sensor == "door":
        return "door", "open" if flag == spec.true_is_open else "closed"
    return spec.sensor, flag
