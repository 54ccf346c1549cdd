"""The night: in bed, up at night (and how sure), back in bed, awake for the day.

- **In bed**: at night, quiet in the bedroom for `settle_minutes` after a
  bedroom event (`settle_bed_minutes` once the mat was pressed), or a
  bedroom event after an hour of silence at night (she had gone to bed
  unseen). How sure depends on the layout: a mat or a sensor on the way into
  bed ("passage") makes it sure; a drawer or lamp in the bedroom does not
  ("weak"): she may have walked out again unseen.
- **Up at night**: in bed, then activity outside the bedroom at night. The
  exit is *strong* when a bedroom event (a door, the mat going empty, bedroom
  motion) came within `exit_evidence_seconds` before, or she kept moving
  outside (`exit_confirm_seconds`, `fall_burst_events` events or two
  sensors; a PIR re-triggering within seconds is one movement); a single event
  outside within 10 minutes of the mat going empty
  is *linked* to that bed exit; a single event outside with nothing in the
  bedroom before it is *weak* (a motion sensor can fire by itself) — weak is
  not nothing: it still starts the clock, with the doubt in the alert.
- **Awake**: activity outside the bedroom in the day, a bed mat going empty
  in the day after a long lie, or getting up at night within half an hour
  of her usual (learned) wake time.

A bed mat going empty at night is noted but is not an exit: mats drop
pressure many times a night while the person sleeps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from edgeagent.heuristics.layout import BEDROOM_DOOR_ROLES
from edgeagent.heuristics.settings import HeuristicsSettings

InBedEvidence = Literal["mat", "passage", "weak"]
LONG_LIE_SECONDS = 1800.0  # a mat pressed this long, then empty in the day: she got up
# A bed exit is the mat going empty, then within minutes a sensor outside the bedroom;
# an outside event half an hour after the mat emptied is not linked to it.
EXIT_LINK_SECONDS = 600.0
# Events of one sensor closer than this are one movement: a PIR re-triggers every few
# seconds while one person walks past it.
SAME_MOVEMENT_SECONDS = 5.0
# A toilet trip takes minutes; twenty minutes up and moving in the last hours of the
# night is the start of her day, not a trip out of bed.
EARLY_DAY_SECONDS = 1200.0


@dataclass(slots=True)
class SleepState:
    in_bed: bool = False
    in_bed_at: float | None = None
    evidence: InBedEvidence = "weak"
    bedroom_since: float | None = None  # in the bedroom (not yet in bed) since
    bed_seen: bool = False  # the mat was pressed during this bedroom stay
    up_since: float | None = None
    up_rooms: list[str] = field(default_factory=list)
    up_devices: list[str] = field(default_factory=list)
    up_events: int = 0  # separate movements (see SAME_MOVEMENT_SECONDS)
    up_last: float | None = None
    up_strong: bool = False  # a bedroom event just before, or she kept moving outside
    up_linked: bool = False  # the mat went empty in the minutes before: a bed exit
    up_door: bool = False  # she opened the bedroom door on her way out
    up_by_hand: bool = False  # a door, a cupboard, a tap was used: a person, not a pet
    out_of_bed_at: float | None = None
    # Outside the bedroom since its last event (in bed or not): how long, how much.
    outside_since: float | None = None
    outside_last: float | None = None
    outside_events: int = 0
    outside_devices: list[str] = field(default_factory=list)
    last_bedroom_event: float | None = None  # mats going empty included
    last_bedroom_door: float | None = None
    woke_at: float | None = None  # the end of her last night in bed
    last_bedroom_activity: float | None = None  # a person in the bedroom (not a mat emptying)
    bed_occupied: dict[str, bool] = field(default_factory=dict)
    bed_pressed_since: dict[str, float] = field(default_factory=dict)
    bed_empty_since: float | None = None


@dataclass(slots=True)
class NightTrip:
    """A trip out of bed that ended back in the bedroom (for the daily summary)."""

    seconds: float
    rooms: list[str]


class SleepTracker:
    """Moves `SleepState` on bedroom and outside activity, mats and the settle timer."""

    def __init__(self, settings: HeuristicsSettings) -> None:
        self.settings = settings
        self.state = SleepState()

    # ------------------------------------------------------------------ in bed
    def settle_due(self, last_seen: float | None, has_bed: bool,
                   night_or_next_start: float | None) -> float | None:
        """When quiet in the bedroom becomes "in bed" (None: not waiting for it).

        `night_or_next_start` is the caller's answer for bedroom_since + wait.
        A bedroom that went quiet in the afternoon is not bedtime at 22:00:
        past `bedtime_quiet_max_minutes` of silence the day rules keep it.
        """
        st = self.state
        if st.in_bed or st.bedroom_since is None or not (st.bed_seen or not has_bed):
            return None
        if night_or_next_start is None or last_seen is None:
            return None
        if night_or_next_start - last_seen > self.settings.bedtime_quiet_max_minutes * 60:
            return None
        return night_or_next_start

    def wait_seconds(self) -> float:
        s = self.settings
        return (s.settle_bed_minutes if self.state.bed_seen else s.settle_minutes) * 60

    def settle(self, at: float, passage: bool) -> None:
        st = self.state
        st.in_bed, st.in_bed_at = True, at
        st.evidence = "mat" if st.bed_seen else ("passage" if passage else "weak")

    # -------------------------------------------------------------- readings
    def mat(self, device: str, occupied: bool, at: float, night: bool) -> bool:
        """A mat reading. True when it shows she got up (empty in the day after a long lie)."""
        st = self.state
        was = st.bed_occupied.get(device, False)
        pressed_since = st.bed_pressed_since.get(device)
        if occupied and not was:
            st.bed_pressed_since[device] = at
        st.bed_occupied[device] = occupied
        if occupied:
            st.bed_empty_since = None
            return False
        st.last_bedroom_event = at
        if not any(st.bed_occupied.values()) and st.bed_empty_since is None:
            st.bed_empty_since = at
        return (was and not night and pressed_since is not None
                and at - pressed_since >= LONG_LIE_SECONDS and not any(st.bed_occupied.values()))

    def out_of_bedroom(self, seconds: float) -> bool:
        """Seen outside the bedroom for `seconds` or more, with two events or more: a
        person, not a door swinging behind her as she goes in."""
        st = self.state
        return (st.outside_since is not None and st.outside_last is not None
                and st.outside_events >= 2 and st.outside_last - st.outside_since >= seconds)

    def bedroom(self, at: float, what: str, night: bool, last_seen: float | None,
                passage: bool) -> NightTrip | None:
        """Activity in the bedroom; returns the trip it ends, if she was up at night."""
        st, s = self.state, self.settings
        st.last_bedroom_event = st.last_bedroom_activity = at
        if what in BEDROOM_DOOR_ROLES:
            st.last_bedroom_door = at
        st.outside_since, st.outside_last, st.outside_events = None, None, 0
        st.outside_devices = []
        trip = None
        if st.up_since is not None:
            trip = NightTrip(at - st.up_since, list(st.up_rooms)) if st.up_strong else None
            self._clear_up()
        elif (not st.in_bed and last_seen is not None and night
              and at - last_seen >= s.unseen_settle_minutes * 60):
            # Silent for an hour at night, then the bedroom: she had gone to bed unseen.
            self.settle(at, passage)
        if st.bedroom_since is None:
            st.bedroom_since, st.bed_seen = at, False
        if what == "bed":
            st.bed_seen = True
        return trip

    def outside(self, at: float, room: str, device: str, night: bool,  # noqa: C901 - the exit-evidence rules (strong, linked, weak, early day) read together
                usual_wake_soon: bool, *, by_hand: bool = False,
                early_morning: bool = False) -> bool:
        """Activity outside the bedroom. Returns True when it ends the night (awake).

        `by_hand`: the sensor is one a person operates (a door, a cupboard, a tap),
        not a motion sensor a pet also sets off. `early_morning`: the last hours of
        the night, when twenty minutes up and about is getting up early, not a trip.
        """
        st, s = self.state, self.settings
        st.bedroom_since, st.bed_seen = None, False
        if st.outside_since is None:
            st.outside_since, st.outside_events, st.outside_devices = at, 0, []
        if st.outside_last is None or at - st.outside_last >= SAME_MOVEMENT_SECONDS:
            st.outside_events += 1
        st.outside_last = at
        if device not in st.outside_devices and len(st.outside_devices) < 8:
            st.outside_devices.append(device)
        if not st.in_bed:
            return False
        if not night or (usual_wake_soon and st.up_since is None):
            return True
        if st.up_since is None:
            st.up_since, st.up_rooms, st.up_devices, st.up_events = at, [], [], 0
            empty = st.bed_empty_since
            st.out_of_bed_at = empty if empty is not None and (
                at - empty <= s.exit_evidence_seconds) else at
            bedroom = st.last_bedroom_event
            st.up_strong = bedroom is not None and at - bedroom <= s.exit_evidence_seconds
            st.up_linked = empty is not None and at - empty <= EXIT_LINK_SECONDS
            door = st.last_bedroom_door
            st.up_door = door is not None and at - door <= s.exit_evidence_seconds
            st.up_by_hand = st.up_door
        elif (early_morning and at - st.up_since >= EARLY_DAY_SECONDS
              and st.up_events >= s.fall_burst_events):
            return True  # up and about at the end of the night: her day began
        st.up_by_hand = st.up_by_hand or by_hand
        if st.up_events == 0 or at - (st.up_last or at) >= SAME_MOVEMENT_SECONDS:
            st.up_events += 1
        st.up_last = at
        if device not in st.up_devices:
            st.up_devices.append(device)
        if (at - st.up_since >= s.exit_confirm_seconds or st.up_events >= s.fall_burst_events
                or len(st.up_devices) >= 2):
            st.up_strong = True
        if room not in st.up_rooms:
            st.up_rooms.append(room)
        return False

    def discount(self, device: str) -> bool:
        """`device` turned out to be a bouncing switch: if it alone made her "up at
        night", she never got up. True when that changed the state."""
        st = self.state
        if st.up_since is None or st.up_devices != [device]:
            return False
        self._clear_up()
        return True

    def wake(self) -> float | None:
        """End the night; returns when she got up (the start of the trip, if one)."""
        st = self.state
        started = st.up_since
        st.woke_at = st.outside_last or st.last_bedroom_event
        st.in_bed, st.in_bed_at = False, None
        st.bedroom_since, st.bed_seen = None, False  # the night's bedroom stay is over
        self._clear_up()
        return started

    def forget_night(self) -> None:
        """She went out: no night in progress."""
        st = self.state
        st.in_bed, st.in_bed_at, st.bedroom_since = False, None, None
        self._clear_up()

    def _clear_up(self) -> None:
        st = self.state
        st.up_since, st.up_rooms, st.up_devices, st.up_last = None, [], [], None
        st.up_events, st.up_strong, st.up_linked = 0, False, False
        st.up_door, st.up_by_hand = False, False
