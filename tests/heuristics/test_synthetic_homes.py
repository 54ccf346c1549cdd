"""Synthetic homes: deterministic, true to their layout and faults, and scorable on the engine."""

from __future__ import annotations

import random
import tomllib
from collections import defaultdict
from datetime import datetime, timedelta
from itertools import pairwise

import pytest
from edgeagent_mocks.synthetic.faults import FAULT_KINDS, applicable
from edgeagent_mocks.synthetic.home_week import FALL_WINDOW, PEOPLE, HomeWeek, generate
from edgeagent_mocks.synthetic.layouts import ALL_LAYOUT_NAMES, HELD_LAYOUT_NAMES, LAYOUT_NAMES
from edgeagent_mocks.synthetic.life import plan_week
from edgeagent_mocks.synthetic.scoring import score, summarise


def kinds_of(week: HomeWeek) -> dict[str, str]:
    sensors = tomllib.loads(week.layout.map_toml())["sensors"]
    return {sid: spec["kind"] for sid, spec in sensors.items()}


def test_same_seed_same_week_and_another_seed_another_week():
    first, again = generate(3, 5), generate(3, 5)
    assert first.lines() == again.lines()
    assert first.activity_lines() == again.activity_lines()
    assert first.layout.map_toml() == again.layout.map_toml()
    assert first.falls == again.falls and first.faults == again.faults
    assert generate(4, 5).lines() != first.lines()
    assert generate(3, 13).lines() != first.lines()


def test_the_event_lines_are_the_recordings_format():
    week = generate(1, 2)
    lines = week.lines()
    assert lines == sorted(lines)
    date, clock, sensor, value = lines[0].split()
    assert len(date) == 10 and len(clock) == 15 and value in ("ON", "OFF")
    assert sensor in kinds_of(week)
    names = {line.split()[4] for line in week.activity_lines()}
    assert {"go_to_bed", "use_toilet"} <= names


@pytest.mark.parametrize("index", range(len(LAYOUT_NAMES)))
def test_each_layout_reports_only_and_all_the_sensors_it_claims(index):
    week = generate(2, index, resident_kind="out_daily", faults=[])
    name = week.layout.name
    kinds = kinds_of(week)
    fired = defaultdict(list)
    for event in week.events:
        fired[event.sensor].append(event.value)
    assert set(fired) <= set(kinds)
    fired_kinds = {kinds[s] for s in fired}
    roles = {s.role for s in week.layout.sensors if s.id in fired}
    if name.startswith("contacts"):
        assert "motion" not in kinds.values() and "motion" not in fired_kinds
        assert "bathroom_door" in roles and "fridge" in roles
    else:
        rooms = {s.room for s in week.layout.sensors if s.kind == "motion" and s.id in fired}
        assert rooms == {"bedroom", "bathroom", "kitchen", "living", "hall"}
    assert ("bed" in fired_kinds) == ("+bed" in name) == ("bed" in kinds.values())
    assert ("entrance" in roles) == (not name.endswith("-entrance"))
    for values in fired.values():  # a sensor alternates ON, OFF, ON, ...
        assert all(a != b for a, b in pairwise(values))


def test_contacts_homes_often_go_to_bed_unseen():
    """The last evening event before the night's silence is mostly outside the bedroom."""
    outside = inside = 0
    for index in range(0, 8 * 6, 8):           # contacts layout, six homes
        week = generate(5, index, faults=[])
        rooms = {s.id: s.room for s in week.layout.sensors}
        for start, _end, name in week.activities:
            if name != "go_to_bed":
                continue
            last = [e for e in week.events if e.t <= start and e.value == "ON"]
            if last:
                if rooms[last[-1].sensor] == "bedroom":
                    inside += 1
                else:
                    outside += 1
    assert outside > inside


