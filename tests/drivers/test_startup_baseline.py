"""The state a door reads at start-up is a baseline: reported, never a night exit."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from edgeagent_mocks.ble import FakePeripheral, encoders, reset_default_adapter
from gpiozero.pins.mock import MockFactory

from edgeagent.clock import ManualClock
from edgeagent.supervisor import Agent
from tests.conftest import RunningAgent, make_config
from tests.support.mosquitto import Mosquitto
from tests.support.platform import PlatformSubscriber
from tests.support.waiting import until

# 04:49 in Amsterdam (CET, UTC+1): deep in the heuristics' night.
AT_0449 = datetime(2026, 1, 15, 3, 49, tzinfo=UTC)


def _doors(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == "door"]


async def test_run_started_at_0449_with_the_entrance_open_raises_no_night_exit(
        tmp_path: Path, mosquitto: Mosquitto, platform: PlatformSubscriber,
        mock_factory: MockFactory) -> None:
    config = make_config(tmp_path, mosquitto.url, [
        {"type": "gpio.contact", "name": "front", "room": "Hall", "role": "entrance",
         "pin": 5, "settle": 0}])
    mock_factory.pin(5).drive_high()   # pull-up, active low: high = door open
    agent = Agent(config, clock=ManualClock(AT_0449), sync_probe=lambda: True,
                  tick_interval=0.05)
    async with RunningAgent(agent):
        await asyncio.to_thread(platform.wait_for, lambda p: bool(_doors(p.events())))
        # Whatever the baseline reading caused is stored with it: wait until all is delivered.
        last = agent.outbox.stats().last_seq
        await asyncio.to_thread(platform.wait_for,
                                lambda p: set(range(1, last + 1)) <= p.seqs_unlocked())
    events = platform.events()
    baseline = _doors(events)[0]
    assert baseline["data"]["value"] == "open" and baseline["data"]["initial"] is True
    assert baseline["source"]["room"] == "hall"               # canonical: "Hall" -> "hall"
    assert not [e for e in events if e["type"] == "night_exit"], events
    assert agent.counters["baselines"] == 1
    assert "simulated" not in baseline["source"]


@pytest.mark.usefixtures("mock_factory")
async def test_events_from_a_mock_pin_factory_are_marked_simulated(
        tmp_path: Path, mosquitto: Mosquitto, platform: PlatformSubscriber) -> None:
    config = make_config(tmp_path, mosquitto.url, [
        {"type": "gpio.contact", "name": "fridge", "room": "厨房", "role": "fridge",
         "pin": 6, "settle": 0, "pin_factory": "mock"}])
    agent = Agent(config, sync_probe=lambda: True, tick_interval=0.05)
    async with RunningAgent(agent):
        await asyncio.to_thread(platform.wait_for, lambda p: bool(_doors(p.events())))
    door = _doors(platform.events())[0]
    assert door["source"]["simulated"] is True
    assert door["source"]["room"] == "kitchen" and door["source"]["role"] == "fridge"


FRONT_DOOR = "3C:2E:F5:00:00:02"
PENDANT = "3C:2E:F5:00:00:01"


async def test_a_ble_entrance_heard_open_at_0449_is_a_baseline_but_a_pendant_press_alarms(
        tmp_path: Path, mosquitto: Mosquitto, platform: PlatformSubscriber) -> None:
    adapter = reset_default_adapter()  # the fake bleak backend the "fake" option uses
    door, pendant = (FakePeripheral(a, None, profiles=()) for a in (FRONT_DOOR, PENDANT))
    adapter.add(door, pendant)
    config = make_config(tmp_path, mosquitto.url, [
        {"type": "ble.sensors", "name": "doors", "backend": "fake",
         "devices": [{"id": "front", "address": FRONT_DOOR, "room": "Hall",
                      "role": "entrance"}]},
        {"type": "ble.button", "name": "pendants", "backend": "fake", "room": "bedroom",
         "devices": [{"id": "anna-pendant", "address": PENDANT}]}])
    agent = Agent(config, clock=ManualClock(AT_0449), sync_probe=lambda: True,
                  tick_interval=0.05)
    async with RunningAgent(agent):
        await until(lambda: len(adapter.scanners) >= 2, timeout=10)
        door.broadcast("fcd2", encoders.bthome((0x00, 1, 1), (0x1A, 1, 1)))  # found open
        pendant.broadcast("fcd2", encoders.bthome_button(0x01, packet_id=1))  # pressed at start
        await asyncio.to_thread(platform.wait_for, lambda p: bool(_doors(p.events())) and any(
            e["type"] == "sos" and e["kind"] == "alert" for e in p.events()))
        last = agent.outbox.stats().last_seq
        await asyncio.to_thread(platform.wait_for,
                                lambda p: set(range(1, last + 1)) <= p.seqs_unlocked())
    events = platform.events()
    [baseline] = _doors(events)
    assert baseline["data"]["value"] == "open" and baseline["data"]["initial"] is True
    assert not [e for e in events if e["type"] == "night_exit"], events
    assert agent.counters["baselines"] == 1
    sos = next(e for e in events if e["type"] == "sos" and e["kind"] == "alert")
    assert sos["severity"] == "critical" and sos["source"]["device"] == "anna-pendant"
