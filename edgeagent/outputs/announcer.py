"""The announcer: turns the agent's events into what the resident hears and sees.

It listens to every stored event (the heuristics' `prealarm` and
`checkin_reminder` status events, `sos` alerts), to the broker's PUBACKs and
to the platform's `alert-ack` command, and hands `Cue`s to the outputs. It
never decides anything about alarms: the heuristics do. Each cue runs as
its own task, so a slow speaker can never delay the event loop, the outbox
or the publisher.

- prealarm `asking`: chime, then the question, again every 30 s until a
  later prealarm event for the same `prealarm_id` or `data.until` passes;
- SOS raised: tone, "calling for help", LED blinking; if the link is down,
  "stored, will be sent"; broker PUBACK: LED steady; `alert-ack`: "the
  call centre has your call";
- check-in reminder: spoken, except in the home's quiet hours (which never
  silence anything alarm-related).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from edgeagent.driver import HealthState
from edgeagent.output import Cue, Output, Signal
from edgeagent.outputs.messages import text

log = logging.getLogger(__name__)

REPEAT_S = 30.0
PRESS_ANSWERED_S = 2.0  # an escalation this soon after a press answered it says nothing more
PRESSED_AGAIN_QUIET_S = 10.0  # pressed again and again: a tone each time, words at most this often
MAX_PENDING = 64  # prealarms and SOS alerts tracked at once (a flood must not grow memory)


def in_quiet_hours(quiet_hours: str, now: time) -> bool:
    """`"22:00-07:00"` (may wrap midnight); an empty string means never quiet."""
    if not quiet_hours:
        return False
    start_s, end_s = quiet_hours.split("-")
    start, end = time.fromisoformat(start_s), time.fromisoformat(end_s)
    if start <= end:
        return start <= now < end
    return now >= start or now < end


@dataclass(slots=True)
class Asking:
    until_wall: float | None  # epoch seconds, from data.until
    next_at: float            # monotonic: when to ask again


class Announcer:
    """Listener for the supervisor; call `tick()` every second, `delivered()` on PUBACKs."""

    def __init__(self, outputs: list[Output], *, language: str, quiet_hours: str,
                 monotonic: Callable[[], float], wall: Callable[[], datetime],
                 local_time: Callable[[], time], link_up: Callable[[], bool]) -> None:
        self.outputs = outputs
        self.language = language
        self.quiet_hours = quiet_hours
        self.monotonic = monotonic
        self.wall = wall
        self.local_time = local_time
        self.link_up = link_up
        self.asking: dict[str, Asking] = {}
        self.sos_seqs: dict[int, str] = {}   # stored SOS event seq -> alert id, until PUBACK
        self.sos_alerts: set[str] = set()    # SOS alerts not yet acknowledged by the platform
        self.acknowledged_alerts: set[str] = set()
        self._sos_said_at: float | None = None
        self._press_answered_at: float | None = None
        self.counters: dict[str, int] = {"cues": 0, "cue_failures": 0, "quiet_skipped": 0}
        self._tasks: set[asyncio.Task[None]] = set()

    # -- inputs ---------------------------------------------------------------------------

    def observe(self, what: str, payload: dict[str, Any]) -> None:
        """Listener: every reading and stored event passes here; a few concern the resident."""
        if what == "reading":
            if payload.get("sensor") == "sos" and payload.get("value") is True:
                self._pressed_again()
            return
        if what != "event":
            return
        kind, type_ = payload.get("kind"), payload.get("type")
        if kind == "status" and type_ == "prealarm":
            self._prealarm(_data(payload))
        elif kind == "status" and type_ == "checkin_reminder":
            if in_quiet_hours(self.quiet_hours, self.local_time()):
                self.counters["quiet_skipped"] += 1
            else:
                self._say("checkin_reminder")
        elif kind == "alert" and type_ == "sos":
            self._sos(payload)

    def delivered(self, seqs: list[int]) -> None:
        """The broker has these events (PUBACK): a delivered SOS turns the call light steady."""
        if any(self.sos_seqs.pop(seq, None) is not None for seq in seqs):
            self._cue(Cue(Signal.DELIVERED))

    def acknowledged(self, alert_id: str) -> bool:
        """The platform's `alert-ack`: tell her a person has her call. False if not an SOS."""
        if alert_id not in self.sos_alerts:
            return False
        self.sos_alerts.discard(alert_id)
        if len(self.acknowledged_alerts) < MAX_PENDING:
            self.acknowledged_alerts.add(alert_id)
        self._say("sos_acknowledged")
        return True

    def tick(self) -> None:
        """Ask again every 30 s while a pre-alarm waits; stop when its `until` has passed."""
        now = self.monotonic()
        epoch = self.wall().timestamp()
        for pid, asking in list(self.asking.items()):
            if asking.until_wall is not None and epoch >= asking.until_wall:
                del self.asking[pid]
            elif now >= asking.next_at:
                asking.next_at = now + REPEAT_S
                self._ask()

    # -- reactions ------------------------------------------------------------------------

    def _prealarm(self, data: dict[str, Any]) -> None:
        pid = data.get("prealarm_id")
        if not isinstance(pid, str):
            return
        if data.get("state") != "asking":  # cancelled, no answer: stop asking
            self.asking.pop(pid, None)
            return
        if pid in self.asking or len(self.asking) >= MAX_PENDING:
            return
        until = data.get("until")
        self.asking[pid] = Asking(
            until_wall=float(until) if isinstance(until, int | float) else None,
            next_at=self.monotonic() + REPEAT_S)
        self._ask()

    def _ask(self) -> None:
        self._cue(Cue(Signal.CHIME))
        self._say("prealarm_ask")

    def _sos(self, payload: dict[str, Any]) -> None:
        """Raised: tone, words, light blinking. Pressed again (escalated): the tone, and the
        words again at most every 10 s ("the centre has your call" once it has)."""
        body = _body(payload)
        raw_alert = body.get("alert")
        alert: dict[str, Any] = raw_alert if isinstance(raw_alert, dict) else {}
        state = alert.get("state", "raised")
        alert_id = alert.get("id")
        if state == "resolved":  # cancelled on site: the call light goes out
            self.sos_alerts.discard(str(alert_id))
            self.acknowledged_alerts.discard(str(alert_id))
            self._cue(Cue(Signal.IDLE))
            return
        seq = payload.get("seq")
        if isinstance(seq, int) and len(self.sos_seqs) < MAX_PENDING:
            self.sos_seqs[seq] = str(alert_id)
        acknowledged = alert_id in self.acknowledged_alerts
        if isinstance(alert_id, str) and not acknowledged and len(self.sos_alerts) < MAX_PENDING:
            self.sos_alerts.add(alert_id)
        now = self.monotonic()
        if state != "raised" and self._press_answered_at is not None \
                and now - self._press_answered_at < PRESS_ANSWERED_S:
            return  # the press itself was answered already (`_pressed_again`)
        self._answer_press(raised=state == "raised", acknowledged=acknowledged)

    def _pressed_again(self) -> None:
        """A press while her SOS is open: the engine raises nothing new after its first
        escalation, so the press itself is answered (a tone, words at most every 10 s)."""
        if not self.sos_alerts and not self.acknowledged_alerts:
            return  # a first press: answered when its alert is stored
        self._press_answered_at = self.monotonic()
        self._answer_press(raised=False, acknowledged=not self.sos_alerts)

    def _answer_press(self, *, raised: bool, acknowledged: bool) -> None:
        self._cue(Cue(Signal.TONE))
        if raised:  # blinking until the broker has it; a press again leaves the light alone
            self._cue(Cue(Signal.CALLING))
        now = self.monotonic()
        if not raised and self._sos_said_at is not None \
                and now - self._sos_said_at < PRESSED_AGAIN_QUIET_S:
            return
        self._sos_said_at = now
        self._say("sos_acknowledged" if acknowledged else "sos_calling")
        if not self.link_up():
            self._say("sos_link_down")

    # -- outputs --------------------------------------------------------------------------

    def _say(self, message: str) -> None:
        self._cue(Cue(Signal.SPEAK, message, text(message, self.language), self.language))

    def _cue(self, cue: Cue) -> None:
        self.counters["cues"] += 1
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            log.warning("no event loop: cue %s not shown", cue.signal)
            return
        for output in self.outputs:
            task = loop.create_task(self._perform(output, cue), name=f"output-{output.name}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _perform(self, output: Output, cue: Cue) -> None:
        try:
            await output.perform(cue)
        except Exception as exc:  # an output's fault is its own: counted, never fatal
            self.counters["cue_failures"] += 1
            output.count("failures")
            log.exception("output %s failed on %s", output.name, cue.signal)
            output.set_health(HealthState.DEGRADED, f"{type(exc).__name__}: {exc}")

    async def idle(self) -> None:
        """Wait until every running cue has finished (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)


def _body(payload: dict[str, Any]) -> dict[str, Any]:
    raw = payload.get("body")
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str | bytes):
        try:
            doc = json.loads(raw)
        except ValueError:
            return {}
        return doc if isinstance(doc, dict) else {}
    return {}


def _data(payload: dict[str, Any]) -> dict[str, Any]:
    data = _body(payload).get("data")
    return data if isinstance(data, dict) else {}
