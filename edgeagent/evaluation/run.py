"""Score the engine on one home: ordinary life, then every injected fall.

One replay of the whole recording gives the ordinary-life alerts. A fall
cuts the 4 hours after it; the recording up to the fall is the same as in
ordinary life, so the engine is copied at that moment of the one replay
(`copy.deepcopy`: the engine is pure and deterministic, so the copy is the
engine a fresh replay of the cut log would have built) and fed what follows
the gap for a day (`SETTLED_AFTER`), which is when the alerts of the 4 hours
can still appear. Where that cannot be relied on (a log out of time order,
or an engine stamping alerts further back than that) every fall is a full
fresh replay of the cut log instead: slower, same answer.
"""

from __future__ import annotations

import copy
import statistics
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from edgeagent.casas import CasasRecord, SensorMap, to_reading
from edgeagent.clock import iso_utc
from edgeagent.evaluation.falls import (
    LIE_FOR,
    Activity,
    FallPoint,
    day_falls,
    in_time_order,
    night_falls,
)
from edgeagent.heuristics import Engine
from edgeagent.heuristics.engine import SafetyEngine
from edgeagent.heuristics.reasons import Reason, from_data
from edgeagent.heuristics.replay import declare_map
from edgeagent.heuristics.settings import HeuristicsSettings
from edgeagent.models import Draft, Kind, Reading

FALL_TYPES = frozenset({"bed_exit_no_return", "fall_suspected", "inactivity",
                        "bathroom_overstay", "not_up"})
NIGHT_SEVERITIES = frozenset({"critical"})
DAY_SEVERITIES = frozenset({"warning", "critical"})
EngineFactory = Callable[[], Engine]
# How long after the gap a copied engine keeps running. An alert is stamped at
# its deadline, which can lie in the past when the alert was held back by
# another one (an overstay held back by an open bed exit fires once she is
# back, stamped at its own deadline inside the 4 hours). A day of ordinary
# life after the gap resolves what the fall opened.
SETTLED_AFTER = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class SeenAlert:
    """A raised alert as the evaluation reads it: local time to the millisecond, as exported."""

    at: datetime
    type: str
    severity: str
    reason: str
    said: Reason | None = field(default=None, compare=False)  # the reason as code + params

    def reason_in(self, language: str) -> str:
        """The reason in `language` (the console's), `reason` (English) without a code."""
        return self.reason if self.said is None else self.said.text(language)


@dataclass(frozen=True, slots=True)
class InjectedFall:
    """One fall, the last event before it, and every alert raised in the 4 hours after."""

    kind: Literal["night", "day"]
    at: datetime
    cause: str
    trip_start: datetime | None
    last_event: str
    followed: tuple[SeenAlert, ...]
    minutes: float | None

    @property
    def detected(self) -> bool:
        return self.minutes is not None


@dataclass(frozen=True, slots=True)
class HomeEvaluation:
    """The figures of one home; `summary()` is the JSON line of the reference evaluation."""

    days: float
    events: int
    critical: tuple[SeenAlert, ...]
    night: tuple[InjectedFall, ...]
    day: tuple[InjectedFall, ...]
    replays: Literal["forked", "fresh"] = "forked"
    notes: tuple[str, ...] = field(default=())

    @property
    def critical_per_30d(self) -> float:
        return round(len(self.critical) * 30 / self.days, 2) if self.days > 0 else 0.0

    def summary(self) -> dict[str, Any]:
        """The reference keys (same names, same rounding), then the extras."""
        night_min = [f.minutes for f in self.night if f.minutes is not None]
        day_min = [f.minutes for f in self.day if f.minutes is not None]
        return {
            "days": round(self.days, 1), "events": self.events,
            "critical_alerts": len(self.critical), "critical_per_30d": self.critical_per_30d,
            "injected_falls": len(self.night), "detected": len(night_min),
            "median_minutes": _median(night_min), "max_minutes": _max(night_min),
            "day_falls": len(self.day), "day_detected": len(day_min),
            "day_median_minutes": _median(day_min), "day_max_minutes": _max(day_min),
        }

    def to_json(self) -> dict[str, Any]:
        return self.summary() | {
            "critical_list": [_alert_json(a) for a in self.critical],
            "night_fall_list": [_fall_json(f) for f in self.night],
            "day_fall_list": [_fall_json(f) for f in self.day],
            "replays": self.replays,
        }


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def _max(values: list[float]) -> float | None:
    return round(max(values), 1) if values else None


