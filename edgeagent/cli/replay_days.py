"""A replay as a care manager reads it: day by day, how long each alert stayed open, gaps.

The engine reports an alert as drafts sharing one id (raised, escalated,
resolved); here they become one episode with its opening, its close and the
time between. Silences in the recording longer than the caller's threshold are
listed as gaps, since an alert-free night means nothing if nothing was recorded.
Pure: the result and the home's local time in, plain data out; the text is in
the message language (`--lang`), alert reasons included (rendered from their
`reason_code` and `reason_params`, as a platform would).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from edgeagent.heuristics.localtime import LocalTime
from edgeagent.heuristics.reasons import from_data, say
from edgeagent.heuristics.replay import ReplayResult
from edgeagent.i18n import _, weekday
from edgeagent.models import Draft, Severity

SEVERITY_ORDER = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


@dataclass(slots=True)
class Episode:
    """One alert from raised to resolved (`closed` None: still open when the log ends)."""

    alert_id: str
    type: str
    severity: Severity
    room: str
    opened: datetime
    reason: str
    closed: datetime | None = None
    close_reason: str = ""
    escalations: list[tuple[datetime, str]] = field(default_factory=list)

    @property
    def duration(self) -> timedelta | None:
        return None if self.closed is None else self.closed - self.opened


@dataclass(slots=True)
class Gap:
    start: datetime
    end: datetime

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


@dataclass(slots=True)
class Day:
    day: date
    episodes: list[Episode] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)


def reason_in(draft: Draft, language: str) -> str:
    """The draft's reason in `language`, from its code and parameters when it has them."""
    code, params = draft.data.get("reason_code"), draft.data.get("reason_params")
    if language == "en" or not isinstance(code, str) or not isinstance(params, dict):
        return str(draft.data.get("reason", ""))
    text = from_data(code, params).text(language)
    if (draft.alert or {}).get("state") == "resolved":
        text = say("resolved").text(language) + text
    return text


def episodes(result: ReplayResult, local: LocalTime, language: str = "en") -> list[Episode]:
    """The alerts of a replay as episodes, in the order they opened (local times)."""
    found: dict[str, Episode] = {}
    for draft in result.alerts:
        info = draft.alert or {}
        alert_id = str(info.get("id") or f"{draft.type}@{draft.wall.isoformat()}")
        state = str(info.get("state", ""))
        when = local.local(draft.wall.timestamp())
        reason = reason_in(draft, language)
        episode = found.get(alert_id)
        if episode is None:
            room = str(draft.source.get("room") or draft.data.get("room") or "")
            episode = found[alert_id] = Episode(alert_id, draft.type, draft.severity, room,
                                                when, reason)
            if state != "resolved":
                continue
        if state == "resolved":
            episode.closed, episode.close_reason = when, reason
            continue
        if SEVERITY_ORDER[draft.severity] > SEVERITY_ORDER[episode.severity]:
            episode.severity = draft.severity
        episode.escalations.append((when, reason))
    return sorted(found.values(), key=lambda e: e.opened)


def by_day(result: ReplayResult, local: LocalTime, gap_hours: float,
           language: str = "en") -> list[Day]:
    """Every local day the log covers, quiet ones included, with its episodes and gaps."""
    if result.first is None or result.last is None:
        return []
    first = local.local(result.first).date()
    last = local.local(result.last).date()
    days = {first + timedelta(days=n): Day(first + timedelta(days=n))
            for n in range((last - first).days + 1)}
    for episode in episodes(result, local, language):
        days[episode.opened.date()].episodes.append(episode)
    for start, end in result.gaps:
        if end - start > gap_hours * 3600:
            gap = Gap(local.local(start), local.local(end))
            days[gap.start.date()].gaps.append(gap)
    return list(days.values())


def span(delta: timedelta) -> str:
    """'45 min', '2 h 05 min', '3 d 4 h'."""
    minutes = round(delta.total_seconds() / 60)
    if minutes < 60:
        return _("{minutes} min").format(minutes=minutes)
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return _("{hours} h {minutes:02d} min").format(hours=hours, minutes=minutes)
    days, hours = divmod(hours, 24)
    return _("{days} d {hours} h").format(days=days, hours=hours)


def _clock(when: datetime, day: date) -> str:
    """HH:MM, with the date when it is not `day`."""
    return when.strftime("%H:%M") if when.date() == day else when.strftime("%m-%d %H:%M")


def render_days(days: list[Day], gap_hours: float) -> list[str]:
    """The text: a heading per day, each alert with its time open, then the gaps."""
    lines: list[str] = []
    for day in days:
        lines.append(f"{weekday(day.day)} {day.day:%Y-%m-%d}")
        if not day.episodes:
            lines.append("  " + _("no alerts"))
        for e in day.episodes:
            lines.extend(_episode_lines(e, day.day))
        for gap in day.gaps:
            lines.append("  !! " + _(
                "no event {start} to {end} ({span} > {hours:g} h): a gap in the recording, "
                "or nothing moved").format(start=_clock(gap.start, day.day),
                                           end=_clock(gap.end, day.day),
                                           span=span(gap.duration), hours=gap_hours))
    return lines


def _episode_lines(e: Episode, day: date) -> list[str]:
    """One alert: when it opened, for how long, why, its escalations and its close."""
    until = (_("{closed}  open {span}").format(closed=_clock(e.closed, day), span=span(e.duration))
             if e.closed is not None and e.duration is not None
             else _("still open when the log ends"))
    room = f"  ({e.room})" if e.room else ""
    lines = [f"  {e.opened:%H:%M}  {e.severity.value:<8} {e.type}{room}  -> {until}"]
    if e.reason:
        lines.append(f"         {e.reason}")
    for when, reason in e.escalations:
        lines.append(f"         {_clock(when, day)} " + _("escalated: {reason}").format(
            reason=reason))
    if e.close_reason:
        lines.append(f"         {e.close_reason}")
    return lines
