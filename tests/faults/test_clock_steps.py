"""Clock steps with the real safety engine: the heuristics never see the jump.

Policy under test (edgeagent/timeline.py, docs/reliability.md): the engine
runs on a continuous timeline derived from monotonic time; a step of the
synced wall clock re-anchors event timestamps only; the first sync after an
unsynced start re-stamps buffered events `corrected` and replays the pre-sync
readings into the engine at their corrected times.

The agent is driven directly (emit/tick/check_clock, as its main loop does)
with a ManualClock, so a simulated day costs milliseconds and nothing sleeps.
"""

from __future__ import annotations

import gc
import json
import logging
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from edgeagent.clock import ManualClock
from edgeagent.clock_keeper import MAX_PRESYNC_READINGS
from edgeagent.models import Reading
from edgeagent.supervisor import Agent
from tests.conftest import make_config
from tests.support.mosquitto import free_port

YEAR = 365 * 86400
SILENCE_ALERTS = {"inactivity", "fall_suspected", "bed_exit_no_return"}
DEFAULT_LIMIT = 120 * 60  # inactivity_default_minutes, before any routine is learned


class Home:
    """One agent with the default (safety) engine and a resident moving about."""

    def __init__(self, tmp_path: Path, start: datetime, synced: bool) -> None:
        self.clock = ManualClock(start)
        self.synced = {"now": synced}
        config = make_config(tmp_path, f"mqtt://127.0.0.1:{free_port()}")
        self.agent = Agent(config, clock=self.clock, sync_probe=lambda: self.synced["now"])
        self.agent.clock_keeper.check()
        self.last_motion_mono = 0.0
        self.emitted: dict[float, datetime] = {}  # reading mono -> the system wall it carried

    def motion(self, room: str = "kitchen") -> None:
        reading = Reading(driver="pir", device=f"pir-{room}", sensor="motion", value=True,
                          mono=self.clock.monotonic(), wall=self.clock.wall(), room=room)
        self.emitted[reading.mono] = reading.wall
        self.last_motion_mono = reading.mono
        self.agent.pipeline.emit(reading)

    def live(self, minutes: int, *, activity: bool) -> None:
        """Minute by minute: the main loop's tick and clock check, motion every 5 min."""
        for minute in range(minutes):
            self.clock.advance(60)
            if activity and minute % 5 == 0:
                self.motion("kitchen" if minute % 10 else "living")
            self.agent.tick()
            self.agent.clock_keeper.check()
            self.agent.flush()

    def events(self) -> list[dict[str, Any]]:
        self.agent.flush()
        return [json.loads(body) for body in self.agent.outbox.export()]

    def close(self) -> None:
        self.agent.outbox.close()


@pytest.fixture
def homes(tmp_path: Path) -> Iterator[list[Home]]:
    made: list[Home] = []
    yield made
    for home in made:
        home.close()


def ts(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["ts"].replace("Z", "+00:00"))


def alerts(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["kind"] == "alert"]


def assert_silence_alert_on_time(home: Home, events: list[dict[str, Any]]) -> None:
    """The engine still works: silence raises one alert after the default limit, in mono."""
    raised = [e for e in alerts(events) if e["type"] in SILENCE_ALERTS]
    assert len(raised) == 1, [(e["type"], e["ts"]) for e in alerts(events)]
    expected = home.clock.wall() - timedelta(
        seconds=home.clock.monotonic() - (home.last_motion_mono + DEFAULT_LIMIT))
    assert abs((ts(raised[0]) - expected).total_seconds()) < 1.0, (raised[0]["ts"], expected)


@pytest.mark.parametrize("step", [YEAR, -YEAR], ids=["plus_1y", "minus_1y"])
def test_step_while_synced_leaves_heuristics_and_seq_alone(tmp_path, homes, step):
    home = Home(tmp_path, datetime(2026, 3, 10, 6, 0, tzinfo=UTC), synced=True)
    homes.append(home)
    home.live(120, activity=True)  # a morning of routine activity
    before = home.events()
    assert before and not alerts(before)

    home.clock.step_wall(step)  # NTP (or an operator) steps the synced clock
    home.live(30, activity=True)
    status = home.agent.status()
    assert status["counters"]["clock_steps"] == 1
    assert status["clock_step"]["step_s"] == pytest.approx(step, abs=1)
    assert status["clock_step"]["engine_skew_s"] == pytest.approx(step, abs=1)

    events = home.events()
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert not alerts(events), "the step itself raised an alert"
    assert sum(e["kind"] == "summary" for e in events) <= 1, "summary storm"
    # Events after the step carry the new (synced) wall; those before keep theirs.
    later = [e for e in events if e["seq"] > before[-1]["seq"] and e["kind"] == "state"]
    assert later
    for event in later:
        assert ts(event).year == (2027 if step > 0 else 2025)
        assert event["clock"] == "synced"
    assert [e["ts"] for e in events[:len(before)]] == [e["ts"] for e in before]

    # The heuristics keep counting on monotonic time: a silence alarms after the limit.
    home.live(200, activity=False)
    assert_silence_alert_on_time(home, home.events())