def _stamp(moment: datetime) -> str:
    return moment.isoformat(sep=" ", timespec="milliseconds")


def _alert_json(alert: SeenAlert) -> dict[str, Any]:
    return {"at": _stamp(alert.at), "type": alert.type, "severity": alert.severity,
            "reason": alert.reason}


def _fall_json(fall: InjectedFall) -> dict[str, Any]:
    return {
        "at": _stamp(fall.at), "cause": fall.cause,
        "trip_start": _stamp(fall.trip_start) if fall.trip_start else None,
        "last_event": fall.last_event, "detected": fall.detected,
        "minutes": None if fall.minutes is None else round(fall.minutes, 1),
        "followed": [_alert_json(a) | {"minutes": round((a.at - fall.at).total_seconds() / 60, 1)}
                     for a in fall.followed],
    }


def replay_engine(sensor_map: SensorMap, timezone: str = "UTC",
                  settings: HeuristicsSettings | None = None) -> EngineFactory:
    """The engine `edgeagent replay` runs: defaults, no raw states, sensors declared by the map."""
    def build() -> Engine:
        engine = SafetyEngine(settings or HeuristicsSettings(), timezone, send_raw_states=False)
        declare_map(engine, sensor_map)
        return engine
    return build


def readings_of(records: Sequence[CasasRecord], sensor_map: SensorMap,
                timezone: str) -> list[Reading | None]:
    """Each record's reading (None: unmapped, ignored or not ON/OFF), as `replay_lines` makes it.

    A sorted local log that steps back in UTC has entered the second pass of
    a DST hour; that reading takes the second one.
    """
    zone, sensors = ZoneInfo(timezone), sensor_map.sensors
    out: list[Reading | None] = []
    latest: float | None = None
    for record in records:
        spec = sensors.get(record.sensor)
        reading = to_reading(record, spec, zone)
        if reading is not None:
            if latest is not None and reading.wall.timestamp() < latest:
                second = to_reading(record, spec, zone, fold=1)
                if second is not None and second.wall.timestamp() >= latest:
                    reading = second
            latest = max(latest or 0.0, reading.wall.timestamp())
        out.append(reading)
    return out


