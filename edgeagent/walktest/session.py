"""What the walk test knows: the configured sensors and which of them fired, and when.

Pure bookkeeping, fed with the control socket's `subscribe` lines; the
terminal, the web page and the report all read the same `snapshot()`.
Times are shown in the home's time zone (`home.timezone`), which is what the
technician and the family read, not the kit's system clock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from edgeagent.config import AgentConfig

# Readings that say something about the device, not that the technician set it off.
HOUSEKEEPING = frozenset({"device_status", "battery", "rssi", "heartbeat"})


@dataclass(slots=True)
class Sensor:
    """One thing the technician can set off: a driver, or one device of a multi-device driver."""

    driver: str
    type: str
    room: str | None
    device: str | None = None  # None: the whole driver (GPIO input, serial mat)
    role: str | None = None
    enabled: bool = True
    fired_at: datetime | None = None
    count: int = 0
    last: str = ""

    @property
    def key(self) -> str:
        return f"{self.driver}/{self.device}" if self.device else self.driver


@dataclass(slots=True)
class AlarmResult:
    severity: str
    stage: str = "pending"  # pending, stored, acked, resolved, failed
    seq: int | None = None
    resolved_seq: int | None = None
    event_id: str | None = None
    after_s: float | None = None
    error: str = ""
    platform_reply: dict[str, Any] | None = None


def configured_sensors(config: AgentConfig) -> list[Sensor]:
    """Each `[[drivers]]` table, and each entry of a driver's `devices` list (BLE monitors)."""
    sensors: list[Sensor] = []
    for options in config.drivers:
        devices = getattr(options, "devices", None)
        role = getattr(options, "role", None)
        if isinstance(devices, list) and devices:
            for device in devices:
                sensors.append(Sensor(
                    driver=options.name, type=options.type, device=str(device.id),
                    room=getattr(device, "room", None) or options.room,
                    role=getattr(device, "role", None), enabled=options.enabled))
        else:
            sensors.append(Sensor(driver=options.name, type=options.type, room=options.room,
                                  role=role if isinstance(role, str) else None,
                                  enabled=options.enabled))
    return sensors


def _describe(what: str, payload: dict[str, Any]) -> str:
    if what == "reading":
        return f"{payload.get('sensor')} = {payload.get('value')}"
    return f"{payload.get('kind')}/{payload.get('type')}"


@dataclass
class WalkSession:
    """The sensors of one kit and what each did since the walk began. Thread-safe: the
    socket reader, the terminal and the web server read and write it concurrently."""

    home: str
    timezone: str
    sensors: list[Sensor]
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished: datetime | None = None
    phase: str = "walking"  # walking, alarms, done
    alarms: list[AlarmResult] = field(default_factory=list)
    report_files: list[str] = field(default_factory=list)
    result: str | None = None  # pass, warn, fail: once the report is written
    report_text: str = ""
    notes: list[str] = field(default_factory=list)
    dropped: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def for_config(cls, config: AgentConfig, started: datetime | None = None) -> WalkSession:
        return cls(home=config.home.id, timezone=config.home.timezone,
                   sensors=configured_sensors(config), started=started or datetime.now(UTC))

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def local(self, when: datetime | None) -> str:
        """`when` as the home's wall clock, `HH:MM:SS`."""
        return when.astimezone(self.zone).strftime("%H:%M:%S") if when else ""

    def _match(self, what: str, payload: dict[str, Any]) -> Sensor | None:
        if what == "reading":
            if payload.get("sensor") in HOUSEKEEPING:
                return None
            driver, device = payload.get("driver"), payload.get("device")
        else:
            source = payload.get("source") or {}
            driver, device = source.get("driver"), source.get("device")
            if payload.get("type") == "test":
                return None
        candidates = [s for s in self.sensors if s.driver == driver and s.enabled]
        return (next((s for s in candidates if s.device == device), None)
                or next((s for s in candidates if s.device is None), None))

    def observe(self, line: dict[str, Any], now: datetime) -> Sensor | None:
        """One `subscribe` line; the sensor it ticked for the first time, else None."""
        what, payload = line.get("what"), line.get("payload") or {}
        if not isinstance(what, str) or not isinstance(payload, dict):
            return None
        with self._lock:
            self.dropped = max(self.dropped, int(line.get("dropped") or 0))
            if self.phase != "walking":
                return None
            sensor = self._match(what, payload)
            if sensor is None:
                return None
            sensor.count += 1
            sensor.last = _describe(what, payload)
            if sensor.fired_at is not None:
                return None
            sensor.fired_at = now
            return sensor

    def expected(self) -> list[Sensor]:
        return [s for s in self.sensors if s.enabled]

    def silent(self) -> list[Sensor]:
        with self._lock:
            return [s for s in self.expected() if s.fired_at is None]

    def all_fired(self) -> bool:
        return bool(self.expected()) and not self.silent()

    def snapshot(self) -> dict[str, Any]:
        """Everything the page and the report show, JSON-ready (times in the home's zone)."""
        with self._lock:
            zone = self.zone
            return {
                "home": self.home,
                "timezone": self.timezone,
                "phase": self.phase,
                "started": self.started.astimezone(zone).isoformat(timespec="seconds"),
                "finished": (self.finished.astimezone(zone).isoformat(timespec="seconds")
                             if self.finished else None),
                "sensors": [{"key": s.key, "driver": s.driver, "device": s.device,
                             "type": s.type, "room": s.room, "role": s.role,
                             "enabled": s.enabled, "fired": s.fired_at is not None,
                             "fired_at": self.local(s.fired_at) or None, "count": s.count,
                             "last": s.last} for s in self.sensors],
                "silent": [s.key for s in self.sensors if s.enabled and s.fired_at is None],
                "alarms": [{"severity": a.severity, "stage": a.stage, "seq": a.seq,
                            "resolved_seq": a.resolved_seq, "id": a.event_id,
                            "after_s": a.after_s, "error": a.error,
                            "platform_reply": a.platform_reply} for a in self.alarms],
                "report_files": list(self.report_files),
                "result": self.result,
                "report_text": self.report_text,
                "notes": list(self.notes),
                "dropped": self.dropped,
            }

    def set_phase(self, phase: str, now: datetime | None = None) -> None:
        with self._lock:
            self.phase = phase
            if phase != "walking" and self.finished is None:
                self.finished = now or datetime.now(UTC)

    def finish(self, result: str, report_text: str, files: list[str],
               notes: list[str]) -> None:
        with self._lock:
            self.phase = "done"
            self.result, self.report_text = result, report_text
            self.report_files, self.notes = list(files), [*self.notes, *notes]

    def update_alarm(self, result: AlarmResult, **changes: Any) -> None:
        with self._lock:
            for key, value in changes.items():
                setattr(result, key, value)
