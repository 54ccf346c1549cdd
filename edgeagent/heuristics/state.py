"""Everything the engine remembers about one home, as one JSON-able model.

`snapshot()` is this model dumped to JSON; `restore()` validates it back. A
restart at 02:30 therefore still knows the resident left the bed at 02:10.
Each tracker owns one part (`presence`, `sleep`, `bathroom`); `migrate()`
turns a snapshot of the older flat layout (version 1) into this one, so an
agent upgraded in the night resumes the night. Times are UTC epoch seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter

from edgeagent.heuristics.asking import AskingState
from edgeagent.heuristics.daily_checks import ChecksState
from edgeagent.heuristics.fence import FenceState
from edgeagent.heuristics.layout import Layout
from edgeagent.heuristics.presence import PresenceState
from edgeagent.heuristics.room_climate import RoomTemperature
from edgeagent.heuristics.routine import RoutineState
from edgeagent.heuristics.seats import SeatsState
from edgeagent.heuristics.sleep import SleepState
from edgeagent.heuristics.summary import Ledger

STATE_VERSION = 2


@dataclass(slots=True)
class LastSeen:
    """The last sign of life: where, when, by which sensor; recent activity times."""

    at: float | None = None
    room: str | None = None
    device: str | None = None
    role: str | None = None
    recent: list[float] = field(default_factory=list)
    # [time, device] of the last 10 minutes' activity (a person moves several sensors).
    recent_devices: list[tuple[float, str]] = field(default_factory=list)


@dataclass(slots=True)
class BathroomState:
    since: float | None = None
    room: str | None = None


@dataclass(slots=True)
class HomeState:
    """A plain dataclass (fast attribute writes on every reading); pydantic (de)serialises it."""

    version: int = STATE_VERSION
    now: float | None = None
    mono_offset: float = 0.0
    seen: LastSeen = field(default_factory=LastSeen)
    layout: Layout = field(default_factory=Layout)
    presence: PresenceState = field(default_factory=PresenceState)
    sleep: SleepState = field(default_factory=SleepState)
    bathroom: BathroomState = field(default_factory=BathroomState)
    fence: FenceState = field(default_factory=FenceState)
    seats: SeatsState = field(default_factory=SeatsState)
    asking: AskingState = field(default_factory=AskingState)
    silence_started: float | None = None  # the day silence in progress began (learning)
    last_motion: dict[str, float] = field(default_factory=dict)
    visitor_until: float | None = None
    contact_changes: dict[str, list[float]] = field(default_factory=dict)  # recent, per contact
    # Vitals awaiting confirmation: name -> [time, value].
    vitals_pending: dict[str, list[float]] = field(default_factory=dict)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    routine: RoutineState = field(default_factory=RoutineState)
    ledger: Ledger | None = None
    next_summary_at: float | None = None
    history: list[dict[str, float | None]] = field(default_factory=list)
    change_streak: dict[str, int] = field(default_factory=dict)
    # Room temperatures (cold_home / hot_home), per room.
    rooms: dict[str, RoomTemperature] = field(default_factory=dict)
    checks: ChecksState = field(default_factory=ChecksState)


STATE_ADAPTER: TypeAdapter[HomeState] = TypeAdapter(HomeState)

_KEPT_V1 = ("now", "mono_offset", "last_motion", "visitor_until", "contact_changes",
            "vitals_pending", "alerts", "routine", "ledger", "next_summary_at", "history",
            "change_streak", "rooms", "checks")


def migrate(raw: dict[str, Any]) -> dict[str, Any] | None:
    """A snapshot in the current layout, or None when it is not one we know."""
    version = raw.get("version")
    if version == STATE_VERSION:
        return raw
    if version != 1:
        return None
    out: dict[str, Any] = {k: raw[k] for k in _KEPT_V1 if k in raw}
    out["version"] = STATE_VERSION
    out["seen"] = {"at": raw.get("last_activity"), "room": raw.get("last_room"),
                   "device": raw.get("last_device"), "role": raw.get("last_role"),
                   "recent": raw.get("recent", [])}
    out["layout"] = {"has_entrance": raw.get("has_entrance", False),
                     "has_bed": raw.get("has_bed", False),
                     "motion_rooms": raw.get("motion_rooms", [])}
    presence = raw.get("presence", "unknown")
    out["presence"] = {"state": presence, "how": "inside" if presence == "home" else "",
                       "door_pending_since": raw.get("door_pending_since"),
                       "away_since": raw.get("away_since")}
    settled = bool(raw.get("settled", False))
    out["sleep"] = {
        "in_bed": settled, "in_bed_at": raw.get("settled_at"),
        "evidence": "mat" if raw.get("has_bed") else "passage",
        "bedroom_since": raw.get("in_bedroom_since"), "bed_seen": raw.get("bed_seen", False),
        "up_since": raw.get("night_up_since"), "up_rooms": raw.get("night_up_rooms", []),
        "up_strong": raw.get("night_up_confirmed", False),
        "out_of_bed_at": raw.get("out_of_bed_at"),
        "last_bedroom_event": raw.get("last_bedroom_event"),
        "last_bedroom_activity": raw.get("last_bedroom_activity"),
        "bed_occupied": raw.get("bed_occupied", {}),
        "bed_pressed_since": raw.get("bed_pressed_since", {}),
        "bed_empty_since": raw.get("bed_empty_since"),
    }
    out["bathroom"] = {"since": raw.get("bathroom_since"), "room": raw.get("bathroom_room")}
    return out
