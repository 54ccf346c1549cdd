"""A chair pad and a presence radar: "she is here" for hours is not silence.

The scenarios are a care worker's account of an afternoon in the armchair
(a pad on the chair, motion sensors elsewhere, an entrance contact).
"""

from __future__ import annotations

from datetime import date, timedelta

from edgeagent.heuristics.engine import SafetyEngine
from edgeagent.models import Severity
from tests.heuristics.home import Day, local, new_engine, play


def kit() -> SafetyEngine:
    engine = new_engine()
    engine.declare(motion_rooms=["kitchen", "bathroom", "bedroom", "hall"], bed=True,
                   entrance=True)
    return engine


def chair(day: Day, hhmm: str, occupied: bool) -> Day:
    return day.add(hhmm, "occupancy", occupied, room="living", role="chair", device="pad-chair")


def afternoon() -> Day:
    day = Day(start=date(2026, 3, 3))
    day.door("12:00", "entrance", "hall", "closed").motion("12:01", "kitchen")
    chair(day, "13:38", True)
    return day


def test_an_afternoon_in_the_armchair_then_bed_raises_nothing() -> None:
    day = afternoon()
    chair(day, "16:09", False)
    day.motion("16:10", "bathroom")
    chair(day, "16:11", True)
    day.motion("20:30", "bedroom").bed("20:31", "in_bed")
    chair(day, "20:29", False)
    day.bed("07:30", "out_of_bed").motion("07:31", "kitchen")
    played = day.play("08:00", engine=kit())
    assert played.alerts == []


def test_no_getting_up_until_two_raises_chair_overstay_then_critical() -> None:
    day = afternoon()
    chair(day, "02:00", False)
    played = day.play(local(day.start, "02:10", next_day=True), engine=kit())
    assert played.story() == [
        ("19:38", "chair_overstay", "warning", "raised"),
        ("21:38", "chair_overstay", "warning", "resolved"),
        ("21:38", "chair_overstay", "critical", "raised"),
        ("22:08", "chair_overstay", "critical", "escalated"),
        ("02:00", "chair_overstay", "critical", "resolved"),
    ]
    assert played.alerts[0].data["reason"].startswith(
        "in the chair in the living since 13:38, nothing else moving for 360 min")


def test_a_pad_empty_at_eleven_after_a_night_in_the_chair_starts_the_silence_clock() -> None:
    # Both mornings end the same way: 11:00 she gets up (pad empty / mat empty), nothing after.
    def morning(in_chair: bool) -> list[tuple[str, str, str, str]]:
        day = Day(start=date(2026, 3, 3))
        day.door("20:00", "entrance", "hall", "closed").motion("20:01", "kitchen")
        if in_chair:
            chair(day, "22:00", True)  # a night in the armchair, 13 hours
            chair(day, "11:00", False)
        else:
            day.motion("21:00", "bedroom").bed("21:01", "in_bed")
            day.bed("11:00", "out_of_bed")
        played = day.play(local(day.start, "14:00", next_day=True), engine=kit())
        return [s for s in played.story() if s[1] in ("inactivity", "fall_suspected")]

    assert morning(in_chair=True)[0] == morning(in_chair=False)[0] == (
        "13:00", "inactivity", "warning", "raised")


def test_activity_in_another_room_overrides_the_chair() -> None:
    # The pad stays pressed (a cushion on it), she walks to the kitchen at 14:00 and falls.
    day = afternoon()
    day.motion("14:00", "kitchen")
    played = day.play("17:00", engine=kit())
    assert ("16:00", "inactivity", "warning", "raised") in played.story()
    assert not [a for a in played.alerts if a.type == "chair_overstay"]


def test_a_pad_held_fourteen_hours_is_stuck_reported_once_and_ignored() -> None:
    day = afternoon()
    day.motion("13:40", "kitchen")  # she left the chair without the pad noticing
    played = day.play(local(day.start, "04:00", next_day=True), engine=kit())
    faults = [a for a in played.alerts if a.type == "device_fault"]
    assert len(faults) == 1 and faults[0].severity is Severity.WARNING
    assert "stuck" in faults[0].data["reason"]
    assert faults[0].wall == local(day.start, "13:38") + timedelta(hours=14)
    assert not [a for a in played.alerts if a.type == "chair_overstay"]


def test_a_restart_in_the_chair_keeps_the_sit() -> None:
    day = afternoon()
    first = kit()
    day.play("15:00", engine=first)
    second = kit()
    second.restore(first.snapshot())
    assert second.state.seats.seats["pad-chair"].occupied
    played = play(second, [], day.at("19:40"))
    assert ("19:38", "chair_overstay", "warning", "raised") in played.story()
