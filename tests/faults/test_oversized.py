"""A broker with `max_packet_size` drops the link on an event too large for it: the event is
quarantined after a few drops and the rest drains; an alert is never quarantined but cut to
fit and delivered; a 1 MB downlink never reaches the agent (MQTT 5 MaximumPacketSize)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edgeagent.doctor.outbox_reader import OutboxReader
from edgeagent.models import Draft, Kind, Severity
from edgeagent.outbox import Outbox
from edgeagent.poison import QUARANTINE_AFTER
from edgeagent.publisher import LinkState
from edgeagent.supervisor import Agent
from tests.conftest import RunningAgent, make_config
from tests.faults.kill_trials import BROKER_AS_US
from tests.support.mosquitto import Mosquitto
from tests.support.platform import PlatformSubscriber
from tests.support.waiting import until

BROKER_LIMIT = 65536
WALL = datetime(2025, 1, 1, tzinfo=UTC)


def reading(n: int, **data: object) -> Draft:
    return Draft(Kind.READING, "power", Severity.INFO, {"driver": "plug"}, float(n), WALL,
                 data={"n": n, **data})


def alert(n: int, **data: object) -> Draft:
    return Draft(Kind.ALERT, "fall_suspected", Severity.CRITICAL, {"driver": "mat"}, float(n),
                 WALL, data={"n": n, **data}, alert={"id": f"a-{n}", "state": "raised"})


def backlog(path: Path) -> tuple[int, int]:
    """An outbox as a version without the size cap left it: 123 small events, a 1 MB reading
    and a 100 KB alert pending. Returns (the reading's seq, the alert's seq)."""
    outbox = Outbox(path, "home-1", boot_id="before", max_event_bytes=2_000_000)
    drafts = [reading(n) for n in range(60)]
    drafts.append(reading(60, value="x" * 1_000_000))
    drafts += [reading(n) for n in range(61, 120)]
    drafts.append(alert(120, room="bathroom", note="y" * 100_000))
    drafts += [alert(n) for n in range(121, 125)]
    stored = outbox.append(drafts, synced=True)
    outbox.close()
    big = {json.loads(e.body)["data"]["n"]: e.seq for e in stored}
    return big[60], big[120]


@pytest.mark.timeout(90)
@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
async def test_an_event_too_big_for_the_broker_is_quarantined_and_the_rest_drains(
        tmp_path, always_synced, protocol):
    broker = Mosquitto(tmp_path / "b", extra=f"{BROKER_AS_US}\nmax_packet_size {BROKER_LIMIT}"
                       ).start()
    platform = PlatformSubscriber(broker.port, topic="care/#").start()
    big_seq, big_alert_seq = backlog(tmp_path / "outbox.db")
    config = make_config(tmp_path, broker.url, [
        {"type": "mock.stress", "name": "s", "rate_hz": 20, "count": 20, "alert_every": 5}],
        mqtt={"protocol": protocol, "backoff_initial": 0.05, "backoff_max": 0.3})
    agent = Agent(config, sync_probe=always_synced, tick_interval=0.05)
    try:
        async with RunningAgent(agent):
            total = 125 + 20
            await until(lambda: agent.outbox.last_seq == total and
                        agent.outbox.stats().pending == 0, 60, "everything else delivered")
            status = agent.status()
            outbox, mqtt_health = status["outbox"], status["mqtt"]
            print(f"MQTT {protocol}: {mqtt_health['link_drops']} links dropped by broker, "
                  f"{mqtt_health['connections']} connections; quarantined "
                  f"{outbox['quarantined_seqs']}; truncated {outbox['truncated']}; "
                  f"last_drop={mqtt_health['last_drop']!r}")
            assert outbox["quarantined"] == 1 and outbox["quarantined_seqs"] == [big_seq]
            assert status["last_acked_seq"] == total  # moved past the poison
            assert outbox["truncated"] == {"alerts_after_drops": 1}
            # At least QUARANTINE_AFTER drops each for the reading and the alert, no more
            # than a few beyond: every event that shared a window with them is resent alone.
            assert 2 * QUARANTINE_AFTER <= mqtt_health["link_drops"] <= 2 * QUARANTINE_AFTER + 2
            assert mqtt_health["last_drop"].startswith("broker dropped the link")
            assert agent.publisher.health.state is LinkState.CONNECTED
            wanted = set(range(1, total + 1)) - {big_seq}
            platform.wait_for(lambda p: wanted <= p.seqs_unlocked(), 20)
            events = {e["seq"]: e for e in platform.events()}
            assert big_seq not in events
            cut = events[big_alert_seq]["data"]
            assert cut["truncated"] is True and cut["room"] == "bathroom" and cut["n"] == 120
            assert cut["original_bytes"] > 100_000
            stored = [json.loads(b) for b in agent.outbox.export(since_seq=125)]
            raised = {e["seq"] for e in stored if e["kind"] == "alert"}
            assert raised and raised <= events.keys()  # the alerts raised meanwhile went out
        with OutboxReader(tmp_path / "outbox.db") as reader:  # `outbox export --quarantined`
            exported = [json.loads(b) for b in reader.export(quarantined=True)]
            assert [e["seq"] for e in exported] == [big_seq]
            assert len(exported[0]["data"]["value"]) == 1_000_000  # kept whole for support
            assert reader.quarantined()[0]["attempts"] == QUARANTINE_AFTER
    finally:
        platform.stop()
        broker.kill()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.timeout(60)
async def test_a_1mb_downlink_never_reaches_the_agent_over_mqtt5(tmp_path, always_synced):
    broker = Mosquitto(tmp_path / "b", extra=BROKER_AS_US).start()
    config = make_config(tmp_path, broker.url, mqtt={"protocol": "5"})
    agent = Agent(config, sync_probe=always_synced, tick_interval=0.05)
    replies: list[bytes] = []
    attacker = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="attacker",
                           protocol=mqtt.MQTTv5)
    attacker.on_message = lambda _c, _u, msg: replies.append(bytes(msg.payload))
    try:
        async with RunningAgent(agent):
            await until(lambda: agent.publisher.connected, 10, "connected")
            attacker.connect("127.0.0.1", broker.port)
            attacker.loop_start()
            attacker.subscribe("care/home-1/cmd/+/reply", qos=1)
            connections = agent.publisher.health.connections
            before = rss_kib(os.getpid())
            # Five, not more: mosquitto 2.0 keeps each dropped QoS 1 message in the session's
            # inflight window (20 by default); at 20 it forwards nothing more to us until
            # the session ends (docs/reliability.md).
            for _ in range(5):
                attacker.publish("care/home-1/cmd/ping", b'{"args":{"pad":"' +
                                 b"x" * 1_048_576 + b'"}}', qos=1).wait_for_publish(10)
            # A small command after them is answered: the big ones are behind us, unread.
            attacker.publish("care/home-1/cmd/ping", b'{"id":"after-the-flood"}',
                             qos=1).wait_for_publish(10)
            await until(lambda: len(replies) >= 1, 10, "the small command's reply")
            grown = rss_kib(os.getpid()) - before
            print(f"1 MB downlinks x5 over MQTT 5: {len(replies)} reply, agent process grew "
                  f"{grown} KiB, broker log: "
                  f"{broker.log_text().count('too large')} 'too large' lines")
            assert len(replies) == 1 and b"pong" in replies[0]
            assert agent.router.counters["accepted"] == 1  # only the small one arrived
            assert agent.router.counters["rejected"] == 0  # a 1 MB one would be refused here
            assert agent.publisher.health.connections == connections  # never disconnected
            assert agent.publisher.connected
            assert broker.log_text().count("Dropping too large outgoing PUBLISH") == 5
            # 5 MB went through the broker, none into us (this process also runs the
            # attacker's paho client, hence the margin).
            assert grown < 4 * 1024
    finally:
        attacker.loop_stop()
        attacker.disconnect()
        broker.kill()
