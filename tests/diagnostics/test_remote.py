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

from edgeagent.clock import ManualClock
from edgeagent.doctor.bundle import REMOTE_CAP
from edgeagent.supervisor import Agent
from tests.conftest import RunningAgent, make_config
from tests.support.waiting import until


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


async def run_with_technician(tmp_path, mosquitto, body, drivers=None, *, clock=None,
                              sync_probe=lambda: True, **sections):
    config = make_config(tmp_path, mosquitto.url, drivers, **sections)
    agent = Agent(config, sync_probe=sync_probe, tick_interval=0.05, clock=clock)
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
        props.ResponseTopic = "care/home-1/replies/tech-7"  # under commands.reply_prefix
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
    await run_with_technician(tmp_path, mosquitto, body,
                              commands={"reply_prefix": "care/home-1/replies"})


async def test_malformed_and_unknown_commands_get_error_replies_never_a_crash(tmp_path,
                                                                               mosquitto):
    async def body(agent, tech):
        tech.send("ping", b"{not json")
        bad = await asyncio.to_thread(tech.reply, "care/home-1/cmd/ping/reply")
        assert bad["ok"] is False and "not JSON" in bad["error"]
        tech.send("reboot", b"{}")
        unknown = await asyncio.to_thread(tech.reply, "care/home-1/cmd/reboot/reply")
        assert unknown["ok"] is False and "unknown command 'reboot'" in unknown["error"]
        tech.send("outbox-stats", b"[1, 2, 3]")
        not_object = await asyncio.to_thread(tech.reply, "care/home-1/cmd/outbox-stats/reply")
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
                              [{"type": "mock.stress", "name": "stress", "rate_hz": 2}],
                              commands={"allow_diagnostics": True})


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
                              mqtt={"username": "tech", "password_file": str(secret)},
                              commands={"allow_diagnostics": True})


# -- hostile commands over the real broker (the audit's attacks) ---------------------------


def _replies(tech: Technician) -> list[tuple[str, dict[str, Any]]]:
    with tech.cond:
        return [(t, json.loads(p)) for t, p, _ in tech.messages if t.endswith("/reply")]


async def test_nested_and_flooded_commands_are_bounded_in_replies_and_log(tmp_path, mosquitto,
                                                                          caplog):
    """`[`*2000 + `]`*2000 and 1 000 unknown 60 KB commands: no traceback, rejections take
    the rate limit, one reply past it per window, one log line then one summary a minute."""
    clock = ManualClock()

    async def body(agent, tech):
        nested = "[" * 2000 + "]" * 2000
        for _ in range(20):
            tech.send("ping", nested)
        for n in range(1000):
            tech.send(f"unknown-{n % 7}", b"y" * 60_000)
        await until(lambda: agent.router.counters["rejected"] >= 1020, timeout=60)
        assert agent.router.counters["accepted"] == 0
        clock.advance(61)  # the next minute: the summary line, and the limit is free again
        await until(lambda: any("more commands rejected" in r.getMessage()
                                for r in caplog.records))
        tech.send("ping", json.dumps({"id": "after-flood"}))
        answer = await asyncio.to_thread(tech.reply, "care/home-1/cmd/ping/reply",
                                         "after-flood")
        assert answer["ok"] is True
        replies = _replies(tech)  # one client, QoS 1: the flood's replies came first
        flood_replies = replies[:-1]
        assert len(flood_replies) == 11  # 10 within the limit, 1 "rate limit" past it
        assert all(r["ok"] is False for _t, r in flood_replies)
        assert "rate limit of 10" in flood_replies[-1][1]["error"]
        assert agent.router.counters["unanswered"] == 1020 - 11
        assert agent.status()["commands"]["rate_limited"] == 1010

    with caplog.at_level("INFO"):
        await run_with_technician(tmp_path, mosquitto, body, clock=clock)
    assert not any(r.exc_info for r in caplog.records), "a traceback was logged"
    downlink = [r.getMessage() for r in caplog.records if r.name == "edgeagent.downlink"]
    assert len(downlink) == 2, downlink  # the first rejection, one summary
    assert "1019 more commands rejected" in downlink[1] and "rate 1010" in downlink[1]


async def test_response_topic_cannot_target_alert_or_status_topics(tmp_path, mosquitto):
    async def body(agent, tech):
        for n, target in enumerate(["care/home-1/events/alert/sos", "care/home-1/status"]):
            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic = target
            props.CorrelationData = f"inject-{n}".encode()
            tech.send("ping", json.dumps({"id": f"inject-{n}"}), props)
            answer = await asyncio.to_thread(tech.reply, "care/home-1/cmd/ping/reply",
                                             f"inject-{n}")
            assert answer["ok"] is True
        with tech.cond:
            on_alert = [t for t, _p, _ in tech.messages if "/events/" in t]
            replies_on_status = [p for t, p, _ in tech.messages
                                 if t == "care/home-1/status" and b'"command"' in p]
        assert on_alert == [] and replies_on_status == []
        assert agent.router.counters["reply_topic_refused"] == 2
    await run_with_technician(tmp_path, mosquitto, body,
                              commands={"reply_prefix": "care/home-1/replies"})


async def test_doctor_and_bundle_are_refused_without_allow_diagnostics(tmp_path, mosquitto):
    async def body(agent, tech):
        for name in ("doctor", "bundle"):
            tech.send(name, json.dumps({"id": f"{name}-1"}))
            answer = await asyncio.to_thread(tech.reply, f"care/home-1/cmd/{name}/reply",
                                             f"{name}-1")
            assert answer["ok"] is False
            assert "commands.allow_diagnostics" in answer["error"]
            assert "result" not in answer
    # allow_changes does not open them: disclosing is its own switch.
    await run_with_technician(tmp_path, mosquitto, body, commands={"allow_changes": True})


async def test_command_from_2099_is_refused(tmp_path, mosquitto):
    async def body(agent, tech):
        tech.send("ping", json.dumps({"id": "future", "ts": "2099-01-01T00:00:00Z"}))
        answer = await asyncio.to_thread(tech.reply, "care/home-1/cmd/ping/reply", "future")
        assert answer["ok"] is False and "ahead of this kit's clock" in answer["error"]
    await run_with_technician(tmp_path, mosquitto, body)


async def test_unsynced_replay_of_an_id_from_before_a_restart_is_refused(tmp_path, mosquitto):
    """Clock unsynced (ts cannot be judged): the id window is kept in the outbox."""
    captured = json.dumps({"id": "captured-1", "ts": "2020-03-01T00:00:00Z"})

    async def first_run(agent, tech):
        tech.send("ping", captured)
        answer = await asyncio.to_thread(tech.reply, "care/home-1/cmd/ping/reply", "captured-1")
        assert answer["ok"] is True
        tech.send("ping", b"{}")  # no id while unsynced: cannot be checked against replays
        no_id = await asyncio.to_thread(
            tech.wait, lambda t, p, _: t == "care/home-1/cmd/ping/reply" and
            "needs an id" in json.loads(p).get("error", ""))
        assert no_id

    async def after_restart(agent, tech):
        tech.send("ping", captured)  # the attacker replays the captured command
        answer = await asyncio.to_thread(tech.reply, "care/home-1/cmd/ping/reply", "captured-1")
        assert answer["ok"] is False and "replay" in answer["error"]
        assert agent.router.counters["accepted"] == 0

    await run_with_technician(tmp_path, mosquitto, first_run, sync_probe=lambda: False)
    await run_with_technician(tmp_path, mosquitto, after_restart, sync_probe=lambda: False)
