"""Sensor physics: what a layout's sensors report while the resident lives her week.

Each stay becomes `Interval`s (a sensor ON from start to end): a PIR pulses
for 1-4 s when she moves, more often while cooking than while watching TV
and rarely while asleep; contacts open for seconds when she opens a
cupboard, the fridge or a door, taps run while she washes, light switches
stay on while a dark room is used; a bed mat is pressed while she lies in
bed and drops pressure for a few seconds now and then while she sleeps
(rarely for a minute or more, when she lies on the edge). Going to bed
without touching the bedroom lamp leaves no trace in a contacts kit, as in
real homes. A chair pad is pressed while she sits in her armchair (most of
her sitting, TV and armchair naps; now and then she takes another seat),
lifting for seconds when she leans forward; a living-room radar holds
presence while she is in the room, moving or not, and for its hold time
(10-60 s) after she leaves, with a rare short dropout while she sits very
still.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from edgeagent_mocks.synthetic.layouts import Layout, Sensor
from edgeagent_mocks.synthetic.life import HOUR, Resident, Stay, Week

# mean seconds between PIR pulses while doing this (None: no motion to see)
MOTION_GAP: dict[str, float] = {
    "walk": 2.0, "leave": 15.0, "arrive": 15.0, "sit_up": 8.0, "lie_down": 8.0,
    "toilet": 30.0, "wash": 20.0, "shower": 45.0, "bath": 240.0,
    "breakfast": 20.0, "lunch": 20.0, "dinner": 20.0, "drink": 10.0, "chores": 20.0,
    "sit": 240.0, "tv": 300.0, "nap": 1500.0, "get_up": 20.0, "bedtime": 120.0,
    "sleep": 4800.0,
}
# contact uses per minute of the activity (times the resident's activity factor)
USES_PER_MINUTE: dict[str, float] = {
    "breakfast": 1.0, "lunch": 0.9, "dinner": 1.1, "drink": 1.5, "chores": 0.3,
    "wash": 0.4, "get_up": 0.2,
}


@dataclass(frozen=True, slots=True)
class Interval:
    sensor: str
    start: float
    end: float
    source: str = "resident"


def dark(seconds: float) -> bool:
    hour = (seconds % 86400) / HOUR
    return hour < 7.0 or hour >= 19.0


class Renderer:
    def __init__(self, layout: Layout, resident: Resident, rng: random.Random) -> None:
        self.layout = layout
        self.res = resident
        self.rng = rng
        self.out: list[Interval] = []
        self.mat_noise = rng.uniform(0.2, 2.0)        # pressure drops per hour asleep
        self.closes_bedroom_door = rng.uniform(0.0, 0.9)
        # drawn only for the held-occupancy layouts: the first eight draw as before
        self.armchair = rng.uniform(0.7, 0.95) if layout.chair else 0.0   # sits on the pad
        self.pad_lifts = rng.uniform(0.3, 1.5) if layout.chair else 0.0   # per hour sitting
        self.radar_hold = rng.uniform(10, 60) if layout.radar else 0.0    # seconds
        self.radar_drops = rng.uniform(0.0, 0.4) if layout.radar else 0.0  # per hour still

    def _on(self, sensor: Sensor | None, start: float, seconds: float,
            source: str = "resident") -> None:
        if sensor is not None:
            self.out.append(Interval(sensor.id, start, start + max(0.5, seconds), source))

    def _use(self, room: str, use: str) -> Sensor | None:
        found = [s for s in self.layout.by_use(use) if s.room == room]
        return self.rng.choice(found) if found else None

    def _touch(self, room: str, start: float, end: float, count: int) -> None:
        """`count` cupboard/fridge/tap uses in `room` between start and end."""
        choices = [s for s in self.layout.sensors if s.room == room and s.kind == "contact"
                   and s.use in ("cupboard", "fridge", "tap", "cooking")]
        if not choices:
            return
        weights = [3.0 if s.use == "fridge" else 2.0 if s.use == "tap" else 1.0 for s in choices]
        for _ in range(count):
            sensor = self.rng.choices(choices, weights)[0]
            at = self.rng.uniform(start, max(start, end - 5))
            seconds = self.rng.uniform(2, 25 if sensor.use != "tap" else 40)
            self._on(sensor, at, min(seconds, end - at - 1))   # closed before she walks off

    def _motion(self, stay: Stay) -> None:
        pir = self.layout.motion(stay.room)
        gap = MOTION_GAP.get(stay.activity)
        if pir is None or gap is None:
            return
        t = stay.start + self.rng.uniform(0.2, 2.0)
        if stay.activity == "sleep":
            t = stay.start + self.rng.expovariate(1 / gap)
        while t < stay.end:
            pulse = self.rng.uniform(1, 4)
            self._on(pir, t, pulse)
            t += pulse + 1 + self.rng.expovariate(1 / gap)

    def _bed(self, stay: Stay) -> None:
        mat = next(iter(self.layout.by_use("bed")), None)
        if mat is None:
            return
        start = stay.start + self.rng.uniform(2, 20)
        if stay.activity != "sleep" or stay.end - start < 600:
            self._on(mat, start, stay.end - start)
            return
        t = start
        while True:
            drop = t + self.rng.expovariate(self.mat_noise / HOUR)
            if drop >= stay.end - 120:
                break
            self._on(mat, t, drop - t)
            long = self.rng.random() < 0.05
            lying_off = self.rng.uniform(60, 240) if long else \
                min(45, self.rng.lognormvariate(1.6, 0.8))
            t = drop + lying_off
        self._on(mat, t, stay.end - t)

    def _held(self, sensor: Sensor, start: float, end: float, per_hour: float,
              lift: tuple[float, float]) -> None:
        """`sensor` on from start to end, dropping for `lift` seconds `per_hour` at random."""
        t = start
        while per_hour > 0:
            drop = t + self.rng.expovariate(per_hour / HOUR)
            if drop >= end - 60:
                break
            self._on(sensor, t, drop - t)
            t = drop + self.rng.uniform(*lift)
        self._on(sensor, t, end - t)

    def _seat(self, stay: Stay) -> None:
        """The armchair pad while she sits, the living-room radar while she is in the room."""
        if stay.room != "living":
            return
        still = stay.activity in ("sit", "tv", "nap")
        pad = next(iter(self.layout.by_use("chair")), None)
        if pad is not None and still and stay.end - stay.start > 60 and \
                self.rng.random() < self.armchair:
            start = stay.start + self.rng.uniform(3, 20)
            end = stay.end - self.rng.uniform(3, 15)
            if end - start > 30:
                self._held(pad, start, end, self.pad_lifts, (2.0, 12.0))
        radar = next(iter(self.layout.by_use("radar")), None)
        if radar is not None:
            start = stay.start + self.rng.uniform(0.5, 3)
            end = stay.end + self.radar_hold
            self._held(radar, start, end, self.radar_drops if still else 0.0, (5.0, 40.0))

    def _doors(self, prev: Stay | None, stay: Stay) -> None:
        """Bathroom and bedroom doors, opened and closed on the way in and out."""
        rng = self.rng
        if stay.room == "bathroom" and (prev is None or prev.room != "bathroom"):
            shut = rng.random() < (self.res.closes_bathroom_door * (0.6 if stay.night else 1.0))
            if shut:
                door = self._use("bathroom", "door")
                self._on(door, stay.start + rng.uniform(0, 2), rng.uniform(2, 6))
                self._on(door, stay.end - rng.uniform(4, 8), rng.uniform(2, 4))
        if stay.room == "bedroom" and prev is not None and prev.room != "bedroom" and \
                rng.random() < self.closes_bedroom_door:
            door = self._use("bedroom", "door")
            self._on(door, stay.start - 2, rng.uniform(2, 5))

    def stay(self, prev: Stay | None, stay: Stay) -> None:  # noqa: C901, PLR0912 - one branch per sensor a stay can touch
        rng, res = self.rng, self.res
        a, start, end = stay.activity, stay.start, stay.end
        minutes = (end - start) / 60
        self._motion(stay)
        self._doors(prev, stay)
        if self.layout.chair or self.layout.radar:
            self._seat(stay)
        if a == "sleep" or (a == "nap" and stay.room == "bedroom"):
            self._bed(stay)
        if stay.room == "away":
            return
        if dark(start) and stay.room != "bedroom" and a not in ("walk",) and \
                rng.random() < (res.night_light if stay.night else 0.8):
            self._on(self._use(stay.room, "light"), start + rng.uniform(1, 4),
                     end - start - rng.uniform(2, 5))
        if a == "walk" and dark(start) and rng.random() < 0.2:
            self._on(self._use("hall", "light"), start, rng.uniform(5, 60))
        if a == "toilet":
            if rng.random() < 0.9:
                self._on(self._use("bathroom", "flush"), end - rng.uniform(15, 40),
                         rng.uniform(1, 4))
            if rng.random() < 0.6:
                self._on(self._use("bathroom", "tap"), end - rng.uniform(8, 14), rng.uniform(3, 7))
        elif a == "shower":
            self._on(self._use("bathroom", "shower"), start + 60, (end - start) * 0.6)
        elif a == "bath":
            self._on(self._use("bathroom", "shower"), start + 30, rng.uniform(480, 840))
        elif a in ("tv",):
            self._on(self._use("living", "tv"), start + rng.uniform(5, 60), end - start - 70)
        elif a == "bedtime" or (a == "get_up" and dark(start)):
            if rng.random() < res.lamp_prob:
                self._on(self._use("bedroom", "light"), start + rng.uniform(2, 20),
                         max(5, end - start - 25))
        elif a in ("leave", "arrive"):
            door = self._use("hall", "entrance")
            at = end - rng.uniform(4, 10) if a == "leave" else start + rng.uniform(0, 3)
            self._on(door, at, rng.uniform(2, 6))
            if a == "leave" and rng.random() < 0.5:
                self._on(self._use("hall", "cupboard"), start + rng.uniform(2, 20),
                         rng.uniform(2, 8))
        rate = USES_PER_MINUTE.get(a, 0.0) * res.activity
        if a == "sit" and rng.random() < 0.1:
            rate = 1 / max(1.0, minutes)
        count = int(rate * minutes + rng.random())
        if count:
            self._touch(stay.room, start, end, count)


def render(layout: Layout, resident: Resident, week: Week, rng: random.Random) -> list[Interval]:
    renderer = Renderer(layout, resident, rng)
    prev: Stay | None = None
    for stay in week.stays:
        renderer.stay(prev, stay)
        prev = stay
    return renderer.out
