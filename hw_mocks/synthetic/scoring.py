"""Run the real engine on a synthetic home-week and score it with the project's evaluation.

Two ways, both giving `edgeagent.evaluation.HomeEvaluation` (so the same
figures, pooling and table as the recorded homes):

- `score(week)` (labelled): the falls are the week's labels, placed where
  she is known to be; during the 4 hours on the floor her own and visitors'
  events are gone but what faults cause (a pet, a chattering switch, a
  stuck mat) goes on. Scored by the evaluation's rules: ordinary life
  counts critical alerts *raised*; a night fall is detected by a critical
  alert of a fall-like type raised within 4 h, a day fall by a warning or
  critical one; minutes from the fall.
- `score(week, reference=True)`: the week's events and annotations go
  through `edgeagent.evaluation.evaluate_home` unchanged, which places the
  falls from the annotations as on a recorded home and deletes everything
  for 4 hours.

Speed (labelled): one pass over the ordinary week with a copy of the engine
taken at each fall instant; each fall replays only its 4 hours, and the
hour of ordinary life after them (an alert held back by another one is
stamped at its own deadline, inside the 4 hours, once she is seen again).
"""

from __future__ import annotations

import copy
import statistics
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from edgeagent_mocks.synthetic.home_week import FALL_WINDOW, PEOPLE, Event, Fall, HomeWeek

from edgeagent.casas import CasasRecord, SensorMap, parse_map, to_reading
from edgeagent.evaluation import (
    FALL_TYPES,
    Activity,
    HomeEvaluation,
    InjectedFall,
    SeenAlert,
    evaluate_home,
    replay_engine,
)
from edgeagent.evaluation.report import pooled
from edgeagent.heuristics import Engine
from edgeagent.models import Draft, Kind, Reading, Severity

SETTLE = 3600.0
TIMEZONE = "UTC"   # event times are the home's wall time, as in the reference evaluation


@dataclass(slots=True)
class WeekResult:
    """One scored home-week: what it was, and the evaluation's figures for it."""

    name: str
    layout: str
    resident: str
    faults: list[str]
    unseen_trips: int
    evaluation: HomeEvaluation

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "layout": self.layout, "resident": self.resident,
                "faults": self.faults, "unseen_night_trips": self.unseen_trips,
                **self.evaluation.to_json()}


def sensor_map(week: HomeWeek) -> SensorMap:
    return parse_map(tomllib.loads(week.layout.map_toml()), week.name)


def records(week: HomeWeek, events: list[Event]) -> list[CasasRecord]:
    """The events as parsed log lines (the same rounding as `week.lines()`)."""
    return [CasasRecord(number, datetime.fromisoformat(week.stamp(e.t)), e.sensor, e.value)
            for number, e in enumerate(events, start=1)]


def activities(week: HomeWeek) -> list[Activity]:
    return [Activity(datetime.fromisoformat(week.stamp(a)), datetime.fromisoformat(week.stamp(b)),
                     name) for a, b, name in week.activities]


def _readings(recs: list[CasasRecord], smap: SensorMap) -> list[Reading]:
    out = []
    for rec in recs:
        reading = to_reading(rec, smap.sensors.get(rec.sensor), UTC)
        if reading is not None:
            out.append(reading)
    return out


def _raised(drafts: list[Draft]) -> list[Draft]:
    return [d for d in drafts if d.kind is Kind.ALERT and d.alert
            and d.alert.get("state") == "raised"]