class _Run:
    """Feeds readings to one engine the way `run_readings` does, keeping raised alerts."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.raised: list[Draft] = []
        self.last: Reading | None = None
        self.clock: datetime | None = None
        self.backdated = timedelta(0)

    def feed(self, reading: Reading) -> None:
        self._keep(self.engine.feed(reading))
        self.last = reading
        if self.clock is None or reading.wall > self.clock:
            self.clock = reading.wall

    def finish(self) -> None:
        if self.last is not None:
            self._keep(self.engine.tick(self.last.mono, self.last.wall))

    def fork(self) -> _Run:
        twin = _Run(copy.deepcopy(self.engine))
        twin.raised, twin.last, twin.clock = list(self.raised), self.last, self.clock
        return twin

    def _keep(self, drafts: list[Draft]) -> None:
        for draft in drafts:
            if draft.kind is not Kind.ALERT or (draft.alert or {}).get("state") != "raised":
                continue
            if self.clock is not None and self.clock - draft.wall > self.backdated:
                self.backdated = self.clock - draft.wall
            self.raised.append(draft)


def _seen(draft: Draft, zone: ZoneInfo) -> SeenAlert:
    # Through the exported form (UTC, milliseconds), so times compare as in `replay --json`.
    utc = datetime.fromisoformat(iso_utc(draft.wall).replace("Z", "+00:00"))
    local = utc.astimezone(UTC if zone.key == "UTC" else zone).replace(tzinfo=None)
    code, params = draft.data.get("reason_code"), draft.data.get("reason_params")
    said = from_data(code, params) if isinstance(code, str) and isinstance(params, dict) \
        else None
    return SeenAlert(local, draft.type, draft.severity.value, str(draft.data.get("reason", "")),
                     said)


def _describe(record: CasasRecord, sensor_map: SensorMap) -> str:
    spec = sensor_map.sensors.get(record.sensor)
    room = f" ({spec.room})" if spec is not None and spec.room else ""
    return f"{record.when:%Y-%m-%d %H:%M:%S} {record.sensor}{room} {record.value}"


def evaluate_home(records: Sequence[CasasRecord], sensor_map: SensorMap,  # noqa: C901 - the evaluation's stages in order, each optional by option
                  activities: Sequence[Activity], *, timezone: str = "UTC",
                  engine_factory: EngineFactory | None = None,
                  fresh_replays: bool = False) -> HomeEvaluation:
    """Evaluate one home held in memory; the figures of `edgeagent evaluate`.

    `records`: the events in log order (`casas.parse_lines`, or built directly:
    `CasasRecord(line, when, sensor, value)`, `when` naive local time, value
    "ON"/"OFF"). `sensor_map`: `[sensors.ID]` kind/room/role (`casas.parse_map`).
    `activities`: the annotated spans (`go_to_bed`, `use_toilet`,
    `night_toilet_trip`, `leave_house`; others are ignored); a home without
    them gets day falls only. `timezone`: the zone the log's wall times are in
    (UTC, as the reference evaluation, unless the engine's local-time rules
    need the real one). `engine_factory`: builds a fresh engine (default: the
    one `edgeagent replay` runs, `replay_engine`). `fresh_replays`: replay the
    whole cut log for every fall instead of copying the engine (for checking).
    """
    zone = ZoneInfo(timezone)
    build = engine_factory or replay_engine(sensor_map, timezone)
    readings = readings_of(records, sensor_map, timezone)
    times = [r.when for r in records]
    falls = [("night", p) for p in night_falls(records, sensor_map, activities)]
    falls += [("day", p) for p in day_falls(records, sensor_map, activities)]
    in_order = in_time_order(times)

    base = _Run(build())
    forks: dict[datetime, _Run] = {}
    cuts = sorted({p.at for _, p in falls}) if in_order else []
    next_cut = 0
    for when, reading in zip(times, readings, strict=True):
        while next_cut < len(cuts) and cuts[next_cut] < when:
            forks[cuts[next_cut]] = base.fork()
            next_cut += 1
        if reading is not None:
            base.feed(reading)
    for cut in cuts[next_cut:]:
        forks[cut] = base.fork()
    base.finish()
    fresh = fresh_replays or not in_order or base.backdated >= SETTLED_AFTER

    def alerts_after(point: FallPoint) -> list[SeenAlert]:
        start, end = point.at, point.at + LIE_FOR
        if fresh:
            run = _Run(build())
            kept = [r for r in records if r.when <= start or r.when > end]
            for reading in readings_of(kept, sensor_map, timezone):
                if reading is not None:
                    run.feed(reading)
            run.finish()
        else:
            run = forks[start].fork()
            for index in range(bisect_right(times, end), len(times)):
                reading = readings[index]
                if reading is not None:
                    run.feed(reading)
                if times[index] > end + SETTLED_AFTER:
                    break
            else:
                run.finish()
        seen = (_seen(d, zone) for d in run.raised)
        return [a for a in seen if start <= a.at <= end]

    critical = tuple(a for a in (_seen(d, zone) for d in base.raised)
                     if a.severity == "critical" and a.type != "test")
    scored: dict[str, list[InjectedFall]] = {"night": [], "day": []}
    for kind, point in falls:
        followed = alerts_after(point)
        wanted = NIGHT_SEVERITIES if kind == "night" else DAY_SEVERITIES
        hits = [a.at for a in followed if a.severity in wanted and a.type in FALL_TYPES]
        last = next((r for r in reversed(records) if r.when <= point.at), None)
        scored[kind].append(InjectedFall(
            "night" if kind == "night" else "day", point.at, point.cause, point.trip_start,
            _describe(last, sensor_map) if last else "",
            tuple(followed), (min(hits) - point.at).total_seconds() / 60 if hits else None))
    days = (times[-1] - times[0]).total_seconds() / 86400 if times else 0.0
    return HomeEvaluation(days, len(records), critical, tuple(scored["night"]),
                          tuple(scored["day"]), "fresh" if fresh else "forked")

