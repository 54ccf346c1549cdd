"""`ble.advert_env` through bleak's real BleakScanner on the fake backend, in virtual time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from edgeagent_drivers.ambient.advert_env import AdvertEnvDriver, AdvertEnvOptions
from edgeagent_drivers.ble.vitals import BleBackend
from edgeagent_mocks.ble import FakeAdapter, FakePeripheral, VirtualTime, encoders
from pydantic import ValidationError

from edgeagent.clock import ManualClock
from edgeagent.driver import DriverContext, HealthState, load_driver_class
from edgeagent.models import Reading
from tests.support.waiting import until_while_running

LIVING = "A4:C1:38:00:00:01"
BEDROOM = "A4:C1:38:00:00:02"


def bthome(temp_c: float, hum_pct: float, battery: int, packet: int = 1) -> bytes:
    """A BTHome v2 frame built by hand from the spec's object table (not by the parser)."""
    t = round(temp_c * 100).to_bytes(2, "little", signed=True)
    h = round(hum_pct * 100).to_bytes(2, "little")
    return bytes([0x40, 0x00, packet, 0x01, battery, 0x02]) + t + b"\x03" + h


def pvvx(temp_c: float, hum_pct: float, battery: int, counter: int = 1) -> bytes:
    mac = bytes.fromhex(BEDROOM.replace(":", ""))[::-1]
    return (mac + round(temp_c * 100).to_bytes(2, "little", signed=True)
            + round(hum_pct * 100).to_bytes(2, "little") + (2950).to_bytes(2, "little")
            + bytes([battery, counter, 0]))


class Env:
    def __init__(self) -> None:
        self.clock = ManualClock()
        self.vt = VirtualTime(self.clock)
        self.adapter = FakeAdapter(clock=self.clock)
        self.readings: list[Reading] = []
        self.driver: AdvertEnvDriver | None = None
        self.task: asyncio.Task[None] | None = None

    def start(self, sensors: list[dict[str, Any]], **options: Any) -> AdvertEnvDriver:
        opts = AdvertEnvOptions.model_validate(
            {"type": "ble.advert_env", "name": "thermos", "sensors": sensors, **options})
        ctx = DriverContext(emit=self.readings.append, clock=self.clock,
                            logger=logging.getLogger("test.env"))
        self.driver = AdvertEnvDriver(
            opts, ctx, backend=BleBackend(self.adapter.client_backend,
                                          self.adapter.scanner_backend),
            sleep=self.vt.sleep)
        self.task = asyncio.create_task(self.driver.run())
        return self.driver

    async def until(self, condition: Callable[[], bool], timeout: float = 3.0) -> None:
        await until_while_running(self.task, condition, timeout)

    def of(self, sensor: str, device: str | None = None) -> list[Reading]:
        return [r for r in self.readings
                if r.sensor == sensor and (device is None or r.device == device)]


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    e = Env()
    yield e
    if e.task is not None:
        e.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await e.task


SENSORS = [
    {"id": "living_thermo", "address": LIVING, "room": "living_room"},
    {"id": "bed_thermo", "local_name": "ATC_000002", "room": "bedroom",
     "expected_interval_s": 120},
]


def thermometer(address: str, name: str | None = None) -> FakePeripheral:
    return FakePeripheral(address, name, profiles=())


async def test_bthome_and_pvvx_sensors_become_room_readings(env: Env) -> None:
    living, bed = thermometer(LIVING, "TH_living"), thermometer(BEDROOM, "ATC_000002")
    living.service_data = {"0000fcd2-0000-1000-8000-00805f9b34fb": bthome(19.5, 48.2, 87)}
    bed.broadcast("181a", pvvx(17.25, 55.5, 64))
    env.adapter.add(living, bed)
    driver = env.start(SENSORS)
    await env.until(lambda: len(env.of("temperature")) == 2)
    await env.until(lambda: len(env.of("battery")) == 2)
    by_device = {r.device: r for r in env.of("temperature")}
    assert by_device["living_thermo"].value == 19.5
    assert by_device["living_thermo"].room == "living_room"
    assert by_device["living_thermo"].data["unit"] == "degC"
    assert by_device["living_thermo"].data["format"] == "bthome"
    assert by_device["bed_thermo"].value == 17.25
    assert by_device["bed_thermo"].room == "bedroom"
    assert by_device["bed_thermo"].data["format"] == "pvvx"
    assert by_device["bed_thermo"].data["voltage"] == 2.95
    assert {r.device: r.value for r in env.of("humidity")} == {"living_thermo": 48.2,
                                                               "bed_thermo": 55.5}
    assert {r.device: r.value for r in env.of("battery")} == {"living_thermo": 87,
                                                              "bed_thermo": 64}
    assert driver.health.state == HealthState.OK
    assert env.adapter.scanners and env.adapter.scanners[0].scanning_mode == "passive"


