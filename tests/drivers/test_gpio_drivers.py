"""GPIO drivers on gpiozero's MockFactory pins: readings, timing, health, errors."""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from typing import Any

import pytest
from edgeagent_drivers.gpio.alarm_input import AlarmInputDriver
from edgeagent_drivers.gpio.bedmat import BedMatDriver
from edgeagent_drivers.gpio.chairpad import ChairPadDriver, ChairPadOptions
from edgeagent_drivers.gpio.contact import ContactDriver
from edgeagent_drivers.gpio.pir import PirDriver
from edgeagent_drivers.gpio.sos import SosDriver
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from edgeagent.clock import ManualClock
from edgeagent.config import parse_config
from edgeagent.driver import HealthState
from edgeagent.errors import ConfigError, DriverError, HardwareUnavailable
from tests.drivers.conftest import Harness, wait_for

pytestmark = pytest.mark.usefixtures("mock_factory")


def pin(factory: MockFactory, number: int) -> Any:
    return factory.pin(number)


# -- PIR ------------------------------------------------------------------------

def test_pir_reports_motion_start_at_once_and_end_after_hold_off(
        harness: Harness, mock_factory: MockFactory, clock: ManualClock) -> None:
    pir = harness.make(PirDriver, type="gpio.pir", name="pir-bedroom", room="bedroom", pin=17,
                       hold_off=30)
    pir.open()
    assert harness.values("motion") == [False]
    pin(mock_factory, 17).drive_high()
    assert harness.values("motion") == [False, True]
    assert harness.readings[-1].room == "bedroom"
    clock.advance(2)
    pin(mock_factory, 17).drive_low()
    clock.advance(10)
    pin(mock_factory, 17).drive_high()   # re-trigger inside the hold-off: absorbed
    clock.advance(2)
    pin(mock_factory, 17).drive_low()
    clock.advance(29)
    pir.poll()
    assert harness.values("motion") == [False, True]
    clock.advance(5)
    pir.poll()
    assert harness.values("motion") == [False, True, False]
    end = harness.readings[-1]
    assert end.mono == clock.monotonic() - 4  # stamped at the hold-off deadline, not the poll
    assert end.data["retriggers"] == 1
    assert pir.health.counters["edges"] == 4


def test_pir_stuck_high_degrades_health_and_recovers(
        harness: Harness, mock_factory: MockFactory, clock: ManualClock) -> None:
    pir = harness.make(PirDriver, type="gpio.pir", name="pir", pin=4, stuck_after=600)
    pir.open()
    assert pir.health.state is HealthState.OK
    pin(mock_factory, 4).drive_high()
    clock.advance(601)
    pir.poll()
    assert pir.health.state is HealthState.DEGRADED
    assert "PIR output high" in pir.health.reason
    pin(mock_factory, 4).drive_low()
    assert pir.health.state is HealthState.OK


async def test_pir_run_loop_fires_the_hold_off_timer_on_its_own(
        harness: Harness, mock_factory: MockFactory, clock: ManualClock) -> None:
    pir = harness.make(PirDriver, type="gpio.pir", name="pir", pin=5, hold_off=30)
    pir.context = harness.context(asyncio.get_running_loop())
    task = asyncio.create_task(pir.run())
    try:
        await wait_for(lambda: harness.values("motion") == [False])
        pin(mock_factory, 5).drive_high()
        pin(mock_factory, 5).drive_low()
        await wait_for(lambda: harness.values("motion") == [False, True])
        clock.advance(31)
        await wait_for(lambda: harness.values("motion") == [False, True, False])
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert pin(mock_factory, 5).function == "input"
    assert Device.pin_factory is mock_factory


async def test_edges_from_a_library_thread_reach_the_loop(
        harness: Harness, mock_factory: MockFactory) -> None:
    pir = harness.make(PirDriver, type="gpio.pir", name="pir", pin=6)
    pir.context = harness.context(asyncio.get_running_loop())
    task = asyncio.create_task(pir.run())
    try:
        await wait_for(lambda: len(harness.readings) == 1)
        seen: list[str] = []
        original = harness.readings.append

        def emit(reading: Any) -> None:
            seen.append(threading.current_thread().name)
            original(reading)

        pir.context.emit = emit
        thread = threading.Thread(target=pin(mock_factory, 6).drive_high, name="lgpio-alert")
        thread.start()
        thread.join()
        await wait_for(lambda: harness.values("motion") == [False, True])
        assert seen == [threading.current_thread().name]  # emitted on the loop's thread
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


