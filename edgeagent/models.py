"""The two things that flow through the agent: a driver's `Reading` and a platform `Event`.

`Event` is the v1 wire schema (docs/architecture.md). Its JSON Schema is generated
from this model (`edgeagent schema`) and shipped in `edgeagent/schema/`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_ID = "edgeagent.event/1"


class Kind(StrEnum):
    ALERT = "alert"
    READING = "reading"
    STATE = "state"
    STATUS = "status"
    SUMMARY = "summary"


class Severity(StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


class ClockQuality(StrEnum):
    SYNCED = "synced"
    UNSYNCED = "unsynced"
    CORRECTED = "corrected"


class AlertState(StrEnum):
    RAISED = "raised"
    ESCALATED = "escalated"
    RESOLVED = "resolved"


class Priority(IntEnum):
    """Outbox drain and eviction classes (docs/architecture.md, "Priorities and limits")."""

    CRITICAL_ALERT = 1
    ALERT_OR_HEALTH = 2
    VITAL_OR_SUMMARY = 3
    RAW_STATE = 4


CRITICAL_ALERT_TYPES = frozenset({"sos", "fall_suspected", "bed_exit_no_return", "night_exit"})


@dataclass(frozen=True, slots=True)
class Reading:
    """What one sensor said, and when (by both clocks). Drivers produce only these.

    `sensor` names the measured thing (`motion`, `door`, `bed`, `sos`,
    `heart_rate`, ...); `value` is its primary value; `data` holds the rest
    (units, flags, device timestamps) in JSON-able form.
    """

    driver: str
    device: str
    sensor: str
    value: Any
    mono: float
    wall: datetime
    room: str | None = None
    role: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


class Source(BaseModel):
    model_config = ConfigDict(extra="allow")
    driver: str
    device: str | None = None
    room: str | None = None


class AlertInfo(BaseModel):
    id: str = Field(description="Stable id of one alert across raised/escalated/resolved")
    state: AlertState


class Event(BaseModel):
    """One message to the platform. `id` is the dedup key; `seq` is gap-free per home."""

    model_config = ConfigDict(extra="forbid")

    schema_: Literal["edgeagent.event/1"] = Field(default="edgeagent.event/1", alias="schema")
    id: str = Field(description="UUIDv7, the dedup key")
    home: str
    seq: int = Field(ge=1, description="Per-home sequence, +1 per event, survives restarts")
    ts: str = Field(description="UTC wall time, RFC 3339 with milliseconds")
    clock: ClockQuality
    kind: Kind
    type: str
    severity: Severity
    source: Source
    data: dict[str, Any] = Field(default_factory=dict)
    alert: AlertInfo | None = None
    historical: bool | None = Field(
        default=None, description="True when sent from the backlog after an outage (Sparkplug idea)"
    )


@functools.lru_cache(maxsize=1024)
def priority_of(kind: Kind | str, type_: str, severity: Severity | str) -> Priority:
    """Classify an event for drain order and eviction; alerts are never class 3 or 4.

    Cached: a handful of (kind, type, severity) combinations, asked once per stored event.
    """
    if kind == Kind.ALERT:
        if type_ in CRITICAL_ALERT_TYPES or severity == Severity.CRITICAL:
            return Priority.CRITICAL_ALERT
        return Priority.ALERT_OR_HEALTH
    if kind == Kind.STATUS:
        return Priority.ALERT_OR_HEALTH
    if kind in (Kind.READING, Kind.SUMMARY):
        return Priority.VITAL_OR_SUMMARY
    return Priority.RAW_STATE


@dataclass(slots=True)
class Draft:
    """An event before the outbox gives it `seq`, `id` and its final `ts`.

    Heuristics and the supervisor build drafts; only the outbox turns them
    into numbered events, inside the transaction that stores them.
    """

    kind: Kind
    type: str
    severity: Severity
    source: dict[str, Any]
    mono: float
    wall: datetime
    data: dict[str, Any] = field(default_factory=dict)
    alert: dict[str, Any] | None = None

    @property
    def priority(self) -> Priority:
        return priority_of(self.kind, self.type, self.severity)
