"""Run the real engine on a synthetic home-week and score it as the reference evaluation does.

The rules are those of the project's home evaluation: ordinary life counts
critical alerts raised (not escalations); a night fall is detected by a
critical alert of a fall-like type raised within 4 h of the fall, a day
fall by a warning or critical one; minutes are counted from the fall. The
falls are the week's labels, so nothing is inferred from annotations.

Speed: one pass over the ordinary week, with a copy of the engine taken at
each fall instant; each fall then only replays its 4-hour window (what the
faults kept producing) on its copy, then the hour of ordinary life after
it. That is replaying the fallen week, less the alerts that can no longer be
stamped inside the 4 hours.
"""

from __future__ import annotations

import copy
import statistics
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from edgeagent_mocks.synthetic.home_week import FALL_WINDOW, PEOPLE, Event, Fall, HomeWeek

from edgeagent.casas import CasasRecord, SensorMap, parse_map, to_reading
from edgeagent.heuristics.engine import SafetyEngine
from edgeagent.heuristics.replay import declare_map
from edgeagent.heuristics.settings import HeuristicsSettings
from edgeagent.models import Draft, Kind, Reading, Severity

FALL_TYPES = frozenset({"bed_exit_no_return", "fall_suspected", "inactivity",
                        "bathroom_overstay", "not_up"})
# Life after the 4 hours goes on for this long: an alert held back by another one is
# stamped at its own deadline, inside the 4 hours, once she is seen again.
SETTLE = 3600.0
TIMEZONE = "UTC"   # event times are the home's wall time, as in the reference evaluation


@dataclass(slots=True)
class FallResult:
    kind: str
    at: float
    how: str
    detected: bool
    minutes: float | None
    alerts: list[str] = field(default_factory=list)


@dataclass(slots=True)
class WeekResult:
    name: str
    layout: str
    resident: str
    faults: list[str]
    days: float
    events: int
    critical: list[str]
    falls: list[FallResult]
    unseen_trips: int

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "layout": self.layout, "resident": self.resident,
            "faults": self.faults, "days": round(self.days, 3), "events": self.events,
            "critical": self.critical, "unseen_night_trips": self.unseen_trips,
            "falls": [{"kind": f.kind, "how": f.how, "detected": f.detected,
                       "minutes": f.minutes, "alerts": f.alerts} for f in self.falls],
        }


def sensor_map(week: HomeWeek) -> SensorMap:
    return parse_map(tomllib.loads(week.layout.map_toml()), week.name)


def fresh_engine(smap: SensorMap) -> SafetyEngine:
    engine = SafetyEngine(HeuristicsSettings(), TIMEZONE, send_raw_states=False)
    declare_map(engine, smap)
    return engine


def readings(week: HomeWeek, events: list[Event], smap: SensorMap) -> list[Reading]:
    zone = UTC
    sensors = smap.sensors
    out = []
    for number, e in enumerate(events, start=1):
        when = datetime.fromisoformat(week.stamp(e.t))
        reading = to_reading(CasasRecord(number, when, e.sensor, e.value),
                             sensors.get(e.sensor), zone)
        if reading is not None:
            out.append(reading)
    return out


def _raised(drafts: list[Draft]) -> list[Draft]:
    return [d for d in drafts if d.kind is Kind.ALERT and d.alert
            and d.alert.get("state") == "raised"]


def _label(draft: Draft, start: float) -> str:
    minutes = round((draft.wall.timestamp() - start) / 60)
    return f"{draft.type}/{draft.severity.value}@{minutes}min"


