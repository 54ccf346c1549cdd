"""The safety engine: one home's readings and clock ticks in, event drafts out.

Pure and deterministic: time comes only from the readings' and ticks' wall
stamps (UTC), never from the machine. Timers (a bed exit without return, a
silence past the learned limit) are deadlines computed from the state and
fired in time order by whichever call first reaches them, stamped with the
deadline itself. So feeding a day of readings in one batch, or one by one
with ticks in between, gives the same events — live, replay and tests share
one code path.

Rules, in words (thresholds in `HeuristicsSettings`):
- Presence: an entrance-door event followed by no activity inside for
  `away_minutes` means away since the door; any activity inside means home.
  A home without an entrance contact never knows it is empty: silence there
  raises warnings only, never the critical `fall_suspected`.
- The night: quiet in the bedroom (PIR, bedroom door, bed mat) for
  `settle_minutes` inside the night window = in bed for the night. Activity
  outside the bedroom then = up at night; activity in the bedroom again =
  back. A bed mat going empty alone changes nothing: mats drop pressure
  many times a night while the person sleeps.
- `bed_exit_no_return`: up at night, last seen outside the bedroom, and no
  activity anywhere for `bed_exit_no_return_minutes`.
- `inactivity` / `fall_suspected`: no activity anywhere for longer than the
  learned limit of that hour; `fall_suspected` when the resident is known to
  be home and was moving about just before, else `inactivity`.
- `bathroom_overstay`: in the bathroom, nothing elsewhere for
  `bathroom_overstay_minutes`; critical later when known home in the day, or
  at night when she was seen walking in (`bathroom_night_critical_minutes`).
- Appliances switched on are activity in their room; room thermometers feed
  `cold_home` / `hot_home` (environment.py), never the vital rules; daily
  checks raise `not_done_by` (daily_checks.py).
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from pydantic import ValidationError

from edgeagent.heuristics import environment, inputs
from edgeagent.heuristics.alerts import AlertBook
from edgeagent.heuristics.daily import close_day
from edgeagent.heuristics.daily_checks import DailyChecks
from edgeagent.heuristics.forward import reading_draft
from edgeagent.heuristics.inputs import truthy as _truthy
from edgeagent.heuristics.localtime import LocalTime, epoch
from edgeagent.heuristics.routine import LearnedRoutine
from edgeagent.heuristics.settings import HeuristicsSettings
from edgeagent.heuristics.state import STATE_ADAPTER, STATE_VERSION, HomeState
from edgeagent.heuristics.summary import Ledger, note_appliance
from edgeagent.models import Draft, Reading, Severity

ALARM_INPUTS = frozenset({"sos", "sos_cancel", "smoke", "gas", "co"})
BED_IN = frozenset({"in_bed", "occupied", "in", "on"})
BED_OUT = frozenset({"out_of_bed", "empty", "out", "off"})
VITAL_SENSORS = frozenset({"heart_rate", "spo2", "blood_pressure", "temperature", "weight"})
# Not "power" (fridges cycle), and an appliance only when switched on (kettles switch off alone).
ACTIVITY_SENSORS = frozenset({"door", "contact"})
SILENCE_ALERTS = ("bed_exit_no_return", "fall_suspected", "inactivity")
ESCALATION_WORDS = {
    "sos": "SOS not cancelled",
    "bed_exit_no_return": "resident still not back and no activity",
    "fall_suspected": "still no activity",
    "inactivity": "still no activity",
    "bathroom_overstay": "still in the bathroom",
    "night_exit": "resident not back inside",
    "cold_home": "home still cold",
    "hot_home": "home still hot",
}
RECENT_WINDOW = 600.0
MAX_TIMERS_PER_STEP = 100_000


class SafetyEngine:
    """Implements the `Engine` protocol for one home. Build it with `build_engine`."""

    def __init__(self, settings: HeuristicsSettings, timezone: str, *,
                 send_raw_states: bool = True) -> None:
        self.settings = settings
        self.send_raw_states = send_raw_states
        self.local = LocalTime(timezone, settings.night_start, settings.night_end)
        self._bedrooms = frozenset(settings.bedroom_rooms)
        self._bathrooms = frozenset(settings.bathroom_rooms)
        self.state = HomeState()
        self.alerts = AlertBook()
        self.routine = LearnedRoutine(settings)
        self.routine.state = self.state.routine
        self.checks = DailyChecks(settings, self.local)
        self.checks.state = self.state.checks
        self._inactivity_cache: tuple[float, str | None, float | None] | None = None
        self._not_up_cache: tuple[tuple[float, tuple[str, ...]], float] | None = None
        # The next timer, valid until the state changes (a 1-tuple so None can be cached).
        self._due: tuple[tuple[float, str] | None] | None = None

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
        if not state or state.get("version") != STATE_VERSION:
            return
        try:
            restored = STATE_ADAPTER.validate_python(state)
            self.alerts.restore(restored.alerts)
        except ValidationError:
            return
        self.state = restored
        self.alerts.mono_offset = restored.mono_offset
        self.routine = LearnedRoutine(self.settings)
        self.routine.state = restored.routine
        self.checks = DailyChecks(self.settings, self.local)
        self.checks.state = restored.checks
        self._inactivity_cache = None
        self._not_up_cache = None
        self._due = None

    def declare(self, *, motion_rooms: list[str] | None = None, entrance: bool = False,
                bed: bool = False) -> None:
        """Tell the engine which sensors the kit has (from its config or a replay map).

        Without it the engine learns them from the first readings; declaring
        them avoids a first day in which, say, the kitchen PIR is not yet known.
        """
        st = self.state
        self._due = None
        for room in motion_rooms or []:
            if room not in st.motion_rooms:
                st.motion_rooms.append(room)
        st.has_entrance = st.has_entrance or entrance
        st.has_bed = st.has_bed or bed

    # ------------------------------------------------------------------ timers
    def _advance(self, now: float) -> list[Draft]:
        st = self.state
        if st.ledger is None:
            st.ledger = Ledger(start=now, partial=True)
            st.next_summary_at = self.local.next_at(now, self.settings.summary_hour)
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
            self._due = None
            out.extend(self._fire(due[1], due[0]))
        if st.now is None or now > st.now:
            st.now = now
        return out

    def _next_timer(self) -> tuple[float, str] | None:
        st, s, book = self.state, self.settings, self.alerts
        best: tuple[float, str] | None = None

        def offer(at: float | None, name: str) -> None:
            nonlocal best
            if at is not None and (best is None or at < best[0]):
                best = (at, name)

        offer(st.next_summary_at, "summary")
        offer(book.next_escalation(), "escalate")
        if st.door_pending_since is not None:
            offer(st.door_pending_since + s.away_minutes * 60, "away")
        if self.checks.checks:
            check = self.checks.next_due(st.door_pending_since)
            if check is not None:
                # A deadline held back by a door is decided when home/away is known.
                offer(max(check[0], st.now or check[0]), "check:" + check[1])
        if st.presence == "away" or st.last_activity is None:
            return best
        last = st.last_activity
        in_bedroom = st.last_room in self._bedrooms
        if st.in_bedroom_since is not None and not st.settled and (
                st.bed_seen or not st.has_bed):
            # A pressed mat is strong evidence of lying down; a quiet bedroom needs longer.
            wait = s.settle_bed_minutes if st.bed_seen else s.settle_minutes
            offer(self.local.night_or_next_start(st.in_bedroom_since + wait * 60), "settle")
        if (st.night_up_since is not None and st.night_up_confirmed and not in_bedroom
                and not book.is_open("bed_exit_no_return")):
            offer(self._silence_deadline(last + s.bed_exit_no_return_minutes * 60), "bed_exit")
        if (not st.settled and st.night_up_since is None and not book.is_open("inactivity")
                and not book.is_open("fall_suspected")):
            offer(self._silence_deadline(self._inactivity_deadline()), "inactivity")
        silence = book.get("inactivity")
        if silence is not None and not silence.escalated and not book.is_open("fall_suspected"):
            offer(silence.raised_at + s.inactivity_escalate_minutes * 60, "silence_escalate")
        if (st.bathroom_since is not None and not book.is_open("bathroom_overstay")
                and not book.is_open("bed_exit_no_return")):  # one alarm per situation
            offer(self._silence_deadline(st.bathroom_since + s.bathroom_overstay_minutes * 60),
                  "overstay")
        if st.settled and st.night_up_since is None and not book.is_open("not_up"):
            offer(self._not_up_deadline(), "not_up")
        return best

    def _inactivity_deadline(self) -> float | None:
        st = self.state
        assert st.last_activity is not None
        cache = self._inactivity_cache
        if cache is not None and cache[0] == st.last_activity and cache[1] == st.last_room:
            return cache[2]
        last = st.last_activity
        deadline: float | None
        if st.last_room in self._bedrooms:
            # Asleep at night is no alarm; the night rules take over from there.
            deadline = None if self.local.is_night(last) else (
                last + self.settings.inactivity_ceiling_minutes * 60)
        else:
            limit = self.routine.limit_seconds(self.local.day_key(last), self.local.hour(last))
            deadline = last + limit
        self._inactivity_cache = (last, st.last_room, deadline)
        return deadline

    def _not_up_deadline(self) -> float:
        st = self.state
        settled = st.settled_at or st.now or 0.0
        key = (settled, tuple(self.routine.state.wakes))  # wake times only ever get added
        cached = self._not_up_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        deadline = self._compute_not_up_deadline(settled)
        self._not_up_cache = (key, deadline)
        return deadline

    def _compute_not_up_deadline(self, settled: float) -> float:
        night = self.local.local(settled)
        morning = night.date()
        if night.time() >= self.settings.not_up_latest:
            morning = morning.fromordinal(morning.toordinal() + 1)
        minutes = self.routine.not_up_minutes(morning.isoformat())
        clock = time(int(minutes // 60) % 24, int(minutes % 60))
        return self.local.at(morning, clock)

    def _fire(self, name: str, at: float) -> list[Draft]:
        st, s, book = self.state, self.settings, self.alerts
        out: list[Draft] = []

        def add(draft: Draft | None) -> None:
            if draft is not None:
                out.append(draft)

        hhmm = self.local.hhmm
        if name.startswith("check:"):
            last = (f"last seen in {st.last_room} at {hhmm(st.last_activity)}"
                    if st.last_activity is not None else None)
            out.extend(self.checks.fire(book, name.removeprefix("check:"), at,
                                        away=st.presence == "away", last_seen=last))
        elif name == "summary":
            out.extend(close_day(st, s, self.local, book, at))
        elif name == "escalate":
            out.extend(book.escalate_due(at, ESCALATION_WORDS))
        elif name == "away":
            door = st.door_pending_since
            assert door is not None
            st.presence, st.away_since, st.door_pending_since = "away", door, None
            st.settled, st.night_up_since, st.in_bedroom_since = False, None, None
            st.bathroom_since = None
            out.extend(book.resolve_all((*SILENCE_ALERTS, "not_up", "bathroom_overstay"), at,
                                        f"resident went out (entrance door at {hhmm(door)})"))
        elif name == "settle":
            self._settle(at, st.in_bedroom_since or at)
        elif name == "bed_exit":
            add(self._raise_bed_exit(at))
        elif name == "inactivity":
            add(self._raise_silence(at))
        elif name == "silence_escalate":
            out.extend(self._escalate_silence(at))
        elif name == "overstay":
            assert st.bathroom_since is not None
            since = st.bathroom_since
            reason = (f"in the {st.bathroom_room} since {hhmm(since)}, nothing elsewhere for "
                      f"{round((at - since) / 60)} min")
            later = s.bathroom_overstay_minutes * 60
            critical = self._confirmed_home(since, at + later)
            if not critical and self._walked_into_bathroom_at_night():
                critical, later = True, s.bathroom_night_critical_minutes * 60
                reason += (f", at night after moving about: critical at {hhmm(at + later)} "
                           "if nothing moves")
            add(book.raise_(
                "bathroom_overstay", Severity.WARNING, at, reason,
                source={"room": st.bathroom_room}, escalate_after=later,
                escalate_to=Severity.CRITICAL if critical else None,
            ))
        elif name == "not_up":
            since = st.in_bedroom_since or st.settled_at or at
            add(book.raise_(
                "not_up", Severity.WARNING, at,
                f"still in the bedroom at {hhmm(at)}, usually up by then; nothing outside the "
                f"bedroom since {hhmm(since)}",
                source={"room": "bedroom"},
            ))
        return out

    def _raise_bed_exit(self, at: float) -> Draft | None:
        """Up at night and silent outside the bedroom: critical, unless doubly uncertain.

        In a home without an entrance contact a night departure looks exactly
        like a fall on the way to the toilet. If, on top of that, a bed mat
        still reports someone lying down while the resident was seen
        elsewhere, she may not be alone (a partner, a visitor) or the mat is
        stuck or lagging: then a warning first, critical once the silence
        passes the resident's learned limit for that hour (at most the
        ceiling, so a fall is still reported within 4 hours). With an
        entrance contact a departure is seen at the door, so a bed exit
        without return stays critical at once.
        """
        st, s, book, hhmm = self.state, self.settings, self.alerts, self.local.hhmm
        last = st.last_activity
        assert last is not None and st.night_up_since is not None
        reason = (f"out of bed since {hhmm(st.out_of_bed_at or st.night_up_since)}, last seen in "
                  f"{st.last_room} at {hhmm(last)}, no motion anywhere for "
                  f"{round(s.bed_exit_no_return_minutes)} min")
        if st.has_entrance or not self._someone_in_bed(at):
            return book.raise_("bed_exit_no_return", Severity.CRITICAL, at, reason,
                               source={"room": st.last_room},
                               escalate_after=s.escalate_critical_minutes * 60)
        limit = self.routine.limit_seconds(self.local.day_key(last), self.local.hour(last))
        critical_at = max(last + limit, at + s.escalate_critical_minutes * 60)
        return book.raise_(
            "bed_exit_no_return", Severity.WARNING, at,
            f"{reason}; the bed mat still reports someone lying down (a partner, a visitor "
            f"or a stuck mat): critical at {hhmm(critical_at)} if nothing moves",
            source={"room": st.last_room}, escalate_after=critical_at - at,
            escalate_to=Severity.CRITICAL,
        )

    def _someone_in_bed(self, at: float) -> bool:
        """A mat pressed now, and not for so long without a break that it must be stuck."""
        stuck = self.settings.mat_stuck_hours * 3600
        st = self.state
        return any(pressed and at - st.bed_pressed_since.get(device, at) < stuck
                   for device, pressed in st.bed_occupied.items())

    def _settle(self, at: float, onset: float) -> None:
        st = self.state
        st.settled, st.settled_at = True, at
        if st.ledger is not None and st.ledger.sleep_onset is None:
            st.ledger.sleep_onset = onset

    def _confirmed_home(self, since: float, at: float) -> bool:
        """Known to be home, in the day: the only case silence may become critical.

        At night an unseen way to bed looks exactly like a fall on the way, and
        without an entrance contact an empty home looks like one too.
        """
        st = self.state
        return (st.has_entrance and st.presence == "home"
                and not self.local.is_night(since) and not self.local.is_night(at))

    def _walked_into_bathroom_at_night(self) -> bool:
        """Walked into the bathroom at night and not seen since: may become critical.

        Even without an entrance contact: at night people rarely leave the
        home from the bathroom. "Walked in" needs a person, not a PIR firing
        by itself in an empty flat (house B's bathroom PIR fired alone at
        21:47, 04:02, 22:08 and 02:20 while she was away): another sensor saw
        her in the 10 min before the stay began (the kitchen, the bathroom
        door; not the bedroom within `bedtime_glimpse_seconds`: that is the
        cistern refilling as she goes to bed), and she was moving about
        (`fall_burst_events` events in the 10 min before the last one). Not
        when she is known to be away.
        """
        st, s = self.state, self.settings
        last = st.last_activity
        if (s.bathroom_night_critical_minutes <= 0 or last is None or st.presence == "away"
                or not st.bathroom_walked_in or st.last_room not in self._bathrooms
                or not self.local.is_night(last)):
            return False
        return sum(1 for t in st.recent if t >= last - RECENT_WINDOW) >= s.fall_burst_events

    def _home_awake_at_night(self, last: float) -> bool:
        """At night, not yet in bed: may a silence still become critical?

        Only where the entrance contact proves she is home and she was not
        glimpsed going to bed: a bedroom event in the minute before the
        silence (`bedtime_glimpse_seconds`), then only a door swinging shut or
        a cistern refilling behind her, is how going to bed looks in a home
        with contacts only. Without the glimpse, hours of silence after the
        toilet at 23:30 are a fall on the way to bed, not sleep.
        """
        st = self.state
        if not (st.has_entrance and st.presence == "home") or st.settled:
            return False
        bedroom = st.last_bedroom_activity  # a mat going empty is getting up, not going to bed
        return bedroom is None or last - bedroom > self.settings.bedtime_glimpse_seconds

    def _raise_silence(self, at: float) -> Draft | None:
        st = self.state
        assert st.last_activity is not None
        minutes = round((at - st.last_activity) / 60)
        return self.alerts.raise_(
            "inactivity", Severity.WARNING, at,
            f"no activity anywhere for {minutes} min, last seen in {st.last_room} at "
            f"{self.local.hhmm(st.last_activity)} (longer than usual at this hour)",
            source={"room": st.last_room},
        )

    def _escalate_silence(self, at: float) -> list[Draft]:
        """An hour more of silence: a fall if the resident was moving about, else escalate."""
        st, s, book = self.state, self.settings, self.alerts
        alert = book.get("inactivity")
        assert alert is not None and st.last_activity is not None
        last = st.last_activity
        out: list[Draft] = []
        night = not self._confirmed_home(last, at)
        if night and not self._home_awake_at_night(last):
            alert.escalated = True  # nothing more to say: we cannot know the home is occupied
            return out
        minutes = round((at - last) / 60)
        where = f"{st.last_room} at {self.local.hhmm(last)}"
        home = ("resident is home (no entrance door since), at night and not seen going to bed"
                if night else "resident is home")
        moving = sum(1 for t in st.recent if t >= last - RECENT_WINDOW) >= s.fall_burst_events
        if moving and st.last_room not in self._bedrooms:
            alert.escalated = True
            self._add(out, book.raise_(
                "fall_suspected", Severity.CRITICAL, at,
                f"moving about in {where}, then no activity anywhere for {minutes} min; "
                + (home if night else "resident is home (no entrance door since)"),
                source={"room": st.last_room}, escalate_after=s.escalate_critical_minutes * 60,
            ))
        else:
            self._add(out, book.escalate_now(
                "inactivity", at,
                f"no activity anywhere for {minutes} min since {where}; {home}",
                severity=Severity.CRITICAL,
            ))
        return out

    # ---------------------------------------------------------------- readings
    def _observe(self, reading: Reading, at: float) -> list[Draft]:
        sensor, value = reading.sensor, reading.value
        out: list[Draft] = []
        book = self.alerts
        if book.open and sensor != "device_status":
            # Any reading from a device said to be offline proves it is back.
            self._add(out, book.resolve("device_offline", at, f"{reading.device} reporting again",
                                        key=reading.device))
        if sensor == "motion" and not _truthy(value) and reading.room in self.state.motion_rooms:
            return out  # a PIR falling quiet changes nothing
        self._due = None
        if sensor == "motion":
            if reading.room and reading.room not in self.state.motion_rooms:
                self.state.motion_rooms.append(reading.room)
            if _truthy(value):
                self._check_visitor(reading.room, at)
                out.extend(self._activity(at, reading.room, reading.role, reading.device, "motion"))
        elif sensor == "appliance":
            if _truthy(value):
                self._appliance(reading, at)
                out.extend(self._activity(at, reading.room, reading.role, reading.device,
                                          reading.role or sensor))
        elif sensor == "temperature" and environment.is_ambient(reading):
            # A room thermometer: cold_home / hot_home, never a vital sign.
            out += environment.room_temperature(book, self.settings.climate, self.state.rooms,
                                                reading, at, self.local.hhmm)
        elif sensor in ACTIVITY_SENSORS:
            if self._chattering(reading.device, reading.role, at):
                return out
            out.extend(self._activity(at, reading.room, reading.role, reading.device,
                                      reading.role or sensor))
        elif sensor == "bed":
            out.extend(self._bed(reading, at))
        elif sensor == "sos":
            out += inputs.sos(book, self.settings, reading, at, self.local.hhmm(at))
        elif sensor == "sos_cancel":
            out += inputs.sos_cancel(book, reading, at)
        elif sensor in inputs.DETECTORS:
            out += inputs.detector(book, reading, at)
        elif sensor in VITAL_SENSORS:
            out += inputs.vital_signs(book, self.settings, self.state.vitals_pending, reading, at)
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

        Mercury switches in drawers and cistern floats chatter on their own
        (house B's cutlery drawer: 20 changes in a minute at 02:54 while the
        resident was in bed). Once a contact has changed `chatter_changes`
        times within `chatter_seconds`, further changes are not activity until
        it calms down; the first few still count, so a person using a drawer
        or flushing is seen. The entrance door is never filtered.
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
        st.last_motion[room] = at

    def _silence_deadline(self, deadline: float | None) -> float | None:
        """Silence alarms wait while a visitor is (recently) in the home."""
        visitor = self.state.visitor_until
        if deadline is None or visitor is None:
            return deadline
        return max(deadline, visitor)

    @staticmethod
    def _add(out: list[Draft], draft: Draft | None) -> None:
        if draft is not None:
            out.append(draft)

    def _bed(self, reading: Reading, at: float) -> list[Draft]:
        st = self.state
        value = reading.value
        text = str(value).lower() if isinstance(value, str) else None
        if value is True or text in BED_IN:
            occupied = True
        elif value is False or text in BED_OUT:
            occupied = False
        else:
            return []  # an unknown mat state says nothing
        if occupied and not st.bed_occupied.get(reading.device):
            st.bed_pressed_since[reading.device] = at
        st.bed_occupied[reading.device] = occupied
        st.has_bed = True
        if occupied:
            st.bed_empty_since = None
            return self._activity(at, reading.room or "bedroom", reading.role, reading.device,
                                  "bed")
        # A mat going empty is weak evidence (sleepers shift off it): note it, nothing more.
        st.last_bedroom_event = at
        if not any(st.bed_occupied.values()) and st.bed_empty_since is None:
            st.bed_empty_since = at
        return []

    def _activity(self, at: float, room: str | None, role: str | None, device: str,
                  what: str) -> list[Draft]:
        st, book, local = self.state, self.alerts, self.local
        out: list[Draft] = []
        room = room or "unknown"
        is_bedroom = room in self._bedrooms
        seen = ""
        if book.open:
            word = "motion" if what == "motion" else ("in bed" if what == "bed" else f"{what} used")
            seen = f"{word} in {room} at {local.hhmm(at)}"
            for type_ in SILENCE_ALERTS:
                self._add(out, book.resolve(type_, at, seen))
            if not is_bedroom:
                self._add(out, book.resolve("not_up", at, f"up: {seen}"))
        # Learn this home's silences (only while home and not asleep).
        if (st.last_activity is not None and st.presence != "away" and not st.settled
                and st.door_pending_since is None and at > st.last_activity):
            self.routine.record_gap(*local.slot(st.last_activity), at - st.last_activity)
        day, hour = local.slot(at)
        if st.presence != "away" and not st.settled:
            self.routine.saw_activity(day, hour)
        ledger = st.ledger
        assert ledger is not None
        # Home or away.
        if role == "entrance":
            st.has_entrance = True
            if st.presence != "away" and local.is_night(at) and not book.is_open("night_exit"):
                in_bed = st.settled or st.night_up_since is not None
                self._add(out, book.raise_(
                    "night_exit", Severity.CRITICAL if in_bed else Severity.WARNING, at,
                    f"entrance door opened at {local.hhmm(at)} at night"
                    + (", after going to bed" if in_bed else ", before going to bed"),
                    source={"device": device, "room": room},
                    escalate_after=self.settings.escalate_critical_minutes * 60,
                ))
            if st.presence == "unknown":
                st.presence = "home"
            st.door_pending_since = at
        else:
            if not seen and (st.presence == "away" or st.door_pending_since is not None):
                seen = f"{what} in {room} at {local.hhmm(at)}"
            if st.presence == "away":
                if st.away_since is not None:
                    ledger.away_seconds += at - max(st.away_since, ledger.start)
                st.away_since = None
                self._add(out, book.resolve("night_exit", at, f"back home: {seen}"))
            elif st.door_pending_since is not None:
                self._add(out, book.resolve("night_exit", at, f"stayed inside: {seen}"))
            st.door_pending_since = None
            st.presence = "home" if st.has_entrance else "unknown"
        # A stay in the bathroom: started by activity inside it, ended by activity
        # elsewhere or by its door (the way out; the way in is usually a PIR next).
        if room in self._bathrooms and role != "bathroom_door":
            if st.bathroom_since is None:
                st.bathroom_since, st.bathroom_room = at, room
                # Seen by another sensor just before, not the bedroom door she closed a
                # moment ago (a cistern refilling behind her as she goes to bed).
                bedroom = st.last_bedroom_activity
                st.bathroom_walked_in = (
                    st.last_activity is not None and st.last_device != device
                    and at - st.last_activity <= RECENT_WINDOW
                    and (bedroom is None
                         or at - bedroom > self.settings.bedtime_glimpse_seconds))
        elif st.bathroom_since is not None:
            st.bathroom_since = None
            if book.open:
                self._add(out, book.resolve(
                    "bathroom_overstay", at,
                    f"left the {st.bathroom_room}: {what} in {room} at {local.hhmm(at)}"))
        # The night.
        if is_bedroom:
            st.last_bedroom_event = st.last_bedroom_activity = at
            if st.night_up_since is not None:
                self._night_return(at)
            elif (not st.settled and st.last_activity is not None and local.is_night(at)
                  and at - st.last_activity >= self.settings.unseen_settle_minutes * 60):
                # Silent for an hour at night, then the bedroom: they had gone to bed unseen.
                self._settle(at, st.last_activity)
            if st.in_bedroom_since is None:
                st.in_bedroom_since, st.bed_seen = at, False
            if what == "bed":
                st.bed_seen = True
        elif (st.settled and what != "motion" and room in st.motion_rooms
              and local.is_night(at)):
            # A drawer or cupboard contact in a room whose PIR saw nobody is not a
            # person up at night (mercury switches chatter): wait for the PIR.
            pass
        else:
            st.in_bedroom_since, st.bed_seen = None, False
            if st.settled:
                if local.is_night(at):
                    if st.night_up_since is None:
                        st.night_up_since, st.night_up_rooms = at, []
                        empty = st.bed_empty_since
                        st.out_of_bed_at = empty if empty is not None and (
                            at - empty <= self.settings.exit_evidence_seconds) else at
                        last_bedroom = st.last_bedroom_event
                        st.night_up_confirmed = (
                            last_bedroom is not None
                            and at - last_bedroom <= self.settings.exit_evidence_seconds)
                    elif at - st.night_up_since >= self.settings.exit_confirm_seconds:
                        st.night_up_confirmed = True
                    if room not in st.night_up_rooms:
                        st.night_up_rooms.append(room)
                else:
                    wake = st.night_up_since or at
                    ledger.wake = wake
                    moment = local.local(wake)
                    self.routine.record_wake(moment.date().isoformat(),
                                             moment.hour * 60 + moment.minute)
                    st.settled, st.settled_at, st.night_up_since = False, None, None
                    st.night_up_rooms = []
        if self.checks.checks:
            out.extend(self.checks.saw(book, at, room, role, what))
        # Bookkeeping.
        st.last_activity, st.last_room, st.last_device, st.last_role = at, room, device, role
        recent = st.recent
        recent.append(at)
        if len(recent) > 16 or recent[0] < at - RECENT_WINDOW:
            st.recent = [t for t in recent[-16:] if t >= at - RECENT_WINDOW]
        ledger.events += 1
        hour_key = f"{day}T{hour:02d}"
        if not ledger.active_hours or ledger.active_hours[-1] != hour_key:
            ledger.active_hours.append(hour_key)
        return out

    def _night_return(self, at: float) -> None:
        st = self.state
        assert st.ledger is not None and st.night_up_since is not None
        if st.night_up_confirmed:
            st.ledger.night_bed_exits += 1
            if any(room in self._bathrooms for room in st.night_up_rooms):
                st.ledger.night_bathroom_visits += 1
            st.ledger.night_up_seconds += at - st.night_up_since
        st.night_up_since, st.night_up_rooms, st.night_up_confirmed = None, [], False
