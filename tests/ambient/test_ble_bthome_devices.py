"""`ble.button` (the SOS pendant) and `ble.sensors` through bleak's BleakScanner on the fake
backend: plain and encrypted adverts, a wrong key, a replayed counter, supervision."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from edgeagent_drivers.ambient.activity_kinds import activity_reading
from edgeagent_drivers.ambient.bthome_devices import BthomeDevicesDriver
from edgeagent_drivers.ambient.mqtt_local import MapEntry, convert
from edgeagent_drivers.ambient.pendant import ButtonDriver, ButtonOptions
from edgeagent_drivers.ambient.wireless_sensors import SensorsDriver, SensorsOptions
from edgeagent_drivers.ble.vitals import BleBackend
from edgeagent_mocks.ble import FakeAdapter, FakePeripheral, VirtualTime, encoders

from edgeagent.clock import ManualClock
from edgeagent.config import parse_config
from edgeagent.doctor.driver_checks import check_drivers_live
from edgeagent.doctor.result import Status
from edgeagent.driver import DriverContext, HealthState
from edgeagent.errors import ConfigError
from edgeagent.models import Reading
from tests.support.waiting import until_while_running

PENDANT = "3C:2E:F5:00:00:01"
DOOR = "3C:2E:F5:00:00:02"
MOTION = "3C:2E:F5:00:00:03"
KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
PRESS, DOUBLE, LONG = 0x01, 0x02, 0x04


def keys_file(tmp_path: Path, *macs: str, key: bytes = KEY, mode: int = 0o600) -> Path:
    path = tmp_path / "ble-keys.toml"
    path.write_text("".join(f'[devices."{m}"]\nkey = "{key.hex()}"\n' for m in macs))
    os.chmod(path, mode)
    return path


class Home:
    def __init__(self) -> None:
        self.clock = ManualClock()
        self.vt = VirtualTime(self.clock)
        self.adapter = FakeAdapter(clock=self.clock)
        self.readings: list[Reading] = []
        self.driver: BthomeDevicesDriver | None = None
        self.task: asyncio.Task[None] | None = None
        self.counter = 100

    def start(self, kind: str, devices: list[dict[str, Any]], **options: Any
              ) -> BthomeDevicesDriver:
        ctx = DriverContext(emit=self.readings.append, clock=self.clock,
                            logger=logging.getLogger("test.bthome"))
        backend = BleBackend(self.adapter.client_backend, self.adapter.scanner_backend)
        table = {"name": kind.replace(".", "-"), "devices": devices, "room": "home",
                 "watchdog_interval_s": 30, **options}
        driver: BthomeDevicesDriver
        if kind == "ble.button":
            driver = ButtonDriver(ButtonOptions.model_validate({"type": kind, **table}), ctx,
                                  backend=backend, sleep=self.vt.sleep)
        else:
            driver = SensorsDriver(SensorsOptions.model_validate({"type": kind, **table}), ctx,
                                   backend=backend, sleep=self.vt.sleep)
        self.driver = driver
        self.task = asyncio.create_task(driver.run())
        return driver

    def device(self, address: str) -> FakePeripheral:
        p = FakePeripheral(address, None, profiles=())
        p.rssi = -67
        self.adapter.add(p)
        return p

    async def scanning(self) -> None:
        await until_while_running(self.task, lambda: bool(self.adapter.scanners), 3.0)

    def send(self, p: FakePeripheral, plain: bytes, *, key: bytes | None = None,
             counter: int | None = None) -> None:
        """One advertisement (sealed with `key` if given, each with a new counter)."""
        if key is not None:
            if counter is None:
                self.counter += 1
                counter = self.counter
            plain = encoders.bthome_encrypted(plain, p.address, key, counter)
        p.broadcast("fcd2", plain)

    def of(self, sensor: str) -> list[Reading]:
        return [r for r in self.readings if r.sensor == sensor]


@pytest.fixture
async def home() -> AsyncIterator[Home]:
    h = Home()
    yield h
    if h.task is not None:
        h.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await h.task


# --- the pendant ---


async def test_encrypted_press_is_one_sos_at_once_and_repeats_of_the_frame_are_not(
        home: Home, tmp_path: Path) -> None:
    pendant = home.device(PENDANT)
    driver = home.start("ble.button", [{"id": "anna-pendant", "address": PENDANT,
                                        "room": "bedroom"}],
                        keys_file=str(keys_file(tmp_path, PENDANT)))
    await home.scanning()
    home.send(pendant, encoders.bthome_button(PRESS, packet_id=7), key=KEY, counter=500)
    for _ in range(3):  # the button repeats its frame; BlueZ hands each copy over
        home.adapter.advertise(pendant)
    [sos] = home.of("sos")
    assert sos.value is True and sos.device == "anna-pendant" and sos.room == "bedroom"
    assert sos.role == "sos" and sos.data["event"] == "press" and sos.data["encrypted"] is True
    assert driver.health.counters["duplicate_frames"] == 3
    home.send(pendant, encoders.bthome_button(DOUBLE, packet_id=8), key=KEY, counter=501)
    assert [r.data["event"] for r in home.of("sos")] == ["press", "double_press"]
    assert driver.health.state == HealthState.OK
    details = driver.health.details["anna-pendant"]
    assert details["rssi"] == -67 and details["last_press"]["event"] == "double_press"
    assert details["encrypted"] is True and KEY.hex() not in repr(driver.health.as_dict())


async def test_plain_press_with_a_repeated_packet_id_is_one_sos(home: Home) -> None:
    pendant = home.device(PENDANT)
    home.start("ble.button", [{"id": "pendant", "address": PENDANT}])
    await home.scanning()
    home.send(pendant, encoders.bthome_button(PRESS, packet_id=1))
    home.adapter.advertise(pendant)
    assert len(home.of("sos")) == 1
    home.send(pendant, encoders.bthome_button(PRESS, packet_id=2))
    assert len(home.of("sos")) == 2
    home.send(pendant, encoders.bthome_button(0x00, packet_id=3))  # "none": a keep-alive
    assert len(home.of("sos")) == 2


async def test_wrong_key_is_one_clear_health_message_not_a_stream(
        home: Home, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    pendant = home.device(PENDANT)
    driver = home.start("ble.button", [{"id": "pendant", "address": PENDANT}],
                        keys_file=str(keys_file(tmp_path, PENDANT)))
    await home.scanning()
    caplog.set_level(logging.WARNING)
    for n in range(5):
        home.send(pendant, encoders.bthome_button(PRESS, packet_id=n), key=bytes(16))
    assert home.of("sos") == []
    assert driver.health.counters["decrypt_failures"] == 5
    assert driver.health.state == HealthState.DEGRADED
    assert "do not decrypt with the bind key" in driver.health.reason
    warnings = [r for r in caplog.records if "decrypt" in r.getMessage()]
    assert len(warnings) == 1
    assert KEY.hex() not in caplog.text and bytes(16).hex() not in caplog.text
    home.send(pendant, encoders.bthome_button(PRESS, packet_id=9), key=KEY)
    assert len(home.of("sos")) == 1 and driver.health.state == HealthState.OK


async def test_encrypted_pendant_without_a_key_says_so(home: Home) -> None:
    pendant = home.device(PENDANT)
    driver = home.start("ble.button", [{"id": "pendant", "address": PENDANT}])
    await home.scanning()
    home.send(pendant, encoders.bthome_button(PRESS, packet_id=1), key=KEY)
    assert home.of("sos") == []
    assert "keys file has no bind key for 3C:2E:F5:00:00:01" in driver.health.reason


async def test_replayed_old_counter_is_refused_and_counted(home: Home, tmp_path: Path) -> None:
    pendant = home.device(PENDANT)
    driver = home.start("ble.button", [{"id": "pendant", "address": PENDANT}],
                        keys_file=str(keys_file(tmp_path, PENDANT)))
    await home.scanning()
    recorded = encoders.bthome_encrypted(encoders.bthome_button(PRESS, packet_id=1),
                                         PENDANT, KEY, 10)
    pendant.broadcast("fcd2", recorded)
    home.send(pendant, encoders.bthome_button(0x00, packet_id=2), key=KEY, counter=11)
    pendant.broadcast("fcd2", recorded)  # an attacker re-sends the recorded press
    assert len(home.of("sos")) == 1
    assert driver.health.counters["replayed_counters"] == 1
    assert "replayed or old frame refused" in driver.health.reason


async def test_long_press_cancels_only_after_this_pendant_raised(home: Home) -> None:
    pendant = home.device(PENDANT)
    home.start("ble.button", [{"id": "pendant", "address": PENDANT}],
               long_press_action="cancel", cancel_window=600)
    await home.scanning()
    home.send(pendant, encoders.bthome_button(LONG, packet_id=1))  # first: always raises
    assert [r.sensor for r in home.readings if r.sensor.startswith("sos")] == ["sos"]
    home.send(pendant, encoders.bthome_button(LONG, packet_id=2))  # carer cancels
    home.send(pendant, encoders.bthome_button(LONG, packet_id=3))  # nothing open: raises
    assert [r.sensor for r in home.readings if r.sensor.startswith("sos")] == [
        "sos", "sos_cancel", "sos"]
    await home.vt.advance(601)
    home.send(pendant, encoders.bthome_button(LONG, packet_id=4))  # window passed: raises
    assert [r.sensor for r in home.readings if r.sensor.startswith("sos")][-1] == "sos"


async def test_silent_pendant_goes_offline_once_with_its_reason_then_online(
        home: Home) -> None:
    pendant = home.device(PENDANT)
    driver = home.start("ble.button", [{"id": "anna-pendant", "address": PENDANT}],
                        supervision_minutes=60)
    await home.scanning()
    home.send(pendant, encoders.bthome_button(0x00, packet_id=1, battery_pct=15))
    assert [r.value for r in home.of("battery")] == [15]   # the engine's low_battery
    pendant.in_range = False
    await home.vt.advance(59 * 60)
    assert home.of("device_status") == []
    await home.vt.advance(2 * 60)
    [offline] = home.of("device_status")
    assert offline.value == "offline" and offline.device == "anna-pendant"
    assert "the resident may not be able to call for help" in offline.data["reason"]
    assert driver.health.state == HealthState.DEGRADED
    pendant.in_range = True
    home.send(pendant, encoders.bthome_button(0x00, packet_id=2, battery_pct=15))
    assert [r.value for r in home.of("device_status")] == ["offline", "online"]
    assert [r.value for r in home.of("battery")] == [15]   # unchanged: not repeated


def test_world_readable_keys_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    path = keys_file(tmp_path, PENDANT, mode=0o644)
    with pytest.raises(ConfigError) as info:
        parse_config({"drivers": [{"type": "ble.button", "name": "p", "keys_file": str(path),
                                   "devices": [{"id": "p", "address": PENDANT}]}]})
    assert info.value.key.startswith("drivers[0]") and "chmod 600" in info.value.reason


def test_the_keys_file_is_a_secret_file_of_the_driver(tmp_path: Path) -> None:
    path = keys_file(tmp_path, PENDANT)
    config = parse_config({"drivers": [{"type": "ble.button", "name": "p",
                                        "keys_file": str(path),
                                        "devices": [{"id": "p", "address": "3c-2e-f5-00-00-01"}]}]})
    driver = config.drivers[0]
    assert driver.secret_files() == {"keys_file": path}
    assert KEY.hex() not in driver.model_dump_json()
    assert driver.devices[0].address == PENDANT  # type: ignore[attr-defined]


# --- wireless activity sensors ---


async def test_door_window_and_motion_become_the_gpio_readings(home: Home, tmp_path: Path
                                                               ) -> None:
    door, motion = home.device(DOOR), home.device(MOTION)
    home.start("ble.sensors", [
        {"id": "front-door", "address": DOOR, "room": "hall", "role": "entrance"},
        {"id": "hall-motion", "address": MOTION, "room": "hall"}],
        keys_file=str(keys_file(tmp_path, MOTION)))
    await home.scanning()
    home.send(door, encoders.bthome((0x00, 1, 1), (0x1A, 1, 1)))          # door open
    home.adapter.advertise(door)                                           # repeated
    home.send(door, encoders.bthome((0x00, 1, 2), (0x1A, 1, 0)))          # closed
    [opened, closed] = home.of("door")
    assert (opened.value, opened.role, opened.room) == ("open", "entrance", "hall")
    assert closed.value == "closed"
    home.send(motion, encoders.bthome((0x00, 1, 1), (0x21, 1, 1)), key=KEY)
    home.send(motion, encoders.bthome((0x00, 1, 2), (0x21, 1, 1)), key=KEY)  # motion again
    home.send(motion, encoders.bthome((0x00, 1, 3), (0x21, 1, 0)), key=KEY)  # clear
    assert [r.value for r in home.of("motion")] == [True, True, False]
    assert all(r.data["encrypted"] for r in home.of("motion"))


async def test_first_state_of_each_sensor_after_each_start_is_a_baseline(home: Home) -> None:
    door, motion = home.device(DOOR), home.device(MOTION)
    devices = [{"id": "front-door", "address": DOOR, "room": "hall", "role": "entrance"},
               {"id": "hall-motion", "address": MOTION, "room": "hall"}]
    home.start("ble.sensors", devices)
    await home.scanning()
    home.send(door, encoders.bthome((0x00, 1, 1), (0x1A, 1, 1)))      # found open
    home.send(door, encoders.bthome((0x00, 1, 2), (0x1A, 1, 0)))      # then closed: a change
    home.send(motion, encoders.bthome((0x00, 1, 1), (0x21, 1, 1)))
    home.send(motion, encoders.bthome((0x00, 1, 2), (0x21, 1, 1)))    # motion again
    assert [(r.value, r.data.get("initial")) for r in home.of("door")] == [
        ("open", True), ("closed", None)]
    assert [(r.value, r.data.get("initial")) for r in home.of("motion")] == [
        (True, True), (True, None)]
    assert home.task is not None
    home.task.cancel()  # a restart: the supervisor makes a new driver for each run
    with contextlib.suppress(asyncio.CancelledError):
        await home.task
    home.readings.clear()
    home.adapter.scanners.clear()
    home.start("ble.sensors", devices)
    await home.scanning()
    home.send(door, encoders.bthome((0x00, 1, 3), (0x1A, 1, 0)))
    [found] = home.of("door")
    assert (found.value, found.data.get("initial")) == ("closed", True)


async def test_a_pendant_press_is_never_a_baseline(home: Home) -> None:
    pendant = home.device(PENDANT)
    home.start("ble.button", [{"id": "anna-pendant", "address": PENDANT}])
    await home.scanning()
    home.send(pendant, encoders.bthome_button(PRESS, packet_id=1))  # the first frame heard
    [sos] = home.of("sos")
    assert sos.value is True and "initial" not in sos.data


async def test_window_and_occupancy_objects_use_the_shared_table(home: Home) -> None:
    window, seat = home.device(DOOR), home.device(MOTION)
    home.start("ble.sensors", [{"id": "bedroom-window", "address": DOOR, "room": "bedroom"},
                               {"id": "armchair", "address": MOTION, "room": "living",
                                "role": "chair"}])
    await home.scanning()
    home.send(window, encoders.bthome((0x2D, 1, 1)))
    home.send(seat, encoders.bthome((0x00, 1, 1), (0x23, 1, 1)))
    home.send(seat, encoders.bthome((0x00, 1, 2), (0x23, 1, 1)))  # still sitting: no new reading
    home.send(seat, encoders.bthome((0x00, 1, 3), (0x23, 1, 0)))
    [win] = home.of("door")
    assert (win.value, win.role) == ("open", "window")
    assert [(r.value, r.role, r.room) for r in home.of("occupancy")] == [
        (True, "chair", "living"), (False, "chair", "living")]
    assert home.of("motion") == []


async def test_a_bthome_presence_radar_is_held_occupancy_with_role_radar(home: Home) -> None:
    radar = home.device(MOTION)
    home.start("ble.sensors", [{"id": "fp", "address": MOTION, "room": "living"}])
    await home.scanning()
    home.send(radar, encoders.bthome((0x00, 1, 1), (0x25, 1, 1)))
    [present] = home.of("occupancy")
    assert (present.value, present.role, present.data["object"]) == (True, "radar", "presence")


def test_one_table_for_zigbee2mqtt_and_bthome() -> None:
    assert activity_reading("door", True) == ("door", "open")       # BTHome: 1 = open
    assert activity_reading("contact", True) == ("door", "closed")  # Z2M: true = closed
    assert activity_reading("occupancy", False) == ("occupancy", False)
    assert activity_reading("presence", True) == ("occupancy", True)
    assert activity_reading("motion", True) == ("motion", True)


async def test_unknown_devices_and_malformed_frames_are_counted(home: Home) -> None:
    stranger, door = home.device("11:22:33:44:55:66"), home.device(DOOR)
    driver = home.start("ble.sensors", [{"id": "door", "address": DOOR}])
    await home.scanning()
    home.send(stranger, encoders.bthome((0x21, 1, 1)))
    home.send(door, b"\x40\x02\x01")  # temperature object cut short
    assert home.readings == []
    assert driver.health.counters["ignored_adverts"] >= 1
    assert driver.health.counters["malformed_payloads"] == 1
    assert "malformed advert" in driver.health.reason



@pytest.mark.parametrize(("kind", "raw", "expected"), [
    ("contact", True, ("door", "closed")), ("contact", False, ("door", "open")),
    ("occupancy", True, ("occupancy", True)), ("presence", "ON", ("occupancy", True)),
    ("motion", 0, ("motion", False)),
])
def test_zigbee2mqtt_mapping_goes_through_the_same_table(kind: str, raw: object,
                                                         expected: tuple[str, object]) -> None:
    assert convert(MapEntry(topic="zigbee2mqtt/x", field=kind, kind=kind), raw) == expected


async def test_doctor_shows_each_pendant_heard_rssi_battery_and_last_press(home: Home) -> None:
    pendant = home.device(PENDANT)
    driver = home.start("ble.button", [{"id": "anna-pendant", "address": PENDANT}])
    await home.scanning()
    home.send(pendant, encoders.bthome_button(PRESS, packet_id=1, battery_pct=15))
    config = parse_config({"drivers": [driver.options.model_dump(mode="json")]})
    results = {r.name: r for r in check_drivers_live(
        config, {"drivers": {driver.name: driver.health.as_dict()}})}
    check = results["ble.monitor[anna-pendant]"]
    assert check.status is Status.WARN and check.reason.startswith("low battery")
    assert "rssi -67 dBm" in check.reason and "battery 15.0%" in check.reason
    assert check.details["last_press"]["event"] == "press"
    assert check.details["last_heard"] is not None


async def test_a_button_set_apart_as_ok_is_her_im_ok_button_and_never_an_sos(
        home: Home) -> None:
    red, green = home.device(PENDANT), home.device("3C:2E:F5:00:00:02")
    home.start("ble.button", [{"id": "red", "address": PENDANT},
                              {"id": "green", "address": "3C:2E:F5:00:00:02", "role": "ok"}],
               long_press_action="cancel", cancel_window=600)
    await home.scanning()
    home.send(red, encoders.bthome_button(PRESS, packet_id=1))    # she calls for help
    home.send(green, encoders.bthome_button(LONG, packet_id=1))   # the OK button, held
    home.send(green, encoders.bthome_button(PRESS, packet_id=2))
    assert [(r.sensor, r.device, r.role) for r in home.readings
            if r.sensor in ("sos", "sos_cancel", "ok")] == [
        ("sos", "red", "sos"), ("ok", "green", "ok"), ("ok", "green", "ok")]  # no cancel
    with pytest.raises(ConfigError) as err:
        parse_config({"drivers": [{"type": "ble.button", "name": "b", "devices": [
            {"id": "x", "address": PENDANT, "role": "help"}]}]}, "<test>")
    assert err.value.key == "drivers[0].devices[0].role"
