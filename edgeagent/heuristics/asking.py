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
from datetime import date, datetime, timedelta
from typing import Any

from edgeagent.heuristics.alerts import SOURCE, AlertBook
from edgeagent.heuristics.localtime import LocalTime, utc
from edgeagent.heuristics.reasons import Reason, from_data, say
from edgeagent.heuristics.settings import HeuristicsSettings
from edgeagent.models import Draft, Kind, Severity


@dataclass(slots=True)
class PendingAsk:
    """A pre-alarm waiting for her answer (kept in the snapshot: a restart resumes it)."""

    id: str
    alert: str
    situation: str
    reason_code: str
    reason_params: dict[str, Any]
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


class Asking:
    """Owns `AskingState`: the pending pre-alarm and the check-in window's progress."""

    def __init__(self, settings: HeuristicsSettings, local: LocalTime,
                 alerts: AlertBook) -> None:
        self.settings, self.local, self.alerts = settings, local, alerts
        self.state = AskingState()

    # ---------------------------------------------------------------- pre-alarm
    def may_ask(self, alert: str, can_ask: bool) -> bool:
        s = self.settings
        return (can_ask and s.prealarm_seconds > 0 and alert in s.prealarm_alerts
                and self.state.pending is None)

    def ask(self, at: float, alert: str, situation: str, reason: Reason,
            room: str | None) -> Draft:
        """Start asking her; the critical alert waits for her answer (or its absence)."""
        facts = reason.data()
        pending = PendingAsk(
            id=f"prealarm-{utc(at):%Y%m%dT%H%M%SZ}", alert=alert, situation=situation,
            reason_code=facts["reason_code"], reason_params=facts["reason_params"], room=room,
            started_at=at, until=at + self.settings.prealarm_seconds)
        self.state.pending = pending
        return status_draft("prealarm", at, self.alerts.mono_offset, {
            "state": "asking", "prealarm_id": pending.id, "alert": alert,
            "until": pending.until, **self.alerts.words(reason)})

    def no_answer(self, at: float, warnings: tuple[str, ...]) -> list[Draft]:
        """The window passed (or she pressed SOS): the alert goes out as it would have.

        `warnings`: alert types whose open warning for the same room gives way to it.
        """
        book, pending = self.alerts, self.state.pending
        out: list[Draft] = []
        if pending is None:
            return out
        self.state.pending = None
        out.append(status_draft("prealarm", at, book.mono_offset, {
            "state": "no answer", "prealarm_id": pending.id, "alert": pending.alert}))
        for type_ in warnings:
            raised = book.get(type_)
            if (raised is not None and raised.severity is Severity.WARNING
                    and raised.source.get("room") == pending.room):
                draft = book.resolve(type_, at, say("superseded"))
                if draft is not None:
                    out.append(draft)
        draft = book.raise_(
            pending.alert, Severity.CRITICAL, at,
            from_data(pending.reason_code, pending.reason_params), source={"room": pending.room},
            escalate_after=self.settings.escalate_critical_minutes * 60,
            extra={"situation": pending.situation, "prealarm": "no answer"})
        if draft is not None:
            out.append(draft)
        return out

    def cancel(self, at: float, by: str) -> list[Draft]:
        pending = self.state.pending
        if pending is None:
            return []
        self.state.pending = None
        return [status_draft("prealarm", at, self.alerts.mono_offset, {
            "state": "cancelled", "outcome": "cancelled", "by": by,
            "prealarm_id": pending.id, "alert": pending.alert})]

    # ----------------------------------------------------------------- check-in
    def arm(self, now: float) -> None:
        """A kit started after today's window opened does not judge that morning."""
        day = self.local.local(now).date()
        started = now > self.local.at(day, self.settings.checkin_start)
        self.state.checkin_decided = (day if started else day - timedelta(days=1)).isoformat()

    def next_checkin(self, now: float | None) -> tuple[float, str] | None:
        """The next check-in moment: the reminder at mid-window, the verdict at its end."""
        s, ask, local = self.settings, self.state, self.local
        if not s.checkin or now is None:
            return None
        today = local.local(now).date()
        for day in (today, today + timedelta(days=1)):
            key = day.isoformat()
            if ask.checkin_decided is not None and key <= ask.checkin_decided:
                continue
            start, end = local.at(day, s.checkin_start), local.at(day, s.checkin_end)
            if key not in (ask.checkin_done, ask.checkin_reminded):
                return (start + end) / 2, "remind:" + key
            return end, "end:" + key
        return None

    def checkin_due(self, arg: str, at: float, last_seen: float | None) -> list[Draft]:
        s, ask, book, local = self.settings, self.state, self.alerts, self.local
        what, key = arg.split(":", 1)
        if what == "remind":
            ask.checkin_reminded = key
            return [status_draft("checkin_reminder", at, book.mono_offset, {"state": "remind"})]
        ask.checkin_decided = key
        if ask.checkin_done == key:
            return []
        start = local.at(date.fromisoformat(key), s.checkin_start)
        window = f"{s.checkin_start:%H:%M}-{s.checkin_end:%H:%M}"
        if last_seen is not None and last_seen >= start:
            return [status_draft("no_checkin", at, book.mono_offset, book.words(
                say("no_checkin_moving", window=window, time=local.hhmm(last_seen))))]
        since = local.hhmm(last_seen) if last_seen is not None else "—"
        draft = book.raise_("no_checkin", Severity.WARNING, at,
                            say("no_checkin", window=window, since=since), key=key)
        return [draft] if draft is not None else []

    def pressed(self, at: float) -> list[Draft]:
        """Her "I'm OK" button: answers a pre-alarm and checks her in."""
        s, ask, local = self.settings, self.state, self.local
        out = self.cancel(at, "button")
        moment: datetime = local.local(at)
        key = moment.date().isoformat()
        if s.checkin and s.checkin_start <= moment.time() < s.checkin_end \
                and ask.checkin_done != key:
            ask.checkin_done = key
            out.append(status_draft("checkin", at, self.alerts.mono_offset,
                                    {"at": local.hhmm(at)}))
        draft = self.alerts.resolve("no_checkin", at, say("checked_in", time=local.hhmm(at)),
                                    key=key)
        if draft is not None:
            out.append(draft)
        return out
