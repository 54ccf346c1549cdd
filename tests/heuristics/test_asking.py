"""Asking her first: the pre-alarm and the daily check-in, as a care worker would tell it.

A kit with an annunciator and an "I'm OK" button (declared `can_ask`): PIRs in
every room, a bed mat, an entrance contact.
"""

from __future__ import annotations

from datetime import date, timedelta

from edgeagent.heuristics.engine import SafetyEngine
from edgeagent.heuristics.settings import HeuristicsSettings
from edgeagent.models import Draft, Kind, Severity
from tests.heuristics.home import ZONE, ZONE_NAME, Day, local, play


def kit(can_ask: bool = True, **settings: object) -> SafetyEngine:
    engine = SafetyEngine(HeuristicsSettings(**settings), ZONE_NAME)  # type: ignore[arg-type]
    engine.declare(motion_rooms=["kitchen", "bathroom", "bedroom", "hall"], bed=True,
                   entrance=True, can_ask=can_ask)
    return engine


def night_trip() -> Day:
    day = Day()
    day.door("21:00", "entrance", "hall", "closed").motion("21:01", "kitchen")
    day.motion("22:30", "bedroom").bed("22:31", "in_bed")
    day.bed("02:10", "out_of_bed").motion("02:11", "bathroom")
    return day


def events(drafts: list[Draft]) -> list[tuple[str, str, str, str]]:
    out = []
    for d in drafts:
        if d.kind is Kind.ALERT and d.alert:
            state = str(d.alert["state"])
        elif d.kind is Kind.STATUS:
            state = str(d.data.get("state"))
        else:
            continue
        out.append((d.wall.astimezone(ZONE).strftime("%H:%M:%S"), d.type, d.severity.value,
                    state))
    return out


def test_the_kit_asks_she_presses_and_nothing_critical_leaves_the_home() -> None:
    day = night_trip()
    day.add("02:31:40", "ok", True, room="bathroom", device="ok-button")
    day.motion("02:35", "bedroom").bed("02:36", "in_bed")  # back to bed
    played = day.play("03:00", engine=kit())
    assert events(played.drafts) == [
        ("02:31:00", "prealarm", "info", "asking"),
        ("02:31:40", "prealarm", "info", "cancelled"),
    ]
    cancelled = played.drafts[-1] if played.drafts[-1].type == "prealarm" else next(
        d for d in played.drafts if d.data.get("state") == "cancelled")
    assert cancelled.data["by"] == "button" and cancelled.data["outcome"] == "cancelled"
    assert not [a for a in played.alerts if a.severity is Severity.CRITICAL]


def test_no_answer_raises_the_alert_two_minutes_later_marked() -> None:
    played = night_trip().play("03:00", engine=kit())
    assert events(played.drafts)[:3] == [
        ("02:31:00", "prealarm", "info", "asking"),
        ("02:33:00", "prealarm", "info", "no answer"),
        ("02:33:00", "bed_exit_no_return", "critical", "raised"),
    ]
    alert = next(a for a in played.alerts if a.severity is Severity.CRITICAL)
    assert alert.data["prealarm"] == "no answer"


def test_activity_in_another_room_cancels_but_in_the_same_room_does_not() -> None:
    moved = night_trip().motion("02:32", "kitchen").play("02:45", engine=kit())
    assert ("02:32:00", "prealarm", "info", "cancelled") in events(moved.drafts)
    assert not [a for a in moved.alerts if a.severity is Severity.CRITICAL]
    on_floor = night_trip().motion("02:32", "bathroom").play("02:40", engine=kit())
    assert ("02:33:00", "bed_exit_no_return", "critical", "raised") in events(on_floor.drafts)


def test_an_sos_press_during_the_window_never_cancels_her_alarm() -> None:
    day = night_trip().add("02:32", "sos", True, room="bathroom", device="pendant")
    got = events(day.play("02:40", engine=kit()).drafts)
    assert ("02:32:00", "sos", "critical", "raised") in got
    assert ("02:32:00", "prealarm", "info", "no answer") in got
    assert ("02:32:00", "bed_exit_no_return", "critical", "raised") in got


def test_a_restart_mid_window_resumes_the_question() -> None:
    day = night_trip()
    first = kit()
    play(first, day.readings, day.at("02:32"))
    second = kit()
    second.restore(first.snapshot())
    assert second.state.asking.pending is not None
    after = play(second, [], day.at("02:40"))
    assert ("02:33:00", "bed_exit_no_return", "critical", "raised") in events(after.drafts)


def test_a_kit_that_cannot_ask_raises_at_once() -> None:
    played = night_trip().play("03:00", engine=kit(can_ask=False))
    assert events(played.drafts)[0] == ("02:31:00", "bed_exit_no_return", "critical", "raised")


def checkin_day(press: str | None, moving: bool) -> list[tuple[str, str, str, str]]:
    day = Day(start=date(2026, 3, 3), overnight=False)
    day.door("06:00", "entrance", "hall", "closed").motion("06:01", "kitchen")
    if moving:
        day.motion("09:00", "kitchen")
    if press:
        day.add(press, "ok", True, room="kitchen", device="ok-button")
    engine = kit(checkin=True)
    # Started the evening before, so this morning's window is judged.
    play(engine, [], local(day.start, "20:00") - timedelta(days=1))
    return [e for e in events(day.play("10:30", engine=engine).drafts)
            if e[1] in ("checkin", "checkin_reminder", "no_checkin")]


def test_the_daily_check_in() -> None:
    assert checkin_day("07:30", moving=False) == [("07:30:00", "checkin", "info", "None")]
    assert checkin_day(None, moving=True) == [
        ("08:30:00", "checkin_reminder", "info", "remind"),
        ("10:00:00", "no_checkin", "info", "None"),
    ]
    assert checkin_day(None, moving=False) == [
        ("08:30:00", "checkin_reminder", "info", "remind"),
        ("10:00:00", "no_checkin", "warning", "raised"),
    ]
