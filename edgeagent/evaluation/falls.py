"""Where the evaluation makes the resident fall: night trips and daytime moments.

The rules are those of the project's reference evaluation, kept literally
(including its scan windows), so `edgeagent evaluate` and that script inject
the same falls at the same instants. Hindsight is allowed here: this is the
ground truth the engine is judged against, not the engine.

Night: a trip starts with a bed exit (a bed sensor goes OFF while no other
is ON and stays unpressed >= 60 s) between 00:00 and 05:30 inside an
annotated `go_to_bed` span, with an annotated `use_toilet` strictly inside a
`go_to_bed` span, or with an annotated `night_toilet_trip` from 22:00 to 06:00.
Only trips starting between 22:00 and 05:30 count. She falls 60 s after the
first person event outside the bedroom within 10 minutes of the start (a
contact changing 6+ times within a minute either side bounces; a bed or seat
pad being pressed is lying or sitting down), or 1 ms before the next bedroom
event if that comes sooner. One fall per night (the earliest).

Day: per calendar day, the first event from 10:00 that is not the entrance
door, not an ignored sensor, not a pad being pressed and not within 10 minutes
of an annotated `leave_house`; if it is before 16:00 that day and the
recording goes on for more than 4 hours, she falls 1 s after it.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from itertools import pairwise

from edgeagent.casas import CasasRecord, SensorMap

NIGHT_TRIP_WITHIN = timedelta(minutes=10)
FALL_AFTER_LEAVING = timedelta(seconds=60)
BED_EXIT_MIN_EMPTY = timedelta(seconds=60)
BEFORE_BEDROOM = timedelta(milliseconds=1)
CHATTER_CHANGES = 6            # changes of one contact within CHATTER_HALF either side
CHATTER_HALF = timedelta(seconds=60)
CHATTER_SCAN = 200             # events either side the reference looks at
PAD_KINDS = frozenset({"bed", "occupancy"})
DAY_FROM = time(10)
DAY_UNTIL_HOUR = 16
OUTING_MARGIN = timedelta(minutes=10)
LIE_FOR = timedelta(hours=4)
DAY_FALL_AFTER = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class Activity:
    """One annotated span of the resident's day (`go_to_bed`, `use_toilet`, `leave_house`, ...)."""

    start: datetime
    end: datetime
    name: str


@dataclass(frozen=True, slots=True)
class FallPoint:
    """An instant at which the resident falls; `event` is the index of the event that placed it."""

    at: datetime
    event: int
    trip_start: datetime | None = None
    cause: str = ""


def is_night(moment: datetime) -> bool:
    """22:00 to 05:30, the window in which a trip start counts as a night trip."""
    return moment.hour >= 22 or moment.hour < 5 or (moment.hour == 5 and moment.minute < 30)


def in_time_order(times: Sequence[datetime]) -> bool:
    return all(a <= b for a, b in pairwise(times))


class _Log:
    """The recording as parallel lists, with the map's sensor classes, for the scans below."""

    def __init__(self, records: Sequence[CasasRecord], sensor_map: SensorMap) -> None:
        self.times = [r.when for r in records]
        self.sensors = [r.sensor for r in records]
        self.values = [r.value for r in records]
        self.in_order = in_time_order(self.times)
        specs = sensor_map.sensors
        self.kind = {sid: str(spec.kind) for sid, spec in specs.items()}
        self.beds = {sid for sid, kind in self.kind.items() if kind == "bed"}
        self.away = {sid for sid, spec in specs.items()
                     if spec.kind != "ignore" and spec.room != "bedroom"}
        self.bedroom = {sid for sid, spec in specs.items()
                        if spec.kind != "ignore" and spec.room == "bedroom"}
        self.entrance = {sid for sid, spec in specs.items() if spec.role == "entrance"}

    def first_at_or_after(self, moment: datetime) -> int:
        """Where a forward scan for events at or after `moment` may start."""
        return bisect_left(self.times, moment) if self.in_order else 0

    def chatter(self, k: int) -> bool:
        sid, when = self.sensors[k], self.times[k]
        if self.kind.get(sid) != "contact":
            return False
        lo, hi = max(0, k - CHATTER_SCAN), min(len(self.times), k + CHATTER_SCAN)
        near = sum(1 for j in range(lo, hi)
                   if self.sensors[j] == sid and abs(self.times[j] - when) <= CHATTER_HALF)
        return near >= CHATTER_CHANGES

    def pad_pressed(self, k: int) -> bool:
        return self.kind.get(self.sensors[k]) in PAD_KINDS and self.values[k] == "ON"