async def test_repeats_are_damped_and_steps_or_interval_report_again(env: Env) -> None:
    living = thermometer(LIVING)
    env.adapter.add(living)
    env.start(SENSORS[:1], report_interval_s=300, temperature_step_c=0.2)
    living.broadcast("fcd2", bthome(20.0, 50.0, 90, packet=1))
    await env.until(lambda: len(env.of("temperature")) == 1)
    for n in range(2, 6):  # the same reading re-advertised, and a 0.1 °C wobble
        living.broadcast("fcd2", bthome(20.0 + (0.1 if n % 2 else 0), 50.0, 90, packet=n))
    assert len(env.of("temperature")) == 1
    living.broadcast("fcd2", bthome(19.6, 50.0, 90, packet=7))  # a real drop
    assert [r.value for r in env.of("temperature")] == [20.0, 19.6]
    await env.vt.advance(301)
    living.broadcast("fcd2", bthome(19.6, 50.0, 90, packet=8))  # unchanged, but interval passed
    assert [r.value for r in env.of("temperature")] == [20.0, 19.6, 19.6]


async def test_silent_sensor_goes_offline_once_then_online(env: Env) -> None:
    bed = thermometer(BEDROOM, "ATC_000002")
    env.adapter.add(bed)
    driver = env.start(SENSORS[1:], watchdog_interval_s=30)
    bed.broadcast("181a", pvvx(18.0, 50.0, 70))
    await env.until(lambda: len(env.of("temperature")) == 1)
    bed.in_range = False
    await env.vt.advance(100)
    assert env.of("device_status") == []
    await env.vt.advance(60)  # 160 s of silence > 120 s expected
    statuses = env.of("device_status")
    assert [r.value for r in statuses] == ["offline"]
    assert "nothing heard" in statuses[0].data["reason"]
    assert driver.health.state == HealthState.DEGRADED
    await env.vt.advance(600)
    assert len(env.of("device_status")) == 1  # once, not every watchdog round
    bed.in_range = True
    bed.broadcast("181a", pvvx(16.0, 50.0, 70, counter=2))
    assert [r.value for r in env.of("device_status")] == ["offline", "online"]
    assert driver.health.state == HealthState.OK


async def test_malformed_encrypted_and_unknown_are_counted_not_fatal(env: Env) -> None:
    living, stranger = thermometer(LIVING), thermometer("11:22:33:44:55:66", "OTHER")
    env.adapter.add(living, stranger)
    driver = env.start(SENSORS[:1])
    await env.until(lambda: env.adapter.scanners != [])
    living.broadcast("fcd2", bytes.fromhex("4002ca"))  # truncated temperature
    living.broadcast("181a", bytes(9))  # neither atc1441 nor pvvx
    living.broadcast("fcd2", bytes.fromhex("402e78"))  # humidity 120 %: implausible
    stranger.broadcast("fcd2", bthome(30.0, 30.0, 50))
    assert driver.health.counters["malformed_payloads"] == 3
    assert driver.health.counters["ignored_adverts"] >= 1
    living.broadcast("fcd2", bytes.fromhex("41a47266c95f73000000"))
    assert driver.health.counters["encrypted_payloads"] == 1
    assert driver.health.state == HealthState.DEGRADED
    assert "encrypted" in driver.health.reason
    assert env.of("temperature") == []
    living.broadcast("fcd2", bthome(21.0, 40.0, 80))  # recovers on the next good frame
    assert [r.value for r in env.of("temperature")] == [21.0]
    assert driver.health.state == HealthState.OK
    assert env.task is not None and not env.task.done()


def test_options_are_checked() -> None:
    with pytest.raises(ValidationError, match="needs address or local_name"):
        AdvertEnvOptions.model_validate({"type": "ble.advert_env", "name": "t",
                                         "sensors": [{"id": "x"}]})
    with pytest.raises(ValidationError, match="unknown BLE backend"):
        AdvertEnvOptions.model_validate({"type": "ble.advert_env", "name": "t",
                                         "backend": "nope", "sensors": [{"id": "x",
                                                                         "address": LIVING}]})
    with pytest.raises(ValidationError, match="used twice"):
        AdvertEnvOptions.model_validate({"type": "ble.advert_env", "name": "t", "sensors": [
            {"id": "x", "address": LIVING}, {"id": "x", "address": BEDROOM}]})


def test_registered_entry_point() -> None:
    assert load_driver_class("ble.advert_env") is AdvertEnvDriver


async def test_encrypted_bthome_thermometer_with_its_bind_key(env: Env, tmp_path) -> None:
    key = bytes.fromhex("231d39c1d7cc1ab1aee224cd096db932")
    keys = tmp_path / "ble-keys.toml"
    keys.write_text(f'[devices."{LIVING}"]\nkey = "{key.hex()}"\n')
    os.chmod(keys, 0o600)
    living = thermometer(LIVING)
    env.adapter.add(living)
    driver = env.start(SENSORS[:1], keys_file=str(keys))
    living.broadcast("fcd2", encoders.bthome_encrypted(bthome(21.5, 40.0, 80), LIVING, key, 7))
    await env.until(lambda: len(env.of("temperature")) == 1)
    assert env.of("temperature")[0].value == 21.5
    living.broadcast("fcd2", encoders.bthome_encrypted(bthome(25.0, 40.0, 80), LIVING, key, 6))
    living.broadcast("fcd2", encoders.bthome_encrypted(bthome(25.0, 40.0, 80), LIVING,
                                                       bytes(16), 8))
    assert [r.value for r in env.of("temperature")] == [21.5]
    assert driver.health.counters["replayed_counters"] == 1
    assert driver.health.counters["decrypt_failures"] == 1
    assert "wrong bind key" in driver.health.reason