# -- contact --------------------------------------------------------------------

def test_contact_open_closed_with_role_after_settle(
        harness: Harness, mock_factory: MockFactory, clock: ManualClock) -> None:
    door = harness.make(ContactDriver, type="gpio.contact", name="front-door", room="hall",
                        role="entrance", pin="GPIO22", settle=0.5)
    door.open()  # pull-up, reed open: line high = door open
    assert harness.values("door") == ["open"]
    pin(mock_factory, 22).drive_low()            # magnet at the reed: closed
    clock.advance(0.1)
    pin(mock_factory, 22).drive_high()           # chatter
    clock.advance(0.1)
    pin(mock_factory, 22).drive_low()
    clock.advance(0.6)
    door.poll()
    assert harness.values("door") == ["open", "closed"]
    assert harness.readings[-1].role == "entrance"
    assert harness.readings[-1].data["glitches"] == 1
    pin(mock_factory, 22).drive_high()
    clock.advance(1)
    door.poll()
    assert harness.values("door") == ["open", "closed", "open"]


def test_contact_chattering_degrades_then_recovers(
        harness: Harness, mock_factory: MockFactory, clock: ManualClock) -> None:
    door = harness.make(ContactDriver, type="gpio.contact", name="window", pin=23,
                        max_edges_per_minute=50)
    door.open()
    for _ in range(30):
        pin(mock_factory, 23).drive_low()
        clock.advance(0.01)
        pin(mock_factory, 23).drive_high()
        clock.advance(0.01)
    assert door.health.state is HealthState.DEGRADED
    assert "chattering: 60 edges" in door.health.reason
    clock.advance(61)
    door.poll()
    assert door.health.state is HealthState.OK


def test_normally_closed_contact_with_active_high(
        harness: Harness, mock_factory: MockFactory) -> None:
    door = harness.make(ContactDriver, type="gpio.contact", name="fridge", pin=24,
                        role="fridge", active_high=True, settle=0)
    door.open()  # pull-up holds the line high: for an NC reed that means closed
    assert harness.values("door") == ["closed"]
    pin(mock_factory, 24).drive_low()
    assert harness.values("door") == ["closed", "open"]


# -- bed mat --------------------------------------------------------------------

def test_bedmat_turning_over_is_not_an_exit(
        harness: Harness, mock_factory: MockFactory, clock: ManualClock) -> None:
    bed = harness.make(BedMatDriver, type="gpio.bedmat", name="bed", room="bedroom", pin=27,
                       exit_settle=15, entry_settle=2)
    bed.open()
    assert harness.values("bed") == ["out_of_bed"]
    pin(mock_factory, 27).drive_low()
    clock.advance(3)
    bed.poll()
    assert harness.values("bed") == ["out_of_bed", "in_bed"]
    for _ in range(3):                       # three turn-overs of 5 s
        clock.advance(600)
        pin(mock_factory, 27).drive_high()
        clock.advance(5)
        pin(mock_factory, 27).drive_low()
    bed.poll()
    assert harness.values("bed") == ["out_of_bed", "in_bed"]
    pin(mock_factory, 27).drive_high()       # gets up
    clock.advance(16)
    bed.poll()
    assert harness.values("bed") == ["out_of_bed", "in_bed", "out_of_bed"]
    assert harness.readings[-1].data == {"settled_s": 15, "glitches": 3}
    assert bed.health.counters["glitches"] == 3


# -- chair pad ------------------------------------------------------------------

def test_chairpad_holds_occupancy_while_she_sits_and_leaning_forward_is_not_getting_up(
        harness: Harness, mock_factory: MockFactory, clock: ManualClock) -> None:
    chair = harness.make(ChairPadDriver, type="gpio.chairpad", name="armchair", room="living",
                         pin=22, exit_settle=10, entry_settle=3)
    chair.open()
    assert harness.values("occupancy") == [False]
    pin(mock_factory, 22).drive_low()        # sits down
    clock.advance(2)
    chair.poll()
    assert harness.values("occupancy") == [False]
    clock.advance(2)
    chair.poll()
    assert harness.values("occupancy") == [False, True]
    for _ in range(2):                       # leans forward to the table for 6 s
        clock.advance(1800)
        pin(mock_factory, 22).drive_high()
        clock.advance(6)
        pin(mock_factory, 22).drive_low()
    chair.poll()
    assert harness.values("occupancy") == [False, True]
    pin(mock_factory, 22).drive_high()       # gets up
    clock.advance(11)
    chair.poll()
    assert harness.values("occupancy") == [False, True, False]
    got_up = harness.readings[-1]
    assert (got_up.sensor, got_up.room, got_up.role, got_up.device) == (
        "occupancy", "living", "chair", "armchair")
    assert got_up.mono == clock.monotonic() - 1   # stamped when it became sure
    assert got_up.data == {"settled_s": 10, "glitches": 2}


