"""`not_done_by`: the kettle not boiled, the kitchen not visited by mid-morning.

Care workers know that a resident who has not made her morning tea by ten
is often unwell. Each `DailyCheck` of the settings names what counts
(appliance or contact roles such as `kettle`, `fridge_door`; or any
activity in a room such as `kitchen`) and a time of day. The deadline is
the fixed `by` time until `routine_min_days` days of history exist, then
the later of `by` and her own usual time (90th percentile of the local
times it was first done on past days, last `baseline_days`) plus
`margin_minutes`: a late riser is not flagged at 10:00 every day, an early
one still is at 10:00.

A missed check raises one warning per check and local day; it is not
raised while she is away (entrance door, then nothing inside: the check
waits `away_minutes` after a door to know), and resolves as soon as the
activity happens. Activity before `night_end` (06:00) does not count for
the day: a kitchen visit at 02:00 says nothing about breakfast. Checks
are armed from the engine's first input, so a kit started at 14:00 does
not report that morning as missed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time, timedelta
from typing import Any

from edgeagent.heuristics.alerts import AlertBook
from edgeagent.heuristics.localtime import LocalTime
from edgeagent.heuristics.reasons import ZH_WORDS, Reason, say
from edgeagent.heuristics.routine import percentile
from edgeagent.heuristics.settings import DailyCheck, HeuristicsSettings
from edgeagent.models import Draft, Severity

LATEST_MINUTES = 23 * 60 + 59


@dataclass(slots=True)
class ChecksState:
    """Per check: the last local day it was done, the last day decided, first times per day."""

    armed_at: float | None = None
    done: dict[str, str] = field(default_factory=dict)
    decided: dict[str, str] = field(default_factory=dict)  # done, missed or skipped (away)
    times: dict[str, dict[str, float]] = field(default_factory=dict)  # day -> minutes


def describe(check: DailyCheck) -> str:
    """'use of kettle or fridge_door and no activity in kitchen' style words."""
    parts = []
    if check.roles:
        parts.append("use of " + _either(check.roles))
    if check.rooms:
        parts.append("activity in " + _either(check.rooms))
    return " and no ".join(parts)


def describe_zh(check: DailyCheck) -> str:
    """The same in Chinese (use of a kettle or fridge, or activity in the kitchen)."""
    parts = []
    if check.roles:
        parts.append("使用" + "或".join(ZH_WORDS.get(r, r) for r in check.roles))
    if check.rooms:
        parts.append("或".join(ZH_WORDS.get(r, r) for r in check.rooms) + "的活动")
    return "\uff0c\u4e5f\u6ca1\u6709".join(parts)  # a full-width comma, then "nor"


def _either(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


class DailyChecks:
    """The configured checks of one home; `state` lives in the engine's HomeState."""

    def __init__(self, settings: HeuristicsSettings, local: LocalTime) -> None:
        self.settings = settings
        self.local = local
        self.checks = {check.name: check for check in settings.daily_checks}
        self.state = ChecksState()
        self._cache: dict[tuple[str, str], float] = {}

    def arm(self, at: float) -> None:
        if self.state.armed_at is None:
            self.state.armed_at = at

    def deadline_minutes(self, check: DailyCheck, day: str) -> float:
        """Minutes after local midnight by which `check` is due on `day`."""
        fixed = float(check.by.hour * 60 + check.by.minute)
        past = [m for d, m in sorted(self.state.times.get(check.name, {}).items()) if d < day]
        if not check.learn or len(past) < self.settings.routine_min_days:
            return fixed
        usual = percentile(past, 0.9) + check.margin_minutes
        return min(max(fixed, usual), float(LATEST_MINUTES))

    def _deadline(self, check: DailyCheck, day: str) -> float:
        key = (check.name, day)
        cached = self._cache.get(key)
        if cached is None:
            if len(self._cache) > 256:
                self._cache.clear()
            minutes = self.deadline_minutes(check, day)
            clock = time(int(minutes // 60), int(minutes % 60))
            cached = self.local.at(date.fromisoformat(day), clock)
            self._cache[key] = cached
        return cached

    def _pending_day(self, check: DailyCheck) -> str:
        """The first local day whose check is not yet decided (never one before arming)."""
        st = self.state
        assert st.armed_at is not None
        first = self.local.local(st.armed_at).date()
        if self._deadline(check, first.isoformat()) < st.armed_at:
            first += timedelta(days=1)
        decided = st.decided.get(check.name)
        if decided is not None:
            first = max(first, date.fromisoformat(decided) + timedelta(days=1))
        return first.isoformat()

    def next_due(self, door_pending_since: float | None) -> tuple[float, str] | None:
        """The earliest deadline of an undecided day, over all checks."""
        if not self.checks or self.state.armed_at is None:
            return None
        best: tuple[float, str] | None = None
        for name, check in self.checks.items():
            at = self._deadline(check, self._pending_day(check))
            if door_pending_since is not None:
                # Just out of the door? Wait until away-or-home is known.
                at = max(at, door_pending_since + self.settings.away_minutes * 60)
            if best is None or at < best[0]:
                best = (at, name)
        return best

    def fire(self, book: AlertBook, name: str, at: float, *, away: bool,
             last_seen: Reason | None) -> list[Draft]:
        """The deadline of `name` has come: raise (once per local day) unless away."""
        st, check = self.state, self.checks[name]
        day = self._pending_day(check)
        st.decided[name] = day
        if away:
            return []
        minutes = self.deadline_minutes(check, day)
        by = f"{int(minutes // 60):02d}:{int(minutes % 60):02d}"
        fixed = check.by.strftime("%H:%M")
        code = "not_done_by" if by == fixed else "not_done_by_learned"
        facts: dict[str, Any] = {"what": describe(check), "what_zh": describe_zh(check),
                                 "by": by, "margin": f"{check.margin_minutes:g}",
                                 "fixed": fixed}
        if last_seen is not None:
            code, facts["seen"] = code + "_seen", last_seen
        draft = book.raise_("not_done_by", Severity.WARNING, at, say(code, **facts), key=name,
                            source={"check": name}, extra={"check": name, "by": by})
        return [draft] if draft is not None else []

    def saw(self, book: AlertBook, at: float, room: str, role: str | None,
            what: str) -> list[Draft]:
        """Activity: mark every check it satisfies as done today; resolve a missed one."""
        st = self.state
        out: list[Draft] = []
        day: str | None = None
        for name, check in self.checks.items():
            if not ((role is not None and role in check.roles) or room in check.rooms):
                continue
            moment = self.local.local(at)
            if day is None:
                day = moment.date().isoformat()
            if st.done.get(name) != day and moment.time() >= self.settings.night_end:
                table = st.times.setdefault(name, {})
                table[day] = float(moment.hour * 60 + moment.minute)
                for old in sorted(table)[:-self.settings.baseline_days]:
                    del table[old]
                self._cache.clear()
                st.done[name] = day
                if st.decided.get(name, "") < day:
                    st.decided[name] = day
            if book.is_open("not_done_by", name):
                resolved = book.resolve("not_done_by", at, say(
                    "seen", what=what, room=room, time=self.local.hhmm(at)), key=name)
                if resolved is not None:
                    out.append(resolved)
        return out
