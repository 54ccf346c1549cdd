"""One labelled synthetic home-week: sensor events, sensor map, annotations, faults and falls.

`generate(seed, index)` is deterministic: the same pair gives the same home
(layout, resident, faults) and byte-identical event lines. Layouts go round
robin over `LAYOUT_NAMES`, so any run of 8 consecutive indices covers each
layout once; `layouts=ALL_LAYOUT_NAMES` goes round the held-occupancy
layouts (chair pad, radar) too.

Falls are labelled instants. A night fall happens on a night toilet trip
or on getting up for the day (between 22:00 and 05:30), after she has been seen outside the bedroom:
60 s after the first sensor outside the bedroom on the way there, or
seconds after the last one on the way back, always before the next bedroom
sensor, so the last sign of her is outside the bedroom. A day fall happens
one second after her first event after a random moment between 10:00 and
15:00 (not the entrance door, not a pad being pressed, not within 10
minutes of an outing, not while her chair pad or the radar still holds her
in the living room: she is on the floor elsewhere, or got up first). In
the fallen variant of the week everything she and visitors would have
caused in the 4 hours after the fall is deleted; what faults cause (a pet,
a chattering switch, a stuck mat, a flickering radar) goes on.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from edgeagent_mocks.synthetic.faults import FAULT_KINDS, Fault, Span, applicable, apply_faults
from edgeagent_mocks.synthetic.layouts import LAYOUT_NAMES, Layout, layout_named
from edgeagent_mocks.synthetic.life import (
    DAY,
    HOUR,
    MINUTE,
    RESIDENT_KINDS,
    Resident,
    Trip,
    Week,
    make_resident,
    plan_week,
)
from edgeagent_mocks.synthetic.render import Interval, render

FALL_WINDOW = 4 * HOUR
LINE_TIME = "%Y-%m-%d %H:%M:%S.%f"
PEOPLE = frozenset({"resident", "visitor"})


@dataclass(frozen=True, slots=True)
class Event:
    t: float            # seconds from `HomeWeek.epoch`
    sensor: str
    value: str          # ON | OFF
    source: str         # resident, visitor, or the fault that caused it


@dataclass(frozen=True, slots=True)
class Fall:
    kind: str           # night | day
    at: float
    how: str            # way_to_toilet, way_back, day


@dataclass(slots=True)
class HomeWeek:
    seed: int
    index: int
    layout: Layout
    resident: Resident
    faults: list[Fault]
    events: list[Event]
    activities: list[tuple[float, float, str]]
    falls: list[Fall]
    unseen_trips: int
    epoch: datetime

    @property
    def name(self) -> str:
        return f"synthetic-{self.seed}-{self.index:05d}"

    def stamp(self, t: float) -> str:
        return (self.epoch + timedelta(seconds=round(t, 3))).strftime(LINE_TIME)

    def lines(self, events: list[Event] | None = None) -> list[str]:
        return [f"{self.stamp(e.t)} {e.sensor} {e.value}"
                for e in (self.events if events is None else events)]

    def activity_lines(self) -> list[str]:
        return [f"{self.stamp(a)} {self.stamp(b)} {name}" for a, b, name in self.activities]

    def fallen(self, fall: Fall) -> list[Event]:
        """The week as the sensors would report it had she fallen at `fall.at`."""
        end = fall.at + FALL_WINDOW
        return [e for e in self.events
                if not (fall.at < e.t <= end and e.source in PEOPLE)]

    def write(self, folder: Path) -> None:
        """events.txt, map.toml and activities.txt, the format of the recorded homes."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "events.txt").write_text("\n".join(self.lines()) + "\n", encoding="utf-8")
        (folder / "map.toml").write_text(self.layout.map_toml(), encoding="utf-8")
        (folder / "activities.txt").write_text("\n".join(self.activity_lines()) + "\n",
                                               encoding="utf-8")


