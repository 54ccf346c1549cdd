"""Where the resident is and what she does, minute by minute: the ground truth of a synthetic home.

A week is a list of `Stay`s (room, activity, start, end) built day by day
from a `Resident` profile: wake and bed times jittered per day, meals at
anchored times, free time filled with sitting, chores, drinks and toilet
visits, optional outings, naps and baths, and night toilet trips that are
labelled (`Trip`) so falls can be injected on them. Times are seconds from
the start of the plan; rendering into sensor events is `render.py`'s job.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

HOUR = 3600.0
MINUTE = 60.0
DAY = 86400.0

RESIDENT_KINDS = ("early_riser", "night_owl", "napper", "long_baths", "night_trips",
                  "out_daily", "never_out")


@dataclass(frozen=True, slots=True)
class Resident:
    """A person's habits; every figure is a mean, varied day by day."""

    kind: str
    wake: float = 7.0            # hour of day
    bed: float = 22.75           # hour of day, may exceed 24
    jitter: float = 0.5          # hours, standard deviation of wake and bed times
    night_trips: float = 0.8     # mean night toilet trips per night
    out_prob: float = 0.45       # chance of an outing on a given day
    nap_prob: float = 0.1
    nap_in_bed: float = 0.2      # share of naps taken in bed rather than in the armchair
    bath_prob: float = 0.05      # chance of a long bath on a given day
    shower_prob: float = 0.35
    meal_shift: float = 0.0      # hours, later meals for late risers
    activity: float = 1.0        # how much she handles things (sensor uses per minute)
    lamp_prob: float = 0.6       # bedroom lamp on at bedtime (else going to bed is unseen)
    closes_bathroom_door: float = 0.8
    night_light: float = 0.6     # turns the bathroom light on at night
    kitchen_at_night: float = 0.15
    tv_evening: float = 0.8


def make_resident(kind: str, rng: random.Random) -> Resident:
    """A resident of `kind` with individual variation drawn from `rng`."""
    base = Resident(
        kind=kind, wake=rng.gauss(7.0, 0.5), bed=rng.gauss(22.75, 0.5),
        jitter=rng.uniform(0.25, 0.7), night_trips=rng.uniform(0.3, 1.2),
        out_prob=rng.uniform(0.25, 0.6), nap_prob=rng.uniform(0.0, 0.2),
        nap_in_bed=rng.uniform(0.0, 0.4), activity=rng.uniform(0.6, 1.5),
        lamp_prob=rng.uniform(0.05, 0.5), closes_bathroom_door=rng.uniform(0.3, 0.95),
        night_light=rng.uniform(0.2, 0.9), kitchen_at_night=rng.uniform(0.0, 0.3),
        tv_evening=rng.uniform(0.5, 0.95), shower_prob=rng.uniform(0.2, 0.5),
    )
    if kind == "early_riser":
        return replace(base, wake=rng.gauss(5.0, 0.25), bed=rng.gauss(21.0, 0.4),
                       meal_shift=-0.75)
    if kind == "night_owl":
        return replace(base, wake=rng.gauss(9.5, 0.4), bed=rng.gauss(24.6, 0.4),
                       meal_shift=1.25)
    if kind == "napper":
        return replace(base, nap_prob=rng.uniform(0.7, 1.0))
    if kind == "long_baths":
        return replace(base, bath_prob=rng.uniform(0.35, 0.6))
    if kind == "night_trips":
        return replace(base, night_trips=rng.uniform(2.0, 3.5))
    if kind == "out_daily":
        return replace(base, out_prob=1.0)
    if kind == "never_out":
        return replace(base, out_prob=0.0)
    raise KeyError(f"no resident kind {kind!r}; known: {', '.join(RESIDENT_KINDS)}")


@dataclass(frozen=True, slots=True)
class Stay:
    start: float
    end: float
    room: str           # bedroom, bathroom, kitchen, living, hall, away
    activity: str
    night: bool = False  # part of a night toilet trip


@dataclass(frozen=True, slots=True)
class Trip:
    """A night toilet trip: out of bed at `start`, into the bedroom at `back`, in bed at `end`."""

    start: float
    back: float
    end: float


@dataclass(slots=True)
class Week:
    stays: list[Stay]
    trips: list[Trip]
    sleeps: list[tuple[float, float]]   # go_to_bed spans: into bed .. up for the day
    outings: list[tuple[float, float]]


def _poisson(rng: random.Random, mean: float) -> int:
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