def test_chairpad_on_a_sofa_and_the_entry_point() -> None:
    config = parse_config(driver_table(type="gpio.chairpad", name="sofa", pin=23, role="sofa"),
                          "home.toml")
    options = config.drivers[0]
    assert isinstance(options, ChairPadOptions)
    assert (options.role, options.exit_settle, options.pull) == ("sofa", 10.0, "up")
    with pytest.raises(ConfigError) as err:
        parse_config(driver_table(type="gpio.chairpad", name="x", pin=23, role="bed"),
                     "home.toml")
    assert err.value.key == "drivers[0].role"


# -- SOS ------------------------------------------------------------------------

def test_sos_press_is_reported_on_the_edge(harness: Harness, mock_factory: MockFactory) -> None:
    sos = harness.make(SosDriver, type="gpio.sos", name="sos", room="living", pin=26)
    sos.open()
    assert harness.readings == []
    pin(mock_factory, 26).drive_low()
    assert [(r.sensor, r.value) for r in harness.readings] == [("sos", True)]


def test_sos_long_press_cancel_and_stuck_button(
        harness: Harness, mock_factory: MockFactory, clock: ManualClock) -> None:
    sos = harness.make(SosDriver, type="gpio.sos", name="sos", pin=19,
                       long_press_action="cancel", long_press=3, stuck_after=30)
    sos.open()
    button = pin(mock_factory, 19)
    button.drive_low()
    clock.advance(10)     # the resident holds it: no cancel
    sos.poll()
    button.drive_high()
    clock.advance(120)
    button.drive_low()    # the carer holds it for 4 s
    clock.advance(4)
    sos.poll()
    button.drive_high()
    assert [r.sensor for r in harness.readings] == ["sos", "sos_cancel"]
    clock.advance(1)
    button.drive_low()
    clock.advance(31)
    sos.poll()
    assert sos.health.state is HealthState.DEGRADED
    assert "held for 31 s" in sos.health.reason
    button.drive_high()
    sos.poll()
    assert sos.health.state is HealthState.OK


# -- smoke / gas ------------------------------------------------------------------

def test_gas_alarm_on_normally_closed_relay_treats_a_cut_cable_as_alarm(
        harness: Harness, mock_factory: MockFactory, clock: ManualClock) -> None:
    gas = harness.make(AlarmInputDriver, type="gpio.alarm_input", name="gas-kitchen",
                       room="kitchen", pin=13, alarm="gas", pull="up", active_high=True,
                       clear_after=5)
    relay = pin(mock_factory, 13)
    gas.open()            # nothing holds the line low: cable cut or relay open
    assert [(r.sensor, r.value, r.room) for r in harness.readings] == [("gas", True, "kitchen")]
    relay.drive_low()     # relay closed to ground: quiet...
    clock.advance(2)
    relay.drive_high()    # ...but it opens again before clear_after: still one alarm
    relay.drive_low()
    clock.advance(4)
    gas.poll()
    assert harness.values("gas") == [True]
    clock.advance(2)
    gas.poll()
    assert harness.values("gas") == [True, False]
    relay.drive_high()    # detector alarms: reported on the edge
    assert harness.values("gas") == [True, False, True]


def test_smoke_confirm_time_filters_a_spike(
        harness: Harness, mock_factory: MockFactory, clock: ManualClock) -> None:
    smoke = harness.make(AlarmInputDriver, type="gpio.alarm_input", name="smoke", pin=12,
                         alarm="smoke", confirm=1.0)
    smoke.open()
    pin(mock_factory, 12).drive_low()
    clock.advance(0.2)
    pin(mock_factory, 12).drive_high()
    clock.advance(5)
    smoke.poll()
    assert harness.values("smoke") == [False]
    pin(mock_factory, 12).drive_low()
    clock.advance(1.5)
    smoke.poll()
    assert harness.values("smoke") == [False, True]


# -- config and errors --------------------------------------------------------------

def driver_table(**table: Any) -> dict[str, Any]:
    return {"drivers": [table]}


