"""replay: a CASAS-format log played through the readings path on the injected clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from edgeagent_mocks.replay_driver import ReplayDriver

from edgeagent.clock import ManualClock
from edgeagent.errors import DriverError
from tests.drivers.conftest import Harness, wait_for

LOG = """\
2010-11-04 22:40:00.000000 B001 ON
2010-11-05 02:10:00.500000 B001 OFF Sleeping end
2010-11-05 02:11:00 M003 ON Bed_Toilet_Transition begin
this line is broken
2010-11-05 02:11:05 M003 OFF
2010-11-05 02:11:10 D002 OPEN
2010-11-05 02:12:00 T001 21.5
2010-11-05 02:12:30 X999 ON
2010-11-05 02:17:00 B001 ON
"""

MAP = """\
[sensors.B001]
kind = "bed"
room = "bedroom"
[sensors.M003]
kind = "motion"
room = "bathroom"
[sensors.D002]
kind = "contact"
room = "bathroom"
role = "bathroom_door"
[sensors.T001]
kind = "ignore"
"""


@pytest.fixture
def recording(tmp_path: Path) -> tuple[Path, Path]:
    log, sensor_map = tmp_path / "events.txt", tmp_path / "map.toml"
    log.write_text(LOG)
    sensor_map.write_text(MAP)
    return log, sensor_map


async def start(driver: ReplayDriver, harness: Harness) -> asyncio.Task[None]:
    driver.context = harness.context(asyncio.get_running_loop())
    return asyncio.create_task(driver.run())


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_log_plays_at_clock_speed_with_map_roles(
        recording: tuple[Path, Path], harness: Harness, clock: ManualClock) -> None:
    log, sensor_map = recording
    replay = harness.make(ReplayDriver, type="replay", name="casas", path=str(log),
                          map=str(sensor_map), timezone="America/Los_Angeles", speed=60)
    task = await start(replay, harness)
    try:
        await wait_for(lambda: len(harness.readings) == 1)
        assert (harness.readings[0].sensor, harness.readings[0].value) == ("bed", "in_bed")
        clock.advance(3 * 60 + 29)     # 209 log minutes: not yet 02:10
        await asyncio.sleep(0)
        assert len(harness.readings) == 1
        clock.advance(60)              # past 02:17 in log time
        await wait_for(lambda: len(harness.readings) == 6)
    finally:
        await stop(task)
    got = [(r.sensor, r.value, r.room, r.role, r.device) for r in harness.readings]
    assert got == [
        ("bed", "in_bed", "bedroom", None, "B001"),
        ("bed", "out_of_bed", "bedroom", None, "B001"),
        ("motion", True, "bathroom", None, "M003"),
        ("motion", False, "bathroom", None, "M003"),
        ("door", "open", "bathroom", "bathroom_door", "D002"),
        ("bed", "in_bed", "bedroom", None, "B001"),
    ]
    start_mono = harness.readings[0].mono
    assert harness.readings[1].mono == pytest.approx(start_mono + (3 * 3600 + 30 * 60 + 0.5) / 60)
    assert harness.readings[2].data["activity"] == "Bed_Toilet_Transition"
    assert harness.readings[2].data["log_time"] == "2010-11-05T02:11:00"
    assert all(r.driver == "casas" for r in harness.readings)
    counters = replay.health.counters
    assert counters["bad_lines"] == 1
    assert counters["unmapped_lines"] == 1 and replay.unmapped == {"X999": 1}
    assert counters["ignored_lines"] == 1  # the ignored thermometer


async def test_time_of_day_start_skips_to_the_clock_hour(
        recording: tuple[Path, Path], harness: Harness) -> None:
    harness.clock = ManualClock(start=datetime(2026, 3, 2, 2, 11, 8, tzinfo=UTC))
    log, sensor_map = recording
    replay = harness.make(ReplayDriver, type="replay", name="casas", path=str(log),
                          map=str(sensor_map), start="time_of_day")
    task = await start(replay, harness)
    try:
        await wait_for(lambda: replay.health.counters.get("skipped_lines", 0) == 4)
        assert harness.readings == []
        harness.clock.advance(2)    # 02:11:10: the door line is due
        await wait_for(lambda: [r.sensor for r in harness.readings] == ["door"])
        assert harness.readings[0].wall == datetime(2026, 3, 2, 2, 11, 10, tzinfo=UTC)
        harness.clock.advance(600)
        await wait_for(lambda: replay.finished)
        assert [r.value for r in harness.readings] == ["open", "in_bed"]
        assert "finished events.txt: 2 readings" in replay.health.reason
    finally:
        await stop(task)


async def test_missing_log_is_a_driver_error(tmp_path: Path, recording: tuple[Path, Path],
                                             harness: Harness) -> None:
    replay = harness.make(ReplayDriver, type="replay", name="casas",
                          path=str(tmp_path / "nope.txt"), map=str(recording[1]))
    with pytest.raises(DriverError, match="cannot read"):
        await asyncio.wait_for(replay.run(), 5)
    bad_map = harness.make(ReplayDriver, type="replay", name="casas", path=str(recording[0]),
                           map=str(tmp_path / "nomap.toml"))
    with pytest.raises(DriverError, match="sensor map"):
        await asyncio.wait_for(bad_map.run(), 5)
