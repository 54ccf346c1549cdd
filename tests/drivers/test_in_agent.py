"""The drivers inside the real agent: supervisor, heuristics, outbox, MQTT to a real mosquitto."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from edgeagent_mocks.pty_bedmat import PtyBedMat
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from edgeagent.heuristics.passthrough import PassthroughEngine
from edgeagent.supervisor import Agent
from tests.conftest import RunningAgent, make_config
from tests.drivers.conftest import wait_for
from tests.support.mosquitto import Mosquitto
from tests.support.platform import PlatformSubscriber


@pytest.mark.usefixtures("mock_factory")
async def test_no_gpio_fails_the_gpio_driver_by_name_and_the_serial_mat_keeps_reporting(
        tmp_path: Path, mosquitto: Mosquitto, platform: PlatformSubscriber,
        monkeypatch: pytest.MonkeyPatch) -> None:
    Device.pin_factory = None                       # a laptop: no GPIO at all
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "nosuchfactory")
    with PtyBedMat(tmp_path / "dev") as mat:
        config = make_config(tmp_path, mosquitto.url, [
            {"type": "gpio.pir", "name": "pir-hall", "room": "hall", "pin": 17},
            {"type": "serial.bedmat", "name": "bedmat", "room": "bedroom", "port": mat.port,
             "entry_settle": 0, "reopen_initial": 0.05}])
        agent = Agent(config, sync_probe=lambda: True, tick_interval=0.05,
                      engine=PassthroughEngine())
        async with RunningAgent(agent):
            pir, bedmat = agent.slots
            await wait_for(lambda: pir.restarts >= 1, timeout=10)
            health = pir.health()
            assert health["state"] == "failed"
            assert "'pir-hall'" in health["reason"] and "no GPIO" in health["reason"]
            await wait_for(lambda: (bedmat.driver is not None
                                    and bedmat.driver.health.counters.get("port_opened", 0) >= 1))
            mat.report("IN", 600)
            await asyncio.to_thread(platform.wait_for, lambda p: any(
                e["type"] == "bed" and e["data"]["value"] == "in_bed" for e in p.events()))
            assert bedmat.health()["state"] == "ok"
    bed = next(e for e in platform.events() if e["type"] == "bed")
    assert bed["source"] == {"driver": "bedmat", "device": "bedmat", "room": "bedroom"}


async def test_sos_press_on_a_mock_pin_reaches_the_platform_as_a_critical_alert(
        tmp_path: Path, mosquitto: Mosquitto, platform: PlatformSubscriber,
        mock_factory: MockFactory) -> None:
    config = make_config(tmp_path, mosquitto.url, [
        {"type": "gpio.sos", "name": "sos-living", "room": "living", "pin": 26}])
    agent = Agent(config, sync_probe=lambda: True, tick_interval=0.05)
    async with RunningAgent(agent):
        await wait_for(lambda: agent.slots[0].health()["state"] == "ok")
        mock_factory.pin(26).drive_low()            # pressed (pull-up, active low)
        await asyncio.to_thread(platform.wait_for, lambda p: any(
            e["kind"] == "alert" and e["type"] == "sos" for e in p.events()))
    alert = next(e for e in platform.events() if e["kind"] == "alert")
    assert alert["severity"] == "critical"
    assert alert["source"]["room"] == "living"
