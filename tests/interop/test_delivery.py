"""The delivery contract against each MQTT broker a city might run: mosquitto, NATS, RabbitMQ.

Each broker is spoken to with the newest protocol it accepts (MQTT 5 where
it does, 3.1.1 otherwise). Nothing here is broker-specific except the one
test that checks an MQTT 5 agent gets a clear refusal from a 3.1.1-only
broker rather than a crash or silence.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import jsonschema
import paho.mqtt.client as mqtt
import pytest

from edgeagent.schema.generate import SHIPPED
from edgeagent.supervisor import Agent
from tests.conftest import AgentProcess, RunningAgent, make_config, write_config
from tests.interop.brokers import BrokerUnderTest
from tests.interop.proxy import CutProxy
from tests.support.platform import PlatformSubscriber
from tests.support.waiting import until as wait_until

SCHEMA = json.loads(SHIPPED.read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)  # built once: validate() rebuilds it per call
pytestmark = pytest.mark.timeout(90)


def platform_for(broker: BrokerUnderTest, prefix: str, durable: bool = False,
                 **kw: Any) -> PlatformSubscriber:
    # A durable consumer speaks 3.1.1 (clean_session=False), which every broker keeps
    # the same way; an MQTT 5 session would also need a session expiry interval.
    protocol = mqtt.MQTTv5 if broker.protocol == "5" and not durable else mqtt.MQTTv311
    return PlatformSubscriber(broker.port, f"{prefix}/#", protocol=protocol, **kw)


def agent_config(tmp_path: Path, url: str, broker: BrokerUnderTest, home: str,
                 drivers: list[dict[str, Any]], **mqtt_extra: Any) -> Any:
    return make_config(tmp_path, url, drivers, home={"id": home},
                       mqtt={"protocol": broker.protocol, "topic_prefix": home, **mqtt_extra})


def ids_by_seq(sub: PlatformSubscriber) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for event in sub.events():
        out.setdefault(event["seq"], []).append(event["id"])
    return out


async def test_events_arrive_complete_and_valid(broker, tmp_path, unique, always_synced):
    sub = platform_for(broker, unique).start()
    try:
        config = agent_config(tmp_path, broker.url, broker, unique, [
            {"type": "mock.stress", "name": "stress", "rate_hz": 300, "count": 150,
             "alert_every": 25}])
        agent = Agent(config, sync_probe=always_synced, tick_interval=0.05)
        async with RunningAgent(agent):
            await wait_until(lambda: sub.seqs() >= set(range(1, 151)), 30, "all 150 seqs")
            await wait_until(lambda: agent.outbox.stats().pending == 0, 10, "outbox empty")
        events = sub.events()
        assert {e["seq"] for e in events} == set(range(1, 151))
        for event in events:
            VALIDATOR.validate(event)
            assert event["home"] == unique
        alerts = [e for e in events if e["kind"] == "alert"]
        assert alerts, "the SOS presses raised no alert"
        assert all(a["type"] == "sos" and a["severity"] == "critical" for a in alerts)
    finally:
        sub.stop()


def _status_messages(sub: PlatformSubscriber, topic: str) -> list[tuple[dict[str, Any], bool]]:
    with sub.cond:
        return [(m.json(), m.retain) for m in sub.messages if m.topic == topic]


async def test_retained_birth_then_last_will_when_killed(broker, tmp_path, unique):
    topic = f"{unique}/{unique}/status"
    config = write_config(tmp_path / "agent.toml", f"""
        [home]
        id = "{unique}"
        [mqtt]
        urls = ["{broker.url}"]
        topic_prefix = "{unique}"
        protocol = "{broker.protocol}"
        keepalive = 5
        backoff_initial = 0.05
        backoff_max = 0.5
        [outbox]
        path = "{tmp_path / 'outbox.db'}"
        [control]
        socket = "{tmp_path / 'control.sock'}"
        """)
    live = platform_for(broker, unique).start()
    proc = AgentProcess(config, tmp_path / "agent.log").start()
    try:
        live.wait_for(lambda s: any(d.get("state") == "online"
                                    for d, _ in _status_messages(s, topic)), 30)
        # A subscriber arriving later gets the birth message from the broker's retained
        # store. Exact topic, not a wildcard: RabbitMQ sends retained messages only for
        # filters without wildcards (docs/brokers.md).
        protocol = mqtt.MQTTv5 if broker.protocol == "5" else mqtt.MQTTv311
        late = PlatformSubscriber(broker.port, topic, protocol=protocol).start()
        try:
            late.wait_for(lambda s: any(d.get("state") == "online" and retained
                                        for d, retained in _status_messages(s, topic)), 10)
        finally:
            late.stop()
        proc.kill()  # SIGKILL: no DISCONNECT, so the broker must publish the Last Will
        live.wait_for(lambda s: any(d.get("state") == "offline"
                                    for d, _ in _status_messages(s, topic)), 30)
        offline = [d for d, _ in _status_messages(live, topic) if d.get("state") == "offline"]
        assert "last will" in offline[-1]["reason"]
    finally:
        proc.kill()
        live.stop()


async def test_reconnects_after_the_link_dies_and_sends_the_backlog(broker, tmp_path, unique,
                                                                    always_synced):
    proxy = CutProxy(broker.port)
    sub = platform_for(broker, unique).start()
    try:
        config = agent_config(tmp_path, proxy.url, broker, unique, [
            {"type": "mock.stress", "name": "stress", "rate_hz": 200, "count": 300}])
        agent = Agent(config, sync_probe=always_synced, tick_interval=0.05)
        async with RunningAgent(agent):
            await wait_until(lambda: len(sub.seqs()) >= 20, 20, "first events")
            proxy.accepting = False
            proxy.cut()
            await wait_until(lambda: not agent.publisher.connected, 10, "agent sees the cut")
            await wait_until(lambda: agent.outbox.last_seq == 300, 20, "all 300 stored")
            assert agent.outbox.stats().pending > 0
            proxy.accepting = True
            await wait_until(lambda: sub.seqs() >= set(range(1, 301)), 30, "backlog delivered")
            await wait_until(lambda: agent.outbox.stats().pending == 0, 10, "outbox empty")
            assert agent.publisher.health.connections >= 2
    finally:
        sub.stop()
        proxy.close()


async def test_unacknowledged_events_are_sent_again(broker, tmp_path, unique, always_synced):
    """QoS 1 at-least-once: without a PUBACK an event stays pending and is re-sent."""
    proxy = CutProxy(broker.port)
    proxy.deaf = True  # the broker gets everything; its PUBACKs never reach the agent
    sub = platform_for(broker, unique).start()
    try:
        config = agent_config(tmp_path, proxy.url, broker, unique, [
            {"type": "mock.stress", "name": "stress", "rate_hz": 500, "count": 40}],
            keepalive=30)
        agent = Agent(config, sync_probe=always_synced, tick_interval=0.05)
        async with RunningAgent(agent):
            await wait_until(lambda: sub.seqs() >= set(range(1, 41)), 20,
                             "broker forwarded all 40")
            assert agent.publisher.health.acked == 0
            assert agent.outbox.stats().pending == 40
            proxy.deaf = False
            proxy.cut()
            await wait_until(lambda: agent.outbox.stats().pending == 0, 30, "re-sent and acked")
            await wait_until(lambda: all(len(v) >= 2 for v in ids_by_seq(sub).values()), 10,
                             "second copies")
        copies = ids_by_seq(sub)
        assert set(copies) == set(range(1, 41))
        for ids in copies.values():
            assert len(set(ids)) == 1  # the same event (same id) twice: the platform dedups
    finally:
        sub.stop()
        proxy.close()


async def test_durable_platform_session_gets_what_was_published_while_away(
        broker, tmp_path, unique, always_synced):
    """The call centre's consumer restarts: a persistent QoS 1 session keeps its messages."""
    client_id = f"platform-{unique}"
    sub = platform_for(broker, unique, durable=True, client_id=client_id, clean=False).start()
    sub.stop()  # subscribed, then away
    config = agent_config(tmp_path, broker.url, broker, unique, [
        {"type": "mock.stress", "name": "stress", "rate_hz": 300, "count": 60}])
    agent = Agent(config, sync_probe=always_synced, tick_interval=0.05)
    async with RunningAgent(agent):
        await wait_until(lambda: agent.outbox.last_seq == 60, 20, "60 stored")
        await wait_until(lambda: agent.outbox.stats().pending == 0, 20, "60 acked")
    back = platform_for(broker, unique, durable=True, client_id=client_id,
                        clean=False).start()
    try:
        back.wait_for(lambda s: s.seqs_unlocked() >= set(range(1, 61)), 20)
    finally:
        back.stop()


