"""What the configured kit can see, told to the safety engine before the first reading.

The engine learns its layout from readings too, but some facts must be known
from the start: an entrance contact that has not opened yet today is still an
entrance contact, and a kit that can ask her (an annunciator and an "I'm OK"
button) never shows that in a reading before the first question.
"""

from __future__ import annotations

from typing import Any

from edgeagent.config import AgentConfig

MOTION_TYPES = frozenset({"gpio.pir"})
BED_TYPES = frozenset({"gpio.bedmat", "serial.bedmat"})
OK_TYPES = frozenset({"gpio.ok_button"})


def layout_of(config: AgentConfig) -> dict[str, Any]:
    """Keyword arguments for `SafetyEngine.declare` from the enabled drivers and outputs."""
    bedrooms = set(config.heuristics.bedroom_rooms)
    motion_rooms: set[str] = set()
    entrance = bed = bedroom_door = ok_button = False
    for driver in config.drivers:
        if not driver.enabled:
            continue
        role = getattr(driver, "role", None)
        room = driver.room
        if driver.type in MOTION_TYPES and room:
            motion_rooms.add(room)
        if driver.type in BED_TYPES:
            bed = True
        if role == "entrance":
            entrance = True
        if role in ("door", "bedroom_door") and room in bedrooms:
            bedroom_door = True
        devices = getattr(driver, "devices", None) or []
        if driver.type in OK_TYPES or role == "ok" or any(
                getattr(device, "role", None) == "ok" for device in devices):
            ok_button = True  # a GPIO button, or a BTHome button set apart as "I'm OK"
    return {"motion_rooms": sorted(motion_rooms), "entrance": entrance, "bed": bed,
            "bedroom_door": bedroom_door,
            "can_ask": ok_button and bool(getattr(config, "outputs", []))}
