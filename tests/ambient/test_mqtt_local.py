"""`mqtt.local` against a real private mosquitto: Zigbee2MQTT- and Tasmota-style payloads."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from edgeagent_drivers.ambient.appliance import ApplianceDetector
from edgeagent_drivers.ambient.mqtt_local import MAX_TEXT_CHARS, MqttLocalDriver, MqttLocalOptions
from edgeagent_mocks.ble import VirtualTime
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import ValidationError

from edgeagent.clock import ManualClock
from edgeagent.driver import DriverContext, HealthState, load_driver_class
from edgeagent.models import Reading
from tests.support.mosquitto import Mosquitto
from tests.support.waiting import until_while_running

MAP = [
    {"topic": "zigbee2mqtt/kitchen_plug", "field": "power", "kind": "power", "room": "kitchen",
     "role": "kettle", "threshold_w": 1000},
    {"topic": "zigbee2mqtt/fridge_door", "field": "contact", "kind": "contact",
     "room": "kitchen", "role": "fridge_door"},
    {"topic": "tele/plug/SENSOR", "field": "ENERGY.Power", "kind": "power", "room": "kitchen",
     "role": "microwave", "threshold_w": 500, "device": "microwave_plug"},
]


class Home:
    """The driver on a manual clock, and a publisher standing in for Zigbee2MQTT/Tasmota."""

    def __init__(self, broker: Mosquitto) -> None:
        self.broker = broker
        self.clock = ManualClock()
        self.vt = VirtualTime(self.clock)
        self.readings: list[Reading] = []
        self.driver: MqttLocalDriver | None = None
        self.task: asyncio.Task[None] | None = None
        self.pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="z2m-standin")
        self.pub.connect("127.0.0.1", broker.port)
        self.pub.loop_start()

    def start(self, **options: Any) -> MqttLocalDriver:
        opts = MqttLocalOptions.model_validate({
            "type": "mqtt.local", "name": "ha", "broker": self.broker.url, "map": MAP,
            **options})
        ctx = DriverContext(emit=self.readings.append, clock=self.clock,
                            logger=logging.getLogger("test.mqtt_local"),
                            loop=asyncio.get_running_loop())
        self.driver = MqttLocalDriver(opts, ctx, sleep=self.vt.sleep)
        self.task = asyncio.create_task(self.driver.run())
        return self.driver

    async def until(self, condition: Callable[[], bool], timeout: float = 5.0) -> None:
        await until_while_running(self.task, condition, timeout, pause=0.005)

    async def publish(self, topic: str, payload: Any) -> None:
        """Publish (QoS 1, acknowledged) and wait until the driver has taken the message."""
        assert self.driver is not None
        before = self.driver.health.counters.get("messages", 0)
        body = payload if isinstance(payload, bytes | str) else json.dumps(payload)
        info = self.pub.publish(topic, body, qos=1)
        await asyncio.to_thread(info.wait_for_publish, 5)
        await self.until(lambda: self.driver is not None
                         and self.driver.health.counters.get("messages", 0) > before)

    def of(self, sensor: str) -> list[Reading]:
        return [r for r in self.readings if r.sensor == sensor]

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
        self.pub.disconnect()
        self.pub.loop_stop()


@pytest.fixture
async def home(mosquitto: Mosquitto) -> AsyncIterator[Home]:
    h = Home(mosquitto)
    yield h
    await h.stop()


async def connected(home: Home, **options: Any) -> MqttLocalDriver:
    driver = home.start(**options)
    await home.until(lambda: driver.subscribed)
    assert driver.health.state == HealthState.OK
    return driver


async def test_zigbee2mqtt_kettle_in_use_after_threshold_held(home: Home) -> None:
    driver = await connected(home, on_after_s=5, off_after_s=30)
    await home.publish("zigbee2mqtt/kitchen_plug", {"power": 1800, "state": "ON",
                                                    "linkquality": 120})
    power = home.of("power")
    assert [(r.value, r.role, r.room, r.device) for r in power] == [
        (1800.0, "kettle", "kitchen", "kitchen_plug")]
    assert power[0].data["unit"] == "W"
    await home.vt.advance(3)
    assert home.of("appliance") == []  # not yet: a spike is not a boil
    await home.vt.advance(3)
    on = home.of("appliance")
    assert [(r.value, r.role, r.device) for r in on] == [(True, "kettle", "kitchen_plug")]
    await home.publish("zigbee2mqtt/kitchen_plug", {"power": 0.4, "state": "ON"})
    await home.vt.advance(29)
    assert len(home.of("appliance")) == 1
    await home.vt.advance(2)
    states = home.of("appliance")
    assert [r.value for r in states] == [True, False]
    assert states[1].data["on_for_s"] == pytest.approx(35, abs=1.5)
    assert driver.health.counters["appliance_on"] == 1


async def test_short_spike_is_not_use(home: Home) -> None:
    await connected(home, on_after_s=5, off_after_s=30)
    await home.publish("zigbee2mqtt/kitchen_plug", {"power": 1500})
    await home.vt.advance(2)
    await home.publish("zigbee2mqtt/kitchen_plug", {"power": 0})
    await home.vt.advance(60)
    assert home.of("appliance") == []
    assert [r.value for r in home.of("power")] == [1500.0, 0.0]


async def test_tasmota_nested_field_and_zigbee_contact(home: Home) -> None:
    await connected(home, on_after_s=5)
    await home.publish("tele/plug/SENSOR", {"Time": "2026-01-01T07:00:00",
                                            "ENERGY": {"Total": 12.3, "Power": 0}})
    await home.publish("tele/plug/SENSOR", {"ENERGY": {"Power": 1150}})
    await home.vt.advance(6)
    assert [(r.value, r.role, r.device) for r in home.of("appliance")] == [
        (True, "microwave", "microwave_plug")]
    await home.publish("zigbee2mqtt/fridge_door", {"contact": False, "battery": 97})
    await home.publish("zigbee2mqtt/fridge_door", {"contact": True, "battery": 97})
    doors = home.of("door")
    assert [(r.value, r.role, r.room) for r in doors] == [
        ("open", "fridge_door", "kitchen"), ("closed", "fridge_door", "kitchen")]


async def test_malformed_json_unknown_topics_and_missing_fields_counted(home: Home) -> None:
    driver = await connected(home, subscribe=["zigbee2mqtt/#"])
    await home.publish("zigbee2mqtt/kitchen_plug", b"{power: 1800")  # not JSON
    await home.publish("zigbee2mqtt/kitchen_plug", b"\xff\xfe")  # not even UTF-8
    await home.publish("zigbee2mqtt/bedroom_lamp", {"state": "ON", "brightness": 80})
    await home.publish("zigbee2mqtt/kitchen_plug", {"state": "OFF"})  # no power field
    await home.publish("zigbee2mqtt/kitchen_plug", {"power": "lots"})
    await home.publish("tele/plug/SENSOR", [1, 2, 3])
    c = driver.health.counters
    assert c["malformed_json"] == 1
    assert c["malformed_payloads"] == 1
    assert c["unknown_topics"] == 1
    assert c["bad_values"] == 1
    assert c["missing_fields"] == 2
    assert driver.health.details["unmapped_topics"] == {"zigbee2mqtt/bedroom_lamp": 1}
    assert home.readings == []
    await home.publish("zigbee2mqtt/kitchen_plug", {"power": 5})  # still working
    assert [r.value for r in home.of("power")] == [5.0]
    assert home.task is not None and not home.task.done()


async def test_hostile_numbers_are_counted_and_switch_nothing_on(
        home: Home, caplog: pytest.LogCaptureFixture) -> None:
    """1e308 W, a 401-digit integer and `[` nested 100 000 deep: counted, logged in one
    short line each, never a reading, an appliance or an exception in the loop."""
    driver = await connected(home, on_after_s=5)
    caplog.set_level(logging.WARNING)
    await home.publish("zigbee2mqtt/kitchen_plug", b'{"power": 1e308}')
    await home.publish("zigbee2mqtt/kitchen_plug", b'{"power": 1' + b"0" * 400 + b"}")
    await home.publish("zigbee2mqtt/kitchen_plug", b"[" * 100_000)
    await home.publish("zigbee2mqtt/kitchen_plug", {"power": -1e6})
    await home.vt.advance(60)
    c = driver.health.counters
    assert c["bad_values"] == 3
    assert c["malformed_json"] == 1
    assert home.readings == []  # no power reading, and no kettle switched on
    assert home.task is not None and not home.task.done()
    assert "Traceback" not in caplog.text and "Exception in callback" not in caplog.text
    assert all(len(r.getMessage()) < 300 for r in caplog.records)
    assert "an integer of 401 digits" in caplog.text
    await home.publish("zigbee2mqtt/kitchen_plug", {"power": 1800})  # still working
    await home.vt.advance(6)
    assert [r.value for r in home.of("appliance")] == [True]


async def test_map_file_and_plain_esphome_values(home: Home, tmp_path: Path) -> None:
    map_file = tmp_path / "ha-map.toml"
    map_file.write_text(
        '[[map]]\ntopic = "esphome-tv/sensor/tv_power/state"\nkind = "power"\n'
        'role = "tv"\nroom = "living_room"\nthreshold_w = 40\n\n'
        '[[map]]\ntopic = "zigbee2mqtt/hall_motion"\nfield = "occupancy"\nkind = "motion"\n'
        'room = "hall"\n')
    await connected(home, map=[], map_file=str(map_file), on_after_s=5)
    await home.publish("esphome-tv/sensor/tv_power/state", "87.5")
    await home.publish("zigbee2mqtt/hall_motion", {"occupancy": True})
    await home.vt.advance(6)
    assert [(r.value, r.role, r.room) for r in home.of("appliance")] == [
        (True, "tv", "living_room")]
    assert [(r.value, r.room) for r in home.of("motion")] == [(True, "hall")]


async def test_a_presence_radar_and_a_pir_on_zigbee2mqtt(home: Home) -> None:
    # An FP2-style radar sends `presence`, a Tuya radar `occupancy` (mapped as held per device),
    # an Aqara PIR `occupancy` meaning motion.
    await connected(home, map=[
        {"topic": "zigbee2mqtt/living_fp2", "field": "presence", "kind": "presence",
         "room": "living"},
        {"topic": "zigbee2mqtt/bedroom_radar", "field": "occupancy", "kind": "occupancy",
         "room": "bedroom", "role": "radar"},
        {"topic": "zigbee2mqtt/hall_pir", "field": "occupancy", "kind": "motion", "room": "hall"},
    ])
    await home.publish("zigbee2mqtt/living_fp2", {"presence": True, "illuminance": 120})
    await home.publish("zigbee2mqtt/living_fp2", {"presence": True, "illuminance": 90})
    await home.publish("zigbee2mqtt/bedroom_radar", {"occupancy": "ON"})
    await home.publish("zigbee2mqtt/hall_pir", {"occupancy": True})
    await home.publish("zigbee2mqtt/living_fp2", {"presence": False})
    assert [(r.value, r.room, r.role, r.device) for r in home.of("occupancy")] == [
        (True, "living", "radar", "living_fp2"), (True, "bedroom", "radar", "bedroom_radar"),
        (False, "living", "radar", "living_fp2")]   # a held state: reported on change only
    assert [(r.value, r.room) for r in home.of("motion")] == [(True, "hall")]


async def test_repeated_reports_are_damped(home: Home) -> None:
    await connected(home, report_interval_s=300)
    for watts in (1800, 1802, 1799):  # within 10 W of the last emitted value
        await home.publish("zigbee2mqtt/kitchen_plug", {"power": watts})
    assert [r.value for r in home.of("power")] == [1800.0]
    await home.vt.advance(301)
    await home.publish("zigbee2mqtt/kitchen_plug", {"power": 1801})
    assert [r.value for r in home.of("power")] == [1800.0, 1801.0]


async def test_broker_down_is_degraded_not_a_crash(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "b")  # never started
    clock = ManualClock()
    opts = MqttLocalOptions.model_validate({"type": "mqtt.local", "name": "ha",
                                            "broker": broker.url, "map": MAP[:1]})
    vt = VirtualTime(clock)
    driver = MqttLocalDriver(opts, DriverContext(emit=lambda r: None, clock=clock,
                                                 logger=logging.getLogger("t"),
                                                 loop=asyncio.get_running_loop()),
                             sleep=vt.sleep)
    task = asyncio.create_task(driver.run())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while driver.health.counters.get("disconnects", 0) == 0 and loop.time() < deadline:
        await asyncio.sleep(0.01)
    assert driver.health.state == HealthState.DEGRADED
    assert not task.done()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def test_options_are_checked(tmp_path: Path) -> None:
    base = {"type": "mqtt.local", "name": "ha"}
    with pytest.raises(ValidationError, match="no mapping"):
        MqttLocalOptions.model_validate(base)
    with pytest.raises(ValidationError, match="invalid MQTT topic filter"):
        MqttLocalOptions.model_validate({**base, "map": [{"topic": "a/#/b", "kind": "power"}]})
    with pytest.raises(ValidationError, match="broker must look like"):
        MqttLocalOptions.model_validate({**base, "broker": "http://x", "map": MAP})
    bad = tmp_path / "bad.toml"
    bad.write_text('[[map]]\ntopic = "x"\nkind = "power"\nthreshold_w = -1\n')
    with pytest.raises(ValidationError, match=r"map\[0\].threshold_w"):
        MqttLocalOptions.model_validate({**base, "map_file": str(bad)})
    with pytest.raises(ValidationError, match="cannot read map_file"):
        MqttLocalOptions.model_validate({**base, "map_file": str(tmp_path / "none.toml")})


def test_appliance_detector_sample_and_hold() -> None:
    det = ApplianceDetector(threshold_w=1000, on_after_s=5, off_after_s=30)
    assert det.feed(1800, 0) is None
    assert det.deadline() == 5
    assert det.tick(4.9) is None
    assert det.tick(5) is True
    assert det.feed(900, 10) is None  # below: the off timer starts
    assert det.feed(1900, 20) is None  # back above: stays on, timer cleared
    assert det.tick(100) is None
    assert det.feed(0, 120) is None
    assert det.tick(150) is False


def test_registered_entry_point() -> None:
    assert load_driver_class("mqtt.local") is MqttLocalDriver


async def test_room_temperature_is_marked_ambient(home: Home, tmp_path: Path) -> None:
    """A Zigbee thermometer reports the room: the heuristics must not read it as a fever."""
    map_file = tmp_path / "ha-map.toml"
    map_file.write_text('[[map]]\ntopic = "zigbee2mqtt/bedroom_climate"\nfield = "temperature"\n'
                        'kind = "temperature"\nroom = "bedroom"\n')
    await connected(home, map=[], map_file=str(map_file))
    await home.publish("zigbee2mqtt/bedroom_climate", {"temperature": 17.5})
    await home.until(lambda: bool(home.of("temperature")))
    reading = home.of("temperature")[0]
    assert reading.value == 17.5 and reading.room == "bedroom"
    assert reading.data["ambient"] is True and reading.data["unit"] == "degC"



async def test_oversized_payloads_and_long_text_values_are_capped(home: Home) -> None:
    """A 1 MB value is dropped unread (it became a 1 MB event and blocked the drain); a long
    free-form text keeps its head. Both counted; the driver keeps working."""
    driver = await connected(home, map=[
        *MAP, {"topic": "esphome/hall/status", "field": "state", "kind": "text"}])
    await home.publish("esphome/hall/status", {"state": "x" * 1_048_576})
    await home.publish("esphome/hall/status", {"state": "y" * 10_000})
    c = driver.health.counters
    assert c["oversized_payloads"] == 1
    assert c["values_truncated"] == 1
    assert [len(r.value) for r in home.of("text")] == [MAX_TEXT_CHARS]
    await home.publish("esphome/hall/status", {"state": "ok"})  # still working
    assert [r.value for r in home.of("text")][-1] == "ok"
    assert home.task is not None and not home.task.done()


async def test_broker_restart_reconnects_resubscribes_and_readings_flow_again(
        home: Home) -> None:
    driver = await connected(home, reconnect_min_s=1, reconnect_max_s=2)
    await home.publish("zigbee2mqtt/fridge_door", {"contact": True})
    home.broker.restart()  # the home's broker restarts (an update, a power cut)
    await home.until(lambda: driver.health.counters.get("disconnects", 0) >= 1, 10)
    await home.until(lambda: driver.subscribed and home.pub.is_connected(), 20)
    assert driver.health.state == HealthState.OK
    await home.publish("zigbee2mqtt/fridge_door", {"contact": False})
    assert [r.value for r in home.of("door")] == ["closed", "open"]