class _Planner:
    """Appends stays in time order, inserting the hall walk between rooms."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.stays: list[Stay] = []

    @property
    def now(self) -> float:
        return self.stays[-1].end if self.stays else 0.0

    @property
    def room(self) -> str:
        return self.stays[-1].room if self.stays else "bedroom"

    def go(self, room: str, activity: str, minutes: float, *, night: bool = False) -> Stay:
        start = self.now
        if room != self.room and "hall" not in (room, self.room) and \
                {room, self.room} != {"kitchen", "living"}:
            walk = Stay(start, start + self.rng.uniform(3, 12), "hall", "walk", night)
            self.stays.append(walk)
            start = walk.end
        last = self.stays[-1] if self.stays else None
        if last is not None and (last.room, last.activity) == (room, activity) and \
                activity in ("sit", "tv") and not night:
            # another stretch of the same armchair: one stay, not two
            stay = replace(last, end=start + max(5.0, minutes * MINUTE))
            self.stays[-1] = stay
            return stay
        stay = Stay(start, start + max(5.0, minutes * MINUTE), room, activity, night)
        self.stays.append(stay)
        return stay


def _day_anchors(res: Resident, rng: random.Random, day: float, wake: float,
                 bedtime: float) -> list[tuple[float, str, str, float]]:
    """(start, room, activity, minutes) of the day's fixed points, after breakfast."""
    shift = res.meal_shift * HOUR
    anchors = [
        (day + 12.25 * HOUR + shift + rng.gauss(0, 30 * MINUTE), "kitchen", "lunch",
         rng.uniform(20, 45)),
        (day + 18.0 * HOUR + shift + rng.gauss(0, 40 * MINUTE), "kitchen", "dinner",
         rng.uniform(25, 60)),
    ]
    if rng.random() < res.nap_prob:
        room = "bedroom" if rng.random() < res.nap_in_bed else "living"
        anchors.append((day + 13.75 * HOUR + shift + rng.gauss(0, 25 * MINUTE), room,
                        "nap", rng.uniform(30, 100)))
    if rng.random() < res.out_prob:
        morning = rng.random() < 0.6
        at = day + (10.0 if morning else 14.75) * HOUR + rng.gauss(0, 50 * MINUTE)
        anchors.append((at, "away", "out", rng.uniform(40, 200)))
    if rng.random() < res.bath_prob:
        at = day + (19.5 * HOUR + rng.gauss(0, 40 * MINUTE) if rng.random() < 0.7
                    else 10.0 * HOUR + rng.gauss(0, 30 * MINUTE))
        anchors.append((at, "bathroom", "bath", rng.uniform(40, 75)))
    return sorted(a for a in anchors if wake + HOUR < a[0] < bedtime - 45 * MINUTE)


def _fill(plan: _Planner, res: Resident, until: float) -> None:
    """Free time until `until`: sitting, chores, drinks and toilet visits."""
    rng = plan.rng
    while until - plan.now > 3 * MINUTE:
        left = (until - plan.now) / MINUTE
        evening = (plan.now % DAY) / HOUR >= 18.5 + res.meal_shift or (plan.now % DAY) < 3 * HOUR
        pick = rng.random()
        if pick < 0.12:
            plan.go("bathroom", "toilet", min(left, rng.uniform(2, 6)))
        elif pick < 0.24:
            plan.go("kitchen", "drink", min(left, rng.uniform(1, 4)))
        elif pick < 0.40 and not evening:
            room = rng.choice(("kitchen", "living", "bedroom", "hall", "bathroom"))
            plan.go(room, "chores", min(left, rng.uniform(5, 25)))
        else:
            tv = evening and rng.random() < res.tv_evening
            plan.go("living", "tv" if tv else "sit", min(left, rng.uniform(15, 80)))


def _night(plan: _Planner, res: Resident, until: float, trips: list[Trip]) -> None:
    """Asleep until `until`, with night toilet trips at random moments."""
    rng = plan.rng
    start = plan.now
    count = _poisson(rng, res.night_trips)
    span = until - start - HOUR
    moments = sorted(start + 30 * MINUTE + rng.random() * span for _ in range(count)) \
        if span > 0 else []
    for at in moments:
        if at - plan.now < 25 * MINUTE or until - at < 30 * MINUTE:
            continue
        plan.go("bedroom", "sleep", (at - plan.now) / MINUTE)
        out = plan.now
        plan.go("bedroom", "sit_up", rng.uniform(0.1, 0.6), night=True)
        plan.go("bathroom", "toilet", rng.uniform(2, 8), night=True)
        if rng.random() < res.kitchen_at_night:
            plan.go("kitchen", "drink", rng.uniform(1, 5), night=True)
        back = plan.go("bedroom", "lie_down", rng.uniform(0.2, 1.0), night=True).start
        trips.append(Trip(out, back, plan.now))
    plan.go("bedroom", "sleep", (until - plan.now) / MINUTE)


def plan_week(res: Resident, rng: random.Random, days: int) -> Week:
    """`days` days of life from midnight of day 0 (she is asleep then)."""
    plan = _Planner(rng)
    trips: list[Trip] = []
    sleeps: list[tuple[float, float]] = []
    outings: list[tuple[float, float]] = []
    asleep_since = 0.0
    for index in range(days):
        day = index * DAY
        wake = max(plan.now + 2 * HOUR, day + (res.wake + rng.gauss(0, res.jitter)) * HOUR)
        _night(plan, res, wake, trips)
        sleeps.append((asleep_since, plan.now))
        bedtime = day + (res.bed + rng.gauss(0, res.jitter)) * HOUR
        plan.go("bedroom", "get_up", rng.uniform(3, 12))
        plan.go("bathroom", "toilet", rng.uniform(2, 6))
        wash = "shower" if rng.random() < res.shower_prob else "wash"
        plan.go("bathroom", wash, rng.uniform(10, 22) if wash == "shower" else rng.uniform(4, 12))
        plan.go("kitchen", "breakfast", rng.uniform(15, 35))
        for at, room, activity, minutes in _day_anchors(res, rng, day, wake, bedtime):
            if at < plan.now + 5 * MINUTE:
                continue
            _fill(plan, res, at)
            if room == "away":
                plan.go("hall", "leave", rng.uniform(0.5, 2.5))
                stay = plan.go("away", "out", minutes)
                outings.append((stay.start, stay.end))
                plan.go("hall", "arrive", rng.uniform(0.5, 2))
            else:
                plan.go(room, activity, minutes)
        _fill(plan, res, bedtime - 20 * MINUTE)
        plan.go("bathroom", "toilet", rng.uniform(2, 5))
        plan.go("bathroom", "wash", rng.uniform(4, 12))
        plan.go("bedroom", "bedtime", rng.uniform(2, 30))
        asleep_since = plan.now
    _night(plan, res, days * DAY + 9 * HOUR, trips)
    sleeps.append((asleep_since, plan.now))
    return Week(plan.stays, trips, sleeps, outings)
