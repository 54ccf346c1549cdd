"""Room temperature, appliances and "not done by" checks, as a care worker would tell them.

Room thermometers are `ble.advert_env` readings (`data["ambient"]`) or
`mqtt.local` ones (`data["kind"] == "temperature"`); appliances are
`mqtt.local`'s `appliance` True/False with a role.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from itertools import pairwise

import pytest
from pydantic import ValidationError

from edgeagent.heuristics.settings import DailyCheck, HeuristicsSettings
from edgeagent.models import Draft, Kind, Reading
from tests.heuristics.home import MONO_OFFSET, ZONE, Day, local, new_engine, play, reading

WINTER = date(2026, 1, 14)
SUMMER = date(2026, 7, 21)
AMBIENT = {"unit": "degC", "ambient": True, "format": "bthome"}
CHECKS = HeuristicsSettings(daily_checks=[
    DailyCheck(name="kettle_or_fridge", roles=["kettle", "fridge", "fridge_door"],
               by=time(10, 0)),
    DailyCheck(name="kitchen_activity", rooms=["kitchen"], by=time(11, 0)),
])


def thermometer(day: date, room: str, points: list[tuple[str, float]], *,
                next_day_before_noon: bool = False, step_min: int = 5,
                data: dict[str, object] | None = None) -> list[Reading]:
    """Readings every `step_min` minutes, straight lines between the (HH:MM, °C) points."""
    def at(hhmm: str) -> datetime:
        return local(day, hhmm, next_day=next_day_before_noon and int(hhmm[:2]) < 12)

    out: list[Reading] = []
    for (start, first), (end, last) in pairwise(points):
        t0, t1 = at(start), at(end)
        t = t0
        while t < t1:
            value = first + (last - first) * (t - t0) / (t1 - t0)
            out.append(reading(t, "temperature", round(value, 2), room=room,
                               device=f"th-{room}", data=dict(data or AMBIENT)))
            t += timedelta(minutes=step_min)
    return out


def events(drafts: list[Draft], type_: str) -> list[tuple[str, str, str]]:
    return [(d.wall.astimezone(ZONE).strftime("%H:%M"), d.severity.value,
             str((d.alert or {}).get("state"))) for d in drafts if d.type == type_]


def reasons(drafts: list[Draft], type_: str) -> list[str]:
    return [str(d.data["reason"]) for d in drafts if d.type == type_]


# ------------------------------------------------------------------ cold and hot

def test_winter_night_the_heating_fails_cold_home_warns_then_critical_then_resolves() -> None:
    """20 °C at 23:00, 12 °C by 02:00 (the boiler stopped), fixed at 07:00, 20 °C by 08:00."""
    bedroom = thermometer(WINTER, "bedroom", [
        ("22:00", 20.0), ("23:00", 20.0), ("02:00", 12.0), ("07:00", 12.0), ("08:00", 20.0),
        ("09:00", 20.0)], next_day_before_noon=True)
    # The kitchen sensor comes through the home-automation broker and stays warm (a stove).
    kitchen = thermometer(WINTER, "kitchen", [("22:00", 21.0), ("09:00", 21.0)],
                          next_day_before_noon=True, step_min=10,
                          data={"kind": "temperature", "topic": "zigbee2mqtt/th", "unit": "°C"})
    played = play(new_engine(), sorted(bedroom + kitchen, key=lambda r: r.wall),
                  local(WINTER, "09:00", next_day=True))
    # Below 18 °C from 23:50 (17.8), an hour later a warning; below 16 °C from 00:35 (15.8),
    # an hour later critical; back at 19 °C or more (hysteresis) at 07:55.
    assert events(played.drafts, "cold_home") == [
        ("00:50", "warning", "raised"), ("01:35", "critical", "escalated"),
        ("07:55", "critical", "resolved")]
    raised, escalated, resolved = reasons(played.drafts, "cold_home")
    assert raised == "bedroom 15.1 °C for 1 h (limit 18 °C)"
    assert escalated == ("bedroom 13.1 °C for 1 h 45 min (limit 18 °C), below 16 °C since "
                         "00:35")
    assert resolved == ("resolved: bedroom back to 19.3 °C after 8 h 5 min (lowest 12.0 °C, "
                        "limit 18 °C)")
    alerts = [d for d in played.drafts if d.type == "cold_home"]
    assert {d.source["room"] for d in alerts} == {"bedroom"}
    assert len({(d.alert or {})["id"] for d in alerts}) == 1
    assert "bedroom" in (alerts[0].alert or {})["id"]
    # Never read as a body temperature, however cold.
    assert not [d for d in played.drafts if d.type == "vital_out_of_range"]


def test_a_short_dip_is_no_alert_and_a_room_hovering_at_the_limit_does_not_flap() -> None:
    """40 minutes at 17 °C (a window opened to air the room), then 17.9/18.3 back and forth."""
    dip = thermometer(WINTER, "living", [("08:00", 19.0), ("08:10", 17.0), ("08:50", 17.0),
                                         ("09:00", 19.0), ("10:00", 19.0)], next_day_before_noon=False)
    played = play(new_engine(), dip, local(WINTER, "11:00"))
    assert events(played.drafts, "cold_home") == []

    hover = thermometer(WINTER, "living", [("08:00", 17.5), ("10:00", 17.5)])
    t = local(WINTER, "10:00")
    for n in range(24):  # two hours of 17.9 / 18.3 every 5 min: never 19 °C
        hover.append(reading(t + timedelta(minutes=5 * n), "temperature",
                             17.9 if n % 2 else 18.3, room="living", device="th-living",
                             data=dict(AMBIENT)))
    played = play(new_engine(), hover, local(WINTER, "12:30"))
    assert events(played.drafts, "cold_home") == [("09:00", "warning", "raised")]


def test_a_cold_home_left_for_twelve_hours_becomes_critical_even_if_mild() -> None:
    readings = thermometer(WINTER, "living", [("08:00", 17.0), ("22:00", 17.0)])
    played = play(new_engine(), readings, local(WINTER, "22:00"), tick_seconds=300)
    assert events(played.drafts, "cold_home") == [("09:00", "warning", "raised"),
                                                  ("21:00", "critical", "escalated")]
    assert reasons(played.drafts, "cold_home")[1].startswith("home still cold; open for 720 min")


def test_a_hot_afternoon_raises_hot_home_and_it_resolves_in_the_evening() -> None:
    """The living room climbs from 24 °C at noon to 30 °C at 15:00, cools after 19:00."""
    living = thermometer(SUMMER, "living", [("11:00", 24.0), ("12:00", 24.0), ("15:00", 30.0),
                                            ("19:00", 30.0), ("21:00", 24.0), ("22:00", 24.0)])
    played = play(new_engine(), living, local(SUMMER, "22:00"))
    # Above 26 °C from 13:05 (26.2), warning at 14:05; never above 32: no critical;
    # 25 °C or less from 20:40.
    assert events(played.drafts, "hot_home") == [("14:05", "warning", "raised"),
                                                 ("20:40", "warning", "resolved")]
    assert reasons(played.drafts, "hot_home")[0] == "living 28.2 °C for 1 h (limit 26 °C)"
    assert events(played.drafts, "cold_home") == []


def test_a_heatwave_above_32_is_critical() -> None:
    attic = thermometer(SUMMER, "bedroom", [("12:00", 33.0), ("16:00", 33.0)])
    played = play(new_engine(), attic, local(SUMMER, "16:00"))
    assert events(played.drafts, "hot_home") == [("13:00", "critical", "raised")]


def test_room_thermometers_are_never_body_temperatures_but_a_health_thermometer_is() -> None:
    """34 °C is hypothermia in an ear and an attic in summer."""
    d = Day(start=SUMMER, overnight=False)
    d.add("09:00", "temperature", 34.0, room="attic", device="th-attic", data=dict(AMBIENT))
    d.add("09:05", "temperature", 34.2, room="attic", device="th-attic", data=dict(AMBIENT))
    d.add("09:10", "temperature", 34.1, room="attic", device="z-th",
          data={"kind": "temperature", "topic": "zigbee2mqtt/attic"})
    d.add("09:15", "temperature", 34.3, room="attic", device="z-th",
          data={"kind": "temperature", "topic": "zigbee2mqtt/attic"})
    played = d.play("09:30")
    assert not [a for a in played.alerts if a.type == "vital_out_of_range"]

    # The same numbers from a BLE health thermometer (ble.vitals) are a vital sign.
    d = Day(start=SUMMER, overnight=False)
    ear = {"unit": "degC", "temperature_type": "tympanum", "characteristic": "2a1c"}
    d.add("09:00", "temperature", 34.0, device="ear", data=dict(ear))
    d.add("09:05", "temperature", 34.2, device="ear", data=dict(ear))
    played = d.play("09:30")
    vital = [a for a in played.alerts if a.type == "vital_out_of_range"]
    assert [a.data["vital"] for a in vital] == ["temperature"]
    assert "body temperature 34 °C then 34.2 °C" in vital[0].data["reason"]


def test_restart_in_the_middle_of_a_cold_night_changes_nothing() -> None:
    readings = thermometer(WINTER, "bedroom", [("23:00", 20.0), ("02:00", 12.0),
                                               ("07:00", 12.0), ("08:00", 20.0)],
                           next_day_before_noon=True)
    end = local(WINTER, "09:00", next_day=True)
    whole = new_engine().feed_many(readings)
    cut = next(i for i, r in enumerate(readings) if r.wall >= local(WINTER, "01:00", next_day=True))
    first = new_engine()
    got = first.feed_many(readings[:cut])
    second = new_engine()
    second.restore(first.snapshot())
    got += second.feed_many(readings[cut:])
    assert [d for d in got if d.type == "cold_home"] == [d for d in whole if d.type == "cold_home"]
    assert len([d for d in got if d.type == "cold_home"]) == 3
    assert second.tick(end.timestamp() + MONO_OFFSET, end) == []


# ------------------------------------------------------------------ not done by

def morning(day: date, *, kettle: str | None = None, kitchen: bool = False,
            out_at: str | None = None, back_at: str | None = None) -> Day:
    """Up at 07:00, bathroom, then the living room every 20 min until 13:00 unless out."""
    d = Day(start=day, overnight=False)
    d.motion("07:00", "bedroom").motion("07:05", "bathroom")
    t = datetime.combine(day, time(7, 20))
    while t.time() <= time(13, 0):
        hhmm = t.strftime("%H:%M")
        if not (out_at and back_at and out_at <= hhmm < back_at):
            d.motion(hhmm, "living")
        t += timedelta(minutes=20)
    if kettle:
        d.add(kettle, "appliance", True, room="kitchen", role="kettle", device="plug-kettle")
    if kitchen:
        d.motion("08:30", "kitchen")
    if out_at:
        d.motion(out_at, "hall")
        d.door(out_at, "entrance", "hall")
        d.door(out_at, "entrance", "hall", "closed")
    if back_at:
        d.door(back_at, "entrance", "hall")
        d.motion(back_at, "hall")
    return d


def test_no_kettle_and_no_kitchen_by_ten_raises_not_done_by_once_and_resolves_at_lunch() -> None:
    d = morning(WINTER)
    d.add("12:30", "appliance", True, room="kitchen", role="kettle", device="plug-kettle")
    d.motion("12:31", "kitchen")
    played = d.play("23:00", settings=CHECKS)
    not_done = [a for a in played.alerts if a.type == "not_done_by"]
    assert [(a.source["check"], a.wall.astimezone(ZONE).strftime("%H:%M"),
             (a.alert or {})["state"]) for a in not_done] == [
        ("kettle_or_fridge", "10:00", "raised"), ("kitchen_activity", "11:00", "raised"),
        ("kettle_or_fridge", "12:30", "resolved"), ("kitchen_activity", "12:30", "resolved")]
    assert not_done[0].severity.value == "warning"
    assert not_done[0].data["reason"] == (
        "no use of kettle, fridge or fridge_door by 10:00; last seen in living at 09:40")
    assert not_done[1].data["reason"].startswith("no activity in kitchen by 11:00")
    assert not_done[2].data["reason"] == "resolved: kettle in kitchen at 12:30"


def test_the_next_silent_morning_is_raised_again_but_never_twice_a_day() -> None:
    readings = morning(WINTER).readings + morning(WINTER + timedelta(days=1)).readings
    played = play(new_engine(CHECKS), sorted(readings, key=lambda r: r.wall),
                  local(WINTER + timedelta(days=1), "23:00"), tick_seconds=300)
    raised = [(a.wall.astimezone(ZONE).strftime("%d %H:%M"), a.source["check"])
              for a in played.alerts if a.type == "not_done_by"
              and (a.alert or {})["state"] == "raised"]
    # Day 1 is never resolved (no kitchen), so day 2 keeps the same open alerts.
    assert raised == [("14 10:00", "kettle_or_fridge"), ("14 11:00", "kitchen_activity")]
    # If she does have her tea (late, at 12:00), the next silent morning is a new alert.
    day1 = morning(WINTER, kettle="12:00").readings
    day1.append(reading(local(WINTER, "12:05"), "motion", True, room="kitchen", device="pir-k"))
    both = sorted([*day1, *morning(WINTER + timedelta(days=1)).readings], key=lambda r: r.wall)
    played2 = play(new_engine(CHECKS), both, local(WINTER + timedelta(days=1), "23:00"),
                   tick_seconds=300)
    raised2 = [a.wall.astimezone(ZONE).strftime("%d %H:%M") for a in played2.alerts
               if a.type == "not_done_by" and (a.alert or {})["state"] == "raised"]
    assert raised2 == ["14 10:00", "14 11:00", "15 10:00", "15 11:00"]


def test_a_morning_with_the_kettle_and_the_fridge_raises_nothing() -> None:
    d = morning(WINTER, kettle="07:10", kitchen=True)
    played = d.play("23:00", settings=CHECKS)
    assert [a for a in played.alerts if a.type == "not_done_by"] == []


def test_she_went_out_at_eight_so_no_kettle_is_no_alert() -> None:
    """Entrance door at 08:00, then nothing inside until she comes back at 12:30."""
    d = morning(WINTER, out_at="08:00", back_at="12:30")
    played = d.play("23:00", settings=CHECKS)
    assert [a for a in played.alerts if a.type == "not_done_by"] == []
    # Both checks were decided for the day (skipped while away), so her return at 12:30
    # without tea raises nothing either.
    assert played.engine.state.presence.state == "home"
    assert played.engine.state.checks.decided == {"kettle_or_fridge": "2026-01-14",
                                                  "kitchen_activity": "2026-01-14"}


def test_a_door_just_before_the_deadline_waits_to_know_whether_she_left() -> None:
    """Door at 09:55: at 10:05 nothing inside, so she is out; no alert."""
    d = morning(WINTER, out_at="09:55", back_at="12:30")
    played = d.play("23:00", settings=CHECKS)
    assert [a for a in played.alerts if a.type == "not_done_by"] == []
    # She only went to the letterbox and was back inside at 10:03: raised then.
    d = morning(WINTER, out_at="09:55", back_at="10:03")
    played = d.play("12:00", settings=CHECKS)
    assert events(played.drafts, "not_done_by")[0] == ("10:03", "warning", "raised")
    assert reasons(played.drafts, "not_done_by")[0].endswith("last seen in hall at 10:03")


def test_a_kit_started_after_the_deadline_does_not_report_that_morning() -> None:
    d = Day(start=WINTER, overnight=False)
    d.motion("14:00", "living").motion("16:00", "living")
    played = d.play("23:00", settings=CHECKS)
    assert [a for a in played.alerts if a.type == "not_done_by"] == []


def test_a_late_riser_is_judged_against_her_own_routine_once_a_week_is_known() -> None:
    """Tea every day at 09:45 for a week: the deadline becomes 10:45, not 10:00."""
    settings = HeuristicsSettings(daily_checks=[DailyCheck(
        name="kettle", roles=["kettle"], by=time(10, 0), margin_minutes=60)])
    readings: list[Reading] = []
    for n in range(8):
        readings += morning(WINTER + timedelta(days=n), kettle="09:45").readings
    silent_day = WINTER + timedelta(days=8)
    readings += morning(silent_day).readings
    engine = new_engine(settings)
    played = play(engine, sorted(readings, key=lambda r: r.wall), local(silent_day, "13:00"),
                  tick_seconds=300)
    raised = [a for a in played.alerts if a.type == "not_done_by"]
    assert [a.wall.astimezone(ZONE).strftime("%d %H:%M") for a in raised] == ["22 10:45"]
    assert raised[0].data["reason"].startswith(
        "no use of kettle by 10:45 (her usual time plus 60 min; fixed check 10:00)")
    assert raised[0].data["by"] == "10:45"


def test_a_night_time_kitchen_visit_does_not_count_for_the_morning() -> None:
    d = morning(WINTER)
    d.add("02:30", "appliance", True, room="kitchen", role="kettle", device="plug-kettle")
    played = d.play("12:00", settings=CHECKS)
    assert ("10:00", "warning", "raised") in events(played.drafts, "not_done_by")


def test_a_check_needs_something_to_look_for_and_unique_names() -> None:
    with pytest.raises(ValidationError, match="needs roles or rooms"):
        DailyCheck(name="x", by=time(10, 0))
    with pytest.raises(ValidationError, match="unique"):
        HeuristicsSettings(daily_checks=[DailyCheck(name="x", rooms=["k"], by=time(10, 0)),
                                         DailyCheck(name="x", rooms=["k"], by=time(11, 0))])


# ------------------------------------------------------------------ appliances

def test_a_kettle_at_seven_ten_is_activity_and_the_summary_sees_her_wake_and_meals() -> None:
    """Up at 07:00 (bedroom), kettle at 07:10 (it switches itself off at 07:13), then silence."""
    d = Day(start=WINTER, overnight=False)
    d.motion("07:00", "bedroom")
    d.add("07:10", "appliance", True, room="kitchen", role="kettle", device="plug-kettle")
    d.add("07:13", "appliance", False, room="kitchen", role="kettle", device="plug-kettle")
    played = d.play("10:30")
    inactivity = [a for a in played.alerts if a.type == "inactivity"]
    # Silence counted from the kettle (07:10 + the 120-min default), not from the bedroom
    # (07:00), and not from the kettle switching itself off.
    assert [a.wall.astimezone(ZONE).strftime("%H:%M") for a in inactivity] == ["09:10"]
    assert "since 07:10, last seen in kitchen" in inactivity[0].data["reason"]
    assert played.engine.state.seen.role == "kettle"


def test_the_daily_summary_counts_the_first_kettle_and_the_meals_prepared() -> None:
    d = Day(start=WINTER, overnight=False)
    d.motion("06:50", "bedroom")
    d.add("07:10", "appliance", True, room="kitchen", role="kettle", device="plug-kettle")
    d.add("07:13", "appliance", False, room="kitchen", role="kettle", device="plug-kettle")
    for hhmm in ("08:00", "09:00", "10:00", "11:00"):
        d.motion(hhmm, "living")
    d.add("11:20", "appliance", True, room="kitchen", role="microwave", device="plug-mw")
    d.add("11:30", "appliance", True, room="kitchen", role="microwave", device="plug-mw")
    d.add("11:45", "power", 1800.0, room="kitchen", role="kettle", device="plug-kettle")
    played = d.play("12:01")
    assert len(played.summaries) == 1
    data = played.summaries[0].data
    assert data["first_appliance_use"] == "2026-01-14T07:10+01:00"
    assert data["first_appliance_role"] == "kettle"
    assert data["appliance_uses"] == 3
    assert data["meals_prepared"] == 1  # two microwave runs 10 min apart: one meal


@pytest.mark.parametrize("cut_at", ["09:59", "10:02", "11:30"])
def test_checks_and_temperatures_give_the_same_events_in_one_batch_or_across_a_restart(
        cut_at: str) -> None:
    """Live (ticked every minute), one batch, or a restart at `cut_at`: the same events."""
    d = morning(WINTER, out_at="09:55", back_at="10:03")
    d.readings += thermometer(WINTER, "living", [("07:00", 17.0), ("13:00", 17.0)])
    d.add("12:30", "appliance", True, room="kitchen", role="kettle", device="plug-kettle")
    readings = sorted(d.readings, key=lambda r: r.wall)
    end = local(WINTER, "13:30")
    live = [x for x in play(new_engine(CHECKS), readings, end).drafts if x.kind is Kind.ALERT]
    batch_engine = new_engine(CHECKS)
    batch = batch_engine.feed_many(readings) + batch_engine.tick(end.timestamp() + MONO_OFFSET,
                                                                 end)
    cut = next(i for i, r in enumerate(readings) if r.wall >= local(WINTER, cut_at))
    first = new_engine(CHECKS)
    restarted = first.feed_many(readings[:cut])
    second = new_engine(CHECKS)
    second.restore(first.snapshot())
    restarted += second.feed_many(readings[cut:]) + second.tick(end.timestamp() + MONO_OFFSET,
                                                                end)
    alerts = [x for x in batch if x.kind is Kind.ALERT]
    assert {x.type for x in alerts} == {"not_done_by", "cold_home"}
    assert alerts == live
    assert [x for x in restarted if x.kind is Kind.ALERT] == alerts
