"""serial.bedmat through a real pseudo-terminal: frames, garbage, unplug/replug, wrong baud."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from edgeagent_drivers.serial.bedmat import SerialBedMatDriver
from edgeagent_mocks.pty_bedmat import PtyBedMat

from edgeagent.clock import ManualClock
from edgeagent.config import parse_config
from edgeagent.driver import HealthState
from edgeagent.errors import ConfigError
from tests.drivers.conftest import Harness, wait_for


@pytest.fixture
def mat(tmp_path: Path) -> Iterator[PtyBedMat]:
    with PtyBedMat(tmp_path) as emulator:
        yield emulator


class Running:
    def __init__(self, driver: SerialBedMatDriver, harness: Harness) -> None:
        self.driver = driver
        self.harness = harness

    def bed(self) -> list[str]:
        return self.harness.values("bed")

    def status(self) -> list[str]:
        return self.harness.values("device_status")

    async def opened(self, times: int = 1) -> None:
        await wait_for(lambda: self.driver.health.counters.get("port_opened", 0) >= times)


@pytest.fixture
async def running(mat: PtyBedMat, harness: Harness) -> AsyncIterator[Running]:
    driver = harness.make(SerialBedMatDriver, type="serial.bedmat", name="bedmat",
                          room="bedroom", port=mat.port, exit_settle=15, entry_settle=2,
                          reopen_initial=0.02, reopen_max=0.1, garbage_limit=200)
    driver.context = harness.context(asyncio.get_running_loop())
    task = asyncio.create_task(driver.run())
    run = Running(driver, harness)
    await run.opened()
    yield run
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_mat_frames_become_bed_readings_with_settle(
        running: Running, mat: PtyBedMat, clock: ManualClock) -> None:
    mat.report("IN", 600)
    await wait_for(lambda: running.bed() == ["in_bed"])
    assert running.status() == ["online"]
    assert running.harness.readings[-1].data == {"initial": True, "pressure": 600}
    assert running.harness.readings[-1].room == "bedroom"
    mat.report("OUT", 20)          # turns over
    clock.advance(4)
    mat.report("IN", 580)
    await wait_for(lambda: running.driver.framing.stats.frames == 3)
    clock.advance(60)
    mat.report("OUT", 10)          # gets up
    await wait_for(lambda: running.driver.framing.stats.frames == 4)
    clock.advance(16)
    await wait_for(lambda: running.bed() == ["in_bed", "out_of_bed"])
    exit_reading = running.harness.readings[-1]
    assert exit_reading.mono == clock.monotonic() - 1      # at the settle deadline
    assert exit_reading.data["glitches"] == 1
    assert running.driver.health.state is HealthState.OK


async def test_garbage_and_partial_frames_are_skipped(running: Running, mat: PtyBedMat) -> None:
    mat.garbage(50)
    rest = mat.partial("IN", 611, cut=7)
    await wait_for(lambda: running.driver.framing.stats.bytes_in == 57)
    assert running.bed() == []
    mat.write(rest)
    await wait_for(lambda: running.bed() == ["in_bed"])
    assert running.driver.health.counters["garbage_bytes"] == 50
    assert running.driver.health.state is HealthState.OK


async def test_unplug_and_replug_reopens_and_readings_resume(
        running: Running, mat: PtyBedMat, clock: ManualClock) -> None:
    mat.report("IN")
    await wait_for(lambda: running.bed() == ["in_bed"])
    mat.disconnect()
    await wait_for(lambda: running.status() == ["online", "offline"])
    await wait_for(lambda: running.driver.health.counters.get("open_failures", 0) >= 2)
    assert running.driver.health.state is HealthState.FAILED
    assert "cannot open" in running.driver.health.reason
    mat.start()                                  # plugged back in
    await running.opened(2)
    mat.report("OUT")
    await wait_for(lambda: running.status() == ["online", "offline", "online"])
    clock.advance(16)
    await wait_for(lambda: running.bed() == ["in_bed", "out_of_bed"])
    assert running.driver.health.state is HealthState.OK
    assert running.driver.health.counters["disconnects"] == 1


async def test_wrong_baud_rate_gives_a_clear_health_message(
        running: Running, mat: PtyBedMat) -> None:
    mat.wrong_baud = True
    for _ in range(20):
        mat.report("IN")
    await wait_for(lambda: running.driver.health.state is HealthState.DEGRADED)
    assert "wrong baud rate" in running.driver.health.reason
    assert "at 9600 baud" in running.driver.health.reason
    assert running.bed() == []
    mat.wrong_baud = False
    mat.report("IN")
    await wait_for(lambda: running.bed() == ["in_bed"])
    assert running.driver.health.state is HealthState.OK


async def test_silent_mat_goes_offline_by_the_injected_clock(
        running: Running, mat: PtyBedMat, clock: ManualClock) -> None:
    mat.report("IN")
    await wait_for(lambda: running.status() == ["online"])
    clock.advance(31)
    await wait_for(lambda: running.status() == ["online", "offline"])
    assert "no frame from the mat" in running.driver.health.reason
    mat.report("FLT", 0)
    await wait_for(lambda: running.status() == ["online", "offline", "online"])
    assert "reports a fault" in running.driver.health.reason


async def test_missing_port_at_start_keeps_retrying(harness: Harness, tmp_path: Path) -> None:
    mat = PtyBedMat(tmp_path)
    driver = harness.make(SerialBedMatDriver, type="serial.bedmat", name="bedmat",
                          port=mat.port, reopen_initial=0.02, reopen_max=0.05)
    driver.context = harness.context(asyncio.get_running_loop())
    task = asyncio.create_task(driver.run())
    try:
        await wait_for(lambda: driver.health.counters.get("open_failures", 0) >= 3)
        assert driver.health.state is HealthState.FAILED
        assert mat.port in driver.health.reason
        mat.start()
        await wait_for(lambda: driver.health.counters.get("port_opened", 0) == 1)
        mat.report("IN")
        await wait_for(lambda: harness.values("bed") == ["in_bed"])
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        mat.close()


def test_bad_serial_config_names_the_key() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"drivers": [{"type": "serial.bedmat", "name": "m", "port": "/dev/x",
                                   "baudrate": 9601}]}, "home.toml")
    assert err.value.key == "drivers[0].baudrate"
    assert "standard baud rate" in err.value.reason
    with pytest.raises(ConfigError) as err:
        parse_config({"drivers": [{"type": "serial.bedmat", "name": "m"}]}, "home.toml")
    assert err.value.key == "drivers[0].port"
