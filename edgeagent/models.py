"""What flows through the agent: a driver's `Reading`, a rule's `Draft`, and their vocabulary.

The event a draft becomes, and its wire format, are in `edgeagent.event`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any, Final

SCHEMA_ID: Final = "edgeagent.event/1"


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