def test_small_drift_is_followed_silently(tmp_path, homes):
    home = Home(tmp_path, datetime(2026, 3, 10, 6, 0, tzinfo=UTC), synced=True)
    homes.append(home)
    home.live(10, activity=True)
    home.clock.step_wall(1.5)  # NTP slewing/small step: below the threshold
    home.live(10, activity=True)
    assert home.agent.status()["counters"]["clock_steps"] == 0
    assert home.agent.status()["clock_step"] is None
    last = [e for e in home.events() if e["kind"] == "state"][-1]
    assert ts(last) == home.emitted[max(home.emitted)]


def test_unsynced_start_then_sync_restamps_and_raises_no_storm(tmp_path, homes):
    home = Home(tmp_path, datetime(1970, 1, 1, tzinfo=UTC), synced=False)
    homes.append(home)
    home.live(30, activity=True)  # a Pi without RTC: the first half hour on 1970 time
    before = home.events()
    assert before and {e["clock"] for e in before} == {"unsynced"}

    real = datetime(2026, 3, 10, 7, 0, tzinfo=UTC)
    home.clock.set_wall(real)
    home.synced["now"] = True
    home.agent.clock_keeper.check()  # what the main loop runs every 5 s
    events = home.events()
    assert [e["seq"] for e in events] == [e["seq"] for e in before]
    for old, new in zip(before, events, strict=True):
        assert new["clock"] == "corrected"
        age = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(minutes=30)) - ts(old)
        assert ts(new) == real - age
    assert home.agent.status()["counters"]["clock_steps"] == 0  # a first sync is not a step

    home.live(30, activity=True)
    events = home.events()
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert not alerts(events), "the first sync raised an alert"
    assert sum(e["kind"] == "summary" for e in events) <= 1, "summary storm"
    assert all(ts(e).year == 2026 for e in events)
    # The engine now runs on the real time and still alarms on silence.
    home.live(200, activity=False)
    assert_silence_alert_on_time(home, home.events())


def test_the_skew_survives_a_restart(tmp_path, homes):
    """After a +1 year step the engine's state is a year 'behind' the wall; a restart must not
    replay that year into it (a year of silence and 365 summaries)."""
    home = Home(tmp_path, datetime(2026, 3, 10, 6, 0, tzinfo=UTC), synced=True)
    home.live(60, activity=True)
    home.clock.step_wall(YEAR)
    home.live(10, activity=True)
    home.agent.flush()  # the engine state, as the running agent commits it
    home.close()
    again = Home(tmp_path, home.clock.wall(), synced=True)  # same outbox file
    homes.append(again)
    assert again.agent.clock_keeper.timeline.skew == pytest.approx(YEAR, abs=1)
    again.live(30, activity=True)
    events = again.events()
    assert not alerts(events)
    assert sum(e["kind"] == "summary" for e in events) <= 1
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))


def test_an_unsynced_agent_holds_bounded_memory_for_the_replay(tmp_path, homes, caplog):
    """A kit whose clock never syncs keeps its pre-sync readings for the replay: bounded.

    With 20 000 kept, a 10 Hz driver grew the agent by ~8 MB (docs/performance.md,
    "Footprint"). The Python heap retained over 10 000 unsynced readings (the
    buffer, and anything else kept per reading) stays under 2 MB; the first sync
    still replays the most recent readings.
    """
    home = Home(tmp_path, datetime(1970, 1, 1, tzinfo=UTC), synced=False)
    homes.append(home)

    def burst(count: int, start: int) -> None:
        for n in range(start, start + count):
            home.clock.advance(0.1)
            home.agent.pipeline.emit(Reading(driver="stress", device="stress", sensor="motion",
                                     value=n % 2 == 1, mono=home.clock.monotonic(),
                                     wall=home.clock.wall(), data={"n": n}))
            if n % 100 == 0:
                home.agent.tick()
                home.agent.flush()
        home.agent.flush()

    burst(500, 0)  # warm-up: caches, the engine's per-sensor state
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        burst(10_000, 500)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 2_000_000, f"{grown} bytes retained over 10 000 unsynced readings"
    assert home.agent.clock_keeper.presync_readings == MAX_PRESYNC_READINGS

    home.clock.set_wall(datetime(2026, 3, 10, 7, 0, tzinfo=UTC))
    home.synced["now"] = True
    with caplog.at_level(logging.INFO, logger="edgeagent.clock_keeper"):
        home.agent.clock_keeper.check()
    assert f"replaying {MAX_PRESYNC_READINGS} readings" in caplog.text
    assert not home.agent.clock_keeper.presync_readings
    assert {e["clock"] for e in home.events()} == {"corrected"}
