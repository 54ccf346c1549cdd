"""The electronic fence: her tag left after the entrance door opened and is not back.

Pure and self-contained: the engine feeds it entrance-door openings and the
`tag` readings of `ble.presence`, asks `check` on its ticks and turns the
returned `FenceAlert`s into a `wandering` alert (critical) and its
resolution. `away()` is evidence for the presence model: her tag went with
her through the entrance door.

A departure is a tag that goes absent with its last strong advert between
`door_grace_s` before and `linger_s` after an entrance opening (the door
opened, then she and her tag were gone; the absence itself is declared a
miss window later).
It raises when the door opened inside the window the engine says applies
(the night, or always for a care plan that says so) and the tag is not back
`fence_minutes` after it left.

What it cannot tell: a tag left on the bedside table while she goes out is
"present"; a tag taken out by a visitor, or a tag whose battery died just as
the door opened, looks like her leaving.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from edgeagent.models import Reading


@dataclass(frozen=True, slots=True)
class FenceSettings:
    fence_minutes: float = 5.0
    door_grace_s: float = 120.0   # tag last heard this long before the door opened still counts
    linger_s: float = 600.0       # ... or this long after (she stood at the open door)


@dataclass(frozen=True, slots=True)
class FenceAlert:
    """Raise or resolve `wandering` for one tag (the alert key), with a reason in words."""

    action: Literal["raise", "resolve"]
    tag: str
    reason: str
    door_at: float
    last_heard: float


@dataclass(slots=True)
class Departure:
    door_at: float
    last_heard: float
    judged: bool = False     # its deadline passed (raised, or outside the window)
    raised: bool = False


@dataclass(slots=True)
class FenceState:
    """What the fence remembers (part of the engine's snapshot, so a restart keeps it)."""

    door_opened_at: float | None = None
    absent_since: dict[str, float] = field(default_factory=dict)  # tag -> last strong advert
    departures: dict[str, Departure] = field(default_factory=dict)


class Fence:
    """Per tag: absent since when, and whether that followed an entrance opening."""

    def __init__(self, settings: FenceSettings | None = None,
                 state: FenceState | None = None) -> None:
        self.settings = settings or FenceSettings()
        self.state = state or FenceState()

    @property
    def door_opened_at(self) -> float | None:
        return self.state.door_opened_at

    @property
    def absent_since(self) -> dict[str, float]:
        return self.state.absent_since

    @property
    def departures(self) -> dict[str, Departure]:
        return self.state.departures

    def observe(self, reading: Reading, at: float,
                hhmm: Callable[[float], str]) -> FenceAlert | None:
        """Feed one reading: entrance `door` "open", and `tag` "present"/"absent"."""
        if reading.sensor in ("door", "contact") and reading.role == "entrance" \
                and reading.value == "open":
            self.entrance_opened(at)
        elif reading.sensor == "tag" and reading.value == "absent":
            silent = reading.data.get("silent_for_s", 0.0)
            self.tag_absent(reading.device, at,
                            float(silent) if isinstance(silent, int | float) else 0.0)
        elif reading.sensor == "tag" and reading.value == "present":
            return self.tag_present(reading.device, at, hhmm)
        return None

    def entrance_opened(self, at: float) -> None:
        self.state.door_opened_at = at
        for tag, last_heard in self.absent_since.items():
            self._maybe_departed(tag, last_heard)

    def tag_absent(self, tag: str, at: float, silent_for_s: float = 0.0) -> None:
        """A `tag` reading "absent" at `at`, its last strong advert `silent_for_s` before."""
        last_heard = at - max(0.0, silent_for_s)
        self.absent_since[tag] = last_heard
        self._maybe_departed(tag, last_heard)

    def tag_present(self, tag: str, at: float, hhmm: Callable[[float], str]) -> FenceAlert | None:
        """The tag is back: resolves its `wandering` if one was raised."""
        self.absent_since.pop(tag, None)
        departure = self.departures.pop(tag, None)
        if departure is None or not departure.raised:
            return None
        return FenceAlert("resolve", tag, f"{tag} back at {hhmm(at)}", departure.door_at,
                          departure.last_heard)

    def _maybe_departed(self, tag: str, last_heard: float) -> None:
        door = self.door_opened_at
        if door is None or tag in self.departures:
            return
        s = self.settings
        if door - s.door_grace_s <= last_heard <= door + s.linger_s:
            self.departures[tag] = Departure(door, last_heard)

    def away(self) -> bool:
        """Evidence for the presence model: a tag went out through the entrance door."""
        return bool(self.departures)

    def deadline(self) -> float | None:
        """When `check` may next raise (for the engine's timer)."""
        due = [self._due(d) for d in self.departures.values() if not d.judged]
        return min(due) if due else None

    def _due(self, departure: Departure) -> float:
        return max(departure.door_at, departure.last_heard) + self.settings.fence_minutes * 60

    def check(self, at: float, in_window: Callable[[float], bool],
              hhmm: Callable[[float], str]) -> list[FenceAlert]:
        """Alerts to raise now. `in_window(door_at)`: the fence applies at that hour."""
        out: list[FenceAlert] = []
        for tag, departure in self.departures.items():
            if departure.judged or at < self._due(departure):
                continue
            departure.judged = True
            if not in_window(departure.door_at):
                continue  # an outing by day: evidence for `away()`, no alert
            departure.raised = True
            out.append(FenceAlert(
                "raise", tag,
                f"{tag} not heard since {hhmm(departure.last_heard)}, entrance door opened at "
                f"{hhmm(departure.door_at)}",
                departure.door_at, departure.last_heard))
        return out
