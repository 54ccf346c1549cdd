"""A resident last seen walking into the bathroom at night, as a care worker would tell it.

The flat has PIRs in the kitchen, bathroom and bedroom and no entrance
contact, so the engine never knows whether she is home (like van Kasteren's
house B). At night people rarely leave the home from the bathroom: someone
who walked in and is not seen again is on the floor, contact or not.
"""

from __future__ import annotations

from datetime import timedelta

from edgeagent.heuristics.settings import HeuristicsSettings
from edgeagent.models import Severity
from tests.heuristics.home import Day


def home_late_through_the_kitchen_to_the_toilet() -> Day:
    """She comes home at 04:59 (unseen: no entrance contact), crosses the kitchen, goes to the toilet."""
    day = Day()
    for hhmm in ("04:59", "05:00", "05:01", "05:02"):
        day.motion(hhmm, "kitchen")
    return day.motion("05:02:30", "bathroom")


def test_she_walks_into_the_bathroom_at_five_and_is_not_seen_again_critical() -> None:
    day = home_late_through_the_kitchen_to_the_toilet()
    day.motion("06:50", "kitchen")  # found (or up again) at 06:50
    played = day.play("07:00")
    assert played.story() == [
        ("05:47", "bathroom_overstay", "warning", "raised"),
        ("06:32", "bathroom_overstay", "critical", "escalated"),
        ("06:50", "bathroom_overstay", "critical", "resolved"),
    ]
    assert played.alerts[0].data["reason"] == (
        "in the bathroom since 05:02, nothing elsewhere for 45 min, at night after moving "
        "about: critical at 06:32 if nothing moves")
    # The care plan can switch it off: then the same morning stays a warning.
    off = day.play("07:00", settings=HeuristicsSettings(bathroom_night_critical_minutes=0))
    assert off.story() == [
        ("05:47", "bathroom_overstay", "warning", "raised"),
        ("06:32", "bathroom_overstay", "warning", "escalated"),
        ("06:50", "bathroom_overstay", "warning", "resolved"),
    ]


def test_the_critical_time_is_the_setting() -> None:
    played = home_late_through_the_kitchen_to_the_toilet().play(
        "06:00", settings=HeuristicsSettings(bathroom_night_critical_minutes=10))
    assert played.story() == [
        ("05:47", "bathroom_overstay", "warning", "raised"),
        ("05:57", "bathroom_overstay", "critical", "escalated"),
    ]


def test_a_restart_while_she_lies_in_the_bathroom_still_turns_critical() -> None:
    day = home_late_through_the_kitchen_to_the_toilet()
    after = day.play_with_restart("05:30", day.at("05:30") + timedelta(minutes=70))
    assert after.story() == [
        ("05:47", "bathroom_overstay", "warning", "raised"),
        ("06:32", "bathroom_overstay", "critical", "escalated"),
    ]


def test_a_short_toilet_visit_after_coming_home_and_then_bed_raises_nothing() -> None:
    day = home_late_through_the_kitchen_to_the_toilet()
    day.motion("05:05", "bathroom").motion("05:07", "bedroom").bed("05:08", "in_bed")
    day.bed("09:30", "out_of_bed").motion("09:31", "kitchen")
    assert day.play("10:00").alerts == []


def test_the_bathroom_sensor_firing_by_itself_in_an_empty_flat_stays_a_warning() -> None:
    # She is away for the weekend (no entrance contact: the engine cannot
    # know). At 04:02 the bathroom PIR fires three times on its own; no other
    # sensor has seen anyone since 18:00 yesterday.
    def weekend_away(kitchen_before: bool) -> Day:
        day = Day().motion("18:00", "kitchen")
        if kitchen_before:
            day.motion("03:58", "kitchen")
        return day.motion("04:02", "bathroom").motion("04:03", "bathroom").motion(
            "04:04", "bathroom")

    played = weekend_away(kitchen_before=False).play("07:00")
    assert all(a.severity is Severity.WARNING for a in played.alerts)
    assert ("04:47", "bathroom_overstay", "warning", "raised") in played.story()
    # Control: had the kitchen PIR seen someone walk in at 03:58, it is a fall.
    walked = weekend_away(kitchen_before=True).play("07:00")
    assert ("05:32", "bathroom_overstay", "critical", "escalated") in walked.story()


def test_the_same_walk_to_the_bathroom_in_the_afternoon_stays_a_warning() -> None:
    # In the day, without an entrance contact, she may well have gone out:
    # a long bathroom stay is a warning, as before.
    day = Day()
    for hhmm in ("13:59", "14:00", "14:01", "14:02"):
        day.motion(hhmm, "kitchen")
    day.motion("14:02:30", "bathroom")
    played = day.play("17:00")
    assert ("14:47", "bathroom_overstay", "warning", "raised") in played.story()
    assert all(a.severity is Severity.WARNING for a in played.alerts)
