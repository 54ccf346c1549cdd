"""Run the real engine over a recorded CASAS log, on the log's own clock.

Shared by `edgeagent replay` and the bench scripts. Pure: it takes lines and
a sensor map, not files. Malformed lines are collected with their numbers
and skipped; they never stop a replay.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from edgeagent.casas import CasasRecord, LineError, SensorMap, parse_lines, to_reading
from edgeagent.heuristics.engine import SafetyEngine
from edgeagent.heuristics.layout import BEDROOM_DOOR_ROLES
from edgeagent.heuristics.settings import HeuristicsSettings
from edgeagent.models import Draft, Kind, Reading

GAP_MIN_S = 3600.0          # shorter silences are not kept as gaps
ACTIVITY_BUCKET_S = 600     # the activity map's resolution: 10 minutes


@dataclass(slots=True)
class ReplayResult:
    alerts: list[Draft] = field(default_factory=list)
    summaries: list[Draft] = field(default_factory=list)
    prealarms: list[Draft] = field(default_factory=list)  # with --prealarm: asked, outcomes
    errors: list[LineError] = field(default_factory=list)
    records: int = 0
    readings: int = 0
    unmapped: int = 0
    first: float | None = None
    last: float | None = None
    # Silences of at least GAP_MIN_S between consecutive readings: (from, to) wall seconds.
    gaps: list[tuple[float, float]] = field(default_factory=list)
    # (room, start of its ACTIVITY_BUCKET_S slot) for every slot with a reading in that room.
    activity: set[tuple[str, int]] = field(default_factory=set)

    def seen(self, ts: float, room: str | None) -> None:
        """Note one reading's time and room (call before `last` moves on to it)."""
        if self.last is not None and ts - self.last >= GAP_MIN_S:
            self.gaps.append((self.last, ts))
        if room:
            self.activity.add((room, int(ts // ACTIVITY_BUCKET_S * ACTIVITY_BUCKET_S)))

    @property
    def days(self) -> float:
        if self.first is None or self.last is None:
            return 0.0
        return (self.last - self.first) / 86400


def readings_of(records: Iterable[CasasRecord], sensor_map: SensorMap,
                timezone: str) -> Iterable[Reading | None]:
    zone = ZoneInfo(timezone)
    sensors = sensor_map.sensors
    for record in records:
        yield to_reading(record, sensors.get(record.sensor), zone)


def declare_map(engine: SafetyEngine, sensor_map: SensorMap) -> None:
    """Tell the engine which sensors the recorded home had, as a kit's config would."""
    specs = sensor_map.sensors.values()
    engine.declare(
        motion_rooms=sorted({s.room for s in specs if s.kind == "motion" and s.room}),
        entrance=any(s.role == "entrance" and s.kind == "contact" for s in specs),
        bed=any(s.kind == "bed" for s in specs),
        bedroom_door=any(s.kind == "contact" and s.role in BEDROOM_DOOR_ROLES
                         and s.room in engine.settings.bedroom_rooms for s in specs),
    )


def run_readings(engine: SafetyEngine, readings: Iterable[Reading],
                 result: ReplayResult | None = None) -> ReplayResult:
    """Feed readings in order; keep the alert and summary drafts; tick once at the end."""
    result = result or ReplayResult()
    last: Reading | None = None
    for reading in readings:
        result.readings += 1
        ts = reading.wall.timestamp()
        result.seen(ts, reading.room)
        if result.first is None:
            result.first = ts
        result.last = ts
        last = reading
        _collect(result, engine.feed(reading))
    if last is not None:
        _collect(result, engine.tick(last.mono, last.wall))
    return result


def _collect(result: ReplayResult, drafts: list[Draft]) -> None:
    for draft in drafts:
        if draft.kind is Kind.ALERT:
            result.alerts.append(draft)
        elif draft.kind is Kind.SUMMARY:
            result.summaries.append(draft)
        elif draft.kind is Kind.STATUS and draft.type == "prealarm":
            result.prealarms.append(draft)


def replay_lines(lines: Iterable[str], sensor_map: SensorMap, timezone: str,
                 settings: HeuristicsSettings | None = None, *,
                 prealarm: bool = False) -> ReplayResult:
    """Parse and replay a whole log through a fresh engine (raw states are not kept).

    `prealarm`: model a kit that asks her first; a question that clear activity in
    another room cancels is a critical alert the pre-alarm would have kept home.
    """
    engine = SafetyEngine(settings or HeuristicsSettings(), timezone, send_raw_states=False)
    declare_map(engine, sensor_map)
    if prealarm:
        engine.declare(can_ask=True)
    result = ReplayResult()
    zone = ZoneInfo(timezone)
    sensors = sensor_map.sensors

    def good_readings() -> Iterable[Reading]:
        latest: float | None = None
        for item in parse_lines(lines):
            if isinstance(item, LineError):
                result.errors.append(item)
                continue
            result.records += 1
            spec = sensors.get(item.sensor)
            reading = to_reading(item, spec, zone)
            if reading is None:
                result.unmapped += 1
                continue
            if latest is not None and reading.wall.timestamp() < latest:
                # A sorted local log stepping back in UTC: the second pass of a DST hour.
                second = to_reading(item, spec, zone, fold=1)
                if second is not None and second.wall.timestamp() >= latest:
                    reading = second
            latest = max(latest or 0.0, reading.wall.timestamp())
            yield reading

    return run_readings(engine, good_readings(), result)
