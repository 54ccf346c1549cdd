"""A care worker's nights, as readings through the real engine (Europe/Amsterdam)."""

from __future__ import annotations

from datetime import date

from edgeagent.heuristics.settings import HeuristicsSettings
from edgeagent.models import Severity
from tests.heuristics.home import ZONE, Day, local, new_engine, play


def evening_to_bed(day: Day) -> Day:
    """She watches TV, has a drink in the kitchen and goes to bed at 22:40."""
    return (day.motion("19:30", "kitchen").motion("20:30", "kitchen").motion("21:30", "kitchen").motion("22:30", "bathroom")
            .door("22:38", "door", "bedroom").motion("22:39", "bedroom").bed("22:40", "in_bed"))


def test_night_toilet_trip_with_return_raises_nothing() -> None:
    day = evening_to_bed(Day())
    (day.bed("02:10", "out_of_bed").motion("02:11", "bathroom").motion("02:14", "bathroom")
        .motion("02:16", "bedroom").bed("02:17", "in_bed")
        .bed("07:05", "out_of_bed").motion("07:06", "bathroom").motion("07:20", "kitchen")
        .motion("08:30", "kitchen"))
    played = day.play("09:00")
    assert played.alerts == []


def test_toilet_trip_without_return_raises_bed_exit_no_return_after_20_minutes() -> None:
    day = evening_to_bed(Day())
    day.bed("02:10", "out_of_bed").motion("02:11", "bathroom")
    played = day.play("02:45")
    assert played.story() == [("02:31", "bed_exit_no_return", "critical", "raised")]
    reason = played.alerts[0].data["reason"]
    assert reason == ("out of bed since 02:10, last seen in bathroom at 02:11, "
                      "no motion anywhere for 20 min")


def test_bed_exit_alert_resolves_when_she_is_found_moving_again() -> None:
    day = evening_to_bed(Day())
    day.bed("02:10", "out_of_bed").motion("02:11", "bathroom").motion("02:41", "kitchen")
    played = day.play("02:50")
    assert played.story() == [
        ("02:31", "bed_exit_no_return", "critical", "raised"),
        ("02:41", "bed_exit_no_return", "critical", "resolved"),
    ]
    raised, resolved = played.alerts
    assert resolved.alert is not None and raised.alert is not None
    assert resolved.alert["id"] == raised.alert["id"]
    assert resolved.data["reason"] == "resolved: motion in kitchen at 02:41"


def test_unanswered_bed_exit_escalates_after_30_minutes() -> None:
    day = evening_to_bed(Day())
    day.bed("02:10", "out_of_bed").motion("02:11", "bathroom")
    assert day.play("03:10").story() == [
        ("02:31", "bed_exit_no_return", "critical", "raised"),
        ("03:01", "bed_exit_no_return", "critical", "escalated"),
    ]


def test_a_bed_mat_going_empty_while_she_sleeps_is_not_a_bed_exit() -> None:
    day = evening_to_bed(Day())
    for hhmm in ("23:30", "00:45", "01:20", "03:05", "04:40"):
        h, m = (int(x) for x in hhmm.split(":"))
        day.bed(hhmm, "out_of_bed").bed(f"{(h + (m + 35) // 60) % 24:02d}:{(m + 35) % 60:02d}",
                                        "in_bed")
    day.bed("07:00", "out_of_bed").motion("07:01", "kitchen")
    assert day.play("07:30").alerts == []


def test_entrance_door_at_three_in_the_morning_raises_night_exit() -> None:
    day = evening_to_bed(Day().door("18:00", "entrance", "hall").motion("18:01", "hall"))
    day.bed("02:58", "out_of_bed").motion("02:59", "hall").door("03:00", "entrance", "hall")
    played = day.play("03:05")
    assert played.story() == [("03:00", "night_exit", "critical", "raised")]
    assert "03:00" in played.alerts[0].data["reason"]


