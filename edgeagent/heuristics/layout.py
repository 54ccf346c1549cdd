"""What the kit's sensors can see: the layout decides how sure a silence can be.

Two facts about a home's sensors change what a silence means:

- **An entrance contact** sees her leave. Without one, a day out and a day
  on the floor look the same to every other sensor.
- **A sensor on the way into bed** (a bed mat, a motion sensor in the
  bedroom, a contact on the bedroom door) sees her go to bed and come out
  of the bedroom. Without one (drawers, a lamp, a TV in the bedroom, or
  nothing there at all) she goes to bed unseen: the evening's last event is
  in the kitchen or the bathroom, and hours of silence follow every night.

The layout is declared from the config or replay map and completed from the
readings themselves (a mat that reports is a mat), never narrowed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

BEDROOM_DOOR_ROLES = frozenset({"door", "bedroom_door"})


@dataclass(slots=True)
class Layout:
    """The sensors a home has, as far as the rules care."""

    has_entrance: bool = False
    has_bed: bool = False
    bedroom_door: bool = False
    motion_rooms: list[str] = field(default_factory=list)
    can_ask: bool = False  # an annunciator and an "I'm OK" button: she can be asked

    def sees_bed_passage(self, bedrooms: frozenset[str]) -> bool:
        """Going to bed and leaving the bedroom are seen (mat, bedroom motion or door)."""
        return self.has_bed or self.bedroom_door or any(r in bedrooms for r in self.motion_rooms)

    def note(self, sensor: str, room: str | None, role: str | None,
             bedrooms: frozenset[str]) -> bool:
        """Learn from one reading; True when the layout changed."""
        changed = False
        if sensor == "motion" and room and room not in self.motion_rooms:
            self.motion_rooms.append(room)
            changed = True
        elif sensor == "bed" and not self.has_bed:
            self.has_bed = changed = True
        elif role == "entrance" and not self.has_entrance:
            self.has_entrance = changed = True
        elif (role in BEDROOM_DOOR_ROLES and room in bedrooms and sensor in ("door", "contact")
              and not self.bedroom_door):
            self.bedroom_door = changed = True
        return changed

    def sees_person_in_bedroom(self, bedrooms: frozenset[str]) -> bool:
        """A mat or a bedroom motion sensor sees her, not a door that may stand open."""
        return self.has_bed or any(r in bedrooms for r in self.motion_rooms)

    def sees_sitting(self) -> bool:
        """Motion sensors see her move in a room; contacts only see her use things."""
        return bool(self.motion_rooms)

    def limits(self, bedrooms: frozenset[str]) -> list[str]:
        """What this layout cannot tell apart, as reason codes (edgeagent.heuristics.reasons):
        `doubt_no_entrance` (an outing looks like a silence at home), `doubt_bed_unseen`
        (going to bed is not seen)."""
        out = []
        if not self.has_entrance:
            out.append("doubt_no_entrance")
        if not self.sees_bed_passage(bedrooms):
            out.append("doubt_bed_unseen")
        return out
