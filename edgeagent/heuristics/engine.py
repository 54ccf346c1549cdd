"""The safety engine: one home's readings and clock ticks in, event drafts out.

Pure and deterministic: time comes only from the readings' and ticks' wall
stamps (UTC), never from the machine. Timers (a bed exit without return, a
silence past the learned limit) are deadlines computed from the state and
fired in time order by whichever call first reaches them, stamped with the
deadline itself. So feeding a day of readings in one batch, or one by one
with ticks in between, gives the same events — live, replay and tests share
one code path.

The engine is a dispatcher over trackers that each own their state:
`Layout` (what the sensors can see), `PresenceTracker` (home / away and the
evidence), `SleepTracker` (in bed, up at night, awake), the bathroom stay,
`LearnedRoutine` (her own limits) and `SilenceRules` (what a silence means
in this situation, for this layout: warning, critical, or both in turn).
Readings that are alerts by themselves (SOS, detectors, vitals, device
health) go to `inputs`; room thermometers to `environment`; daily checks
to `daily_checks`; the daily summary to `daily`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError

from edgeagent.heuristics import inputs, room_climate
from edgeagent.heuristics.alerts import AlertBook
from edgeagent.heuristics.asking import Asking
from edgeagent.heuristics.daily import close_day
from edgeagent.heuristics.daily_checks import DailyChecks
from edgeagent.heuristics.fence import Fence, FenceSettings
from edgeagent.heuristics.forward import reading_draft
from edgeagent.heuristics.inputs import truthy as _truthy
from edgeagent.heuristics.localtime import LocalTime, epoch
from edgeagent.heuristics.presence import PresenceTracker
from edgeagent.heuristics.reasons import Reason, say, still
from edgeagent.heuristics.routine import LearnedRoutine
from edgeagent.heuristics.seats import SeatTracker
from edgeagent.heuristics.settings import HeuristicsSettings
from edgeagent.heuristics.silence import (
    RECENT_WINDOW,
    RULES,
    SILENCE_TYPES,
    Plan,
    SilenceRules,
    Situation,
    Timer,
)
from edgeagent.heuristics.sleep import SleepTracker
from edgeagent.heuristics.state import STATE_ADAPTER, HomeState, migrate
from edgeagent.heuristics.summary import Ledger, note_appliance
from edgeagent.models import Draft, Reading, Severity

ALARM_INPUTS = frozenset({"sos", "sos_cancel", "smoke", "gas", "co"})
BED_IN = frozenset({"in_bed", "occupied", "in", "on"})
BED_OUT = frozenset({"out_of_bed", "empty", "out", "off"})
VITAL_SENSORS = frozenset({"heart_rate", "spo2", "blood_pressure", "temperature", "weight"})
# Not "power" (fridges cycle), and an appliance only when switched on (kettles switch off alone).
ACTIVITY_SENSORS = frozenset({"door", "contact"})
# Silence alerts any sign of life ends (not_up and bathroom_overstay end by leaving the room).
ENDED_BY_ANY_ACTIVITY = ("bed_exit_no_return", "fall_suspected", "inactivity", "chair_overstay")
ESCALATION_WORDS = {type_: still(words) for type_, words in {
    "sos": "SOS not cancelled",
    "night_exit": "resident not back inside",
    "cold_home": "home still cold",
    "hot_home": "home still hot",
    "wandering": "wristband still not back",
    "no_checkin": "still no check-in",
    **{rule.alert: rule.escalation_words for rule in RULES.values()},
    **{rule.critical_alert: rule.escalation_words for rule in RULES.values()},
}.items()}
MAX_TIMERS_PER_STEP = 100_000

# A contact in a room with a motion sensor counts at night once that sensor saw someone.
PIR_CONFIRMS_SECONDS = 120.0


class SafetyEngine:
    """Implements the `Engine` protocol for one home. Build it with `build_engine`."""

    def __init__(self, settings: HeuristicsSettings, timezone: str, *,
                 send_raw_states: bool = True, language: str = "en") -> None:
        self.settings = settings
        self.send_raw_states = send_raw_states
        self.local = LocalTime(timezone, settings.night_start, settings.night_end)
        self._bedrooms = frozenset(settings.bedroom_rooms)
        self._bathrooms = frozenset(settings.bathroom_rooms)
        self.alerts = AlertBook(language)  # alert reasons in the home's language
        self.routine = LearnedRoutine(settings)
        self.checks = DailyChecks(settings, self.local)
        self.presence = PresenceTracker(settings)
        self.sleep = SleepTracker(settings)
        self.fence = Fence(FenceSettings(fence_minutes=settings.fence_minutes))
        self.seats = SeatTracker(settings)
        self.asking = Asking(settings, self.local, self.alerts)
        self.rules = SilenceRules(settings, self.local, self.routine, self.sleep, self.alerts,
                                  self.seats, self._bedrooms, self._bathrooms)
        self._bind(HomeState())

    def _bind(self, state: HomeState) -> None:
        """Hand each tracker its part of the state (after construction or a restore)."""
        self.state = state
        self.routine.state = state.routine
        self.checks.state = state.checks
        self.presence.state = state.presence
        self.sleep.state = state.sleep
        self.fence.state = state.fence
        self.seats.state = state.seats
        self.asking.state = state.asking
        self._plan: tuple[Plan | None] | None = None
        # The next timer, valid until the state changes (a 1-tuple so None can be cached).
        self._due: tuple[tuple[float, Timer, str] | None] | None = None

    def _changed(self) -> None:
        self._plan = None
        self._due = None

    # ----------------------------------------------------------------- protocol
    def feed(self, reading: Reading) -> list[Draft]:
        at = epoch(reading.wall)
        self.alerts.mono_offset = reading.mono - at
        if self.state.now is not None:
            at = max(at, self.state.now)
        out = self._advance(at)
        raised = self._observe(reading, at)
        # An alarm input becomes its alert (as in the pass-through engine), not a reading too.
        if not (reading.sensor in ALARM_INPUTS and raised):
            forwarded = reading_draft(reading, send_raw_states=self.send_raw_states)
            if forwarded is not None:
                out.append(forwarded)
        out.extend(raised)
        return out

    def feed_many(self, readings: list[Reading]) -> list[Draft]:
        """Feed a batch; the same drafts as feeding each in turn."""
        out: list[Draft] = []
        for reading in readings:
            out.extend(self.feed(reading))
        return out

    def tick(self, mono: float, wall: datetime) -> list[Draft]:
        at = epoch(wall)
        self.alerts.mono_offset = mono - at
        return self._advance(at)

    def snapshot(self) -> dict[str, Any]:
        self.state.alerts = self.alerts.snapshot()
        self.state.mono_offset = self.alerts.mono_offset
        dumped: dict[str, Any] = STATE_ADAPTER.dump_python(self.state, mode="json")
        return dumped

    def restore(self, state: dict[str, Any]) -> None:
        current = migrate(state) if state else None
        if current is None:
            return
        try:
            restored = STATE_ADAPTER.validate_python(current)
            self.alerts.restore(restored.alerts)
        except ValidationError:
            return
        self.alerts.mono_offset = restored.mono_offset
        self._bind(restored)

    def declare(self, *, motion_rooms: list[str] | None = None, entrance: bool = False,
                bed: bool = False, bedroom_door: bool = False, can_ask: bool = False) -> None:
        """Tell the engine which sensors the kit has (from its config or a replay map).

        Without it the engine learns them from the first readings; declaring
        them avoids a first day in which, say, the bed mat is not yet known.
        """
        layout = self.state.layout
        self._changed()
        for room in motion_rooms or []:
            if room not in layout.motion_rooms:
                layout.motion_rooms.append(room)
        layout.has_entrance = layout.has_entrance or entrance
        layout.has_bed = layout.has_bed or bed
        layout.bedroom_door = layout.bedroom_door or bedroom_door
        layout.can_ask = layout.can_ask or can_ask

    # ------------------------------------------------------------------ timers
    def _advance(self, now: float) -> list[Draft]:
        st = self.state
        if st.ledger is None:
            st.ledger = Ledger(start=now, partial=True)
            st.next_summary_at = self.local.next_at(now, self.settings.summary_hour)
            self.asking.arm(now)
        if st.checks.armed_at is None and self.checks.checks:
            self.checks.arm(now)
            self._due = None
        out: list[Draft] = []
        for _ in range(MAX_TIMERS_PER_STEP):
            if self._due is None:
                self._due = (self._next_timer(),)
            due = self._due[0]
            if due is None or due[0] > now:
                break
            self._changed()  # the plan may depend on which alerts are open
            if st.now is None or due[0] > st.now:
                st.now = due[0]  # a deadline that a timer makes due is never in the past
            out.extend(self._fire(due[1], due[2], due[0]))
        if st.now is None or now > st.now:
            st.now = now
        return out

    def current_plan(self) -> Plan | None:
        """What the silence since the last sign of life would raise, and when."""
        if self._plan is None:
            self._plan = (self.rules.plan(self.state),)
        return self._plan[0]

    def _next_timer(self) -> tuple[float, Timer, str] | None:  # noqa: C901 - one offer per timer kind; splitting hides the order they compete in
        st, book = self.state, self.alerts
        best: tuple[float, Timer, str] | None = None

        def offer(at: float | None, timer: Timer, arg: str = "") -> None:
            nonlocal best
            if at is not None and (best is None or at < best[0]):
                best = (at, timer, arg)

        offer(st.next_summary_at, Timer.SUMMARY)
        offer(book.next_escalation(), Timer.ESCALATE)
        away = self.presence.away_due()
        if away is not None and self.fence.away():
            away = st.now or away  # her wristband went out through that door: away now
        offer(away, Timer.AWAY)
        offer(self.fence.deadline(), Timer.FENCE)
        pending = st.asking.pending
        if pending is not None:
            offer(pending.until, Timer.PREALARM)
        checkin = self.asking.next_checkin(st.now)
        if checkin is not None:
            offer(checkin[0], Timer.CHECKIN, checkin[1])
        stuck = self.seats.next_stuck()
        if stuck is not None:
            offer(stuck[0], Timer.SEAT_STUCK, stuck[1])
        if self.checks.checks:
            check = self.checks.next_due(st.presence.door_pending_since)
            if check is not None:
                # A deadline held back by a door is decided when home/away is known.
                offer(max(check[0], st.now or check[0]), Timer.CHECK, check[1])
        if st.seen.at is None:
            return best
        sleep = self.sleep
        if sleep.state.bedroom_since is not None and not self.presence.away:
            start = self.local.night_or_next_start(sleep.state.bedroom_since
                                                   + sleep.wait_seconds())
            offer(sleep.settle_due(st.seen.at, st.layout.has_bed, start), Timer.SETTLE)
        plan = self.current_plan()
        if plan is not None and pending is None and not self._critical_open(plan):
            warning = book.get(plan.alert)
            due = plan.first if warning is None else plan.critical_at
            if due is not None and st.now is not None:
                due = max(due, st.now)  # a plan that became true late fires now, not back-dated
            offer(self._after_visitor(due), Timer.SILENCE)
        return best

    def _critical_open(self, plan: Plan) -> bool:
        raised = self.alerts.get(plan.critical_alert)
        return raised is not None and raised.severity is Severity.CRITICAL

    def _fire(self, timer: Timer, arg: str, at: float) -> list[Draft]:  # noqa: C901, PLR0912 - one branch per Timer member: the dispatch table of the engine
        st, book = self.state, self.alerts
        out: list[Draft] = []
        hhmm = self.local.hhmm
        if timer is Timer.CHECK:
            last = (say("last_seen", room=st.seen.room or "unknown", time=hhmm(st.seen.at))
                    if st.seen.at is not None else None)
            out.extend(self.checks.fire(book, arg, at, away=self.presence.away, last_seen=last))
        elif timer is Timer.SUMMARY:
            out.extend(close_day(st, self.settings, self.local, book, at))
        elif timer is Timer.ESCALATE:
            out.extend(book.escalate_due(at, ESCALATION_WORDS))
        elif timer is Timer.AWAY:
            door = self.presence.went_out(hhmm(st.presence.door_pending_since or at))
            self.sleep.forget_night()
            st.bathroom.since = None
            self._changed()
            out.extend(book.resolve_all(SILENCE_TYPES, at, say("went_out", time=hhmm(door))))
        elif timer is Timer.SETTLE:
            passage = st.layout.sees_bed_passage(self._bedrooms)
            onset = self.sleep.state.bedroom_since or at
            self.sleep.settle(at, passage)
            self._changed()
            if st.ledger is not None and st.ledger.sleep_onset is None:
                st.ledger.sleep_onset = onset
        elif timer is Timer.SILENCE:
            out.extend(self._raise_silence(at))
        elif timer is Timer.PREALARM:
            out.extend(self.asking.no_answer(at, SILENCE_TYPES))
        elif timer is Timer.CHECKIN:
            out.extend(self.asking.checkin_due(arg, at, st.seen.at))
        elif timer is Timer.SEAT_STUCK:
            seat = st.seats.seats.get(arg)
            if seat is not None and seat.occupied and seat.since is not None:
                seat.stuck_reported = True
                self._add(out, book.raise_(
                    "device_fault", Severity.WARNING, at,
                    say("seat_stuck", what=seat.role or "occupancy sensor", room=seat.room,
                        since=hhmm(seat.since)),
                    key=arg, source={"device": arg, "room": seat.room}))
        elif timer is Timer.FENCE:
            s = self.settings
            for gone in self.fence.check(
                    at, lambda door: s.fence_always or self.local.is_night(door), hhmm):
                self._add(out, book.raise_(
                    "wandering", Severity.CRITICAL, at,
                    say("wandering", tag=gone.tag, last=hhmm(gone.last_heard),
                        door=hhmm(gone.door_at)), key=gone.tag,
                    source={"device": gone.tag}, escalate_after=s.escalate_critical_minutes * 60))
        return out

    def _raise_silence(self, at: float) -> list[Draft]:
        """Raise the plan's alert; at its critical time, a warning gives way to a critical.

        The critical is a new alert (the warning is resolved as superseded),
        so the call centre's stream shows one raised critical per emergency,
        never a warning that silently changed its meaning.
        """
        plan = self.current_plan()
        out: list[Draft] = []
        if plan is None:
            return out
        book, s, hhmm = self.alerts, self.settings, self.local.hhmm
        if self._critical_open(plan):
            return out
        critical_at = plan.critical_at
        critical = critical_at is not None and (plan.warn_at is None or at >= critical_at)
        warning = book.get(plan.alert)
        if warning is not None and not critical:
            return out
        reason = self._words(plan.reason, at)
        reason = Reason(reason.code, reason.params, None, plan.doubts)
        if critical and self.asking.may_ask(plan.critical_alert, self.state.layout.can_ask):
            out.append(self.asking.ask(at, plan.critical_alert, plan.situation.value, reason,
                                       self.state.seen.room))
            return out
        if critical:
            if warning is not None:
                self._add(out, book.resolve(plan.alert, at, say("superseded")))
            alert, severity = plan.critical_alert, Severity.CRITICAL
            escalate_after: float | None = s.escalate_critical_minutes * 60
        else:
            alert, severity, escalate_after = plan.alert, Severity.WARNING, None
            if critical_at is not None:
                reason = Reason(reason.code, reason.params, hhmm(critical_at), reason.doubts)
        self._add(out, book.raise_(
            alert, severity, at, reason, source={"room": self.state.seen.room},
            escalate_after=escalate_after, extra={"situation": plan.situation.value},
        ))
        return out

    def _ok_pressed(self, reading: Reading, at: float) -> list[Draft]:
        """Her "I'm OK" button: answers a pre-alarm, checks her in, and is a sign of life."""
        out = self.asking.pressed(at)
        self._changed()
        out.extend(self._activity(at, reading.room, "ok", reading.device, "ok"))
        return out

    def _words(self, reason: Reason, at: float) -> Reason:
        """A plan's reason with the facts of the moment: {at} the time now, {silent}
        minutes since she was last seen, {stay} minutes since `stay_since`."""
        params = dict(reason.params)
        params["at"] = self.local.hhmm(at)
        last = self.state.seen.at
        if last is not None:
            params["silent"] = round((at - last) / 60)
        since = params.pop("stay_since", None)
        if isinstance(since, int | float):
            params["stay"] = round((at - since) / 60)
        return Reason(reason.code, params, reason.critical_at, reason.doubts)

    def _after_visitor(self, deadline: float | None) -> float | None:
        """Silence alarms wait while a visitor is (recently) in the home."""
        visitor = self.state.visitor_until
        if deadline is None or visitor is None:
            return deadline
        return max(deadline, visitor)

    # ---------------------------------------------------------------- readings
    def _observe(self, reading: Reading, at: float) -> list[Draft]:  # noqa: C901, PLR0912 - one branch per sensor kind: the reading dispatch table
        sensor, value = reading.sensor, reading.value
        out: list[Draft] = []
        st, book = self.state, self.alerts
        if book.open and sensor != "device_status":
            # Any reading from a device said to be offline proves it is back.
            self._add(out, book.resolve("device_offline", at,
                                        say("device_reporting", device=reading.device),
                                        key=reading.device))
        if st.layout.note(sensor, reading.room, reading.role, self._bedrooms):
            self._changed()
        back = self.fence.observe(reading, at, self.local.hhmm)
        if back is not None:
            self._add(out, book.resolve("wandering", at,
                                        say("tag_back", tag=back.tag, time=self.local.hhmm(at)),
                                        key=back.tag))
        if sensor == "tag" and value == "present" and self.presence.tag_back(
                reading.device, self.local.hhmm(at)):
            self._changed()
        if sensor == "motion" and not _truthy(value):
            return out  # a PIR falling quiet changes nothing
        self._changed()  # any other reading may open an alert or move a tracker
        if sensor == "motion":
            self._check_visitor(reading.room, at)
            if reading.room:
                st.last_motion[reading.room] = at
            out.extend(self._activity(at, reading.room, reading.role, reading.device, "motion"))
        elif sensor == "appliance":
            if _truthy(value):
                self._appliance(reading, at)
                out.extend(self._activity(at, reading.room, reading.role, reading.device,
                                          reading.role or sensor))
        elif sensor == "temperature" and room_climate.is_ambient(reading):
            # A room thermometer: cold_home / hot_home, never a vital sign.
            out += room_climate.room_temperature(book, self.settings.climate, st.rooms,
                                                reading, at, self.local.hhmm)
        elif sensor in ACTIVITY_SENSORS:
            if self._chattering(reading.device, reading.role, at):
                # Its first changes were the same switch bouncing, not her getting up.
                self.sleep.discount(reading.device)
                return out
            out.extend(self._activity(at, reading.room, reading.role, reading.device,
                                      reading.role or sensor))
        elif sensor == "bed":
            out.extend(self._bed(reading, at))
        elif sensor == "occupancy":
            out.extend(self._occupancy(reading, at))
        elif sensor == "sos":
            out += inputs.sos(book, self.settings, reading, at, self.local.hhmm(at))
            if _truthy(value):
                out += self.asking.no_answer(at, SILENCE_TYPES)  # SOS never cancels her alarm
        elif sensor == "ok":
            if _truthy(value):
                out += self._ok_pressed(reading, at)
        elif sensor == "sos_cancel":
            out += inputs.sos_cancel(book, reading, at)
        elif sensor in inputs.DETECTORS:
            out += inputs.detector(book, reading, at)
        elif sensor in VITAL_SENSORS:
            out += inputs.vital_signs(book, self.settings, st.vitals_pending, reading, at)
        elif sensor == "battery":
            out += inputs.battery(book, self.settings, reading, at)
        elif sensor == "device_status":
            out += inputs.device_status(book, reading, at)
        return out

    def _appliance(self, reading: Reading, at: float) -> None:
        """An appliance switched on: counted in the day's summary (and activity, by the caller)."""
        ledger = self.state.ledger
        assert ledger is not None
        s = self.settings
        note_appliance(ledger, reading.role, at,
                       morning=self.local.local(at).time() < s.summary_hour,
                       meal_roles=s.meal_roles, meal_gap_seconds=s.meal_gap_minutes * 60)

    def _chattering(self, device: str, role: str | None, at: float) -> bool:
        """A contact toggling many times a minute is a bouncing switch, not a person.

        Mercury switches in drawers and cistern floats chatter on their own.
        Once a contact has changed `chatter_changes` times within
        `chatter_seconds`, further changes are not activity until it calms
        down; the first few still count, so a person using a drawer or
        flushing is seen. The entrance door is never filtered.
        """
        s = self.settings
        if role == "entrance" or s.chatter_changes <= 0:
            return False
        recent = self.state.contact_changes.setdefault(device, [])
        recent.append(at)
        horizon = at - s.chatter_seconds
        if recent[0] < horizon:
            recent[:] = [t for t in recent if t >= horizon]
        return len(recent) > s.chatter_changes

    def _check_visitor(self, room: str | None, at: float) -> None:
        """Motion in two rooms one person cannot cover so fast: someone else is here.

        Only for room pairs the installer declared distant (`distant_rooms`);
        adjacent PIRs fire together whenever one person walks through a door.
        """
        st = self.state
        if room is None or not self.settings.distant_rooms:
            return
        for first, second in self.settings.distant_rooms:
            other = second if room == first else first if room == second else None
            seen = st.last_motion.get(other) if other is not None else None
            if seen is not None and at - seen <= self.settings.visitor_seconds:
                st.visitor_until = at + self.settings.visitor_minutes * 60
                self._changed()

    @staticmethod
    def _add(out: list[Draft], draft: Draft | None) -> None:
        if draft is not None:
            out.append(draft)

    def _bed(self, reading: Reading, at: float) -> list[Draft]:
        value = reading.value
        text = str(value).lower() if isinstance(value, str) else None
        if value is True or text in BED_IN:
            occupied = True
        elif value is False or text in BED_OUT:
            occupied = False
        else:
            return []  # an unknown mat state says nothing
        room = reading.room or "bedroom"
        got_up = self.sleep.mat(reading.device, occupied, at, self.local.is_night(at))
        self._changed()
        if occupied:
            return self._activity(at, room, reading.role, reading.device, "bed")
        if got_up:
            # Empty in the day after a long lie: she got up; silence from here is a day's.
            return self._activity(at, room, reading.role, reading.device, "got_up")
        return []

    def _occupancy(self, reading: Reading, at: float) -> list[Draft]:
        """A held sensor changed: sitting down or getting up are both signs of life."""
        value = reading.value
        text = str(value).lower() if isinstance(value, str) else None
        if value is True or text in BED_IN or text == "true":
            occupied = True
        elif value is False or text in BED_OUT or text == "false":
            occupied = False
        else:
            return []
        room = reading.room or "unknown"
        out: list[Draft] = []
        changed, sat = self.seats.reading(reading.device, room, reading.role, occupied, at)
        if not changed:
            return out
        self._add(out, self.alerts.resolve("device_fault", at,
                                           say("seat_changed", device=reading.device),
                                           key=reading.device))
        if sat is not None:
            self.routine.record_sit(self.local.day_key(at), sat)
        out.extend(self._activity(at, room, reading.role, reading.device,
                                  "sat down" if occupied else "got up"))
        return out

    def _activity(self, at: float, room: str | None, role: str | None, device: str,  # noqa: C901, PLR0912, PLR0915 - each tracker in turn on one sign of life; the order (presence, alerts, learning, bathroom, sleep, checks) is the rule
                  what: str) -> list[Draft]:
        st, book, local, s = self.state, self.alerts, self.local, self.settings
        out: list[Draft] = []
        self._changed()
        room = room or "unknown"
        when = local.hhmm(at)
        word = {"motion": "motion", "bed": "in bed", "got_up": "out of bed",
                "sat down": "sat down", "got up": "got up"}.get(what, f"{what} used")
        seen_text = say("seen", what=word, room=room, time=when)
        pending = st.asking.pending
        if pending is not None and room not in (pending.room, "unknown"):
            out.extend(self.asking.cancel(at, "activity"))  # clear activity in another room
        is_bedroom = room in self._bedrooms
        night = local.is_night(at)
        passage = st.layout.sees_bed_passage(self._bedrooms)
        ledger = st.ledger
        assert ledger is not None
        # Home or away.
        if role == "entrance":
            if not self.presence.away and night and not book.is_open("night_exit"):
                bed = self.sleep.state
                in_bed = (bed.in_bed and bed.evidence != "weak") or bed.up_since is not None
                self._add(out, book.raise_(
                    "night_exit", Severity.CRITICAL if in_bed else Severity.WARNING, at,
                    say("night_exit_after_bed" if in_bed else "night_exit_before_bed", time=when),
                    source={"device": device, "room": room},
                    escalate_after=s.escalate_critical_minutes * 60,
                ))
            self.presence.entrance(at, when)
        else:
            was_away = self.presence.away
            door_pending = st.presence.door_pending_since is not None
            if not self.presence.inside(at, device, room, word, when, st.layout.has_entrance):
                self._note_seen(at, room, device, role)
                return out  # one event inside while away is not her coming home
            if was_away:
                away_since = st.presence.away_since
                if away_since is not None:
                    ledger.away_seconds += at - max(away_since, ledger.start)
                self._add(out, book.resolve("night_exit", at, say("back_home", seen=seen_text)))
            elif door_pending:
                self._add(out, book.resolve("night_exit", at,
                                            say("stayed_inside", seen=seen_text)))
        if book.open:
            for type_ in ENDED_BY_ANY_ACTIVITY:
                self._add(out, book.resolve(type_, at, seen_text))
            if not is_bedroom or not passage:
                self._add(out, book.resolve("not_up", at, say("up", seen=seen_text)))
        self._learn(at)
        # A stay in the bathroom: started by activity inside it, ended by activity
        # elsewhere or by its door (the way out; the way in is usually a PIR next).
        bath = st.bathroom
        if room in self._bathrooms and role != "bathroom_door":
            if bath.since is None:
                bath.since, bath.room = at, room
        elif bath.since is not None:
            bath.since = None
            self._add(out, book.resolve("bathroom_overstay", at,
                                        say("left_room", room=bath.room or room,
                                            seen=seen_text)))
        # The night.
        sleep = self.sleep
        if is_bedroom:
            trip = sleep.bedroom(at, "bed" if what == "bed" else what, night, st.seen.at, passage)
            if trip is not None:
                ledger.night_bed_exits += 1
                ledger.night_up_seconds += trip.seconds
                if any(r in self._bathrooms for r in trip.rooms):
                    ledger.night_bathroom_visits += 1
            if what == "got_up" and sleep.state.in_bed:
                self._woke(sleep.wake() or at)
        elif (sleep.state.in_bed and what != "motion" and room in st.layout.motion_rooms
              and night and at - st.last_motion.get(room, -PIR_CONFIRMS_SECONDS)
              > PIR_CONFIRMS_SECONDS):
            # A drawer or cupboard contact in a room whose PIR saw nobody is not a
            # person up at night (mercury switches chatter): wait for the PIR.
            pass
        else:
            moment = local.local(at)
            usual = self.routine.usual_wake_near(moment.date().isoformat(),
                                                 moment.hour * 60 + moment.minute)
            if sleep.outside(at, room, device, night, usual, by_hand=what != "motion",
                             early_morning=local.near_night_end(at)):
                self._woke(sleep.wake() or at)
        if self.checks.checks:
            out.extend(self.checks.saw(book, at, room, role, what))
        self._note_seen(at, room, device, role)
        ledger.events += 1
        day, hour = local.slot(at)
        hour_key = f"{day}T{hour:02d}"
        if not ledger.active_hours or ledger.active_hours[-1] != hour_key:
            ledger.active_hours.append(hour_key)
        return out

    def _learn(self, at: float) -> None:
        """Learn this home's silences (only while home, awake and not behind a door)."""
        st, local = self.state, self.local
        last = st.seen.at
        if last is None or at <= last or self.presence.away or st.sleep.in_bed:
            return
        if self.seats.holding(last, st.seen.room, last) is not None:
            return  # sitting in her chair is not a silence (kept apart: routine.sits)
        if st.presence.door_pending_since is not None:
            return
        self.routine.record_gap(*local.slot(last), at - last)
        if not local.is_night(last) and local.night_or_next_start(last) >= at and not any(
                a.severity is Severity.CRITICAL and a.type in SILENCE_TYPES
                for a in self.alerts.open.values()):
            self.routine.record_day_silence(local.day_key(last), at - last)
        day, hour = local.slot(at)
        self.routine.saw_activity(day, hour)

    def _woke(self, at: float) -> None:
        ledger = self.state.ledger
        assert ledger is not None
        ledger.wake = at
        moment = self.local.local(at)
        self.routine.record_wake(moment.date().isoformat(), moment.hour * 60 + moment.minute)

    def _note_seen(self, at: float, room: str, device: str, role: str | None) -> None:
        seen = self.state.seen
        seen.at, seen.room, seen.device, seen.role = at, room, device, role
        recent = seen.recent
        recent.append(at)
        if len(recent) > 16 or recent[0] < at - RECENT_WINDOW:
            seen.recent = [t for t in recent[-16:] if t >= at - RECENT_WINDOW]
        devices = [(t, d) for t, d in seen.recent_devices
                   if t >= at - RECENT_WINDOW and d != device][-7:]
        devices.append((at, device))
        seen.recent_devices = devices


__all__ = ["SafetyEngine", "Situation"]