def _fall_point(log: _Log, start: datetime, cause: str) -> FallPoint | None:
    times, n = log.times, len(log.times)
    found: int | None = None
    for k in range(log.first_at_or_after(start), n):
        if log.in_order and times[k] - start > NIGHT_TRIP_WITHIN:
            break
        if (times[k] >= start and log.sensors[k] in log.away
                and not log.chatter(k) and not log.pad_pressed(k)):
            found = k
            break
    if found is None or times[found] - start > NIGHT_TRIP_WITHIN:
        return None
    out = times[found]
    for k in range(found + 1, n):
        if times[k] <= out + FALL_AFTER_LEAVING and log.sensors[k] in log.bedroom:
            return FallPoint(times[k] - BEFORE_BEDROOM, found, start, cause)
        if log.in_order and times[k] > out + FALL_AFTER_LEAVING:
            break
    return FallPoint(out + FALL_AFTER_LEAVING, found, start, cause)


def _trip_starts(log: _Log, activities: Sequence[Activity]) -> list[tuple[datetime, str]]:  # noqa: C901 - one pass over the log, the labelling rules of the dataset side by side
    beds = [(a.start, a.end) for a in activities if a.name == "go_to_bed"]
    n = len(log.times)
    next_bed_on: list[int | None] = [None] * n
    upcoming: int | None = None
    for k in range(n - 1, -1, -1):
        next_bed_on[k] = upcoming
        if log.sensors[k] in log.beds and log.values[k] == "ON":
            upcoming = k
    starts: list[tuple[datetime, str]] = []
    pressed: set[str] = set()
    for k, (when, sid, value) in enumerate(zip(log.times, log.sensors, log.values, strict=True)):
        if sid not in log.beds:
            continue
        if value == "ON":
            pressed.add(sid)
        else:
            pressed.discard(sid)
        if value != "OFF" or pressed:
            continue
        nxt = next_bed_on[k]
        if nxt is not None and log.times[nxt] - when < BED_EXIT_MIN_EMPTY:
            continue
        early = when.hour < 5 or (when.hour == 5 and when.minute < 30)
        if early and any(a <= when <= b for a, b in beds):
            starts.append((when, f"bed exit ({sid} off)"))
    for act in activities:
        if act.name == "use_toilet" and any(a < act.start < b for a, b in beds):
            starts.append((act.start, "annotated use_toilet in go_to_bed"))
        if act.name == "night_toilet_trip" and (act.start.hour >= 22 or act.start.hour < 6):
            starts.append((act.start, "annotated night_toilet_trip"))
    return starts


def night_falls(records: Sequence[CasasRecord], sensor_map: SensorMap,
                activities: Sequence[Activity]) -> list[FallPoint]:
    """One fall per night (the night of a fall is its date 12 hours earlier), in time order."""
    log = _Log(records, sensor_map)
    points = [p for start, cause in _trip_starts(log, activities) if is_night(start)
              if (p := _fall_point(log, start, cause)) is not None]
    points.sort(key=lambda p: (p.at, p.trip_start or p.at))
    chosen: list[FallPoint] = []
    nights: set[object] = set()
    for point in points:
        night = (point.at - timedelta(hours=12)).date()
        if night not in nights:
            nights.add(night)
            chosen.append(point)
    return chosen


def day_falls(records: Sequence[CasasRecord], sensor_map: SensorMap,
              activities: Sequence[Activity]) -> list[FallPoint]:
    """At most one fall per calendar day of the recording, in day order."""
    log = _Log(records, sensor_map)
    if not log.times:
        return []
    outings = [(a.start - OUTING_MARGIN, a.end + OUTING_MARGIN)
               for a in activities if a.name == "leave_house"]
    end = log.times[-1]
    chosen: list[FallPoint] = []
    for day in sorted({t.date() for t in log.times}):
        ten = datetime.combine(day, DAY_FROM)
        found: int | None = None
        for k in range(log.first_at_or_after(ten), len(log.times)):
            when, sid = log.times[k], log.sensors[k]
            if log.in_order and when.date() > day:
                break
            if (when >= ten and sid not in log.entrance and log.kind.get(sid) != "ignore"
                    and not log.pad_pressed(k)
                    and not any(a <= when <= b for a, b in outings)):
                found = k
                break
        if found is None:
            continue
        when = log.times[found]
        if when.date() == day and when.hour < DAY_UNTIL_HOUR and end - when > LIE_FOR:
            chosen.append(FallPoint(when + DAY_FALL_AFTER, found, None,
                                    "first activity after 10:00"))
    return chosen
