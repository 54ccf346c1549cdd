"""A resident last seen walking into the bathroom at night, as a care worker would tell it.

The flat has PIRs in the kitchen, bathroom and bedroom and no entrance
contact, so the engine never knows whether she is home (like van Kasteren's
house B). Up in the small hours, never in bed, seen walking by two sensors
and then silent: a fall, or wandering out at night — an emergency either
way, contact or not.
"""

from __future__ import annotations

from datetime import timedelta

from edgeagent.heuristics.engine import SafetyEngine
from edgeagent.heuristics.settings import HeuristicsSettings
from edgeagent.models import Severity
from tests.heuristics.home import ZONE_NAME, Day, new_engine, play


def home_late_through_the_kitchen_to_the_toilet() -> Day:
    """She comes home at 04:59 (unseen: no entrance contact), crosses the kitchen, goes to the toilet."""
    day = Day()
    for hhmm in ("04:59", "05:00", "05:01", "05:02"):
        day.motion(hhmm, "kitchen")
    return day.motion("05:02:30", "bathroom")


def kit() -> SafetyEngine:
    """PIRs in the kitchen, bathroom and bedroom and a bed mat, as the installer declared."""
    engine = new_engine()
    engine.declare(motion_rooms=["kitchen", "bathroom", "bedroom"], bed=True)
    return engine


def test_she_walks_into_the_bathroom_at_five_and_is_not_seen_again_critical() -> None:
    day = home_late_through_the_kitchen_to_the_toilet()
    day.motion("06:50", "kitchen")  # found (or up again) at 06:50
    played = day.play("07:00", engine=kit())
    # Up in the small hours, never in the bedroom tonight, two sensors saw her walk:
    # a warning at 20 min, a critical at the urgent out-of-bed limit (45 min).
    assert played.story() == [
        ("05:22", "fall_suspected", "warning", "raised"),
        ("05:47", "fall_suspected", "warning", "resolved"),
        ("05:47", "fall_suspected", "critical", "raised"),
        ("06:17", "fall_suspected", "critical", "escalated"),
        ("06:50", "fall_suspected", "critical", "resolved"),
    ]
    assert played.alerts[2].data["reason"] == (
        "last seen in bathroom at 05:02, up after midnight and not in bed")


def test_the_critical_time_is_the_setting() -> None:
    played = home_late_through_the_kitchen_to_the_toilet().play(
        "06:00", engine=kit(), settings=None)
    assert ("05:47", "fall_suspected", "critical", "raised") in played.story()
    engine = SafetyEngine(HeuristicsSettings(night_urgent_minutes=30), ZONE_NAME)
    engine.declare(motion_rooms=["kitchen", "bathroom", "bedroom"], bed=True)
    played = home_late_through_the_kitchen_to_the_toilet().play("06:00", engine=engine)
    assert ("05:32", "fall_suspected", "critical", "raised") in played.story()


def test_a_restart_while_she_lies_in_the_bathroom_still_turns_critical() -> None:
    day = home_late_through_the_kitchen_to_the_toilet()
    first = kit()
    play(first, day.readings, day.at("05:30"))
    second = kit()
    second.restore(first.snapshot())
    after = play(second, [], day.at("05:30") + timedelta(minutes=30))
    assert after.story() == [
        ("05:47", "fall_suspected", "warning", "resolved"),
        ("05:47", "fall_suspected", "critical", "raised"),
    ]


def test_without_the_bedroom_sensors_the_kit_cannot_know_she_is_not_in_bed() -> None:
    # The same morning in a flat with PIRs in the kitchen and bathroom only: she may
    # have gone to bed unseen, so the silence waits for the day's limit.
    played = home_late_through_the_kitchen_to_the_toilet().play("06:50")
    assert played.alerts == []


def test_a_short_toilet_visit_after_coming_home_and_then_bed_raises_nothing() -> None:
    day = home_late_through_the_kitchen_to_the_toilet()
    day.motion("05:05", "bathroom").motion("05:07", "bedroom").bed("05:08", "in_bed")
    day.bed("09:30", "out_of_bed").motion("09:31", "kitchen")
    assert day.play("10:00", engine=kit()).alerts == []


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

    played = weekend_away(kitchen_before=False).play("07:00", engine=kit())
    assert played.alerts and all(a.severity is Severity.WARNING for a in played.alerts)
    # Control: had the kitchen PIR seen someone walk in at 03:58, it is a person up at
    # night and not in bed: critical.
    walked = weekend_away(kitchen_before=True).play("07:00", engine=kit())
    assert ("04:49", "fall_suspected", "critical", "raised") in walked.story()


def test_the_same_walk_to_the_bathroom_in_the_afternoon_stays_a_warning() -> None:
    # In the day, without an entrance contact, she may well have gone out:
    # a long bathroom stay is a warning, as before.
    day = Day()
    for hhmm in ("13:59", "14:00", "14:01", "14:02"):
        day.motion(hhmm, "kitchen")
    day.motion("14:02:30", "bathroom")
    played = day.play("17:00", engine=kit())
    assert ("14:47", "bathroom_overstay", "warning", "raised") in played.story()
    assert all(a.severity is Severity.WARNING for a in played.alerts)
