"""The simplest engine: forward readings, raise SOS and alarm inputs immediately.

Kept as the fallback the supervisor can run with when a home disables
the safety heuristics (and as the reference the full engine must match
for SOS latency).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from edgeagent.heuristics.forward import reading_draft, source_of
from edgeagent.heuristics.reasons import say
from edgeagent.ids import uuid7
from edgeagent.models import Draft, Kind, Reading, Severity

IMMEDIATE_ALARMS = {"sos": "sos", "smoke": "smoke", "gas": "gas", "co": "co"}


class PassthroughEngine:
    def __init__(self, *, send_raw_states: bool = True, language: str = "en") -> None:
        self.send_raw_states = send_raw_states
        self.language = language

    def feed(self, reading: Reading) -> list[Draft]:
        drafts: list[Draft] = []
        if reading.sensor in IMMEDIATE_ALARMS and reading.value:
            drafts.append(Draft(
                kind=Kind.ALERT, type=IMMEDIATE_ALARMS[reading.sensor],
                severity=Severity.CRITICAL, source=source_of(reading),
                mono=reading.mono, wall=reading.wall,
                data=self._reason(reading),
                alert={"id": str(uuid7()), "state": "raised"},
            ))
            return drafts
        draft = reading_draft(reading, send_raw_states=self.send_raw_states)
        if draft is not None:
            drafts.append(draft)
        return drafts

    def _reason(self, reading: Reading) -> dict[str, Any]:
        why = say("input_activated", input=reading.sensor, device=reading.device)
        return {"reason": why.text(self.language), **why.data()}

    def tick(self, mono: float, wall: datetime) -> list[Draft]:
        return []

    def snapshot(self) -> dict[str, Any]:
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        return None