def to_events(intervals: list[Interval], span: Span) -> list[Event]:
    """ON at the start and OFF at the end of each run of overlapping intervals, per sensor."""
    by_sensor: dict[str, list[Interval]] = {}
    for iv in intervals:
        by_sensor.setdefault(iv.sensor, []).append(iv)
    events: list[Event] = []
    for sensor, ivs in by_sensor.items():
        ivs.sort(key=lambda i: (i.start, i.end))
        first, end, last = ivs[0], ivs[0].end, ivs[0]
        runs: list[tuple[Interval, Interval]] = []
        for iv in ivs[1:]:
            if iv.start <= end + 0.2:
                if iv.end > end:
                    end, last = iv.end, iv
                continue
            runs.append((first, last))
            first, end, last = iv, iv.end, iv
        runs.append((first, last))
        for on, off in runs:
            if span.start <= on.start < span.end:
                events.append(Event(round(on.start, 3), sensor, "ON", on.source))
            if span.start <= off.end < span.end and on.start >= span.start:
                events.append(Event(round(max(off.end, on.start + 0.5), 3), sensor, "OFF",
                                    off.source))
    events.sort(key=lambda e: (e.t, e.sensor, e.value))
    return events


def _annotations(week: Week, span: Span) -> list[tuple[float, float, str]]:
    names = {"toilet": "use_toilet", "shower": "take_shower", "bath": "take_bath",
             "breakfast": "prep_breakfast", "lunch": "prep_lunch", "dinner": "prep_dinner",
             "nap": "nap"}
    acts = [(s.start, s.end, names[s.activity]) for s in week.stays if s.activity in names]
    acts += [(a, b, "go_to_bed") for a, b in week.sleeps]
    acts += [(a, b, "leave_house") for a, b in week.outings]
    return sorted((max(a, span.start), min(b, span.end), n) for a, b, n in acts
                  if b > span.start and a < span.end)


def _is_night(t: float) -> bool:
    hour = (t % DAY) / HOUR
    return hour >= 22.0 or hour < 5.5


def _early_risings(week: Week) -> list[Trip]:
    """Getting up for the day before 05:30 (an early riser): the way to the toilet is at night.

    `back` is when she next enters the bedroom, if she does within the hour.
    """
    out = []
    for _, wake in week.sleeps:
        if not _is_night(wake):
            continue
        later = [s for s in week.stays if s.start >= wake]
        left = next((i for i, s in enumerate(later) if s.room != "bedroom"), None)
        if left is None:
            continue
        back = next((s.start for s in later[left:] if s.room == "bedroom"), wake + HOUR)
        out.append(Trip(wake, min(back, wake + HOUR), min(back, wake + HOUR)))
    return out


def _her_held_runs(layout: Layout, events: list[Event]) -> list[tuple[float, float]]:
    """(on, off) of each run of a held sensor (chair pad, radar) that she started."""
    held = {s.id for s in layout.sensors if s.kind == "occupancy"}
    since: dict[str, Event] = {}
    runs: list[tuple[float, float]] = []
    for e in events:
        if e.sensor not in held:
            continue
        if e.value == "ON":
            since[e.sensor] = e
        elif e.sensor in since:
            on = since.pop(e.sensor)
            if on.source == "resident":
                runs.append((on.t, e.t))
    runs += [(on.t, math.inf) for on in since.values() if on.source == "resident"]
    return runs


