"""Home or away, with the evidence that moved it there.

A person leaves and comes home through a door. So:

- the entrance contact, then nothing inside for `away_minutes`: away since
  the door;
- the entrance contact, then activity inside: home (she stayed in, or came
  in);
- away, and her wristband (`ble.presence`) heard at home again: home;
- away, and events inside without the entrance contact: one event is not a
  person coming home (a pet, a seat pad, a contact glitching, a sensor
  firing by itself in an empty flat). She is taken to be back only on
  strong evidence: `return_sensors` different sensors in `return_rooms`
  rooms within `return_minutes` (a missed door event, not a ghost). That
  return is "home" but not confirmed by the door, and says so.

Without an entrance contact the tracker stays `unknown`: the kit never
knows the home is empty, and never knows it is occupied.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from edgeagent.heuristics.settings import HeuristicsSettings

Presence = Literal["home", "away", "unknown"]
HowKnown = Literal["door", "inside", "sensors", "tag", ""]


@dataclass(slots=True)
class PresenceState:
    state: Presence = "unknown"
    how: HowKnown = ""  # door: came in/stayed in after the door; sensors: back without it
    evidence: str = ""
    door_pending_since: float | None = None
    away_since: float | None = None
    # Events inside while away: [time, device, room], the last `return_minutes` only.
    inside_while_away: list[tuple[float, str, str]] = field(default_factory=list)


class PresenceTracker:
    """Moves `PresenceState` on entrance-door events, inside events and the away timer."""

    def __init__(self, settings: HeuristicsSettings) -> None:
        self.settings = settings
        self.state = PresenceState()

    @property
    def away(self) -> bool:
        return self.state.state == "away"

    def confirmed_home(self, has_entrance: bool) -> bool:
        """Home, as the entrance contact tells it (not a return inferred without the door)."""
        st = self.state
        return has_entrance and st.state == "home" and st.how != "sensors"

    def away_due(self) -> float | None:
        pending = self.state.door_pending_since
        return None if pending is None else pending + self.settings.away_minutes * 60

    def entrance(self, at: float, when: str) -> None:
        st = self.state
        if st.state == "unknown":
            st.state, st.how, st.evidence = "home", "inside", f"entrance door used at {when}"
        st.door_pending_since = at

    def went_out(self, when: str) -> float:
        """The away timer fired: away since the door. Returns that instant."""
        st = self.state
        door = st.door_pending_since
        assert door is not None
        st.state, st.how, st.away_since, st.door_pending_since = "away", "", door, None
        st.evidence = f"entrance door at {when}, then nothing inside"
        st.inside_while_away = []
        return door

    def tag_back(self, tag: str, when: str) -> bool:
        """Her wristband is heard again at home: she is back. True when that changed."""
        st = self.state
        if st.state != "away":
            return False
        st.state, st.how = "home", "tag"
        st.evidence = f"her wristband ({tag}) heard at home again at {when}"
        st.away_since, st.inside_while_away, st.door_pending_since = None, [], None
        return True

    def inside(self, at: float, device: str, room: str, what: str, when: str,
               has_entrance: bool) -> bool:
        """Activity inside. Returns True when it shows she is (or stayed) home."""
        st, s = self.state, self.settings
        if st.door_pending_since is not None:
            came_in = st.state == "away"
            st.door_pending_since = None
            st.state, st.how = "home", "door"
            st.evidence = (f"came in through the entrance door: {what} in {room} at {when}"
                           if came_in else f"stayed inside: {what} in {room} at {when}")
            st.away_since, st.inside_while_away = None, []
            return True
        if st.state == "away":
            horizon = at - s.return_minutes * 60
            recent = [e for e in st.inside_while_away if e[0] >= horizon]
            recent.append((at, device, room))
            st.inside_while_away = recent[-32:]
            devices = {e[1] for e in recent}
            rooms = {e[2] for e in recent}
            if len(devices) >= s.return_sensors and len(rooms) >= s.return_rooms:
                st.state, st.how = "home", "sensors"
                st.evidence = (f"back without the entrance door: {len(devices)} sensors in "
                               f"{len(rooms)} rooms within {round(s.return_minutes)} min "
                               f"(last {what} in {room} at {when})")
                st.away_since, st.inside_while_away = None, []
                return True
            return False
        if st.state == "unknown" and has_entrance:
            st.state, st.how, st.evidence = "home", "inside", f"{what} in {room} at {when}"
        return True
