"""Room temperature: `cold_home` and `hot_home`, and telling a room from a body.

A failed boiler in a winter night or a flat that bakes in a heatwave harms
an older person slowly, over hours, without any fall or button press. Each
room thermometer's readings are checked against the care plan's limits
(`RoomClimate`): out of range for `minutes` raises a warning, beyond the
critical limit for `critical_minutes` (or a warning left open for
`escalate_hours`) makes it critical, and it resolves once the room is back
inside the limit by `hysteresis` degrees, so a room hovering at 18 °C does
not flap. One alert per room. The rule runs on readings only: the room
sensors repeat their value every few minutes (`report_interval_s`), so no
timer is needed, and a silent sensor cannot raise anything by itself
(`device_offline` covers that).

A room thermometer must never be read as a body temperature (a 34 °C attic
is no hypothermia): a reading is ambient when its driver says so
(`data["ambient"]`, set by `ble.advert_env`) or when it comes from a
home-automation mapping (`data["kind"] == "temperature"`, set by
`mqtt.local`). Only the rest (BLE health thermometers) reach the vital rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgeagent.heuristics.alerts import AlertBook
from edgeagent.heuristics.reasons import Reason, say
from edgeagent.heuristics.settings import RoomClimate
from edgeagent.heuristics.values import finite_number
from edgeagent.models import Draft, Reading, Severity


@dataclass(slots=True)
class Spell:
    """One room's current stretch outside one limit (cold or hot)."""

    since: float | None = None
    extreme_since: float | None = None
    worst: float | None = None


@dataclass(slots=True)
class RoomTemperature:
    cold: Spell = field(default_factory=Spell)
    hot: Spell = field(default_factory=Spell)
    last: float | None = None


def is_ambient(reading: Reading) -> bool:
    """Whether a temperature reading is a room's air, not a person's body."""
    data: dict[str, Any] = reading.data if isinstance(reading.data, dict) else {}
    return data.get("ambient") is True or data.get("kind") == "temperature"


def duration(seconds: float) -> Reason:
    """'2 h 10 min', '2 h' or '45 min' (in the home's language when rendered)."""
    hours, minutes = divmod(round(seconds / 60), 60)
    if not hours:
        return say("duration_m", m=minutes)
    return say("duration_hm", h=hours, m=minutes) if minutes else say("duration_h", h=hours)


def room_temperature(book: AlertBook, limits: RoomClimate, rooms: dict[str, RoomTemperature],
                     reading: Reading, at: float, hhmm: Any) -> list[Draft]:
    """Apply one ambient temperature reading; `hhmm(ts)` formats local time."""
    value = finite_number(reading.value)
    if value is None or not -60.0 <= value <= 90.0:
        return []
    room = reading.room or reading.device
    state = rooms.setdefault(room, RoomTemperature())
    state.last = value
    out: list[Draft] = []
    for side in ("cold", "hot"):
        draft = _side(book, limits, side, state.cold if side == "cold" else state.hot,
                      room, reading.device, value, at, hhmm)
        out.extend(draft)
    return out


def _side(book: AlertBook, limits: RoomClimate, side: str, spell: Spell, room: str,  # noqa: C901, PLR0912 - one spell's life (start, worsen, critical, back) for cold and hot alike
          device: str, value: float, at: float, hhmm: Any) -> list[Draft]:
    type_ = f"{side}_home"
    if side == "cold":
        limit, critical = limits.cold_below, limits.cold_critical_below
        out_of_range, extreme = value < limit, value < critical
        back = value >= limit + limits.hysteresis
        word, worst_word = "below", "lowest"
    else:
        limit, critical = limits.hot_above, limits.hot_critical_above
        out_of_range, extreme = value > limit, value > critical
        back = value <= limit - limits.hysteresis
        word, worst_word = "above", "highest"
    alert = book.get(type_, room)
    drafts: list[Draft] = []
    if not out_of_range:
        spell.extreme_since = None
        if alert is not None and back:
            since = spell.since if spell.since is not None else alert.raised_at
            worst = spell.worst if spell.worst is not None else value
            resolved = book.resolve(
                type_, at, say("temperature_back", room=room, value=f"{value:.1f}",
                               duration=duration(at - since), worst_word=worst_word,
                               worst=f"{worst:.1f}", limit=f"{limit:g}"), key=room)
            if resolved is not None:
                drafts.append(resolved)
        if alert is None or back:
            spell.since = spell.extreme_since = spell.worst = None
        return drafts
    if spell.since is None:
        spell.since = at
    spell.worst = value if spell.worst is None else (
        min(spell.worst, value) if side == "cold" else max(spell.worst, value))
    if extreme:
        if spell.extreme_since is None:
            spell.extreme_since = at
    else:
        spell.extreme_since = None
    is_critical = (spell.extreme_since is not None
                   and at - spell.extreme_since >= limits.critical_minutes * 60)
    facts: dict[str, Any] = {"room": room, "value": f"{value:.1f}",
                             "duration": duration(at - spell.since), "limit": f"{limit:g}"}
    reason = say("temperature", **facts)
    if alert is None:
        if at - spell.since < limits.minutes * 60:
            return drafts
        if is_critical:
            reason = say("temperature_extreme", **facts, word=word, critical=f"{critical:g}",
                         since=hhmm(spell.extreme_since))
        raised = book.raise_(
            type_, Severity.CRITICAL if is_critical else Severity.WARNING, at, reason, key=room,
            source={"room": room, "device": device},
            escalate_after=None if is_critical else limits.escalate_hours * 3600,
            escalate_to=None if is_critical else Severity.CRITICAL,
            extra={"temperature": value, "limit": limit},
        )
        if raised is not None:
            drafts.append(raised)
    elif is_critical and not alert.escalated and alert.severity is not Severity.CRITICAL:
        assert spell.extreme_since is not None
        escalated = book.escalate_now(
            type_, at, say("temperature_extreme", **facts, word=word, critical=f"{critical:g}",
                           since=hhmm(spell.extreme_since)),
            key=room, severity=Severity.CRITICAL)
        if escalated is not None:
            drafts.append(escalated)
    return drafts
