"""The lifecycle of alerts: raised -> escalated -> resolved, with deterministic ids.

An alert id is derived from the alert type, what it is about (a device, a
vital sign) and the instant it was raised, never from a random number, so a
replayed log produces byte-identical events and a restarted engine keeps
talking about the same alert.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from edgeagent.heuristics.localtime import utc
from edgeagent.heuristics.reasons import Reason, as_reason, say
from edgeagent.models import Draft, Kind, Severity

SOURCE = {"driver": "heuristics", "device": "engine"}


class OpenAlert(BaseModel):
    """An alert the platform has been told about and not yet told is over."""

    id: str
    type: str
    key: str
    severity: Severity
    raised_at: float
    escalate_at: float | None = None
    escalate_to: Severity | None = None
    escalated: bool = False
    source: dict[str, Any] = Field(default_factory=dict)


def alert_id(type_: str, key: str, raised_at: float) -> str:
    stamp = utc(raised_at).strftime("%Y%m%dT%H%M%SZ")
    return f"{type_}-{key}-{stamp}" if key else f"{type_}-{stamp}"


class AlertBook:
    """Open alerts keyed by (type, key); turns transitions into alert drafts."""

    def __init__(self, language: str = "en") -> None:
        self.open: dict[str, OpenAlert] = {}
        self.mono_offset = 0.0  # mono - epoch of the latest input, to stamp timer drafts
        self.language = language  # what data.reason is written in (home.language)

    def words(self, reason: str | Reason, *, resolved: bool = False) -> dict[str, Any]:
        """`reason` (in the home's language), `reason_code` and `reason_params`."""
        why = as_reason(reason)
        text = why.text(self.language)
        if resolved:
            text = say("resolved").text(self.language) + text
        return {"reason": text, **why.data()}

    @staticmethod
    def _slot(type_: str, key: str) -> str:
        return f"{type_}/{key}"

    def is_open(self, type_: str, key: str = "") -> bool:
        return self._slot(type_, key) in self.open

    def get(self, type_: str, key: str = "") -> OpenAlert | None:
        return self.open.get(self._slot(type_, key))

    def _draft(self, alert: OpenAlert, state: str, at: float, severity: Severity,
               data: dict[str, Any]) -> Draft:
        source = dict(SOURCE)
        source.update(alert.source)
        return Draft(
            kind=Kind.ALERT, type=alert.type, severity=severity, source=source,
            mono=at + self.mono_offset, wall=utc(at), data=data,
            alert={"id": alert.id, "state": state},
        )

    def raise_(self, type_: str, severity: Severity, at: float, reason: str | Reason, *,
               key: str = "",
               source: dict[str, Any] | None = None, escalate_after: float | None = None,
               escalate_to: Severity | None = None, extra: dict[str, Any] | None = None,
               kind: Kind = Kind.ALERT) -> Draft | None:
        """Raise unless already open (then None: one alert per situation)."""
        slot = self._slot(type_, key)
        if slot in self.open:
            return None
        alert = OpenAlert(
            id=alert_id(type_, key, at), type=type_, key=key, severity=severity, raised_at=at,
            escalate_at=at + escalate_after if escalate_after is not None else None,
            escalate_to=escalate_to, source=source or {},
        )
        self.open[slot] = alert
        data: dict[str, Any] = self.words(reason)
        if extra:
            data.update(extra)
        draft = self._draft(alert, "raised", at, severity, data)
        draft.kind = kind
        return draft

    def next_escalation(self) -> float | None:
        times = [a.escalate_at for a in self.open.values()
                 if a.escalate_at is not None and not a.escalated]
        return min(times) if times else None

    def escalate_due(self, now: float, describe: dict[str, Reason]) -> list[Draft]:
        """Escalate every open alert whose escalation time has come (in time order)."""
        due = sorted(
            (a for a in self.open.values()
             if a.escalate_at is not None and not a.escalated and a.escalate_at <= now),
            key=lambda a: (a.escalate_at or 0.0, a.id),
        )
        drafts = []
        for alert in due:
            at = alert.escalate_at or now
            alert.escalated = True
            if alert.escalate_to is not None:
                alert.severity = alert.escalate_to
            minutes = round((at - alert.raised_at) / 60)
            words = describe.get(alert.type, say("text", text="still not resolved"))
            drafts.append(self._draft(
                alert, "escalated", at, alert.severity,
                self.words(say("open_for", words=words, minutes=minutes)),
            ))
        return drafts

    def escalate_now(self, type_: str, at: float, reason: str | Reason, *, key: str = "",
                     severity: Severity | None = None) -> Draft | None:
        alert = self.get(type_, key)
        if alert is None or alert.escalated:
            return None
        alert.escalated = True
        if severity is not None:
            alert.severity = severity
        return self._draft(alert, "escalated", at, alert.severity, self.words(reason))

    def resolve(self, type_: str, at: float, reason: str | Reason, *,
                key: str = "") -> Draft | None:
        alert = self.open.pop(self._slot(type_, key), None)
        if alert is None:
            return None
        return self._draft(alert, "resolved", at, alert.severity,
                           self.words(reason, resolved=True))

    def resolve_all(self, types: tuple[str, ...], at: float,
                    reason: str | Reason) -> list[Draft]:
        drafts = []
        for slot in sorted(self.open):
            alert = self.open[slot]
            if alert.type in types:
                draft = self.resolve(alert.type, at, reason, key=alert.key)
                if draft is not None:
                    drafts.append(draft)
        return drafts

    def snapshot(self) -> list[dict[str, Any]]:
        return [a.model_dump(mode="json") for a in self.open.values()]

    def restore(self, items: list[dict[str, Any]]) -> None:
        self.open = {}
        for item in items:
            alert = OpenAlert.model_validate(item)
            self.open[self._slot(alert.type, alert.key)] = alert
