"""A resident's day as readings on the home's local clock, played through the engine.

`Day` builds readings from local times ("02:10") in Europe/Amsterdam and
plays them through an engine with a minute tick in between, as the
supervisor's heartbeat would. Alerts are collected with their local time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from edgeagent.heuristics import build_engine
from edgeagent.heuristics.engine import SafetyEngine
from edgeagent.heuristics.settings import HeuristicsSettings
from edgeagent.models import Draft, Kind, Reading

ZONE_NAME = "Europe/Amsterdam"
ZONE = ZoneInfo(ZONE_NAME)
MONO_OFFSET = -1_700_000_000.0  # monotonic = epoch + offset: any fixed relation will do


def local(day: date, hhmm: str, *, next_day: bool = False) -> datetime:
    parts = [int(p) for p in hhmm.split(":")]
    clock = time(parts[0], parts[1], parts[2] if len(parts) > 2 else 0)
    when = datetime.combine(day + timedelta(days=1 if next_day else 0), clock, tzinfo=ZONE)
    return when.astimezone(UTC)


def reading(when: datetime, sensor: str, value: Any, *, room: str | None = None,
            role: str | None = None, device: str | None = None,
            data: dict[str, Any] | None = None) -> Reading:
    return Reading(
        driver="test", device=device or f"{sensor}-{room or 'home'}", sensor=sensor, value=value,
        mono=when.timestamp() + MONO_OFFSET, wall=when, room=room, role=role, data=data or {},
    )


@dataclass
class Day:
    """Readings of one evening, night and morning, starting on `start` (local date)."""

    start: date = date(2026, 3, 2)
    overnight: bool = True
    readings: list[Reading] = field(default_factory=list)

    def at(self, hhmm: str) -> datetime:
        """Overnight: times before noon are the next morning. Else all on `start`."""
        return local(self.start, hhmm,
                     next_day=self.overnight and int(hhmm.split(":", maxsplit=1)[0]) < 12)

    def motion(self, hhmm: str, room: str) -> Day:
        when = self.at(hhmm)
        self.readings.append(reading(when, "motion", True, room=room, device=f"pir-{room}"))
        self.readings.append(reading(when + timedelta(seconds=30), "motion", False, room=room,
                                     device=f"pir-{room}"))
        return self

    def bed(self, hhmm: str, value: str) -> Day:
        self.readings.append(reading(self.at(hhmm), "bed", value, room="bedroom", device="mat"))
        return self

    def door(self, hhmm: str, role: str, room: str, value: str = "open") -> Day:
        self.readings.append(reading(self.at(hhmm), "door", value, room=room, role=role,
                                     device=f"door-{role}"))
        return self

    def add(self, hhmm: str, sensor: str, value: Any, **kw: Any) -> Day:
        self.readings.append(reading(self.at(hhmm), sensor, value, **kw))
        return self

    def play(self, until: str | datetime, engine: SafetyEngine | None = None,
             settings: HeuristicsSettings | None = None) -> Played:
        engine = engine or new_engine(settings)
        end = self.at(until) if isinstance(until, str) else until
        return play(engine, sorted(self.readings, key=lambda r: r.wall), end)

    def play_with_restart(self, restart: str, until: datetime) -> Played:
        """Play to `restart`, carry the engine's snapshot into a new engine (the agent
        restarted), then tick on to `until`; returns what the new engine raised."""
        first = new_engine()
        play(first, self.readings, self.at(restart))
        second = new_engine()
        second.restore(first.snapshot())
        return play(second, [], until)


def new_engine(settings: HeuristicsSettings | None = None) -> SafetyEngine:
    engine = build_engine(settings or HeuristicsSettings(), ZONE_NAME)
    assert isinstance(engine, SafetyEngine)
    return engine


@dataclass
class Played:
    engine: SafetyEngine
    drafts: list[Draft]

    @property
    def alerts(self) -> list[Draft]:
        return [d for d in self.drafts if d.kind is Kind.ALERT]

    def story(self) -> list[tuple[str, str, str, str]]:
        """(local HH:MM, type, severity, state) of every alert event."""
        return [
            (d.wall.astimezone(ZONE).strftime("%H:%M"), d.type, d.severity.value,
             str((d.alert or {}).get("state")))
            for d in self.alerts
        ]

    @property
    def summaries(self) -> list[Draft]:
        return [d for d in self.drafts if d.kind is Kind.SUMMARY]


def play(engine: SafetyEngine, readings: list[Reading], until: datetime,
         tick_seconds: float = 60.0) -> Played:
    """Feed readings in order, ticking every `tick_seconds` of wall time in between."""
    drafts: list[Draft] = []
    now = readings[0].wall if readings else until
    pending = list(readings)
    while now <= until:
        while pending and pending[0].wall <= now:
            drafts.extend(engine.feed(pending.pop(0)))
        drafts.extend(engine.tick(now.timestamp() + MONO_OFFSET, now))
        now += timedelta(seconds=tick_seconds)
    return Played(engine, drafts)