def _seen(draft: Draft) -> SeenAlert:
    # local wall time = UTC here; milliseconds, as `replay --json` exports them
    wall = draft.wall.astimezone(UTC).replace(tzinfo=None)
    wall = wall.replace(microsecond=wall.microsecond // 1000 * 1000)
    return SeenAlert(wall, draft.type, draft.severity.value, str(draft.data.get("reason", "")))


def score(week: HomeWeek, *, reference: bool = False) -> WeekResult:
    smap = sensor_map(week)
    recs = records(week, week.events)
    if reference:
        evaluation = evaluate_home(recs, smap, activities(week), timezone=TIMEZONE)
    else:
        evaluation = _labelled(week, recs, smap)
    return WeekResult(week.name, week.layout.name, week.resident.kind,
                      [f.kind for f in week.faults], week.unseen_trips, evaluation)


def _labelled(week: HomeWeek, recs: list[CasasRecord], smap: SensorMap) -> HomeEvaluation:
    build = replay_engine(smap, TIMEZONE)
    stream = _readings(recs, smap)
    moment = {f.at: datetime.fromisoformat(week.stamp(f.at)) for f in week.falls}
    pending = sorted(week.falls, key=lambda f: f.at)
    copies: dict[float, Engine] = {}
    engine = build()
    alerts: list[Draft] = []
    for reading in stream:
        while pending and moment[pending[0].at].replace(tzinfo=UTC) < reading.wall:
            copies[pending[0].at] = copy.deepcopy(engine)
            pending.pop(0)
        alerts.extend(_raised(engine.feed(reading)))
    for fall in pending:
        copies[fall.at] = copy.deepcopy(engine)
    if stream:
        alerts.extend(_raised(engine.tick(stream[-1].mono, stream[-1].wall)))
    critical = tuple(_seen(d) for d in alerts
                     if d.severity is Severity.CRITICAL and d.type != "test")
    scored = [_fall(week, fall, moment[fall.at], copies[fall.at], smap, recs)
              for fall in week.falls]
    days = (recs[-1].when - recs[0].when).total_seconds() / 86400 if recs else 0.0
    return HomeEvaluation(days, len(recs), critical,
                          tuple(f for f in scored if f.kind == "night"),
                          tuple(f for f in scored if f.kind == "day"))


def _fall(week: HomeWeek, fall: Fall, at: datetime, engine: Engine, smap: SensorMap,
          recs: list[CasasRecord]) -> InjectedFall:
    end_t = fall.at + FALL_WINDOW
    window = [e for e in week.events if fall.at < e.t <= end_t + SETTLE
              and (e.t > end_t or e.source not in PEOPLE)]
    drafts: list[Draft] = []
    stream = _readings(records(week, window), smap)
    for reading in stream:
        drafts.extend(_raised(engine.feed(reading)))
    end = at + timedelta(seconds=FALL_WINDOW)
    if not stream or stream[-1].wall < end.replace(tzinfo=UTC):
        wall = end.replace(tzinfo=UTC)
        drafts.extend(_raised(engine.tick(wall.timestamp(), wall)))
    followed = tuple(a for a in map(_seen, drafts) if at <= a.at <= end)
    wanted = ("critical",) if fall.kind == "night" else ("critical", "warning")
    hits = [a.at for a in followed if a.severity in wanted and a.type in FALL_TYPES]
    last = next((r for r in reversed(recs) if r.when <= at), None)
    return InjectedFall("night" if fall.kind == "night" else "day", at, fall.how, None,
                        f"{last.when:%Y-%m-%d %H:%M:%S} {last.sensor} {last.value}" if last else "",
                        followed, (min(hits) - at).total_seconds() / 60 if hits else None)


def summarise(results: list[WeekResult], name: str = "all") -> dict[str, Any]:
    """The issue's three figures over a set of home-weeks (one layout, say), pooled."""
    row = pooled(name, [r.evaluation for r in results])
    types: dict[str, int] = {}
    for r in results:
        for alert in r.evaluation.critical:
            types[alert.type] = types.get(alert.type, 0) + 1
    night, day = row.night_minutes, row.day_minutes
    return {
        "home_weeks": row.homes,
        "days": round(row.days, 1),
        "critical_alerts": row.critical,
        "critical_per_30_days": row.critical_per_30d if row.days else None,
        "weeks_with_critical": sum(1 for r in results if r.evaluation.critical),
        "critical_by_type": dict(sorted(types.items())),
        "night_falls": row.night_injected,
        "night_detected": len(night),
        "night_all_critical": row.nights_all,
        "night_median_minutes": round(statistics.median(night), 1) if night else None,
        "night_max_minutes": round(max(night), 1) if night else None,
        "night_trips_unseen": sum(r.unseen_trips for r in results),
        "day_falls": row.day_injected,
        "day_detected": len(day),
        "day_median_minutes": round(statistics.median(day), 1) if day else None,
        "day_max_minutes": round(max(day), 1) if day else None,
        "meets_targets": row.meets_targets,
    }