def test_config_rejects_a_pin_used_twice_naming_both_drivers() -> None:
    data = {"drivers": [
        {"type": "gpio.pir", "name": "pir-hall", "pin": 17},
        {"type": "gpio.contact", "name": "front-door", "pin": "BOARD11", "role": "entrance"},
    ]}
    with pytest.raises(ConfigError) as err:
        parse_config(data, "home.toml")
    assert err.value.key == "drivers[1].pin"
    assert "'pir-hall'" in str(err.value) and "'front-door'" in str(err.value)


@pytest.mark.parametrize(("table", "key", "words"), [
    ({"type": "gpio.pir", "name": "p", "pin": 40}, "drivers[0].pin", "does not exist"),
    ({"type": "gpio.pir", "name": "p", "pin": "BOARD1"}, "drivers[0].pin", "not a GPIO"),
    ({"type": "gpio.pir", "name": "p", "pin": 4, "pull": "off"}, "drivers[0]", "active_high"),
    ({"type": "gpio.pir", "name": "p", "pin": 4, "hold_of": 3}, "drivers[0].hold_of", "unknown"),
    ({"type": "gpio.alarm_input", "name": "a", "pin": 4}, "drivers[0].alarm", "missing"),
    ({"type": "gpio.alarm_input", "name": "a", "pin": 4, "alarm": "fire"}, "drivers[0].alarm",
     "smoke"),
    ({"type": "gpio.sos", "name": "s", "pin": 4, "pin_factory": "nosuch"},
     "drivers[0].pin_factory", "unknown gpiozero pin factory"),
    ({"type": "gpio.bedmat", "name": "b", "pin": 4, "exit_settle": -1},
     "drivers[0].exit_settle", "must be at least"),
])
def test_bad_gpio_config_names_the_key(table: dict[str, Any], key: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"drivers": [table]}, "home.toml")
    assert err.value.key == key
    assert words in err.value.reason


def test_gpiozero_pull_up_spelling_is_accepted() -> None:
    data = {"drivers": [{"type": "gpio.pir", "name": "p", "pin": 4, "pull_up": True},
                        {"type": "gpio.sos", "name": "s", "pin": 5, "pull_up": False}]}
    assert [d.pull for d in parse_config(data).drivers] == ["up", "down"]  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="either pull or pull_up"):
        parse_config({"drivers": [{"type": "gpio.pir", "name": "p", "pin": 4, "pull_up": True,
                                   "pull": "up"}]})


def test_pin_names_normalise_to_bcm() -> None:
    data = {"drivers": [{"type": "gpio.pir", "name": "p", "pin": "BOARD11"},
                        {"type": "gpio.sos", "name": "s", "pin": "gpio4"}]}
    config = parse_config(data)
    assert [d.claimed_pins() for d in config.drivers] == [[17], [4]]


def test_no_gpio_at_all_is_hardware_unavailable_naming_the_driver(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    Device.pin_factory = None  # the mock_factory fixture restores it
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "nosuchfactory")
    pir = harness.make(PirDriver, type="gpio.pir", name="pir-kitchen", pin=17)
    with pytest.raises(HardwareUnavailable) as err:
        pir.open()
    assert "gpio.pir driver 'pir-kitchen'" in str(err.value)
    assert "no GPIO on this machine" in str(err.value)
    assert pir.health.state is HealthState.FAILED
    assert harness.readings == []


async def test_no_gpio_ends_run_with_hardware_unavailable(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    Device.pin_factory = None
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "nosuchfactory")
    sos = harness.make(SosDriver, type="gpio.sos", name="sos-button", pin=26)
    with pytest.raises(HardwareUnavailable, match="'sos-button'"):
        await asyncio.wait_for(sos.run(), 5)


def test_pin_factory_option_that_cannot_load_is_hardware_unavailable(harness: Harness) -> None:
    if importlib.util.find_spec("lgpio") is not None:
        pytest.skip("lgpio is installed here")
    bed = harness.make(BedMatDriver, type="gpio.bedmat", name="bed", pin=27, pin_factory="lgpio")
    with pytest.raises(HardwareUnavailable, match=r"'bed'.*'lgpio'"):
        bed.open()


def test_same_pin_twice_at_runtime_is_a_driver_error(harness: Harness) -> None:
    first = harness.make(PirDriver, type="gpio.pir", name="a", pin=18)
    second = harness.make(ContactDriver, type="gpio.contact", name="b", pin=18)
    first.open()
    with pytest.raises(DriverError, match="GPIO18 is already in use"):
        second.open()
    first.close_device()
    second.open()
    assert second.health.state is HealthState.OK
