"""The whole chain on mock pins: SimulatedHome -> real gpio drivers -> safety engine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from edgeagent_mocks.simulated_home import SimulatedHome
from gpiozero.pins.mock import MockFactory

from edgeagent.clock import ManualClock
from edgeagent.models import Draft, Kind
from tests.drivers.conftest import Harness
from tests.heuristics.home import ZONE, ZONE_NAME, new_engine


def run_night(script: str, until_local: str) -> list[Draft]:
    clock = ManualClock(start=datetime(2026, 3, 2, 20, 0, tzinfo=UTC))  # 21:00 in Amsterdam
    harness = Harness(clock)
    home = SimulatedHome(script, clock=clock, factory=MockFactory(), tz=ZONE_NAME)
    drivers = home.make_drivers(harness.context(), **{
        "gpio.pir": {"hold_off": 30}, "gpio.bedmat": {"exit_settle": 15, "entry_settle": 2}})
    home.apply_initial()
    for driver in drivers:
        driver.open()  # type: ignore[attr-defined]
    engine = new_engine()
    drafts: list[Draft] = []
    end = home.at(until_local)
    seen = 0
    while clock.wall() < end:  # the supervisor's heartbeat: one tick a minute
        home.run_until(min(clock.wall() + timedelta(minutes=1), end), drivers)  # type: ignore[arg-type]
        for reading in harness.readings[seen:]:
            drafts += engine.feed(reading)
        seen = len(harness.readings)
        drafts += engine.tick(clock.monotonic(), clock.wall())
    for driver in drivers:
        driver.close_device()  # type: ignore[attr-defined]
    return [d for d in drafts if d.kind is Kind.ALERT]


def local_story(alerts: list[Draft]) -> list[tuple[str, str, str]]:
    return [(a.wall.astimezone(ZONE).strftime("%H:%M"), a.type, str((a.alert or {})["state"]))
            for a in alerts]


def test_real_drivers_night_without_return_raises_then_resolves_when_found() -> None:
    alerts = run_night(
        "21:30 kitchen motion; 22:30 bedroom motion; 22:40 bed in; 02:10 bed out; "
        "02:11 bathroom motion; 02:50 kitchen motion", "03:00")
    assert local_story(alerts) == [
        ("02:31", "bed_exit_no_return", "raised"),
        ("02:50", "bed_exit_no_return", "resolved"),
    ]
    assert alerts[0].data["reason"].startswith("out of bed since 02:10")


def test_real_drivers_night_toilet_trip_with_return_is_quiet() -> None:
    alerts = run_night(
        "21:30 kitchen motion; 22:30 bedroom motion; 22:40 bed in; 02:10 bed out; "
        "02:11 bathroom motion; 02:16 bedroom motion; 02:17 bed in", "03:30")
    assert alerts == []