def score(week: HomeWeek) -> WeekResult:
    smap = sensor_map(week)
    stream = readings(week, week.events, smap)
    at_epoch = {f.at: datetime.fromisoformat(week.stamp(f.at)).replace(tzinfo=UTC).timestamp()
                for f in week.falls}
    pending = sorted(week.falls, key=lambda f: f.at)
    copies: dict[float, SafetyEngine] = {}
    engine = fresh_engine(smap)
    alerts: list[Draft] = []
    for reading in stream:
        ts = reading.wall.timestamp()
        while pending and at_epoch[pending[0].at] < ts:
            copies[pending[0].at] = copy.deepcopy(engine)
            pending.pop(0)
        alerts.extend(_raised(engine.feed(reading)))
    for fall in pending:
        copies[fall.at] = copy.deepcopy(engine)
    if stream:
        alerts.extend(_raised(engine.tick(stream[-1].mono, stream[-1].wall)))
    critical = [f"{d.wall.isoformat(timespec='minutes')} {d.type}: {d.data.get('reason', '')}"
                for d in alerts if d.severity is Severity.CRITICAL and d.type != "test"]
    falls = [_fall(week, fall, at_epoch[fall.at], copies[fall.at], smap) for fall in week.falls]
    days = (stream[-1].wall.timestamp() - stream[0].wall.timestamp()) / 86400 if stream else 0.0
    return WeekResult(week.name, week.layout.name, week.resident.kind,
                      [f.kind for f in week.faults], days, len(stream), critical, falls,
                      week.unseen_trips)


def _fall(week: HomeWeek, fall: Fall, start: float, engine: SafetyEngine,
          smap: SensorMap) -> FallResult:
    end_t = fall.at + FALL_WINDOW
    window = [e for e in week.events if fall.at < e.t <= end_t + SETTLE
              and (e.t > end_t or e.source not in PEOPLE)]
    drafts: list[Draft] = []
    stream = readings(week, window, smap)
    for reading in stream:
        drafts.extend(_raised(engine.feed(reading)))
    end = start + FALL_WINDOW
    if not stream or stream[-1].wall.timestamp() < end:
        drafts.extend(_raised(engine.tick(end + engine.alerts.mono_offset,
                                          datetime.fromtimestamp(end, UTC))))
    wanted = (Severity.CRITICAL,) if fall.kind == "night" else (Severity.CRITICAL,
                                                                 Severity.WARNING)
    hits = [d for d in drafts if d.type in FALL_TYPES and d.severity in wanted
            and start <= d.wall.timestamp() <= end]
    minutes = round((min(d.wall.timestamp() for d in hits) - start) / 60, 1) if hits else None
    return FallResult(fall.kind, fall.at, fall.how, bool(hits), minutes,
                      [_label(d, start) for d in drafts if start <= d.wall.timestamp() <= end])


def summarise(results: list[WeekResult]) -> dict[str, Any]:
    """The issue's three figures over a set of home-weeks (one layout, say)."""
    days = sum(r.days for r in results)
    critical = sum(len(r.critical) for r in results)
    nights = [f for r in results for f in r.falls if f.kind == "night"]
    day_falls = [f for r in results for f in r.falls if f.kind == "day"]
    night_min = [f.minutes for f in nights if f.minutes is not None]
    day_min = [f.minutes for f in day_falls if f.minutes is not None]
    types: dict[str, int] = {}
    for r in results:
        for line in r.critical:
            name = line.split(" ", 1)[1].split(":", 1)[0]
            types[name] = types.get(name, 0) + 1
    return {
        "home_weeks": len(results),
        "days": round(days, 1),
        "critical_alerts": critical,
        "critical_per_30_days": round(critical * 30 / days, 2) if days else None,
        "weeks_with_critical": sum(1 for r in results if r.critical),
        "critical_by_type": dict(sorted(types.items())),
        "night_falls": len(nights),
        "night_detected": sum(f.detected for f in nights),
        "night_all_critical": all(f.detected for f in nights) if nights else None,
        "night_median_minutes": round(statistics.median(night_min), 1) if night_min else None,
        "night_max_minutes": max(night_min) if night_min else None,
        "night_trips_unseen": sum(r.unseen_trips for r in results),
        "day_falls": len(day_falls),
        "day_detected": sum(f.detected for f in day_falls),
        "day_median_minutes": round(statistics.median(day_min), 1) if day_min else None,
        "day_max_minutes": max(day_min) if day_min else None,
    }