def test_faults_appear_as_declared():
    pir_bed = LAYOUT_NAMES.index("pir+bed")
    contacts = LAYOUT_NAMES.index("contacts")
    week = generate(7, pir_bed, faults=["phantom", "pet", "stuck_mat", "visitor"],
                    resident_kind="out_daily")
    assert [f.kind for f in week.faults] == ["phantom", "pet", "stuck_mat", "visitor"]
    sources = {e.source for e in week.events}
    assert {"phantom", "pet", "stuck_mat", "visitor"} <= sources
    rooms = {s.id: s.room for s in week.layout.sensors}
    assert all(rooms[e.sensor] != "bedroom" for e in week.events if e.source == "pet")
    stuck = week.faults[2]
    assert stuck.start is not None and stuck.end is not None
    mat = [e for e in week.events if e.sensor == stuck.sensor
           and stuck.start - 0.01 <= e.t <= stuck.end + 0.01]
    assert [(e.value, e.source) for e in mat] == [("ON", "stuck_mat"), ("OFF", "stuck_mat")]

    week = generate(7, contacts, faults=["chattering_contact", "dead_sensor"])
    chatter, dead = week.faults
    times = [e.t for e in week.events if e.sensor == chatter.sensor and e.source == chatter.kind]
    assert any(sum(1 for u in times if abs(u - t) <= 60) >= 6 for t in times)
    assert dead.start is not None and dead.count > 0
    assert not [e for e in week.events if e.sensor == dead.sensor and e.t > dead.start + 600]

    week = generate(7, contacts, faults=["missed_entrance"], resident_kind="out_daily")
    (missed,) = week.faults
    assert missed.start is not None
    door = [e.t for e in week.events if e.sensor == missed.sensor]
    assert door and not [t for t in door if abs(t - missed.start) < 600]


def test_a_fallen_week_keeps_only_what_the_faults_do_during_the_fall():
    week = generate(7, LAYOUT_NAMES.index("pir"), faults=["pet"], resident_kind="night_trips")
    night = next(f for f in week.falls if f.kind == "night")
    window = [e for e in week.fallen(night) if night.at < e.t <= night.at + FALL_WINDOW]
    assert window and all(e.source == "pet" for e in window)
    last = max((e for e in week.events if e.t <= night.at and e.source in PEOPLE),
               key=lambda e: e.t)
    assert next(s.room for s in week.layout.sensors if s.id == last.sensor) != "bedroom"


def test_a_small_sample_runs_through_the_engine_with_every_fall_counted():
    weeks = [generate(11, index) for index in (0, 3, 4, 7)]
    results = [score(week) for week in weeks]
    for week, result in zip(weeks, results, strict=True):
        assert result.layout == week.layout.name
        scored = sorted([*result.evaluation.night, *result.evaluation.day], key=lambda f: f.at)
        assert [(f.kind, f.at) for f in scored] == [
            (f.kind, datetime.fromisoformat(week.stamp(f.at))) for f in week.falls]
        for fall in scored:
            assert fall.minutes is None or 0 <= fall.minutes <= FALL_WINDOW / 60
            assert all(fall.at <= a.at <= fall.at + timedelta(hours=4) for a in fall.followed)
        assert result.evaluation.days > 6.5
    figures = summarise(results)
    assert figures["home_weeks"] == 4
    assert figures["night_falls"] == sum(f.kind == "night" for w in weeks for f in w.falls) > 0
    assert figures["day_falls"] == sum(f.kind == "day" for w in weeks for f in w.falls) > 0
    assert 0 <= figures["night_detected"] <= figures["night_falls"]
    assert 0 <= figures["day_detected"] <= figures["day_falls"]


def test_the_annotations_let_the_recorded_homes_evaluation_place_falls_too():
    week = generate(11, LAYOUT_NAMES.index("pir+bed"), resident_kind="night_trips", faults=[])
    result = score(week, reference=True)
    assert len(result.evaluation.night) >= sum(f.kind == "night" for f in week.falls) > 0
    assert len(result.evaluation.day) > 0


# --------------------------------------------------------------- chair pads and radars
def _runs(week: HomeWeek, sensor: str) -> list[tuple[float, float, str]]:
    """(on, off, source of the ON) of each run of `sensor`."""
    out, since = [], None
    for e in week.events:
        if e.sensor == sensor:
            if e.value == "ON":
                since = e
            elif since is not None:
                out.append((since.t, e.t, since.source))
                since = None
    return out


def test_the_plain_layouts_stay_first_and_draw_no_held_sensor_or_fault():
    assert ALL_LAYOUT_NAMES[:8] == LAYOUT_NAMES and len(HELD_LAYOUT_NAMES) == 4
    for index in range(8):
        week = generate(1, index)
        assert "occupancy" not in kinds_of(week).values()
        assert generate(1, index, layouts=ALL_LAYOUT_NAMES).lines() == week.lines()
        life = plan_week(week.resident, random.Random(0), 2)
        assert not [k for k in FAULT_KINDS[-2:] if applicable(k, week.layout, life)]