def test_night_exit_resolves_when_she_is_back_inside() -> None:
    day = evening_to_bed(Day().door("18:00", "entrance", "hall").motion("18:01", "hall"))
    (day.bed("02:58", "out_of_bed").door("03:00", "entrance", "hall")
        .door("03:00:30", "entrance", "hall", "closed").door("03:25", "entrance", "hall")
        .motion("03:26", "hall"))
    played = day.play("03:30")
    assert [s[1:] for s in played.story()] == [
        ("night_exit", "critical", "raised"),
        ("night_exit", "critical", "resolved"),
    ]
    assert played.alerts[-1].data["reason"] == "resolved: back home: motion in hall at 03:26"


def test_leaving_for_the_market_at_nine_suppresses_inactivity_until_she_is_back() -> None:
    def morning(goes_out: bool) -> Day:
        day = Day(start=date(2026, 3, 3), overnight=False)
        day.door("07:00", "entrance", "hall", "closed").motion("07:01", "kitchen")
        day.motion("08:30", "kitchen").motion("08:55", "hall")
        if goes_out:
            day.door("09:00", "entrance", "hall").door("09:01", "entrance", "hall", "closed")
        day.door("13:30" if goes_out else "13:29", "entrance", "hall").motion("13:31", "hall")
        return day

    # Control: the same silence at home does raise inactivity.
    at_home = morning(goes_out=False).play("13:40").story()
    assert ("10:55", "inactivity", "warning", "raised") in at_home
    played = morning(goes_out=True).play("14:00")
    assert played.alerts == []
    assert played.engine.state.presence.state == "home"
    assert played.engine.state.presence.how == "door"


def test_twenty_minute_evening_shower_raises_nothing() -> None:
    day = Day().motion("19:00", "kitchen")
    for minute in range(0, 21, 4):
        day.motion(f"19:{10 + minute:02d}", "bathroom")
    day.motion("19:31", "bedroom").motion("19:45", "kitchen")
    assert day.play("20:30").alerts == []


def test_seventy_minute_shower_raises_bathroom_overstay_at_45_minutes() -> None:
    day = Day().motion("19:00", "kitchen")
    for minute in range(0, 71, 5):
        day.motion(f"{19 + (10 + minute) // 60}:{(10 + minute) % 60:02d}", "bathroom")
    day.motion("20:21", "hall")
    played = day.play("20:30")
    assert played.story() == [
        ("19:55", "bathroom_overstay", "warning", "raised"),
        ("20:21", "bathroom_overstay", "warning", "resolved"),
    ]
    assert played.alerts[0].data["reason"].startswith(
        "in the bathroom since 19:10, nothing elsewhere for 45 min")
    assert played.alerts[1].data["reason"] == "resolved: left the bathroom: motion in hall at 20:21"


def test_restart_during_a_pending_bed_exit_still_raises_on_time() -> None:
    day = evening_to_bed(Day())
    day.bed("02:10", "out_of_bed").motion("02:11", "bathroom")
    first = new_engine()
    before = play(first, day.readings, day.at("02:15"))
    assert before.alerts == []
    saved = first.snapshot()
    # The agent restarts at 02:30 (a new boot: the monotonic clock starts again).
    second = new_engine()
    second.restore(saved)
    after = play(second, [], day.at("02:40"))
    assert after.story() == [("02:31", "bed_exit_no_return", "critical", "raised")]
    uninterrupted = day.play("02:40")
    assert after.alerts[0].alert == uninterrupted.alerts[0].alert


def test_snapshot_is_plain_json_and_garbage_state_is_ignored() -> None:
    import json

    engine = new_engine()
    play(engine, evening_to_bed(Day()).readings, Day().at("23:00"))
    text = json.dumps(engine.snapshot())
    fresh = new_engine()
    fresh.restore({"version": 1, "presence": "on the moon"})
    assert fresh.state.presence.state == "unknown"
    fresh.restore({"version": 99})
    assert fresh.state.seen.at is None
    fresh.restore(json.loads(text))
    assert fresh.state.sleep.in_bed is True
    assert fresh.state.sleep.evidence == "mat"


def test_dst_spring_forward_night_bed_exit_counts_real_minutes() -> None:
    # 29 March 2026: at 02:00 CET the clocks jump to 03:00 CEST.
    day = evening_to_bed(Day(start=date(2026, 3, 28)))
    day.bed("01:50", "out_of_bed").motion("01:51", "bathroom")
    played = day.play("03:30")
    assert played.story() == [("03:11", "bed_exit_no_return", "critical", "raised")]
    raised = played.alerts[0].wall
    assert (raised - day.at("01:51")).total_seconds() == 20 * 60


