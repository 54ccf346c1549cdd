"""Held occupancy: a chair pad or a presence radar that says "she is here" for hours.

A pad on her armchair or an mmWave radar holds its state while she sits
perfectly still; the silence of the momentary sensors (motion, contacts) is
then not a silence. The held state never switches safety off:

- it holds only while the last sign of life is in its room, on or after the
  moment it was pressed (activity in another room: she is not in the chair —
  a cushion, a pet, a radar seeing a curtain);
- held longer than `occupancy_stuck_hours` it is a stuck sensor: reported once
  (`device_fault`), ignored until it changes;
- sitting has its own limit (`chair_overstay`), and getting up (the pad going
  empty) is a sign of life that starts the silence clock, like a bed exit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgeagent.heuristics.settings import HeuristicsSettings


@dataclass(slots=True)
class Seat:
    room: str
    role: str | None = None
    occupied: bool = False
    since: float | None = None  # occupied since
    stuck_reported: bool = False


@dataclass(slots=True)
class SeatsState:
    seats: dict[str, Seat] = field(default_factory=dict)  # device -> seat


class SeatTracker:
    def __init__(self, settings: HeuristicsSettings) -> None:
        self.settings = settings
        self.state = SeatsState()

    def reading(self, device: str, room: str, role: str | None, occupied: bool,
                at: float) -> tuple[bool, float | None]:
        """(changed, seconds of the sit that just ended, if one did)."""
        seat = self.state.seats.get(device)
        if seat is None:
            seat = self.state.seats[device] = Seat(room=room, role=role)
        seat.room, seat.role = room, role
        if occupied == seat.occupied:
            return False, None
        ended = None
        if occupied:
            seat.since = at
        elif seat.since is not None:
            ended = at - seat.since
            seat.since = None
        seat.occupied, seat.stuck_reported = occupied, False
        return True, ended

    def stuck_limit(self) -> float:
        return self.settings.occupancy_stuck_hours * 3600

    def holding(self, seen_at: float | None, seen_room: str | None,
                now: float) -> tuple[str, Seat] | None:
        """The seat she is in: occupied, not stuck, and the last sign of life there."""
        best: tuple[str, Seat] | None = None
        for device, seat in self.state.seats.items():
            if not seat.occupied or seat.since is None or seat.stuck_reported:
                continue
            if now - seat.since >= self.stuck_limit():
                continue
            if seen_room != seat.room or seen_at is None or seen_at < seat.since:
                continue
            if best is None or (best[1].since or 0.0) < seat.since:
                best = (device, seat)
        return best

    def next_stuck(self) -> tuple[float, str] | None:
        due = [((seat.since or 0.0) + self.stuck_limit(), device)
               for device, seat in self.state.seats.items()
               if seat.occupied and seat.since is not None and not seat.stuck_reported]
        return min(due) if due else None
