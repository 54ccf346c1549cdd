"""Everything the engine remembers about one home, as one JSON-able model.

`snapshot()` is this model dumped to JSON; `restore()` validates it back. A
restart at 02:30 therefore still knows the resident left the bed at 02:10.
Times are UTC epoch seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import TypeAdapter

from edgeagent.heuristics.daily_checks import ChecksState
from edgeagent.heuristics.environment import RoomTemperature
from edgeagent.heuristics.routine import RoutineState
from edgeagent.heuristics.summary import Ledger

STATE_VERSION = 1


@dataclass(slots=True)
class HomeState:
    """A plain dataclass (fast attribute writes on every reading); pydantic (de)serialises it."""

    version: int = STATE_VERSION
    now: float | None = None
    mono_offset: float = 0.0
    # Where and when the resident was last seen doing something.
    last_activity: float | None = None
    last_room: str | None = None
    last_device: str | None = None
    last_role: str | None = None
    recent: list[float] = field(default_factory=list)
    # Home or away (entrance door, then motion inside or not).
    has_entrance: bool = False
    presence: Literal["home", "away", "unknown"] = "unknown"
    door_pending_since: float | None = None
    away_since: float | None = None
    # The night: in the bedroom since, settled for the night, up at night since.
    in_bedroom_since: float | None = None
    settled: bool = False
    settled_at: float | None = None
    night_up_since: float | None = None
    night_up_rooms: list[str] = field(default_factory=list)
    night_up_confirmed: bool = False
    out_of_bed_at: float | None = None
    bathroom_since: float | None = None
    bathroom_room: str | None = None
    bathroom_walked_in: bool = False  # another sensor saw her in the 10 min before the stay
    last_bedroom_event: float | None = None
    last_bedroom_activity: float | None = None  # the same, without mats going empty
    has_bed: bool = False
    motion_rooms: list[str] = field(default_factory=list)
    last_motion: dict[str, float] = field(default_factory=dict)
    visitor_until: float | None = None
    bed_seen: bool = False
    contact_changes: dict[str, list[float]] = field(default_factory=dict)  # recent, per contact
    bed_occupied: dict[str, bool] = field(default_factory=dict)
    bed_pressed_since: dict[str, float] = field(default_factory=dict)  # mat -> pressed since
    bed_empty_since: float | None = None
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
