"""The fake backend is faithful where the driver relies on it: spec bytes, bleak's own API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

import pytest
from ble_harness import Harness
from bleak import BleakClient, BleakScanner
from bleak.exc import BleakDBusError, BleakGATTProtocolError
from edgeagent_drivers.ble import parsers as p
from edgeagent_drivers.ble.vitals import BleVitalsDriver, BleVitalsOptions
from edgeagent_mocks.ble import (
    DEMO_DEVICES,
    FakeAdapter,
    FakePeripheral,
    VirtualTime,
    encoders,
    populate_demo,
    reset_default_adapter,
)

from edgeagent.clock import ManualClock
from edgeagent.driver import DriverContext, load_driver_class

WHEN = datetime(2026, 3, 1, 7, 30, 5)


@pytest.mark.parametrize(("uuid", "payload", "expected"), [
    ("2a37", encoders.heart_rate(300, rr_s=(0.5, 1.0), energy_kj=12),
     p.HeartRateMeasurement(300, True, 12, (512, 1024))),
    ("2a5e", encoders.plx_spot_check(97, 64, WHEN), (97.0, 64.0)),
    ("2a5f", encoders.plx_continuous(None, 64), (None, 64.0)),
    ("2a35", encoders.blood_pressure(120, 80, 93, pulse=66, when=WHEN, user_id=2),
     (120.0, 80.0, 93.0, 66.0, 2)),
    ("2a1c", encoders.temperature(36.85, when=WHEN, temperature_type=6), (36.85, "mouth")),
    ("2a9d", encoders.weight(150.0, unit="lb", when=WHEN), (150.0, 68.039)),
    ("2a19", encoders.battery(42), p.BatteryLevel(42)),
])
def test_encoders_produce_what_the_parsers_read(uuid: str, payload: bytes,
                                                expected: object) -> None:
    m = p.decode(uuid, payload)
    if isinstance(m, p.PlxSpotCheck | p.PlxContinuous):
        assert (m.spo2_pct, m.pulse_rate_bpm) == expected
    elif isinstance(m, p.BloodPressureMeasurement):
        assert (m.systolic, m.diastolic, m.mean_arterial_pressure, m.pulse_rate_bpm,
                m.user_id) == expected
        assert m.timestamp is not None and m.timestamp.as_datetime() == WHEN
    elif isinstance(m, p.TemperatureMeasurement):
        assert (m.temperature, m.temperature_type_name) == expected
    elif isinstance(m, p.WeightMeasurement):
        assert (m.weight, m.weight_kg) == expected
    else:
        assert m == expected


async def test_bleak_client_api_runs_against_the_fake() -> None:
    adapter = FakeAdapter()
    strap = FakePeripheral("AA:00:00:00:00:10", "Strap", profiles=["heart_rate", "battery"],
                           battery_pct=77)
    adapter.add(strap)
    device = await BleakScanner.find_device_by_name("Strap", timeout=1,
                                                    backend=adapter.scanner_backend)
    assert device is not None and device.address == strap.address
    got: list[bytes] = []
    async with BleakClient(device, backend=adapter.client_backend) as client:
        assert client.is_connected and client.name == "Strap"
        assert await client.read_gatt_char("2a19") == bytearray(b"\x4d")
        with pytest.raises(BleakGATTProtocolError):
            await client.read_gatt_char("2a37")  # notify-only, as the spec says
        await client.start_notify("2a37", lambda _c, data: got.append(bytes(data)))
        strap.notify("2a37", encoders.heart_rate(64))
    assert got == [b"\x06\x40"]
    assert not strap.subscriptions and adapter.connected == set()


async def test_second_central_gets_operation_already_in_progress() -> None:
    adapter = FakeAdapter()
    strap = FakePeripheral("AA:00:00:00:00:11", "Strap")
    adapter.add(strap)
    async with BleakClient(strap.address, backend=adapter.client_backend):
        other = BleakClient(strap.address, backend=adapter.client_backend)
        with pytest.raises(BleakDBusError, match="InProgress"):
            await other.connect()


async def test_demo_home_feeds_every_sensor(ble: Harness) -> None:
    populate_demo(ble.adapter, ble.clock, speed_s=60)
    ble.start([
        {"id": "hr-strap", "address": DEMO_DEVICES["hr-strap"],
         "profiles": ["heart_rate", "battery"]},
        {"id": "oximeter", "address": DEMO_DEVICES["oximeter"],
         "profiles": ["pulse_oximeter", "battery"]},
        {"id": "bp-cuff", "address": DEMO_DEVICES["bp-cuff"],
         "profiles": ["blood_pressure", "battery"], "mode": "poll", "poll_interval_s": 120},
        {"id": "scale", "address": DEMO_DEVICES["scale"], "profiles": ["weight_scale"],
         "mode": "poll", "poll_interval_s": 300},
        {"id": "thermometer", "local_name": "Thermo-Demo", "mode": "advert",
         "profiles": ["thermometer"]},
    ], max_concurrent_connections=4)
    await ble.run_for(900, step=5)
    sensors = {r.sensor for r in ble.readings}
    assert {"heart_rate", "spo2", "blood_pressure", "weight", "temperature",
            "battery"} <= sensors
    assert "device_status" not in sensors


async def test_backend_fake_option_uses_the_shared_adapter_as_the_supervisor_would() -> None:
    clock = ManualClock()
    adapter = reset_default_adapter()
    adapter.clock = clock
    populate_demo(adapter, clock)
    assert load_driver_class("ble.vitals") is BleVitalsDriver
    options = BleVitalsOptions.model_validate({
        "type": "ble.vitals", "name": "vitals", "backend": "fake",
        "devices": [{"id": "hr-strap", "address": DEMO_DEVICES["hr-strap"],
                     "profiles": ["heart_rate"]}]})
    readings: list = []
    vt = VirtualTime(clock)
    driver = BleVitalsDriver(options, DriverContext(readings.append, clock,
                                                    logging.getLogger("t")), sleep=vt.sleep)
    task = asyncio.create_task(driver.run())
    try:
        for _ in range(100):
            await vt.advance(5)
            adapter.pump()
            if any(r.sensor == "heart_rate" for r in readings):
                break
        assert driver.backend.client is adapter.client_backend
        assert [r.device for r in readings if r.sensor == "heart_rate"][:1] == ["hr-strap"]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
