"""Sensor faults and ordinary disturbances laid over a week of sensor intervals.

Each fault takes the resident's intervals and returns the week as the kit
would report it, plus what was done (`Fault`), so tests and reports can
check that it is there. Events a fault adds carry its name as their source;
they are not the resident, so they go on while she lies on the floor.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from edgeagent_mocks.synthetic.layouts import Layout
from edgeagent_mocks.synthetic.life import HOUR, MINUTE, Week
from edgeagent_mocks.synthetic.render import Interval

FAULT_KINDS = ("phantom", "missed_entrance", "stuck_mat", "chattering_mat",
               "chattering_contact", "pet", "visitor", "dead_sensor",
               "stuck_pad", "curtain_radar")
"""The last two only apply to the held-occupancy layouts, so the others draw as before."""


@dataclass(frozen=True, slots=True)
class Fault:
    kind: str
    sensor: str | None = None
    start: float | None = None
    end: float | None = None
    count: int = 0
    detail: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Span:
    start: float
    end: float


Apply = Callable[[list[Interval], Layout, Week, random.Random, Span],
                 tuple[list[Interval], Fault] | None]


def applicable(kind: str, layout: Layout, week: Week) -> bool:
    if kind in ("stuck_mat", "chattering_mat"):
        return layout.bed
    if kind == "missed_entrance":
        return layout.entrance and bool(week.outings)
    if kind == "pet":
        return layout.pir
    if kind == "stuck_pad":
        return layout.chair
    if kind == "curtain_radar":
        return layout.radar
    return True


def _phantom(iv: list[Interval], layout: Layout, week: Week, rng: random.Random,
             span: Span) -> tuple[list[Interval], Fault]:
    """Single triggers of a random sensor at random moments (radio glitch, a draught)."""
    candidates = [s for s in layout.sensors if s.role != "entrance"]
    count = rng.randint(1, 4)
    added = []
    for _ in range(count):
        sensor = rng.choice(candidates)
        at = rng.uniform(span.start, span.end)
        added.append(Interval(sensor.id, at, at + rng.uniform(0.5, 3), "phantom"))
    return iv + added, Fault("phantom", None, None, None, count)


def _missed_entrance(iv: list[Interval], layout: Layout, week: Week, rng: random.Random,
                     span: Span) -> tuple[list[Interval], Fault] | None:
    """The entrance contact misses her coming home (or going out) once."""
    door = next(s.id for s in layout.sensors if s.role == "entrance")
    outings = [o for o in week.outings if span.start < o[0] and o[1] < span.end]
    if not outings:
        return None
    start, end = rng.choice(outings)
    which = end if rng.random() < 0.6 else start
    victims = [i for i in iv if i.sensor == door and abs(i.start - which) < 10 * MINUTE]
    if not victims:
        return None
    drop = set(map(id, victims))
    return [i for i in iv if id(i) not in drop], Fault(
        "missed_entrance", door, which, None, len(victims),
        {"return": float(which == end)})


def _stuck_mat(iv: list[Interval], layout: Layout, week: Week, rng: random.Random,
               span: Span) -> tuple[list[Interval], Fault]:
    """The mat reads pressed for hours whatever happens (a heavy object, a failed switch)."""
    mat = next(s.id for s in layout.sensors if s.kind == "bed")
    start = rng.uniform(span.start, span.end - 8 * HOUR)
    end = min(span.end, start + rng.uniform(6, 30) * HOUR)
    kept = [i for i in iv if i.sensor != mat or i.end < start or i.start > end]
    return [*kept, Interval(mat, start, end, "stuck_mat")], Fault("stuck_mat", mat, start, end, 1)


def _chatter(iv: list[Interval], sensor: str, kind: str, rng: random.Random,
             span: Span) -> tuple[list[Interval], Fault]:
    """Bursts of a switch toggling every second or so, for minutes at a time."""
    bursts = rng.randint(2, 6)
    added: list[Interval] = []
    windows: list[tuple[float, float]] = []
    for _ in range(bursts):
        start = rng.uniform(span.start, span.end - HOUR)
        end = start + rng.uniform(1, 6) * MINUTE
        windows.append((start, end))
        t = start
        while t < end:
            on = rng.uniform(0.3, 2.5)
            added.append(Interval(sensor, t, t + on, kind))
            t += on + rng.uniform(0.3, 3)
    kept = [i for i in iv if i.sensor != sensor
            or not any(i.start < b and i.end > a for a, b in windows)]
    return kept + added, Fault(kind, sensor, windows[0][0], windows[-1][1], bursts)


def _chattering_mat(iv: list[Interval], layout: Layout, week: Week, rng: random.Random,
                    span: Span) -> tuple[list[Interval], Fault]:
    mat = next(s.id for s in layout.sensors if s.kind == "bed")
    return _chatter(iv, mat, "chattering_mat", rng, span)


def _chattering_contact(iv: list[Interval], layout: Layout, week: Week, rng: random.Random,
                        span: Span) -> tuple[list[Interval], Fault]:
    contacts = [s.id for s in layout.sensors if s.kind == "contact" and s.role != "entrance"]
    return _chatter(iv, rng.choice(contacts), "chattering_contact", rng, span)


def _pet(iv: list[Interval], layout: Layout, week: Week, rng: random.Random,
         span: Span) -> tuple[list[Interval], Fault]:
    """A cat: PIR pulses at random in the rooms it roams, day and night, home or away."""
    rooms = [s for s in layout.sensors if s.kind == "motion" and s.room != "bedroom"]
    rate = rng.uniform(0.5, 3.0) / HOUR
    added = []
    t = span.start + rng.expovariate(rate)
    while t < span.end:
        sensor = rng.choice(rooms)
        added.append(Interval(sensor.id, t, t + rng.uniform(1, 3), "pet"))
        t += rng.expovariate(rate)
    return iv + added, Fault("pet", None, span.start, span.end, len(added),
                             {"per_hour": rate * HOUR})


def _visitor(iv: list[Interval], layout: Layout, week: Week, rng: random.Random,
             span: Span) -> tuple[list[Interval], Fault]:
    """A visitor evening: someone else comes in, moves about the kitchen and living room."""
    day = int((span.start + 6 * HOUR) // 86400) + rng.randint(0, 5)
    start = day * 86400 + rng.uniform(16.5, 19.0) * HOUR
    end = start + rng.uniform(1.5, 4.0) * HOUR
    added: list[Interval] = []
    door = next((s for s in layout.sensors if s.role == "entrance"), None)
    if door is not None:
        added += [Interval(door.id, start, start + 5, "visitor"),
                  Interval(door.id, end - 6, end - 1, "visitor")]
    used = [s for s in layout.sensors
            if s.room in ("kitchen", "living", "hall", "bathroom")
            and s.kind not in ("bed", "occupancy") and s.role != "entrance"]
    radar = next((s for s in layout.sensors if s.role == "radar"), None)
    if radar is not None:  # sees the visitor in the living room for the whole visit
        added.append(Interval(radar.id, start + 60, end - 60, "visitor"))
    t = start + 30
    while t < end - 30:
        sensor = rng.choice(used)
        added.append(Interval(sensor.id, t, t + rng.uniform(1, 10), "visitor"))
        t += rng.expovariate(1 / 45)
    return iv + added, Fault("visitor", None, start, end, len(added))


def _dead_sensor(iv: list[Interval], layout: Layout, week: Week, rng: random.Random,
                 span: Span) -> tuple[list[Interval], Fault]:
    """A sensor goes silent for good (flat battery, unplugged): nothing after `start`."""
    counts: dict[str, int] = {}
    for i in iv:
        counts[i.sensor] = counts.get(i.sensor, 0) + 1
    busy = sorted(counts, key=lambda k: -counts[k])[:4]
    sensor = rng.choice(busy)
    start = rng.uniform(span.start + 12 * HOUR, span.end - 24 * HOUR)
    kept = [i for i in iv if i.sensor != sensor or i.start < start]
    return kept, Fault("dead_sensor", sensor, start, None, len(iv) - len(kept))


def _stuck_pad(iv: list[Interval], layout: Layout, week: Week, rng: random.Random,
               span: Span) -> tuple[list[Interval], Fault]:
    """The chair pad reads occupied for hours whoever sits there (a cushion, a failed switch)."""
    pad = next(s.id for s in layout.sensors if s.role == "chair")
    start = rng.uniform(span.start, span.end - 8 * HOUR)
    end = min(span.end, start + rng.uniform(6, 30) * HOUR)
    kept = [i for i in iv if i.sensor != pad or i.end < start or i.start > end]
    return [*kept, Interval(pad, start, end, "stuck_pad")], Fault("stuck_pad", pad, start, end, 1)


def _curtain_radar(iv: list[Interval], layout: Layout, week: Week, rng: random.Random,
                   span: Span) -> tuple[list[Interval], Fault]:
    """The radar sees a curtain moving in a draught: presence flickers on and off for hours,
    whether she is there, asleep or out."""
    radar = next(s.id for s in layout.sensors if s.role == "radar")
    episodes = rng.randint(2, 5)
    added: list[Interval] = []
    windows: list[tuple[float, float]] = []
    for _ in range(episodes):
        start = rng.uniform(span.start, span.end - 4 * HOUR)
        end = start + rng.uniform(0.5, 3) * HOUR
        windows.append((start, end))
        t = start + rng.uniform(0, 120)
        while t < end:
            on = rng.uniform(5, 90)
            added.append(Interval(radar, t, t + on, "curtain_radar"))
            t += on + rng.uniform(10, 300)
    windows.sort()
    return iv + added, Fault("curtain_radar", radar, windows[0][0], windows[-1][1], episodes)


FAULTS: dict[str, Apply] = {
    "phantom": _phantom, "missed_entrance": _missed_entrance, "stuck_mat": _stuck_mat,
    "chattering_mat": _chattering_mat, "chattering_contact": _chattering_contact,
    "pet": _pet, "visitor": _visitor, "dead_sensor": _dead_sensor,
    "stuck_pad": _stuck_pad, "curtain_radar": _curtain_radar,
}


def apply_faults(kinds: list[str], iv: list[Interval], layout: Layout, week: Week,
                 rng: random.Random, span: Span) -> tuple[list[Interval], list[Fault]]:
    done: list[Fault] = []
    for kind in kinds:
        result = FAULTS[kind](iv, layout, week, rng, span)
        if result is not None:
            iv, fault = result
            done.append(fault)
    return iv, done
