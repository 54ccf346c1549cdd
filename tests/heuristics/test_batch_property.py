"""Property: the engine's events do not depend on how readings and ticks are batched."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeagent.heuristics.engine import SafetyEngine
from edgeagent.heuristics.settings import HeuristicsSettings
from edgeagent.models import Draft, Reading
from tests.heuristics.home import MONO_OFFSET, new_engine, reading

START = datetime(2026, 3, 28, 20, 0, tzinfo=UTC)  # spans the spring DST change in Amsterdam

EVENTS = st.sampled_from([
    ("motion", True, "bedroom", None), ("motion", True, "bathroom", None),
    ("motion", True, "kitchen", None), ("motion", False, "kitchen", None),
    ("bed", "in_bed", "bedroom", None), ("bed", "out_of_bed", "bedroom", None),
    ("door", "open", "hall", "entrance"), ("door", "closed", "hall", "entrance"),
    ("door", "open", "toilet", "bathroom_door"), ("sos", True, "living", None),
    ("sos_cancel", True, None, None), ("heart_rate", 160, None, None),
    ("heart_rate", 70, None, None), ("battery", 10, None, None),
    ("device_status", "offline", None, None), ("device_status", "online", None, None),
    ("occupancy", True, "living", "chair"), ("occupancy", False, "living", "chair"),
    ("ok", True, "kitchen", None), ("door", "open", "bedroom", "door"),
])

STEPS = st.lists(
    st.tuples(st.integers(min_value=0, max_value=240), EVENTS, st.booleans()),
    min_size=1, max_size=60,
)

SMALL = HeuristicsSettings(bed_exit_no_return_minutes=5, bathroom_overstay_minutes=10,
                           inactivity_default_minutes=30, inactivity_floor_minutes=10,
                           inactivity_ceiling_minutes=60, inactivity_escalate_minutes=15,
                           escalate_critical_minutes=10, settle_minutes=3,
                           prealarm_seconds=60, checkin=True)


def kit(asking: bool) -> SafetyEngine:
    """The engine under test; `asking`: a kit that asks her before a critical alarm."""
    engine = new_engine(SMALL)
    engine.declare(can_ask=asking)
    return engine


def build(steps: list[tuple[int, tuple[str, object, str | None, str | None], bool]]
          ) -> tuple[list[Reading], list[bool]]:
    readings, ticks, when = [], [], START
    for gap, (sensor, value, room, role), tick_after in steps:
        when += timedelta(minutes=gap)
        readings.append(reading(when, sensor, value, room=room, role=role,
                                device=f"{sensor}-{room}"))
        ticks.append(tick_after)
    return readings, ticks


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(STEPS, st.integers(min_value=1, max_value=90), st.booleans())
def test_one_by_one_with_ticks_equals_one_batch(steps: list, tick_every: int,
                                                 asking: bool) -> None:
    readings, ticks = build(steps)
    end = readings[-1].wall + timedelta(hours=6)

    batch_engine = kit(asking)
    batch: list[Draft] = batch_engine.feed_many(readings)
    batch += batch_engine.tick(end.timestamp() + MONO_OFFSET, end)

    live_engine = kit(asking)
    live: list[Draft] = []
    for index, item in enumerate(readings):
        live += live_engine.feed(item)
        if ticks[index]:
            # Heartbeats between this reading and the next one.
            upto = readings[index + 1].wall if index + 1 < len(readings) else end
            now = item.wall + timedelta(minutes=tick_every)
            while now < upto:
                live += live_engine.tick(now.timestamp() + MONO_OFFSET, now)
                now += timedelta(minutes=tick_every)
    live += live_engine.tick(end.timestamp() + MONO_OFFSET, end)

    assert live == batch
    assert live_engine.snapshot() == batch_engine.snapshot()


@settings(max_examples=30, deadline=None)
@given(STEPS, st.integers(min_value=0, max_value=59), st.booleans())
def test_snapshot_and_restore_at_any_point_changes_nothing(steps: list, cut: int,
                                                          asking: bool) -> None:
    readings, _ = build(steps)
    cut = min(cut, len(readings))
    end = readings[-1].wall + timedelta(hours=6)
    whole = kit(asking)
    expected = whole.feed_many(readings) + whole.tick(end.timestamp() + MONO_OFFSET, end)

    first = kit(asking)
    got = first.feed_many(readings[:cut])
    second = kit(asking)
    second.restore(first.snapshot())
    got += second.feed_many(readings[cut:]) + second.tick(end.timestamp() + MONO_OFFSET, end)
    assert got == expected


JUNK = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                 st.text(max_size=8), st.dictionaries(st.text(max_size=4), st.integers(),
                                                      max_size=2))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(
    st.integers(min_value=0, max_value=120),
    st.sampled_from(["motion", "door", "bed", "sos", "sos_cancel", "smoke", "heart_rate",
                     "spo2", "blood_pressure", "temperature", "weight", "battery",
                     "device_status", "mystery"]),
    JUNK, st.sampled_from([None, "bedroom", "kitchen", "bathroom"]),
    st.sampled_from([None, "entrance", "bathroom_door"])), min_size=1, max_size=40))
def test_odd_values_never_crash_the_engine(items: list) -> None:
    engine = new_engine(SMALL)
    when = START
    for gap, sensor, value, room, role in items:
        when += timedelta(minutes=gap)
        engine.feed(reading(when, sensor, value, room=room, role=role))
    engine.tick(when.timestamp() + MONO_OFFSET + 86400, when + timedelta(days=1))
    import json
    json.dumps(engine.snapshot())
