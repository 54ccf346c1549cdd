"""No GPIO pin library: doctor names it once with its fix; the log says it once, then sums up."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from gpiozero import Device

from edgeagent.doctor import Status
from edgeagent.doctor.driver_checks import check_drivers_live
from edgeagent.doctor.render import render_text
from edgeagent.doctor.result import Report
from edgeagent.driver_failures import DriverFailureLog
from edgeagent.supervisor import Agent
from tests.conftest import RunningAgent, make_config
from tests.support.waiting import until

GPIO_DRIVERS = [
    {"type": "gpio.sos", "name": "sos", "pin": 6},
    {"type": "gpio.contact", "name": "door", "pin": 17, "role": "entrance"},
    {"type": "gpio.pir", "name": "pir", "pin": 27, "pull": "down"},
]


@pytest.fixture
def no_pin_library(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """gpiozero finds no pin factory to load, as on a Pi without python3-lgpio."""
    saved = Device.pin_factory
    Device.pin_factory = None
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "no-pin-library-here")
    yield
    Device.pin_factory = saved


@pytest.mark.usefixtures("no_pin_library")
async def test_three_gpio_drivers_without_pin_library_one_fix_and_one_log_line_each(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = make_config(tmp_path, "mqtt://127.0.0.1:1", GPIO_DRIVERS)
    agent = Agent(config, sync_probe=lambda: True, tick_interval=0.05)
    caplog.set_level(logging.DEBUG, logger="edgeagent.driver_supervisor")
    async with RunningAgent(agent):
        await until(lambda: all(s.restarts >= 2 for s in agent.slots), 30,
                    "two failed starts of each GPIO driver")
        live = agent.status()
    stops = [r for r in caplog.records if r.levelno >= logging.WARNING
             and "stopped (" in r.getMessage()]
    assert sorted(r.getMessage().split()[1] for r in stops) == ["door", "pir", "sos"]
    assert all("no GPIO on this machine" in r.getMessage() for r in stops)

    results = check_drivers_live(config, live)
    library = [r for r in results if r.name == "gpio.library"]
    assert len(library) == 1 and library[0].status is Status.FAIL
    assert "apt install python3-lgpio" in library[0].fix
    assert "driver[sos], driver[door], driver[pir]" in library[0].reason
    for name in ("driver[sos]", "driver[door]", "driver[pir]"):
        (line,) = [r for r in results if r.name == name]
        assert line.status is Status.FAIL
        assert line.reason == "cannot start: see gpio.library" and line.fix == ""
    text = render_text(Report(checks=results, mode="daemon"), colour=False)
    assert "check the wiring" not in text
    assert text.count("python3-lgpio") == 1


def test_the_same_failure_again_is_summed_up_once_a_minute(
        caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    failures = DriverFailureLog(logging.getLogger("test.failures"), lambda: now[0])
    caplog.set_level(logging.WARNING, logger="test.failures")
    reason = "hardware unavailable: no GPIO on this machine " + "x" * 500
    for restart in range(1, 32):  # a restart every 2 s: the 31st is a minute after the 1st
        failures.stopped("sos", reason, restart, 2.0)
        now[0] += 2.0
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert lines[0].startswith("driver sos stopped (hardware unavailable") and reason in lines[0]
    assert lines[1].startswith("driver sos still failing: 30 more restarts in 60 s")
    assert len(lines[1]) < 250
    failures.stopped("sos", "a different reason", 32, 2.0)
    assert caplog.records[-1].getMessage().startswith("driver sos stopped (a different reason")
    failures.ran_well("sos")
    failures.stopped("sos", "a different reason", 33, 2.0)
    assert len(caplog.records) == 4


def test_on_a_50_column_terminal_every_line_fits() -> None:
    from edgeagent.doctor.result import fail, ok

    long_reason = "gpio.sos: failed (" + "hardware unavailable: no pin library loads " * 12 + ")"
    report = Report(checks=[ok("agent.version", "edgeagent 0.1.0"),
                            fail("driver[sos]", long_reason, "apt install python3-lgpio")],
                    mode="daemon")
    text = render_text(report, colour=False, columns=50)
    assert max(len(line) for line in text.splitlines()) <= 50
    assert "-> apt install python3-lgpio" in text
    assert "library loads" in text  # wrapped, not cut
    wide = render_text(report, colour=False)
    assert any(len(line) > 50 for line in wide.splitlines())  # the layout above is for narrow
