"""BLE monitors -> ble.vitals (real BleakClient on the fake backend) -> agent -> real broker."""

from __future__ import annotations

from edgeagent_mocks.ble import FakeAdapter, default_adapter, encoders
from edgeagent_mocks.ble.demo import DEMO_DEVICES, populate_demo

from edgeagent.clock import ManualClock
from edgeagent.supervisor import Agent
from tests.conftest import RunningAgent, make_config
from tests.support.waiting import until as wait_until


async def test_vitals_arrive_at_the_broker_in_si_and_device_units(tmp_path, mosquitto, platform):
    clock = ManualClock()
    adapter: FakeAdapter = default_adapter()
    adapter.peripherals.clear()
    devices = populate_demo(adapter, clock, speed_s=60.0)
    config = make_config(tmp_path, mosquitto.url, [{
        "type": "ble.vitals", "name": "vitals", "backend": "fake",
        "max_concurrent_connections": 2, "room": "bedroom",
        "devices": [
            {"id": "hr-strap", "address": DEMO_DEVICES["hr-strap"],
             "profiles": ["heart_rate", "battery"]},
            {"id": "thermometer", "local_name": "Thermo-Demo", "profiles": ["thermometer"],
             "mode": "advert"},
        ]}])
    agent = Agent(config, clock=clock, sync_probe=lambda: True, tick_interval=0.05)
    async with RunningAgent(agent):
        await wait_until(lambda: "2a37" in devices["hr-strap"].subscriptions)
        devices["hr-strap"].notify("2a37", encoders.heart_rate(72))
        # This thermometer speaks Fahrenheit: the platform gets degC and what was sent.
        devices["thermometer"].broadcast("1809", encoders.temperature(98.6, unit="F"))
        adapter.advertise_all()
        await wait_until(lambda: {"heart_rate", "temperature"}
                         <= {e["type"] for e in platform.events()})
    events = {e["type"]: e for e in platform.events() if e["kind"] == "reading"}
    hr = events["heart_rate"]
    assert hr["data"]["value"] == 72
    assert hr["source"]["driver"] == "vitals"
    assert hr["data"]["unit"] == "bpm"
    temp = events["temperature"]
    assert abs(temp["data"]["value"] - 37.0) < 0.01
    assert temp["data"]["unit"] == "degC"
    assert temp["data"]["device_unit"] == "F" and abs(temp["data"]["device_value"] - 98.6) < 0.01
