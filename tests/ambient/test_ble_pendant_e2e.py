"""The BLE pendant in the real agent: fake bleak backend -> ble.button -> engine -> outbox ->
a real mosquitto. A press is a critical `sos` alert; a silent pendant a `device_offline`."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from edgeagent_mocks.ble import FakePeripheral, encoders, reset_default_adapter

from edgeagent.clock import ManualClock
from edgeagent.supervisor import Agent
from tests.conftest import RunningAgent, make_config
from tests.support.mosquitto import Mosquitto
from tests.support.platform import PlatformSubscriber
from tests.support.waiting import until

PENDANT = "3C:2E:F5:00:00:01"
KEY = bytes.fromhex("00112233445566778899aabbccddeeff")


def _agent(tmp_path: Path, broker_url: str, clock: ManualClock) -> Agent:
    keys = tmp_path / "ble-keys.toml"
    keys.write_text(f'[devices."{PENDANT}"]\nkey = "{KEY.hex()}"\n')
    os.chmod(keys, 0o600)
    config = make_config(tmp_path, broker_url, [{
        "type": "ble.button", "name": "pendants", "backend": "fake", "room": "bedroom",
        "keys_file": str(keys), "watchdog_interval_s": 0.05, "supervision_minutes": 60,
        "devices": [{"id": "anna-pendant", "address": PENDANT}]}])
    return Agent(config, clock=clock, sync_probe=lambda: True, tick_interval=0.05)


async def test_encrypted_pendant_press_reaches_the_broker_as_a_critical_sos(
        tmp_path: Path, mosquitto: Mosquitto, platform: PlatformSubscriber) -> None:
    adapter = reset_default_adapter()
    pendant = FakePeripheral(PENDANT, None, profiles=())
    adapter.add(pendant)
    clock = ManualClock()
    agent = _agent(tmp_path, mosquitto.url, clock)
    async with RunningAgent(agent):
        await until(lambda: bool(adapter.scanners), timeout=10)
        frame = encoders.bthome_button(0x01, packet_id=1, battery_pct=90)
        pendant.broadcast("fcd2", encoders.bthome_encrypted(frame, PENDANT, KEY, 1))
        await asyncio.to_thread(platform.wait_for, lambda p: any(
            e["kind"] == "alert" and e["type"] == "sos" for e in p.events()))
    alert = next(e for e in platform.events() if e["kind"] == "alert" and e["type"] == "sos")
    assert alert["severity"] == "critical"
    assert alert["source"]["device"] == "anna-pendant"
    assert alert["source"]["room"] == "bedroom"


async def test_silent_pendant_reaches_the_broker_as_device_offline(
        tmp_path: Path, mosquitto: Mosquitto, platform: PlatformSubscriber) -> None:
    adapter = reset_default_adapter()
    pendant = FakePeripheral(PENDANT, None, profiles=())
    adapter.add(pendant)
    clock = ManualClock()
    agent = _agent(tmp_path, mosquitto.url, clock)
    async with RunningAgent(agent):
        await until(lambda: bool(adapter.scanners), timeout=10)
        frame = encoders.bthome_button(0x00, packet_id=1, battery_pct=90)
        pendant.broadcast("fcd2", encoders.bthome_encrypted(frame, PENDANT, KEY, 1))
        driver = agent.slots[0].driver
        await until(lambda: driver is not None and driver.health.counters.get("frames") == 1,
                    timeout=10)
        pendant.in_range = False
        clock.advance(61 * 60)
        await asyncio.to_thread(platform.wait_for, lambda p: any(
            e["kind"] == "alert" and e["type"] == "device_offline" for e in p.events()))
    alert = next(e for e in platform.events()
                 if e["kind"] == "alert" and e["type"] == "device_offline")
    assert alert["severity"] == "warning"
    assert alert["data"]["reason"].startswith("anna-pendant offline: pendant not heard for 61 min")
    assert "may not be able to call for help" in alert["data"]["reason"]