def test_the_armchair_pad_is_held_while_she_sits_and_the_radar_while_she_is_in_the_room():
    index = ALL_LAYOUT_NAMES.index("pir+bed+chair+radar")
    week = generate(3, index, layouts=ALL_LAYOUT_NAMES, faults=[], resident_kind="never_out")
    kinds = kinds_of(week)
    assert kinds["C01_Armchair_pad"] == kinds["R01_Living_radar"] == "occupancy"
    roles = {s.id: s.role for s in week.layout.sensors}
    assert (roles["C01_Armchair_pad"], roles["R01_Living_radar"]) == ("chair", "radar")
    pad, radar = _runs(week, "C01_Armchair_pad"), _runs(week, "R01_Living_radar")
    assert max(b - a for a, b, _ in pad) > 3600      # an afternoon in the armchair: hours held
    assert sum(b - a for a, b, _ in radar) > sum(b - a for a, b, _ in pad)
    seated = sum(b - a for a, b, _ in pad)            # the radar sees her while she sits,
    seen = sum(max(0.0, min(b, rb) - max(a, ra))      # but for a rare short dropout
               for a, b, _ in pad for ra, rb, _ in radar)
    assert 0.97 * seated < seen <= seated
    living_pir = [e.t for e in week.events if e.sensor == "M04_PIR_living" and e.value == "ON"]
    quiet = max(b - a for a, b in pairwise(living_pir))
    assert quiet > 20 * 60                            # still for long: PIRs say nothing


def test_held_faults_a_stuck_pad_and_a_radar_seeing_a_curtain():
    index = ALL_LAYOUT_NAMES.index("pir+bed+chair+radar")
    week = generate(7, index, layouts=ALL_LAYOUT_NAMES, faults=["stuck_pad", "curtain_radar"],
                    resident_kind="out_daily")
    stuck, curtain = week.faults
    assert (stuck.kind, stuck.sensor, curtain.kind, curtain.sensor) == (
        "stuck_pad", "C01_Armchair_pad", "curtain_radar", "R01_Living_radar")
    assert stuck.start is not None and stuck.end is not None
    held = [e for e in week.events if e.sensor == stuck.sensor
            and stuck.start - 0.01 <= e.t <= stuck.end + 0.01]
    assert [(e.value, e.source) for e in held] == [("ON", "stuck_pad"), ("OFF", "stuck_pad")]
    assert stuck.end - stuck.start >= 6 * 3600
    flicker = [(a, b) for a, b, source in _runs(week, curtain.sensor) if source == "curtain_radar"]
    assert len(flicker) >= 10 and all(b - a <= 90.01 for a, b in flicker)  # on, off, on, ...
    assert week.fallen(week.falls[0]) != week.events  # the fallen week is still cut ...
    for fall in week.falls:                           # ... and the curtain goes on meanwhile
        assert all(e.source not in PEOPLE for e in week.fallen(fall)
                   if fall.at < e.t <= fall.at + FALL_WINDOW)


def test_no_fall_is_placed_while_her_pad_or_the_radar_still_holds_her():
    for index in range(8, 12):
        week = generate(5, index, layouts=ALL_LAYOUT_NAMES)
        held = [run for s in week.layout.sensors if s.kind == "occupancy"
                for run in _runs(week, s.id) if run[2] == "resident"]
        assert week.falls
        for fall in week.falls:
            assert not any(a <= fall.at <= b for a, b, _ in held), (week.layout.name, fall)


def test_a_held_layout_runs_through_the_engine_and_both_evaluations():
    index = ALL_LAYOUT_NAMES.index("contacts+bed+chair")
    week = generate(11, index, layouts=ALL_LAYOUT_NAMES, resident_kind="night_trips", faults=[])
    labelled, reference = score(week), score(week, reference=True)
    assert labelled.layout == "contacts+bed+chair"
    assert len(labelled.evaluation.night) + len(labelled.evaluation.day) == len(week.falls) > 0
    assert len(reference.evaluation.day) > 0
