"""Silence rules: from where and how she was last seen, when to warn and when to call.

Every silence is classified into one `Situation`; the table `RULES` gives
its alert type and words. `plan()` turns the situation into a `Plan`: a
warning time and a critical time (either may be absent). Severity follows
confidence: critical as soon as the kit's own sensors make the situation
unambiguous for its layout, otherwise a warning first with the doubt in its
reason, critical on a longer limit. The limits, and why each holds in any
home, are in docs/heuristics.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from enum import StrEnum
from typing import TYPE_CHECKING

from edgeagent.heuristics.alerts import AlertBook
from edgeagent.heuristics.localtime import LocalTime
from edgeagent.heuristics.reasons import Reason, say
from edgeagent.heuristics.routine import LearnedRoutine
from edgeagent.heuristics.seats import Seat, SeatTracker
from edgeagent.heuristics.settings import HeuristicsSettings
from edgeagent.heuristics.sleep import SleepTracker

if TYPE_CHECKING:
    from edgeagent.heuristics.state import HomeState

RECENT_WINDOW = 600.0


class Timer(StrEnum):
    """Everything the engine waits for."""

    SUMMARY = "summary"
    ESCALATE = "escalate"
    AWAY = "away"
    CHECK = "check"
    FENCE = "fence"
    SEAT_STUCK = "seat_stuck"
    PREALARM = "prealarm"
    CHECKIN = "checkin"
    SETTLE = "settle"
    SILENCE = "silence"


class Situation(StrEnum):
    OUT_OF_BED = "out_of_bed"  # was in bed, up at night, last seen outside the bedroom
    UP_AT_NIGHT = "up_at_night"  # not in bed, after midnight or on her way to bed
    IN_BED = "in_bed"  # in bed, not up by her usual time
    NIGHT_UNSEEN = "night_unseen"  # a layout that cannot see her go to bed
    SEATED = "seated"  # in her chair (a pad or radar holds), nothing else moving
    BATHROOM = "bathroom"  # in the bathroom in the day
    DAY = "day"  # anywhere else, awake


@dataclass(frozen=True, slots=True)
class AlertRule:
    """The alert a situation raises as a warning, the one it raises once critical."""

    alert: str
    critical_alert: str
    escalation_words: str


RULES: dict[Situation, AlertRule] = {
    Situation.OUT_OF_BED: AlertRule("bed_exit_no_return", "bed_exit_no_return",
                                    "resident still not back and no activity"),
    Situation.UP_AT_NIGHT: AlertRule("fall_suspected", "fall_suspected", "still no activity"),
    Situation.IN_BED: AlertRule("not_up", "not_up", "still not up"),
    Situation.NIGHT_UNSEEN: AlertRule("not_up", "not_up", "still no sign of life"),
    Situation.SEATED: AlertRule("chair_overstay", "chair_overstay", "still in the chair"),
    Situation.BATHROOM: AlertRule("bathroom_overstay", "bathroom_overstay",
                                  "still in the bathroom"),
    Situation.DAY: AlertRule("inactivity", "fall_suspected", "still no activity"),
}
SILENCE_TYPES = tuple(sorted({t for rule in RULES.values()
                              for t in (rule.alert, rule.critical_alert)}))


@dataclass(frozen=True, slots=True)
class Plan:
    situation: Situation
    warn_at: float | None
    critical_at: float | None
    reason: Reason
    doubts: tuple[Reason, ...] = ()

    @property
    def alert(self) -> str:
        return RULES[self.situation].alert

    @property
    def critical_alert(self) -> str:
        return RULES[self.situation].critical_alert

    @property
    def first(self) -> float | None:
        times = [t for t in (self.warn_at, self.critical_at) if t is not None]
        return min(times) if times else None


class SilenceRules:
    """Pure: a home state (and which alerts are open) in, the plan for the silence out."""

    def __init__(self, settings: HeuristicsSettings, local: LocalTime,
                 routine: LearnedRoutine, sleep: SleepTracker, alerts: AlertBook,
                 seats: SeatTracker, bedrooms: frozenset[str],
                 bathrooms: frozenset[str]) -> None:
        self.settings, self.local, self.routine, self.sleep = settings, local, routine, sleep
        self.alerts, self.seats = alerts, seats
        self.bedrooms, self.bathrooms = bedrooms, bathrooms

    def plan(self, st: HomeState) -> Plan | None:  # noqa: C901, PLR0912 - the situation table in code: each branch is one row of docs/heuristics.md
        seen = st.seen
        if seen.at is None:
            return None
        if st.presence.state == "away":
            return self._maybe_back(st, seen.at, seen.room or "unknown")
        seated = self.seats.holding(seen.at, seen.room, st.now or seen.at)
        if seated is not None:
            return self._seated(seated[1])
        s, local, sleep = self.settings, self.local, st.sleep
        last, room = seen.at, seen.room or "unknown"
        hhmm = local.hhmm
        passage = st.layout.sees_bed_passage(self.bedrooms)
        in_bedroom = room in self.bedrooms
        night = local.is_night(last)
        short = s.bed_exit_no_return_minutes * 60
        urgent = s.night_urgent_minutes * 60
        home = self._confirmed_home(st)
        if sleep.in_bed and sleep.up_since is not None and not in_bedroom and (
                sleep.evidence != "weak"):
            up = sleep.out_of_bed_at or sleep.up_since
            facts = {"since": hhmm(up), "room": room, "last": hhmm(last)}
            reason = say("out_of_bed", **facts)
            # A door contact sees the door, not her: a way out through a door she left
            # open is unseen, and so is the way back. It proves an exit only if used.
            person_sensed = st.layout.sees_person_in_bedroom(self.bedrooms)
            strong = sleep.up_strong and (person_sensed or sleep.up_door)
            on_mat = self._on_mat(st)
            if strong and on_mat and not st.layout.has_entrance and room not in self.bathrooms:
                # She may have gone out, and the mat says someone may be in bed.
                return Plan(Situation.OUT_OF_BED, last + short, None, reason,
                            (say("doubt_mat_partner_out"),))
            if strong and on_mat and not sleep.up_by_hand:
                return Plan(Situation.OUT_OF_BED, last + short, None, reason,
                            (say("doubt_mat_pet"),))
            if strong:
                if on_mat:
                    reason = say("out_of_bed_mat_lags", **facts)
                return Plan(Situation.OUT_OF_BED, None, last + short, reason)
            if sleep.up_linked:
                return Plan(Situation.OUT_OF_BED, last + short, last + urgent, reason,
                            (say("doubt_linked"),))
            weak_critical = None
            if home:
                weak_critical = self._long(st, last) if person_sensed else \
                    self._morning(st, last, room, home).critical_at
            return Plan(Situation.OUT_OF_BED, last + short, weak_critical, reason,
                        (say("doubt_one_sensor" if person_sensed else "doubt_door_open"),))
        if sleep.in_bed and (in_bedroom or sleep.up_since is None):
            not_up = self.not_up_deadline(sleep.in_bed_at or last)
            if last < not_up:
                since = sleep.in_bed_at or last
                if sleep.evidence == "weak":
                    return self._morning(st, last, room, home)
                return Plan(Situation.IN_BED, not_up,
                            (not_up + s.not_up_critical_minutes * 60) if home else None,
                            say("not_up", since=hhmm(since)))
        if night and not sleep.in_bed:
            if not passage:
                return self._morning(st, last, room, home)
            if in_bedroom:
                return None  # on her way to bed: the settle timer decides
            tonight = self._night_start(last)
            visited = (sleep.last_bedroom_activity is not None
                       and sleep.last_bedroom_activity >= tonight)
            # Where only a door contact sees the bedroom, she must have gone out through
            # that door (she will come back through it).
            through_door = st.layout.sees_person_in_bedroom(self.bedrooms) or (
                sleep.last_bedroom_door is not None
                and sleep.last_bedroom_door == sleep.last_bedroom_activity)
            # On her way to bed, that is: not after getting up from this night's sleep.
            up_tonight = sleep.woke_at is not None and sleep.woke_at >= tonight
            bedtime = (visited and through_door and not up_tonight
                       and self.sleep.out_of_bedroom(s.exit_confirm_seconds))
            moment = local.local(last)
            # Up in the small hours and never in the bedroom tonight, seen by two sensors
            # or more (a person walking, not one sensor firing by itself), where a mat or
            # a bedroom motion sensor would have seen her go to bed.
            deep = (st.layout.sees_person_in_bedroom(self.bedrooms) and not visited
                    and local.is_deep_night(last) and not self.routine.usual_wake_near(
                        moment.date().isoformat(), moment.hour * 60 + moment.minute)
                    and self.sensors_recently(st) >= 2)
            # Without an entrance contact she may have gone out on her way to bed (except
            # from the bathroom). In the small hours, out of bed and unseen is an emergency
            # either way: a fall, or wandering out at night.
            inside = home or room in self.bathrooms
            if deep or (bedtime and inside):
                why = (say("up_on_way_to_bed", room=room, last=hhmm(last),
                           bedroom=hhmm(sleep.last_bedroom_activity or last))
                       if bedtime else say("up_small_hours", room=room, last=hhmm(last)))
                return Plan(Situation.UP_AT_NIGHT, last + short, last + urgent, why)
        return self._day(st, last, room, passage, home)

    # --------------------------------------------------------------- pieces
    def _day(self, st: HomeState, last: float, room: str, passage: bool,
             home: bool) -> Plan:
        s, hhmm = self.settings, self.local.hhmm
        doubts = () if home else tuple(say(c) for c in st.layout.limits(self.bedrooms))
        if (room in self.bathrooms and st.bathroom.since is not None
                and not self.alerts.is_open(RULES[Situation.BATHROOM].alert)):
            since = st.bathroom.since
            # Leaving the bathroom is unseen in most layouts (no sensor on the way
            # out): a long stay is a warning; critical on the day's long limit.
            warn = since + s.bathroom_overstay_minutes * 60
            critical = max(self._long(st, since), warn + s.inactivity_escalate_minutes * 60) \
                if home else None
            plan = Plan(Situation.BATHROOM, warn, critical,
                        say("bathroom_stay", room=st.bathroom.room or room, since=hhmm(since),
                            stay_since=since), doubts)
        else:
            limit = self.routine.limit_seconds(self.local.day_key(last), self.local.hour(last))
            warn = last + limit
            critical = max(self._long(st, last), warn + s.inactivity_escalate_minutes * 60) \
                if home else None
            plan = Plan(Situation.DAY, warn, critical,
                        say("day_silence", last=hhmm(last), room=room), doubts)
        # At night, where no mat or bedroom motion sensor sees her in bed, a silence that is
        # not clearly her up and about is most likely sleep (a door left open, or going to
        # bed is never seen): its critical waits for the morning; where going to bed is
        # unseen, so does the warning.
        warn_at, critical_at = plan.warn_at, plan.critical_at
        morning = self._morning(st, last, room, home)
        if not passage and warn_at is not None and self._in_sleep(warn_at):
            return morning
        if (critical_at is not None and self._in_sleep(critical_at)
                and not st.layout.sees_person_in_bedroom(self.bedrooms)):
            return Plan(plan.situation, warn_at, morning.critical_at, plan.reason, plan.doubts)
        return plan

    def _seated(self, seat: Seat) -> Plan:
        """In her chair: not a silence; a sit of its own that can last too long."""
        s, local = self.settings, self.local
        since = seat.since
        assert since is not None
        learned = self.routine.longest_sit(local.day_key(since)) * 1.25
        day_limit = since + max(s.chair_overstay_hours * 3600, learned)
        night_limit = local.night_or_next_start(since) + s.chair_night_minutes * 60
        warn = min(day_limit, night_limit)
        what = seat.role or "seat"
        return Plan(Situation.SEATED, warn, warn + s.chair_escalate_minutes * 60,
                    say("seated", seat=what, room=seat.room, since=local.hhmm(since),
                        stay_since=since))

    def _maybe_back(self, st: HomeState, last: float, room: str) -> Plan | None:
        """Out, and something moved inside without the entrance door: maybe she is back."""
        pr = st.presence
        if not pr.inside_while_away:
            return None
        limit = self.routine.limit_seconds(self.local.day_key(last), self.local.hour(last))
        door = self.local.hhmm(pr.away_since) if pr.away_since is not None else "?"
        return Plan(Situation.DAY, last + limit, None,
                    say("silence_since", last=self.local.hhmm(last), room=room),
                    (say("doubt_maybe_back", door=door),))

    def _morning(self, st: HomeState, last: float, room: str, home: bool) -> Plan:
        """A night this layout cannot watch: she must be seen by her usual time."""
        s, hhmm = self.settings, self.local.hhmm
        not_up = self.not_up_deadline(last)
        limit = self.routine.limit_seconds(self.local.day_key(last), self.local.hour(last))
        warn = max(not_up, last + limit)
        critical = max(not_up + s.not_up_critical_minutes * 60, self._long(st, last)) \
            if home else None
        doubts = tuple(say(c) for c in st.layout.limits(self.bedrooms)) or (
            say("doubt_bed_unseen"),)
        return Plan(Situation.NIGHT_UNSEEN, warn, critical,
                    say("not_seen_morning", last=hhmm(last), room=room), doubts)

    def _confirmed_home(self, st: HomeState) -> bool:
        pr = st.presence
        return st.layout.has_entrance and pr.state == "home" and pr.how != "sensors"

    def _long(self, st: HomeState, last: float) -> float:
        """Her longest ordinary silence at home, with a margin; never below the default."""
        s = self.settings
        learned = self.routine.longest_silence(self.local.day_key(last))
        default = s.long_silence_minutes if st.layout.sees_sitting() else \
            s.long_silence_contacts_minutes
        return last + max(default * 60, learned * s.long_silence_margin)

    def _in_sleep(self, ts: float) -> bool:
        return self.local.is_night(ts)

    def _night_start(self, ts: float) -> float:
        """The start of the night `ts` belongs to (or of the coming one, in the evening)."""
        local = self.local
        day = local.local(ts).date()
        if local.is_deep_night(ts):
            day = day.fromordinal(day.toordinal() - 1)
        return local.at(day, self.settings.night_start)

    def _on_mat(self, st: HomeState) -> bool:
        """A mat pressed now, and not for so long without a break that it must be stuck."""
        stuck = self.settings.mat_stuck_hours * 3600
        now = st.seen.at or 0.0
        sleep = st.sleep
        return any(pressed and now - sleep.bed_pressed_since.get(device, now) < stuck
                   for device, pressed in sleep.bed_occupied.items())

    @staticmethod
    def sensors_recently(st: HomeState) -> int:
        """Different sensors that saw her in the 10 minutes before the silence."""
        seen = st.seen
        if seen.at is None:
            return 0
        return len({d for t, d in seen.recent_devices if t >= seen.at - RECENT_WINDOW})

    def not_up_deadline(self, since: float) -> float:
        """Her usual wake time plus margin, on the morning after `since`."""
        night = self.local.local(since)
        morning = night.date()
        if night.time() >= self.settings.not_up_latest:
            morning = morning.fromordinal(morning.toordinal() + 1)
        minutes = self.routine.not_up_minutes(morning.isoformat())
        clock = time(int(minutes // 60) % 24, int(minutes % 60))
        return self.local.at(morning, clock)
