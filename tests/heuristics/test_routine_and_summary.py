"""The learned routine and the daily summary, over weeks of a resident's life."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from edgeagent.heuristics.routine import LearnedRoutine, percentile
from edgeagent.heuristics.settings import HeuristicsSettings
from edgeagent.models import Reading
from tests.heuristics.home import ZONE, Day, local, new_engine, play, reading

START = date(2026, 4, 1)


def ordinary_day(day: date, *, nap: bool = True, night_visits: int = 1) -> list[Reading]:
    """Up at 07:00, every 30 min in the kitchen, a nap 13:30-15:00, bed at 22:30."""
    out: list[Reading] = []
    t = local(day, "07:00")
    end = local(day, "22:00")
    while t <= end:
        in_nap = nap and local(day, "13:30") < t < local(day, "15:00")
        if not in_nap:
            out.append(reading(t, "motion", True, room="kitchen", device="pir-kitchen"))
        t += timedelta(minutes=30)
    out.append(reading(local(day, "22:30"), "motion", True, room="bedroom", device="pir-bed"))
    out.append(reading(local(day, "22:31"), "bed", "in_bed", room="bedroom", device="mat"))
    for visit in range(night_visits):
        base = local(day, "01:00", next_day=True) + timedelta(hours=visit)
        out.append(reading(base, "bed", "out_of_bed", room="bedroom", device="mat"))
        out.append(reading(base + timedelta(minutes=1), "motion", True, room="bathroom",
                           device="pir-bath"))
        out.append(reading(base + timedelta(minutes=5), "motion", True, room="bedroom",
                           device="pir-bed"))
        out.append(reading(base + timedelta(minutes=6), "bed", "in_bed", room="bedroom",
                           device="mat"))
    out.append(reading(local(day, "06:55", next_day=True), "bed", "out_of_bed", room="bedroom",
                       device="mat"))
    return out


def test_percentile_is_nearest_rank() -> None:
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 0.5) == 3.0
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 0.95) == 5.0


def test_defaults_until_a_week_of_history_then_clamped_learned_limits() -> None:
    settings = HeuristicsSettings()
    routine = LearnedRoutine(settings)
    assert routine.limit_seconds("2026-04-10", 10) == 120 * 60  # the default while learning
    for n in range(10):
        key = (START + timedelta(days=n)).isoformat()
        for hour in range(7, 22):
            routine.record_gap(key, hour, 30 * 60)
        routine.record_gap(key, 14, 120 * 60)
    today = (START + timedelta(days=10)).isoformat()
    assert routine.limit_seconds(today, 10) == 60 * 60          # 30 min * 1.25 -> floor
    assert routine.limit_seconds(today, 14) == 150 * 60         # 120 min * 1.25
    assert routine.limit_seconds(today, 3) == 120 * 60          # never awake then: default


def test_her_own_afternoon_nap_is_no_alarm_but_a_silent_morning_is() -> None:
    engine = new_engine()
    history: list[Reading] = []
    for n in range(10):
        history += ordinary_day(START + timedelta(days=n))
    day11 = START + timedelta(days=10)
    morning = [r for r in ordinary_day(day11) if not (
        local(day11, "09:30") < r.wall < local(day11, "11:00"))]
    played = play(engine, history + morning, local(day11, "20:00"), tick_seconds=300)
    raised = [a.wall.astimezone(ZONE).strftime("%m-%d %H:%M") for a in played.alerts
              if a.type in ("inactivity", "fall_suspected") and a.alert
              and a.alert["state"] == "raised"]
    assert raised == ["04-11 10:30"]


def test_daily_summary_counts_the_night_and_compares_with_her_baseline() -> None:
    engine = new_engine()
    readings: list[Reading] = []
    for n in range(16):
        readings += ordinary_day(START + timedelta(days=n))
    played = play(engine, readings, local(START + timedelta(days=16), "12:30"),
                  tick_seconds=600)
    summaries = played.summaries
    assert [s.wall for s in summaries] == sorted({s.wall for s in summaries})
    last = summaries[-2].data  # the last full one: the final morning is not in the readings
    assert last["night_bed_exits"] == 1 and last["night_bathroom_visits"] == 1
    # Wake is when the mat went empty in the morning (06:55), not the kitchen after it.
    assert last["sleep_onset"].endswith("22:30+02:00") and last["wake"].endswith("06:55+02:00")
    assert last["time_in_bed_min"] == pytest.approx(8 * 60 + 25 - 5, abs=1)
    assert last["baseline"]["night_bathroom_visits"] == 1
    assert last["deviation"]["night_bathroom_visits"] == 0
    assert not any(a.type == "routine_change" for a in played.alerts)


def test_three_nights_of_many_bathroom_visits_raise_routine_change() -> None:
    engine = new_engine()
    readings: list[Reading] = []
    for n in range(14):
        readings += ordinary_day(START + timedelta(days=n))
    for n in range(14, 17):
        readings += ordinary_day(START + timedelta(days=n), night_visits=4)
    played = play(engine, readings, local(START + timedelta(days=17), "12:30"),
                  tick_seconds=600)
    changes = {a.data["metric"]: a for a in played.alerts if a.type == "routine_change"}
    assert sorted(changes) == ["night_bathroom_visits", "night_bed_exits"]
    visits = changes["night_bathroom_visits"]
    assert visits.data["reason"] == (
        "bathroom visits at night 4 against a usual 1 for 3 days in a row")
    assert visits.wall == local(START + timedelta(days=17), "12:00")


def test_summary_is_emitted_once_per_local_day_even_with_no_readings() -> None:
    engine = new_engine()
    first = Day(start=START).motion("13:00", "kitchen").readings
    played = play(engine, first, datetime.combine(START + timedelta(days=3),
                                                  datetime.min.time()).astimezone(),
                  tick_seconds=3600)
    assert len(played.summaries) == 2
    assert played.summaries[0].data["partial"] is True