def _falls(week: Week, layout: Layout, events: list[Event], faults: list[Fault],  # noqa: C901 - the fall scenarios of the synthetic week, one condition each
           rng: random.Random, span: Span) -> tuple[list[Fall], int]:
    rooms = {s.id: s.room for s in layout.sensors}
    entrance = {s.id for s in layout.sensors if s.role == "entrance"}
    pads = {s.id for s in layout.sensors if s.kind in ("bed", "occupancy")}
    own = [e for e in events if e.source == "resident"]
    visits = [(f.start or 0.0, f.end or 0.0) for f in faults if f.kind == "visitor"]
    held = _her_held_runs(layout, events)

    def calm(t: float) -> bool:
        return not any(a - HOUR <= t <= b + HOUR for a, b in visits)

    def free(t: float) -> bool:
        """Not in her armchair nor held by the radar: she can be on the floor out of sight."""
        return not any(a <= t <= b for a, b in held)

    by_night: dict[int, list[Fall]] = {}
    unseen = 0
    for trip in [*week.trips, *_early_risings(week)]:
        if not (span.start < trip.start and trip.end + FALL_WINDOW < span.end):
            continue
        # what the sensors saw of her between leaving the bedroom and coming back into it
        outside = [e for e in own if trip.start < e.t < trip.back and rooms[e.sensor] != "bedroom"
                   and e.sensor not in pads]
        if not outside or outside[0].t - trip.start > 10 * MINUTE:
            unseen += 1
            continue
        if rng.random() < 0.5:
            at, how = min(outside[0].t + 60, trip.back - 0.001), "way_to_toilet"
        else:
            at, how = min(outside[-1].t + rng.uniform(5, 30), trip.back - 0.001), "way_back"
        if _is_night(at) and calm(at) and free(at):
            by_night.setdefault(int((at - 12 * HOUR) // DAY), []).append(Fall("night", at, how))
    falls = [rng.choice(options) for _, options in sorted(by_night.items())]
    first_day, last_day = int(span.start // DAY), int(span.end // DAY)
    for day in range(first_day, last_day + 1):
        target = day * DAY + rng.uniform(10, 15) * HOUR
        hit = next((e for e in own if e.t >= target and e.sensor not in entrance
                    and not (e.sensor in pads and e.value == "ON") and free(e.t + 1)
                    and not any(a - 10 * MINUTE <= e.t <= b + 10 * MINUTE
                                for a, b in week.outings)), None)
        if hit is None or hit.t >= day * DAY + 16 * HOUR or not calm(hit.t):
            continue
        if span.start < hit.t and hit.t + 1 + FALL_WINDOW < span.end:
            falls.append(Fall("day", hit.t + 1, "day"))
    return sorted(falls, key=lambda f: f.at), unseen


def generate(seed: int, index: int, *, days: int = 7, faults: list[str] | None = None,
             resident_kind: str | None = None,
             layouts: Sequence[str] = LAYOUT_NAMES) -> HomeWeek:
    """Home-week `index` of the population drawn from `seed`.

    `faults` and `resident_kind` force a fault list or a resident (tests); by
    default a home has no fault (35 %), one (45 %) or two (20 %), drawn from
    those its layout and life allow. `layouts` is the round robin
    (`ALL_LAYOUT_NAMES` adds the chair pad and radar homes).
    """
    rng = random.Random(f"edgeagent-synthetic:{seed}:{index}")
    name = layouts[index % len(layouts)]
    layout = layout_named(name, bedroom_door=rng.random() < 0.5)
    kind = rng.choice(RESIDENT_KINDS)
    resident = make_resident(resident_kind or kind, rng)
    week = plan_week(resident, rng, days + 1)
    span = Span(12 * HOUR, days * DAY + 12 * HOUR)
    intervals = render(layout, resident, week, rng)
    if faults is None:
        count = rng.choices((0, 1, 2), (0.35, 0.45, 0.2))[0]
        allowed = [k for k in FAULT_KINDS if applicable(k, layout, week)]
        faults = rng.sample(allowed, count)
    intervals, done = apply_faults(faults, intervals, layout, week, rng, span)
    events = to_events(intervals, span)
    falls, unseen = _falls(week, layout, events, done, rng, span)
    epoch = datetime(2024, 1, 1) + timedelta(days=(index * 7 + seed) % 365)
    return HomeWeek(seed, index, layout, resident, done, events, _annotations(week, span),
                    falls, unseen, epoch)
