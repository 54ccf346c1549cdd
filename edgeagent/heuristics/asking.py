"""Asking the resident before an alarm leaves the home, and the daily check-in.

A pre-alarm: when a silence rule is about to raise a critical alert, the kit
first asks her (the annunciators speak on the `prealarm` "asking" event) and
waits `prealarm_seconds`. Her "I'm OK" button, or clear activity in another
room, cancels it: nothing critical leaves the home, only an `info` event
`prealarm` with the outcome, so the call centre sees how often it happens.
No answer → the alert is raised as it would have been, with
`data.prealarm = "no answer"`. An SOS press during the window raises `sos` at
once and ends the pre-alarm as "no answer". SOS, smoke, gas, CO and
`night_exit` are never delayed. Asking happens only on a kit that can ask
(an annunciator and an "I'm OK" button declared); elsewhere a pre-alarm
would only delay the alarm.

The daily check-in (平安钟): one press of the "I'm OK" button inside the
window → `checkin`; a reminder at the window's midpoint; no check-in by its
end → `no_checkin`, a warning if nothing was seen in the window, else info.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgeagent.heuristics.alerts import SOURCE
from edgeagent.heuristics.localtime import utc
from edgeagent.models import Draft, Kind, Severity


@dataclass(slots=True)
class PendingAsk:
    """A pre-alarm waiting for her answer (kept in the snapshot: a restart resumes it)."""

    id: str
    alert: str
    situation: str
    reason: str
    room: str | None
    started_at: float
    until: float


@dataclass(slots=True)
class AskingState:
    pending: PendingAsk | None = None
    checkin_done: str | None = None  # the local day she last checked in
    checkin_decided: str | None = None  # the local day the window last closed on
    checkin_reminded: str | None = None
    last_activity_day: dict[str, float] = field(default_factory=dict)  # day -> last seen


def status_draft(type_: str, at: float, mono_offset: float, data: dict[str, Any],
                 severity: Severity = Severity.INFO) -> Draft:
    """An event for the call centre and the annunciators (never an alert)."""
    return Draft(kind=Kind.STATUS, type=type_, severity=severity, source=dict(SOURCE),
                 mono=at + mono_offset, wall=utc(at), data=data)