@pytest.mark.parametrize("broker", ["nats", "rabbitmq"], indirect=True)  # the 3.1.1-only ones
async def test_mqtt5_agent_on_a_311_only_broker_is_told_why(broker, tmp_path, unique,
                                                            always_synced, caplog):
    """A city broker that speaks only 3.1.1: the agent keeps retrying and its log says so.

    NATS answers the MQTT 5 CONNECT with CONNACK "Unsupported protocol version";
    RabbitMQ 3.10 closes the socket without a CONNACK, so all the agent can say
    is that the connection was dropped (docs/brokers.md: set protocol = "3.1.1").
    """
    assert broker.protocol == "3.1.1", f"{broker.name} speaks MQTT {broker.protocol}"
    caplog.set_level(logging.WARNING, logger="edgeagent.publisher")
    config = make_config(tmp_path, broker.url, [], home={"id": unique},
                         mqtt={"protocol": "5", "topic_prefix": unique})
    agent = Agent(config, sync_probe=always_synced, tick_interval=0.05)
    async with RunningAgent(agent):
        await wait_until(lambda: agent.publisher.health.connect_attempts >= 2, 20, "a retry")
        assert not agent.publisher.connected
        last_error = agent.publisher.health.last_error
    if broker.name == "nats":  # the broker's own reason stays visible in `status`
        assert "Unsupported protocol version" in last_error, last_error
    assert last_error
    said = " ".join(r.getMessage() for r in caplog.records)
    expected = {"nats": "refused the connection: Unsupported protocol version",
                "rabbitmq": "disconnected from"}.get(broker.name, "refused")
    assert expected in said, said
