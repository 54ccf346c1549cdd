"""A Zigbee2MQTT button configured as a pendant (`kind = "sos"`) through a real mosquitto:
each press raises, a release does not, a retained old press is never replayed as an SOS."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from tests.ambient.test_mqtt_local import Home
from tests.support.mosquitto import Mosquitto

PENDANT_MAP = [{"topic": "zigbee2mqtt/anna_pendant", "field": "action", "kind": "sos",
                "room": "bedroom"}]


@pytest.fixture
async def home(mosquitto: Mosquitto) -> AsyncIterator[Home]:
    h = Home(mosquitto)
    yield h
    await h.stop()


async def test_each_press_is_an_sos_even_the_same_action_twice(home: Home) -> None:
    driver = home.start(map=PENDANT_MAP, report_interval_s=300)
    await home.until(lambda: driver.subscribed)
    await home.publish("zigbee2mqtt/anna_pendant", {"action": "single", "battery": 90})
    await home.publish("zigbee2mqtt/anna_pendant", {"action": ""})       # Z2M clears it
    await home.publish("zigbee2mqtt/anna_pendant", {"action": "single"})  # pressed again
    await home.publish("zigbee2mqtt/anna_pendant", {"action": "release"})
    presses = [r for r in home.of("sos") if r.value is True]
    assert len(presses) == 2
    assert presses[0].role == "sos" and presses[0].room == "bedroom"
    assert presses[0].data["action"] == "single"


async def test_a_retained_old_press_is_not_replayed_as_an_sos(home: Home) -> None:
    info = home.pub.publish("zigbee2mqtt/anna_pendant", json.dumps({"action": "single"}),
                            qos=1, retain=True)
    await asyncio.to_thread(info.wait_for_publish, 5)
    driver = home.start(map=PENDANT_MAP)
    await home.until(lambda: driver.health.counters.get("retained_presses_ignored", 0) == 1)
    assert home.of("sos") == []
    await home.publish("zigbee2mqtt/anna_pendant", {"action": "double"})
    assert [r.value for r in home.of("sos")] == [True]
