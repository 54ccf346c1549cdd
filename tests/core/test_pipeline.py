"""The spine, end to end against a real mosquitto: nothing lost, alerts first, schema kept."""

from __future__ import annotations

import json

import jsonschema
import pytest

from edgeagent.heuristics.passthrough import PassthroughEngine
from edgeagent.schema.generate import SHIPPED
from edgeagent.supervisor import Agent
from tests.conftest import AgentProcess, RunningAgent, make_config, write_config
from tests.support.mosquitto import Mosquitto, free_port
from tests.support.platform import PlatformSubscriber
from tests.support.waiting import until as wait_until

SCHEMA = json.loads(SHIPPED.read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


async def test_stress_events_arrive_complete_and_valid(tmp_path, mosquitto, platform, always_synced):
    config = make_config(tmp_path, mosquitto.url, [
        {"type": "mock.stress", "name": "stress-1", "rate_hz": 400, "count": 300,
         "alert_every": 50}])
    # The pipeline under test, not the heuristics: one event per reading.
    agent = Agent(config, sync_probe=always_synced, tick_interval=0.05,
                  engine=PassthroughEngine())
    async with RunningAgent(agent):
        await wait_until(lambda: {1, 300} <= platform.seqs() and len(platform.seqs()) == 300)
        await wait_until(lambda: agent.outbox.stats().pending == 0)
        # A healthy link sends each event once: duplicates only after a lost PUBACK.
        assert agent.publisher.health.published == 300
    events = platform.events()
    assert platform.seqs() == set(range(1, 301))
    for event in events:
        jsonschema.validate(event, SCHEMA)
    alerts = [e for e in events if e["kind"] == "alert"]
    assert len({a["seq"] for a in alerts}) == 6
    assert all(a["type"] == "sos" and a["severity"] == "critical" for a in alerts)


async def test_broker_outage_backlog_arrives_alerts_first(tmp_path, always_synced):
    broker = Mosquitto(tmp_path / "b", persistence=True).start()
    sub = PlatformSubscriber(broker.port, "care/#", client_id="platform-durable",
                             clean=False).start()
    try:
        config = make_config(tmp_path, broker.url, [
            {"type": "mock.stress", "name": "stress-1", "rate_hz": 1000, "count": 400,
             "alert_every": 40}])
        agent = Agent(config, sync_probe=always_synced, tick_interval=0.05, engine=PassthroughEngine())
        broker.stop()  # the broker goes down before the home starts producing
        async with RunningAgent(agent):
            await wait_until(lambda: agent.outbox.last_seq == 400)
            assert agent.outbox.stats().pending == 400
            sub.client.loop_stop()
            broker.start()  # same port; the durable subscriber's session survived
            sub.client.reconnect()
            sub.client.loop_start()
            await wait_until(lambda: len(sub.seqs()) == 400, timeout=30)
        events = sub.events()
        assert sub.seqs() == set(range(1, 401))
        first_ten = list(events)[:10]
        assert all(e["kind"] == "alert" for e in first_ten), [e["type"] for e in first_ten]
        assert all(e.get("historical") for e in events)
    finally:
        sub.stop()
        broker.kill()


async def test_puback_is_the_only_delivery(tmp_path, always_synced):
    """Events published to a broker that dies before PUBACK stay pending (EdgeX #318)."""
    port = free_port()
    config = make_config(tmp_path, f"mqtt://127.0.0.1:{port}", [
        {"type": "mock.stress", "name": "s", "rate_hz": 500, "count": 50}])
    agent = Agent(config, sync_probe=always_synced, tick_interval=0.05, engine=PassthroughEngine())
    async with RunningAgent(agent):
        await wait_until(lambda: agent.outbox.last_seq == 50)
        assert agent.outbox.stats().pending == 50
        assert agent.publisher.health.acked == 0
        assert agent.publisher.health.connect_attempts >= 1
        assert "refused" in agent.publisher.health.last_error.lower() or \
            "closed" in agent.publisher.health.last_error.lower()


def test_sigkill_while_publishing_leaves_no_seq_gap(tmp_path):
    broker = Mosquitto(tmp_path / "b").start()
    sub = PlatformSubscriber(broker.port, "care/#").start()
    cfg = write_config(tmp_path / "agent.toml", f"""
        [home]
        id = "home-1"
        [mqtt]
        urls = ["{broker.url}"]
        backoff_initial = 0.05
        backoff_max = 0.3
        [outbox]
        path = "{tmp_path}/outbox.db"
        [control]
        socket = "{tmp_path}/control.sock"
        [[drivers]]
        type = "mock.stress"
        name = "stress-1"
        rate_hz = 300
    """)
    proc = AgentProcess(cfg, tmp_path / "agent.log")
    try:
        for _round in range(3):
            proc.start()
            target = max(sub.seqs(), default=0) + 150
            sub.wait_for(lambda s, t=target: max(s.seqs_unlocked(), default=0) >= t, timeout=30)
            proc.kill()
        proc.start(wait=True)  # the last run drains what the killed ones left pending
        import sqlite3
        def last_seq() -> int:
            conn = sqlite3.connect(tmp_path / "outbox.db")
            try:
                return int(conn.execute("SELECT value FROM meta WHERE key='last_seq'").fetchone()[0])
            finally:
                conn.close()
        high = last_seq()
        sub.wait_for(lambda s: set(range(1, high + 1)) <= s.seqs_unlocked(), timeout=30)
        assert proc.terminate() == 0
        final = last_seq()
        sub.wait_for(lambda s: set(range(1, final + 1)) <= s.seqs_unlocked(), timeout=30)
        assert set(range(1, final + 1)) <= sub.seqs()
        assert final >= 450
    finally:
        proc.kill()
        sub.stop()
        broker.kill()


def test_killed_agent_leaves_offline_will_on_status(tmp_path):
    broker = Mosquitto(tmp_path / "b").start()
    sub = PlatformSubscriber(broker.port, "care/home-1/status").start()
    cfg = write_config(tmp_path / "agent.toml", f"""
        [home]
        id = "home-1"
        [mqtt]
        urls = ["{broker.url}"]
        keepalive = 5
        [outbox]
        path = "{tmp_path}/outbox.db"
    """)
    proc = AgentProcess(cfg, tmp_path / "agent.log").start()
    try:
        sub.wait_for(lambda s: any(json.loads(m.payload)["state"] == "online"
                                   for m in s.messages))
        online = next(json.loads(m.payload) for m in sub.messages)
        assert online["home"] == "home-1" and "outbox" in online and "version" in online
        proc.kill()
        sub.wait_for(lambda s: json.loads(s.messages[-1].payload)["state"] == "offline")
        # Retained: a platform that subscribes later still learns the home is offline.
        late = PlatformSubscriber(broker.port, "care/home-1/status").start()
        late.wait_for(lambda s: len(s.messages) >= 1)
        assert json.loads(late.messages[0].payload)["state"] == "offline"
        assert late.messages[0].retain
        late.stop()
    finally:
        proc.kill()
        sub.stop()
        broker.kill()


def test_sigterm_exits_zero_and_says_offline(tmp_path):
    broker = Mosquitto(tmp_path / "b").start()
    sub = PlatformSubscriber(broker.port, "care/home-1/status").start()
    cfg = write_config(tmp_path / "agent.toml", f"""
        [home]
        id = "home-1"
        [mqtt]
        urls = ["{broker.url}"]
        [outbox]
        path = "{tmp_path}/outbox.db"
        [[drivers]]
        type = "mock.stress"
        name = "s"
        rate_hz = 50
    """)
    proc = AgentProcess(cfg, tmp_path / "agent.log").start(wait=True)
    try:
        sub.wait_for(lambda s: any(json.loads(m.payload)["state"] == "online"
                                   for m in s.messages))
        assert proc.terminate(timeout=10) == 0  # clean exit code, not killed by the timeout
        sub.wait_for(lambda s: json.loads(s.messages[-1].payload)["state"] == "offline")
        assert "last will" not in sub.messages[-1].payload.decode()
    finally:
        proc.kill()
        sub.stop()
        broker.kill()


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
async def test_both_protocol_versions_deliver(tmp_path, mosquitto, platform, always_synced,
                                              protocol):
    config = make_config(tmp_path, mosquitto.url, [
        {"type": "mock.stress", "name": "s", "rate_hz": 500, "count": 40}],
        mqtt={"protocol": protocol})
    agent = Agent(config, sync_probe=always_synced, tick_interval=0.05, engine=PassthroughEngine())
    async with RunningAgent(agent):
        await wait_until(lambda: len(platform.seqs()) == 40)
    assert platform.seqs() == set(range(1, 41))


async def test_failover_to_second_broker(tmp_path, mosquitto, platform, always_synced):
    dead = f"mqtt://127.0.0.1:{free_port()}"
    config = make_config(tmp_path, dead, [
        {"type": "mock.stress", "name": "s", "rate_hz": 500, "count": 20}],
        mqtt={"urls": [dead, mosquitto.url]})
    agent = Agent(config, sync_probe=always_synced, tick_interval=0.05, engine=PassthroughEngine())
    async with RunningAgent(agent):
        await wait_until(lambda: len(platform.seqs()) == 20)
        assert agent.publisher.health.broker == f"mqtt://127.0.0.1:{mosquitto.port}"


async def test_reconnect_attempts_do_not_pile_up_sockets(tmp_path, always_synced):
    """Each failed connection's paho client is released at once, not by the GC."""
    import gc
    import os

    # A broker that answers CONNACK "not authorized": each attempt runs paho's loop.
    broker = Mosquitto(tmp_path / "b", extra="allow_anonymous false").start()
    config = make_config(tmp_path, broker.url,
                         mqtt={"backoff_initial": 0.01, "backoff_max": 0.02})
    agent = Agent(config, sync_probe=always_synced, tick_interval=0.05,
                  engine=PassthroughEngine())
    gc.disable()
    try:
        async with RunningAgent(agent):
            await wait_until(lambda: agent.publisher.health.connect_attempts >= 5)
            before = len(os.listdir("/proc/self/fd"))
            start = agent.publisher.health.connect_attempts
            await wait_until(lambda: agent.publisher.health.connect_attempts >= start + 40)
            after = len(os.listdir("/proc/self/fd"))
    finally:
        gc.enable()
        broker.kill()
    assert "not authorized" in agent.publisher.health.last_error.lower()
    assert after - before < 10, (before, after)


def test_publish_outcome_of_a_message_paho_could_not_send_is_none_not_an_exception():
    """Shutdown races a broker that just closed the link (seen in the ACL fault test)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import MQTTErrorCode

    from edgeagent.publisher import publish_outcome

    info = mqtt.MQTTMessageInfo(1)
    assert publish_outcome(info) is False  # queued, not yet acknowledged
    info.rc = MQTTErrorCode.MQTT_ERR_NO_CONN
    assert publish_outcome(info) is None

