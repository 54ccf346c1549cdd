"""mock.home: the demo's resident, through the real GPIO drivers on a private MockFactory."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from edgeagent_mocks.home_driver import MockHomeDriver
from gpiozero import Device

from edgeagent.clock import ManualClock
from edgeagent.config import parse_config
from edgeagent.errors import ConfigError
from tests.drivers.conftest import Harness, wait_for


def local(reading: object) -> str:
    return reading.wall.strftime("%d %H:%M:%S")  # type: ignore[attr-defined]


def test_the_night_she_does_not_come_back_to_bed() -> None:
    # Evening of day 2 in UTC; the script starts with the step soonest after 23:00.
    clock = ManualClock(start=datetime(2026, 3, 3, 23, 0, tzinfo=UTC))
    harness = Harness(clock)
    home = harness.make(MockHomeDriver, type="mock.home", name="home", timezone="UTC",
                        loop=False)
    saved = Device.pin_factory
    home.start()
    for _ in range(6 * 60 * 2):     # six hours in 30-s steps, as an accelerated clock would
        clock.advance(30)
        home.step()
    assert Device.pin_factory is saved  # the private factory never leaks
    night = [(local(r), r.device, r.sensor, r.value) for r in harness.readings
             if r.wall >= datetime(2026, 3, 4, 1, 0, tzinfo=UTC)
             and r.wall < datetime(2026, 3, 4, 3, 10, tzinfo=UTC)]
    assert night[0][1:] == ("bed", "bed", "out_of_bed")
    assert night[0][0].startswith("04 01:40:")
    assert [n[1:] for n in night[1:3]] == [("pir-bedroom", "motion", True),
                                           ("pir-bedroom", "motion", False)]
    hall = [n for n in night if n[1] == "pir-hall"]
    assert [h[3] for h in hall] == [True, False, True, False]
    gap = [n for n in night if "01:43" < n[0][3:] < "03:00"]
    assert gap == []                  # lying in the hall: not a single reading for 77 min
    assert night[-1][1:] == ("bed", "bed", "in_bed")
    assert all(r.driver == "home" for r in harness.readings)
    assert home.health.state.value == "ok"
    assert home.health.counters["steps"] > 5


async def test_run_follows_the_clock(harness: Harness, clock: ManualClock) -> None:
    home = harness.make(MockHomeDriver, type="mock.home", name="home", timezone="UTC",
                        script="21:05 kitchen motion; 21:10 bed in", step_interval=0.005)
    home.context = harness.context(asyncio.get_running_loop())
    task = asyncio.create_task(home.run())
    try:
        await wait_for(lambda: home.home is not None and len(harness.readings) == 2)
        assert sorted(map(str, harness.values())) == ["False", "out_of_bed"]
        clock.advance(5 * 60)
        await wait_for(lambda: harness.values("motion") == [False, True])
        clock.advance(5 * 60 + 5)
        await wait_for(lambda: harness.values("bed") == ["out_of_bed", "in_bed"])
        assert harness.values("motion") == [False, True, False]
        assert [local(r)[3:] for r in harness.readings[2:]] == [
            "21:05:00", "21:05:33", "21:10:02"]   # exact script times, not step times
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert home.inner == []


def test_mock_home_script_errors_are_config_errors() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"drivers": [{"type": "mock.home", "name": "home",
                                   "script": "22:00 bed in; 23:00 dance"}]})
    assert err.value.key == "drivers[0].script"
    assert "23:00 dance" in err.value.reason
