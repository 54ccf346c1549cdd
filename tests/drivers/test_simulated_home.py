"""Whole nights told like a care worker tells them, through the real drivers on mock pins."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from edgeagent_mocks.pty_bedmat import PtyBedMat
from edgeagent_mocks.simulated_home import ScriptError, SimulatedHome
from gpiozero.pins.mock import MockFactory

from edgeagent.clock import ManualClock
from edgeagent.config import parse_config
from tests.drivers.conftest import Harness, wait_for

NIGHT = ("22:40 bed in; 02:10 bed out; 02:11 bathroom motion; 02:16 bedroom motion; "
         "02:17 bed in; 07:05 bed out")


def timeline(harness: Harness) -> list[tuple[str, str | None, str, object]]:
    return [(r.wall.strftime("%H:%M:%S"), r.room, r.sensor, r.value) for r in harness.readings]


def test_a_night_with_one_bathroom_visit(harness: Harness, clock: ManualClock) -> None:
    factory = MockFactory()
    home = SimulatedHome(NIGHT, clock=clock, factory=factory)
    drivers = home.make_drivers(harness.context(), **{
        "gpio.pir": {"hold_off": 30}, "gpio.bedmat": {"exit_settle": 15, "entry_settle": 2}})
    home.apply_initial()
    for driver in drivers:
        driver.open()  # type: ignore[attr-defined]
    home.run_until("08:00", drivers)  # type: ignore[arg-type]
    assert timeline(harness) == [
        ("21:00:00", "bedroom", "bed", "out_of_bed"),
        ("21:00:00", "bathroom", "motion", False),
        ("21:00:00", "bedroom", "motion", False),
        ("22:40:02", "bedroom", "bed", "in_bed"),
        ("02:10:15", "bedroom", "bed", "out_of_bed"),
        ("02:11:00", "bathroom", "motion", True),
        ("02:11:33", "bathroom", "motion", False),
        ("02:16:00", "bedroom", "motion", True),
        ("02:16:33", "bedroom", "motion", False),
        ("02:17:02", "bedroom", "bed", "in_bed"),
        ("07:05:15", "bedroom", "bed", "out_of_bed"),
    ]
    monos = [r.mono for r in harness.readings]
    assert monos == sorted(monos)
    assert harness.readings[4].wall.day == 3  # after midnight: the next day


def test_doors_sos_and_smoke_in_one_evening(harness: Harness, clock: ManualClock) -> None:
    factory = MockFactory()
    home = SimulatedHome(
        "21:30 entrance door open; 21:30:20 entrance door close; 21:31 hall motion; "
        "21:40 fridge open; 21:40:30 fridge close; 21:50 sos press; 21:55 smoke on; "
        "21:58 smoke off", clock=clock, factory=factory)
    drivers = home.make_drivers(harness.context(), **{"gpio.contact": {"settle": 0.2}})
    home.apply_initial()
    for driver in drivers:
        driver.open()  # type: ignore[attr-defined]
    harness.readings.clear()
    home.run_until("22:30", drivers)  # type: ignore[arg-type]
    got = [(t, room, sensor, value, r.role) for (t, room, sensor, value), r
           in zip(timeline(harness), harness.readings, strict=True)]
    assert got == [
        ("21:30:00", "hall", "door", "open", "entrance"),
        ("21:30:20", "hall", "door", "closed", "entrance"),
        ("21:31:00", "hall", "motion", True, None),
        ("21:31:33", "hall", "motion", False, None),
        ("21:40:00", "kitchen", "door", "open", "fridge"),
        ("21:40:30", "kitchen", "door", "closed", "fridge"),
        ("21:50:00", "living", "sos", True, "sos"),
        ("21:55:00", "living", "smoke", True, "alarm"),
        ("21:58:05", "living", "smoke", False, "alarm"),
    ]


def test_driver_tables_pass_the_config_loader(clock: ManualClock) -> None:
    home = SimulatedHome(NIGHT + "; 07:10 entrance door open; 07:11 sos press",
                         clock=clock, factory=MockFactory())
    tables = home.driver_tables()
    config = parse_config({"drivers": tables})
    assert [d.type for d in config.drivers] == [
        "gpio.bedmat", "gpio.pir", "gpio.pir", "gpio.contact", "gpio.sos"]
    pins = [p for d in config.drivers for p in d.claimed_pins()]
    assert len(set(pins)) == len(pins) == 5


@pytest.mark.parametrize("script", ["25:00 bed in", "22:00 bed sideways", "bed in", ""])
def test_script_errors_name_the_step(clock: ManualClock, script: str) -> None:
    with pytest.raises(ScriptError):
        SimulatedHome(script, clock=clock, factory=MockFactory())


async def test_the_same_night_through_the_serial_mat(
        harness: Harness, clock: ManualClock, tmp_path: Path) -> None:
    with PtyBedMat(tmp_path) as mat:
        home = SimulatedHome(NIGHT, clock=clock, factory=MockFactory(), serial_mat=mat)
        harness_ctx = harness.context(asyncio.get_running_loop())
        drivers = home.make_drivers(harness_ctx, **{"serial.bedmat": {
            "silence_timeout": 86400, "exit_settle": 15, "entry_settle": 2,
            "reopen_initial": 0.02}})
        serial_driver = next(d for d in drivers if d.options.type == "serial.bedmat")
        task = asyncio.create_task(serial_driver.run())
        try:
            await wait_for(lambda: serial_driver.health.counters.get("port_opened", 0) == 1)
            for driver in drivers:
                if driver is not serial_driver:
                    driver.open()  # type: ignore[attr-defined]
            home.apply_initial()

            async def consumed() -> None:
                await wait_for(lambda: serial_driver.framing.stats.bytes_in  # type: ignore[attr-defined]
                               == mat.bytes_written)

            await consumed()
            await home.play_until("08:00", drivers, consumed)  # type: ignore[arg-type]
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
    bed = [(t, v) for t, _, s, v in timeline(harness) if s == "bed"]
    assert bed == [("21:00:00", "out_of_bed"), ("22:40:02", "in_bed"), ("02:10:15", "out_of_bed"),
                   ("02:17:02", "in_bed"), ("07:05:15", "out_of_bed")]
