"""Nights where the sensors cannot tell the whole story, as a care worker would describe them.

A home without an entrance contact cannot see a night departure; a bed mat
that still reports someone lying down while the resident is in the kitchen
means a partner, a visitor, or a stuck mat. These tests pin down how sure
the engine is allowed to be in each case.
"""

from __future__ import annotations

from datetime import timedelta

from edgeagent.heuristics.settings import HeuristicsSettings
from edgeagent.models import Severity
from tests.heuristics.home import Day, local, new_engine, play, reading
from tests.heuristics.test_night_scenarios import evening_to_bed


def mat_stays_pressed_while_she_is_in_the_kitchen() -> Day:
    """In bed at 22:40; at 02:10 she opens the bedroom door and goes to the kitchen.

    The mat never goes empty: her husband is still asleep on it (or it is stuck).
    """
    day = evening_to_bed(Day())
    day.door("02:10", "door", "bedroom").motion("02:11", "kitchen")
    return day


def test_no_entrance_contact_and_bed_still_pressed_warns_first_then_critical() -> None:
    played = mat_stays_pressed_while_she_is_in_the_kitchen().play("05:00")
    # Default learned limit (no history yet): 150 min after she was last seen, 02:11.
    assert played.story() == [
        ("02:31", "bed_exit_no_return", "warning", "raised"),
        ("04:41", "bed_exit_no_return", "critical", "escalated"),
    ]
    assert "still reports someone lying down" in played.alerts[0].data["reason"]
    assert "critical at 04:41" in played.alerts[0].data["reason"]


def test_she_comes_back_from_the_living_room_before_the_critical_and_it_resolves() -> None:
    day = mat_stays_pressed_while_she_is_in_the_kitchen()
    day.door("03:00", "door", "bedroom")
    played = day.play("05:00")
    assert played.story() == [
        ("02:31", "bed_exit_no_return", "warning", "raised"),
        ("03:00", "bed_exit_no_return", "warning", "resolved"),
    ]
    assert all(a.severity is Severity.WARNING for a in played.alerts)


def test_with_an_entrance_contact_the_same_night_is_critical_at_once() -> None:
    engine = new_engine()
    engine.declare(entrance=True)
    played = mat_stays_pressed_while_she_is_in_the_kitchen().play("02:45", engine=engine)
    assert played.story() == [("02:31", "bed_exit_no_return", "critical", "raised")]


def test_the_mat_empty_as_usual_without_entrance_contact_is_critical_at_once() -> None:
    day = evening_to_bed(Day())
    day.bed("02:09", "out_of_bed").door("02:10", "door", "bedroom").motion("02:11", "kitchen")
    assert day.play("02:45").story() == [("02:31", "bed_exit_no_return", "critical", "raised")]


def test_a_mat_pressed_since_yesterday_morning_is_stuck_and_does_not_delay_the_alarm() -> None:
    day = mat_stays_pressed_while_she_is_in_the_kitchen()
    # The mat was pressed at 10:00 the day before and never released: 16 hours.
    day.readings.append(reading(local(day.start, "10:00"), "bed", "in_bed", room="bedroom",
                                device="mat"))

    def night(settings: HeuristicsSettings | None = None) -> list[tuple[str, str, str, str]]:
        return [s for s in day.play("02:45", settings=settings).story()
                if s[1] == "bed_exit_no_return"]

    assert night() == [("02:31", "bed_exit_no_return", "critical", "raised")]
    # With a stuck limit longer than the pressure's age, the mat counts again.
    assert night(HeuristicsSettings(mat_stuck_hours=20)) == [
        ("02:31", "bed_exit_no_return", "warning", "raised")]


def test_a_restart_keeps_when_the_mat_was_pressed() -> None:
    day = mat_stays_pressed_while_she_is_in_the_kitchen()
    first = new_engine()
    play(first, day.readings, day.at("02:15"))
    second = new_engine()
    second.restore(first.snapshot())
    after = play(second, [], day.at("02:15") + timedelta(minutes=30))
    assert after.story() == [("02:31", "bed_exit_no_return", "warning", "raised")]
