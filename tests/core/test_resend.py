"""The `resend` downlink command over a real mosquitto: byte-identical bodies marked on the
transport, unavailable ranges said exactly, delivered state and seq untouched, alerts never
behind a resend, and a resend that outlives a lost connection."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edgeagent.downlink import CommandRouter
from edgeagent.models import Draft, Kind, Severity
from edgeagent.outbox import Outbox
from edgeagent.resend import MAX_RESEND_EVENTS, resend_handler
from edgeagent.supervisor import Agent
from edgeagent.topics import Topics
from tests.conftest import RunningAgent, make_config
from tests.interop.proxy import CutProxy
from tests.support.waiting import until

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def draft(n: int, kind: Kind = Kind.STATE, type_: str = "motion",
          severity: Severity = Severity.INFO) -> Draft:
    alert = {"id": f"a{n}", "state": "raised"} if kind is Kind.ALERT else None
    return Draft(kind=kind, type=type_, severity=severity, source={"driver": "t"},
                 mono=float(n), wall=T0 + timedelta(seconds=n), data={"n": n}, alert=alert)


class Collector:
    """An MQTT 5 platform client: every message with its user properties; resubscribes on
    every connect, so it follows a broker restart."""

    def __init__(self, port: int) -> None:
        self.messages: list[tuple[str, bytes, dict[str, str]]] = []
        self.lock = threading.Lock()
        self.connected = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2,
                                  client_id=f"collector-{time.monotonic_ns()}",
                                  protocol=mqtt.MQTTv5)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self.connected.set()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.05, 0.2)
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        assert self.connected.wait(10)

    def _on_connect(self, client: mqtt.Client, *_: Any) -> None:
        client.subscribe("care/home-1/#", qos=1)

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        props = dict(getattr(msg.properties, "UserProperty", None) or [])
        with self.lock:
            self.messages.append((msg.topic, bytes(msg.payload), props))

    def events(self, resent: bool | None = None) -> list[tuple[bytes, dict[str, str]]]:
        with self.lock:
            return [(p, props) for t, p, props in self.messages if "/events/" in t
                    and (resent is None or (props.get("resent") == "1") == resent)]

    def seqs(self, resent: bool | None = None) -> set[int]:
        return {json.loads(p)["seq"] for p, _ in self.events(resent)}

    def reply(self, command_id: str) -> dict[str, Any] | None:
        with self.lock:
            for topic, payload, _ in self.messages:
                if topic == "care/home-1/cmd/resend/reply" and \
                        json.loads(payload).get("id") == command_id:
                    return dict(json.loads(payload))
        return None

    def send(self, payload: dict[str, Any]) -> None:
        self.client.publish("care/home-1/cmd/resend", json.dumps(payload), qos=1)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def new_agent(tmp_path, mosquitto, **mqtt_cfg: Any) -> Agent:
    config = make_config(tmp_path, mosquitto.url, mqtt=mqtt_cfg) if mqtt_cfg else \
        make_config(tmp_path, mosquitto.url)
    return Agent(config, sync_probe=lambda: True, tick_interval=0.05)


async def test_resend_republishes_stored_bodies_marked_and_names_what_is_unavailable(
        tmp_path, mosquitto):
    agent = new_agent(tmp_path, mosquitto)
    outbox = agent.outbox
    outbox.append([draft(n) for n in range(1, 11)], synced=True)
    # 1-3: delivered long ago, pruned past retention; 7: quarantined (the broker kept
    # dropping the link over it). Neither can be answered.
    outbox.mark_delivered([1, 2, 3], when=time.time() - 100 * 3600)
    assert outbox.prune_delivered() == 3
    assert outbox.set_aside(7, 3, "test: link dropped") == "quarantined"
    collector = await asyncio.to_thread(Collector, mosquitto.port)
    try:
        async with RunningAgent(agent):
            await until(lambda: collector.seqs() >= {4, 5, 6, 8, 9, 10}, 15, "first delivery")
            await until(lambda: outbox.stats().pending == 0, 15, "PUBACKs recorded")
            # The retained birth says what can be asked for: 1-3 are gone, 10 is the newest.
            with collector.lock:
                birth = next(json.loads(p) for t, p, _ in collector.messages
                             if t == "care/home-1/status")
            assert (birth["last_seq"], birth["oldest_available_seq"]) == (10, 4)
            before = outbox.stats()
            assert not collector.events(resent=True)
            # Not an `allow_changes` command: the default config (changes disabled) runs it.
            assert agent.config.commands.allow_changes is False
            collector.send({"id": "r-1", "ts": datetime.now(UTC).isoformat(),
                            "args": {"ranges": [[1, 10]]}})
            await until(lambda: collector.reply("r-1") is not None, 15, "resend reply")
            answer = collector.reply("r-1")
            assert answer == {"ok": True, "id": "r-1", "command": "resend", "result": {
                "resent": 6, "unavailable": [[1, 3], [7, 7]], "pending": [], "last_seq": 10}}
            await until(lambda: len(collector.events(resent=True)) >= 6, 15, "resent events")
            resent = collector.events(resent=True)
            stored = {e.seq: e.body.encode() for e in outbox.stored_events(range(1, 11))}
            assert sorted(json.loads(p)["seq"] for p, _ in resent) == [4, 5, 6, 8, 9, 10]
            for payload, _props in resent:
                assert payload == stored[json.loads(payload)["seq"]]  # byte-identical
            first = {json.loads(p)["seq"]: json.loads(p) for p, _ in collector.events(False)}
            for payload, _props in resent:
                again = json.loads(payload)
                assert (again["id"], again["ts"]) == (first[again["seq"]]["id"],
                                                     first[again["seq"]]["ts"])
            await until(lambda: agent.publisher.resends.as_dict()["resent"] == 6, 10, "acks")
            after = outbox.stats()
            # Delivered state and seq are untouched: nothing new pending, nothing renumbered.
            assert (after.pending, after.delivered_kept, after.last_seq,
                    after.last_delivered_seq) == (0, before.delivered_kept, 10,
                                                  before.last_delivered_seq)
            assert [e.seq for e in outbox.append([draft(11)], synced=True)] == [11]
            assert agent.status()["mqtt"]["resend"]["queued"] == 0
    finally:
        collector.stop()


async def test_alerts_are_not_delayed_behind_a_resend(tmp_path, mosquitto):
    agent = new_agent(tmp_path, mosquitto, max_inflight=4)
    agent.outbox.append([draft(n) for n in range(1, 2001)], synced=True)
    collector = await asyncio.to_thread(Collector, mosquitto.port)
    try:
        async with RunningAgent(agent):
            await until(lambda: agent.outbox.stats().pending == 0, 30, "first delivery")
            publisher = agent.publisher
            assert publisher.resend(list(range(1, 2001))) == 2000
            most_in_flight = 0
            deadline = time.monotonic() + 30
            while publisher.resends.counters["resent"] < 50:
                most_in_flight = max(most_in_flight, publisher.resends.in_flight)
                assert time.monotonic() < deadline, "resend did not start"
                await asyncio.sleep(0)
            # An alert raised now goes out at once, beside the resend, not after it.
            stored = agent.outbox.append([draft(0, Kind.ALERT, "sos", Severity.CRITICAL)],
                                         synced=True)
            publisher.wake()
            alert_seq = stored[0].seq
            while len(publisher.resends):
                most_in_flight = max(most_in_flight, publisher.resends.in_flight)
                assert time.monotonic() < deadline, "resend did not finish"
                await asyncio.sleep(0)
            assert most_in_flight == 2  # half the window of 4, never more
            await until(lambda: len(collector.events(resent=True)) >= 2000, 15, "all resent")
            with collector.lock:
                order = [json.loads(p)["seq"] for t, p, props in collector.messages
                         if "/events/" in t and (props.get("resent") == "1"
                                                 or json.loads(p)["seq"] == alert_seq)]
            at = order.index(alert_seq)
            assert len(order) - at - 1 > 1000, "the alert waited behind the resend"
    finally:
        collector.stop()


async def test_a_resend_in_flight_survives_a_lost_connection(tmp_path, mosquitto):
    proxy = CutProxy(mosquitto.port)
    config = make_config(tmp_path, proxy.url)
    agent = Agent(config, sync_probe=lambda: True, tick_interval=0.05)
    agent.outbox.append([draft(n) for n in range(1, 201)], synced=True)
    collector = await asyncio.to_thread(Collector, mosquitto.port)
    try:
        async with RunningAgent(agent):
            await until(lambda: agent.outbox.stats().pending == 0, 15, "first delivery")
            publisher = agent.publisher
            connections = publisher.health.connections
            proxy.deaf = True  # the broker gets the resends; its PUBACKs never come back
            publisher.resend(list(range(1, 201)))
            half_window = config.mqtt.max_inflight // 2
            await until(lambda: publisher.resends.in_flight == half_window, 10, "in flight")
            assert publisher.resends.counters["resent"] == 0
            proxy.deaf = False
            proxy.cut()
            await until(lambda: publisher.health.connections > connections, 15, "reconnect")
            await until(lambda: len(publisher.resends) == 0, 15, "resend finished")
            await until(lambda: collector.seqs(resent=True) == set(range(1, 201)), 15,
                        "every seq resent")
            assert publisher.resends.counters["resent"] == 200  # one PUBACK per seq
            assert agent.outbox.stats().pending == 0
    finally:
        collector.stop()
        proxy.close()


def _router(tmp_path) -> tuple[CommandRouter, list[int], Outbox]:
    outbox = Outbox(tmp_path / "o.db", "home-1", boot_id="b")
    outbox.append([draft(n) for n in range(1, 6)], synced=True)
    outbox.mark_delivered([1, 2, 3])
    queued: list[int] = []

    def queue(seqs: list[int]) -> int:
        queued.extend(seqs)
        return len(seqs)

    router = CommandRouter(Topics("care", "home-1"))
    router.register("resend", resend_handler(outbox.resend_plan, queue, lambda: outbox.last_seq))
    return router, queued, outbox


async def _ask(router: CommandRouter, args: Any, command_id: str) -> dict[str, Any]:
    reply = await router.handle("care/home-1/cmd/resend",
                                json.dumps({"id": command_id, "args": args}).encode(), {})
    assert reply is not None
    return dict(json.loads(reply[1]))


async def test_resend_arguments_are_checked_and_pending_events_not_sent_twice(tmp_path):
    router, queued, outbox = _router(tmp_path)
    bad = [({}, "args.ranges must be"), ({"ranges": [[3, 1]]}, "1 <= from_seq <= to_seq"),
           ({"ranges": [[0, 2]]}, "1 <= from_seq"), ({"ranges": [[1, "2"]]}, "integers"),
           ({"ranges": [[True, 2]]}, "integers"), ({"ranges": [1, 2]}, "[from_seq, to_seq]"),
           ({"ranges": [[1, MAX_RESEND_EVENTS], [MAX_RESEND_EVENTS + 5, MAX_RESEND_EVENTS + 5]]},
            f"more than {MAX_RESEND_EVENTS}")]
    for n, (args, why) in enumerate(bad):
        answer = await _ask(router, args, f"bad-{n}")
        assert answer["ok"] is False and why in answer["error"], answer
    assert queued == []
    assert router.counters["rejected"] == len(bad)
    # Overlapping ranges merge; 4-5 are still pending (the drain sends them); past last_seq
    # nothing is issued yet, so nothing is claimed about it.
    answer = await _ask(router, {"ranges": [[2, 3], [1, 2], [4, 9]]}, "ok-1")
    assert answer["result"] == {"resent": 3, "unavailable": [], "pending": [[4, 5]],
                                "last_seq": 5}
    assert queued == [1, 2, 3]
    assert outbox.oldest_available_seq == 1
    outbox.purge_delivered()
    assert outbox.oldest_available_seq == 4
    answer = await _ask(router, {"ranges": [[1, 5]]}, "ok-2")
    assert answer["result"]["unavailable"] == [[1, 3]]
    outbox.close()
