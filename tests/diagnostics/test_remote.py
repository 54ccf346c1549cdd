"""Remote diagnostics over a real mosquitto: ping, doctor, bundle, and hostile commands."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edgeagent.doctor.bundle import REMOTE_CAP
from edgeagent.supervisor import Agent
from tests.conftest import RunningAgent, make_config


class Technician:
    """An MQTT 5 client on the platform side: sends commands, collects every reply."""

    def __init__(self, port: int) -> None:
        self.messages: list[tuple[str, bytes, Any]] = []
        self.cond = threading.Condition()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="technician",
                                  protocol=mqtt.MQTTv5)
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.client.subscribe("care/home-1/#", qos=1)
        assert subscribed.wait(10)

    def _on_message(self, _c, _u, msg: mqtt.MQTTMessage) -> None:
        with self.cond:
            self.messages.append((msg.topic, bytes(msg.payload), msg.properties))
            self.cond.notify_all()

    def wait(self, predicate, timeout: float = 15.0) -> tuple[str, bytes, Any]:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for message in self.messages:
                    if predicate(*message):
                        return message
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no such message among {len(self.messages)}")
                self.cond.wait(remaining)

    def wait_online(self) -> None:
        # The agent subscribes to its commands before it publishes its birth message.
        self.wait(lambda t, p, _: t == "care/home-1/status" and json.loads(p)["state"] ==
                  "online")

    def send(self, name: str, payload: bytes | str, props: Properties | None = None) -> None:
        self.client.publish(f"care/home-1/cmd/{name}", payload, qos=1, properties=props)

    def reply(self, topic: str, command_id: str | None = None,
              timeout: float = 15.0) -> dict[str, Any]:
        def match(t: str, p: bytes, _props: Any) -> bool:
            if t != topic:
                return False
            return command_id is None or json.loads(p).get("id") == command_id
        return json.loads(self.wait(match, timeout)[1])

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def run_with_technician(tmp_path, mosquitto, body, drivers=None, **sections):
    config = make_config(tmp_path, mosquitto.url, drivers, **sections)
    agent = Agent(config, sync_probe=lambda: True, tick_interval=0.05)
    tech = await asyncio.to_thread(Technician, mosquitto.port)
    try:
        async with RunningAgent(agent):
            await asyncio.to_thread(tech.wait_online)
            await body(agent, tech)
    finally:
        tech.stop()


async def test_ping_is_answered_on_the_reply_topic(tmp_path, mosquitto):
    async def body(agent, tech):
        tech.send("ping", json.dumps({"id": "p-1"}))
        answer = await asyncio.to_thread(tech.reply, "care/home-1/cmd/ping/reply", "p-1")
        assert answer["ok"] is True and answer["command"] == "ping"
        assert answer["result"]["pong"] is True
    await run_with_technician(tmp_path, mosquitto, body)


async def test_mqtt5_response_topic_and_correlation_data_are_honoured(tmp_path, mosquitto):
    async def body(agent, tech):
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = "care/home-1/replies/tech-7"
        props.CorrelationData = b"corr-123"
        tech.send("ping", b"{}", props)
        _topic, payload, reply_props = await asyncio.to_thread(
            tech.wait, lambda t, p, _: t == "care/home-1/replies/tech-7")
        assert json.loads(payload)["ok"] is True
        assert reply_props.CorrelationData == b"corr-123"
        # A response topic outside the home's tree is not honoured (no reflection anywhere).
        props.ResponseTopic = "elsewhere/steal"
        props.CorrelationData = b"corr-456"
        tech.send("ping", b"{}", props)
        _, _, reply_props = await asyncio.to_thread(
            tech.wait, lambda t, p, pr: t == "care/home-1/cmd/ping/reply"
            and getattr(pr, "CorrelationData", None) == b"corr-456")
    await run_with_technician(tmp_path, mosquitto, body)


async def test_malformed_and_unknown_commands_get_error_replies_never_a_crash(tmp_path,
                                                                               mosquitto):
    async def body(agent, tech):
        tech.send("ping", b"{not json")
        bad = await asyncio.to_thread(tech.reply, "care/home-1/cmd/ping/reply")
        assert bad["ok"] is False and "not JSON" in bad["error"]
        tech.send("reboot", b"{}")
        unknown = await asyncio.to_thread(tech.reply, "care/home-1/cmd/reboot/reply")
        assert unknown["ok"] is False and "unknown command 'reboot'" in unknown["error"]
        tech.send("doctor", b"[1, 2, 3]")
        not_object = await asyncio.to_thread(tech.reply, "care/home-1/cmd/doctor/reply")
        assert not_object["ok"] is False and "JSON object" in not_object["error"]
        tech.send("ping", json.dumps({"id": "after"}))
        alive = await asyncio.to_thread(tech.reply, "care/home-1/cmd/ping/reply", "after")
        assert alive["ok"] is True
        assert agent.router.counters["rejected"] == 3
    await run_with_technician(tmp_path, mosquitto, body)


async def test_rate_limit_is_hit_after_n_commands(tmp_path, mosquitto):
    async def body(agent, tech):
        for n in range(4):
            tech.send("ping", json.dumps({"id": f"r-{n}"}))
        def replies() -> list[dict[str, Any]]:
            with tech.cond:
                return [json.loads(p) for t, p, _ in tech.messages
                        if t == "care/home-1/cmd/ping/reply"]

        await asyncio.to_thread(tech.wait, lambda *_: len(replies()) >= 4)
        answers = replies()  # one client, QoS 1: in order
        assert [a["ok"] for a in answers] == [True, True, True, False]
        assert [a.get("id") for a in answers[:3]] == ["r-0", "r-1", "r-2"]
        assert "rate limit of 3 commands per minute" in answers[3]["error"]
    await run_with_technician(tmp_path, mosquitto, body, commands={"rate_per_minute": 3})


async def test_remote_doctor_reports_live_health(tmp_path, mosquitto):
    async def body(agent, tech):
        tech.send("doctor", json.dumps({"id": "d-1"}))
        answer = await asyncio.to_thread(tech.reply, "care/home-1/cmd/doctor/reply", "d-1")
        assert answer["ok"] is True, answer
        report = answer["result"]
        checks = {c["name"]: c for c in report["checks"]}
        assert report["mode"] == "daemon"
        assert checks["mqtt.daemon"]["status"] == "pass"
        assert checks["driver[stress]"]["status"] == "pass"
        assert checks["clock.synced"]["status"] == "pass"  # the agent's own probe
        assert not any(name.startswith("mqtt.tcp") for name in checks)  # no active probes
    await run_with_technician(tmp_path, mosquitto, body,
                              [{"type": "mock.stress", "name": "stress", "rate_hz": 2}])


async def test_remote_bundle_is_size_capped_and_redacted(tmp_path, mosquitto):
    secret = tmp_path / "mqtt.pass"
    secret.write_text("Planted-S3cret-For-Bundle\n")
    secret.chmod(0o600)

    async def body(agent, tech):
        tech.send("bundle", json.dumps({"id": "b-1", "args": {"lines": 50}}))
        _topic, payload, _ = await asyncio.to_thread(
            tech.wait, lambda t, p, _: t == "care/home-1/cmd/bundle/reply")
        assert len(payload) <= REMOTE_CAP + 1024
        answer = json.loads(payload)
        assert answer["ok"] is True, answer
        bundle = answer["result"]
        assert bundle["bundle"] == "edgeagent.support/1"
        assert bundle["config"]["mqtt"]["password_file"] == str(secret)
        assert bundle["doctor"]["checks"]
        assert b"Planted-S3cret" not in payload
    # The broker is anonymous: a password the broker ignores still must never leak.
    await run_with_technician(tmp_path, mosquitto, body,
                              mqtt={"username": "tech", "password_file": str(secret)})