def test_dst_fall_back_night_is_one_night_and_one_summary() -> None:
    # 25 October 2026: at 03:00 CEST the clocks go back to 02:00 CET (a 25-hour day).
    day = evening_to_bed(Day(start=date(2026, 10, 24)))
    day.bed("05:30", "out_of_bed").motion("05:31", "bathroom").motion("05:35", "bedroom")
    day.bed("05:36", "in_bed").bed("07:30", "out_of_bed").motion("07:31", "kitchen")
    day.motion("09:20", "kitchen").motion("11:10", "kitchen")
    played = day.play(local(date(2026, 10, 25), "12:30"))
    assert played.alerts == []
    summaries = played.summaries
    assert len(summaries) == 1
    data = summaries[0].data
    assert summaries[0].wall.astimezone(ZONE).strftime("%Y-%m-%d %H:%M") == "2026-10-25 12:00"
    assert data["night_bed_exits"] == 1 and data["night_bathroom_visits"] == 1
    assert data["sleep_onset"].startswith("2026-10-24T22:3")
    assert data["wake"] == "2026-10-25T07:30+01:00"  # the mat going empty after the night


def test_nobody_up_long_past_the_usual_time_raises_not_up() -> None:
    day = evening_to_bed(Day())
    day.motion("08:00", "bedroom").motion("10:40", "bedroom")
    played = day.play("11:30")
    assert played.story() == [("11:00", "not_up", "warning", "raised")]
    day.motion("11:35", "kitchen")
    assert day.play("11:40").story()[-1] == ("11:35", "not_up", "warning", "resolved")


def test_daytime_silence_after_moving_about_at_home_becomes_fall_suspected() -> None:
    day = Day(start=date(2026, 3, 3), overnight=False)
    day.door("09:00", "entrance", "hall", "closed").motion("09:01", "hall")
    for minute in (10, 12, 14, 15):
        day.motion(f"10:{minute}", "kitchen")
    played = day.play("14:30")
    # Warned on the default limit (120 min), critical on the long limit (240 min):
    # the warning gives way to a new critical alert.
    assert played.story() == [
        ("12:15", "inactivity", "warning", "raised"),
        ("14:15", "inactivity", "warning", "resolved"),
        ("14:15", "fall_suspected", "critical", "raised"),
    ]
    assert played.alerts[1].data["reason"] == "resolved: superseded by a critical alert"


def test_without_an_entrance_contact_silence_stays_a_warning() -> None:
    day = Day(start=date(2026, 3, 3), overnight=False)
    for minute in (10, 12, 14, 15):
        day.motion(f"10:{minute}", "kitchen")
    played = day.play("20:00")
    assert played.story() == [("12:15", "inactivity", "warning", "raised")]
    assert "no entrance contact" in played.alerts[0].data["reason"]
    assert all(a.severity is Severity.WARNING for a in played.alerts)


def test_settings_are_per_home() -> None:
    settings = HeuristicsSettings(bed_exit_no_return_minutes=10)
    day = evening_to_bed(Day())
    day.bed("02:10", "out_of_bed").motion("02:11", "bathroom")
    assert day.play("02:45", settings=settings).story()[0][0] == "02:21"


def test_a_visitor_in_a_distant_room_holds_silence_alarms_back() -> None:
    settings = HeuristicsSettings(distant_rooms=[("bedroom", "kitchen")], visitor_minutes=180)

    def visit(with_visitor: bool) -> list[tuple[str, str, str, str]]:
        day = Day(start=date(2026, 3, 3), overnight=False)
        day.motion("10:00", "kitchen")
        if with_visitor:
            day.add("10:00:02", "motion", True, room="bedroom", device="pir-bedroom")
        return day.play("14:00", settings=settings).story()

    assert visit(False)[0] == ("12:00", "inactivity", "warning", "raised")
    assert visit(True)[0] == ("13:00", "inactivity", "warning", "raised")
