"""Drain throughput: N buffered events sent after the broker comes back, beside raw paho.

The agent side is the production pair `Outbox` + `Publisher` (MQTT 5, QoS 1,
`max_inflight` window, delivered only on PUBACK, one `mark_delivered`
transaction per batch of PUBACKs, synchronous=NORMAL for those marks, FULL for
appends; paho driven by the asyncio loop). The outbox is filled
while the broker is down; the broker is then started and the figure is
events / (last PUBACK recorded - CONNACK). The time from broker start to
CONNACK (the reconnect backoff) is reported separately.

The baseline is a bare paho client in the same run, to the same private
mosquitto, publishing the same topics and payloads (including the
`historical` flag the agent adds to backlog events) at QoS 1, never more
than the same in-flight window unacknowledged (a semaphore released by each
PUBACK; queueing 100 000 messages inside paho at once stalls it), and
waiting for every PUBACK. No SQLite, no asyncio. A second baseline,
`raw_paho_asyncio`, is the same loop with paho driven by an asyncio loop
(no network thread), the way the agent drives it.

(The prototype columns of earlier versions, PUBACK marks without their own
fsync and paho driven by the asyncio loop instead of a thread, are now what
the agent does.)

Rounds alternate raw / agent so both see the same machine noise; the best
of each is reported with every sample.

    .venv/bin/python bench/drain.py [--events 10000] [--rounds 2] [--inflight 64]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from _common import Broker, emit, log
from paho.mqtt.enums import CallbackAPIVersion

from edgeagent.config import MqttConfig
from edgeagent.models import Draft, Kind, Severity
from edgeagent.outbox import Outbox
from edgeagent.publisher import Publisher
from edgeagent.topics import Topics

HOME = "bench-home"


def fill(outbox: Outbox, n: int) -> None:
    """Stress-like backlog: motion states, every 50th an SOS alert (drains first)."""
    wall = datetime.now(UTC)
    batch: list[Draft] = []
    for i in range(1, n + 1):
        if i % 50 == 0:
            batch.append(Draft(Kind.ALERT, "sos", Severity.CRITICAL,
                               {"driver": "stress", "device": "stress", "room": "hall"},
                               mono=float(i), wall=wall, data={"n": i, "reason": "SOS pressed"},
                               alert={"id": f"a-{i}", "state": "raised"}))
        else:
            batch.append(Draft(Kind.STATE, "motion", Severity.INFO,
                               {"driver": "stress", "device": "stress", "room": "hall"},
                               mono=float(i), wall=wall, data={"value": i % 2 == 1, "n": i}))
        if len(batch) == 1000:
            outbox.append(batch, synced=True)
            batch = []
    outbox.append(batch, synced=True)


def backlog_messages(outbox: Outbox) -> list[tuple[str, str]]:
    """(topic, payload) in drain order, exactly as the publisher will send them."""
    topics = Topics("care", HOME)
    rows = outbox._conn.execute(
        "SELECT kind, type, body FROM events WHERE delivered_at IS NULL ORDER BY priority, seq"
    ).fetchall()
    return [(topics.event(k, t), b[:-1] + ',"historical":true}') for k, t, b in rows]


def raw_round(port: int, messages: list[tuple[str, str]], inflight: int) -> dict[str, float]:
    """A bare paho QoS 1 loop keeping at most `inflight` publishes unacknowledged."""
    done = threading.Event()
    window = threading.BoundedSemaphore(inflight)
    acked = 0
    total = len(messages)

    def on_publish(*_: Any) -> None:
        nonlocal acked
        acked += 1
        window.release()
        if acked == total:
            done.set()

    connected = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"raw-{time.monotonic_ns()}",
                         protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(inflight)
    client.max_queued_messages_set(0)
    client.on_publish = on_publish
    client.on_connect = lambda *a: connected.set()
    client.connect("127.0.0.1", port, keepalive=30)
    client.loop_start()
    connected.wait(10)
    start = time.perf_counter()
    for topic, payload in messages:
        window.acquire()
        client.publish(topic, payload, qos=1)
    done.wait(600)
    elapsed = time.perf_counter() - start
    client.disconnect()
    client.loop_stop()
    return {"events_per_s": acked / elapsed, "seconds": elapsed, "acked": acked}


class AckWindow:
    """QoS 1 publishes with at most `inflight` unacknowledged, timed until the last PUBACK.

    `on_publish` is paho's callback (on the loop thread); `send` publishes and waits.
    """

    def __init__(self, total: int, inflight: int) -> None:
        self.total, self.inflight = total, inflight
        self.acked = self.in_flight = 0
        self.room, self.done = asyncio.Event(), asyncio.Event()

    def on_publish(self, *_: Any) -> None:
        self.acked += 1
        self.in_flight -= 1
        self.room.set()
        if self.acked == self.total:
            self.done.set()

    async def send(self, client: mqtt.Client, messages: list[tuple[str, str]]) -> dict[str, float]:
        start = time.perf_counter()
        for topic, payload in messages:
            while self.in_flight >= self.inflight:
                self.room.clear()
                await self.room.wait()
            client.publish(topic, payload, qos=1)
            self.in_flight += 1
        await asyncio.wait_for(self.done.wait(), 600)
        elapsed = time.perf_counter() - start
        return {"events_per_s": self.acked / elapsed, "seconds": elapsed, "acked": self.acked}


async def raw_async_round(port: int, messages: list[tuple[str, str]],
                          inflight: int) -> dict[str, float]:
    """The same bare QoS 1 loop with paho driven by an asyncio loop (no network thread).

    The stricter baseline since the agent drives paho this way too: paho's
    external-loop hooks put its socket on the selector; PUBACKs are counted
    in paho's callback on the loop thread. No SQLite.
    """
    loop = asyncio.get_running_loop()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"raw-async-{time.monotonic_ns()}",
                         protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(inflight)
    client.max_queued_messages_set(0)
    connected = asyncio.Event()
    window = AckWindow(len(messages), inflight)
    client.on_publish = window.on_publish
    client.on_connect = lambda *a: connected.set()
    client.on_socket_open = lambda _c, _u, sock: loop.add_reader(sock, client.loop_read)
    client.on_socket_close = lambda _c, _u, sock: loop.remove_reader(sock)
    client.on_socket_register_write = lambda _c, _u, sock: loop.add_writer(sock, client.loop_write)
    client.on_socket_unregister_write = lambda _c, _u, sock: loop.remove_writer(sock)
    client.connect("127.0.0.1", port, keepalive=30)  # loopback: blocking is fine here
    await asyncio.wait_for(connected.wait(), 10)
    result = await window.send(client, messages)
    client.disconnect()
    client.loop_write()
    return result


async def agent_round(workdir: Path, broker: Broker, n: int, inflight: int) -> dict[str, float]:
    outbox = Outbox(workdir / "outbox.db", HOME, boot_id="bench", max_bytes=10**12)
    fill(outbox, n)
    cfg = MqttConfig(urls=[broker.url], max_inflight=inflight, backoff_initial=0.05,
                     backoff_max=0.2, keepalive=30)
    publisher = Publisher(cfg, HOME, outbox, status=lambda: {"outbox": {"pending": n}})
    task = asyncio.create_task(publisher.run())
    await asyncio.sleep(0.3)  # the publisher is retrying against a closed port now
    started = time.perf_counter()
    broker.start()
    while publisher.health.connections == 0:
        await asyncio.sleep(0.001)
    connected = time.perf_counter()
    while publisher.health.acked < n:
        publisher.acked_event.clear()
        await asyncio.wait_for(publisher.acked_event.wait(), 120)
    finished = time.perf_counter()
    pending = outbox.stats().pending
    await publisher.stop()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    outbox.close()
    broker.stop()
    return {"events_per_s": n / (finished - connected), "seconds": finished - connected,
            "broker_start_to_connack_s": connected - started, "pending_after": pending,
            "published": publisher.health.published}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--inflight", type=int, default=64)
    parser.add_argument("--profile", type=Path, default=None,
                        help="write a cProfile (event-loop thread) of the last agent round here")
    args = parser.parse_args()
    samples: dict[str, list[dict[str, float]]] = {"raw": [], "raw_async": [], "agent": []}
    with tempfile.TemporaryDirectory(prefix="bench-drain-") as tmp:
        workdir = Path(tmp)
        broker = Broker(workdir / "broker")
        probe = Outbox(workdir / "messages.db", HOME, boot_id="bench", max_bytes=10**12)
        fill(probe, args.events)
        messages = backlog_messages(probe)
        probe.close()
        for r in range(args.rounds):
            broker.start()
            log(f"round {r + 1}: raw paho ...")
            samples["raw"].append(raw_round(broker.port, messages, args.inflight))
            log(f"round {r + 1}: raw paho on an asyncio loop ...")
            samples["raw_async"].append(asyncio.run(
                raw_async_round(broker.port, messages, args.inflight)))
            broker.stop()
            log(f"round {r + 1}: agent outbox+publisher ...")
            round_dir = workdir / f"agent-{r}"
            round_dir.mkdir()
            prof = None
            if args.profile and r == args.rounds - 1:
                import cProfile  # noqa: PLC0415

                prof = cProfile.Profile()
                prof.enable()
            samples["agent"].append(asyncio.run(
                agent_round(round_dir, broker, args.events, args.inflight)))
            if prof is not None:
                prof.disable()
                prof.dump_stats(args.profile)
            log("  " + "  ".join(f"{k} {v[-1]['events_per_s']:.0f}/s"
                                 for k, v in samples.items() if v))
    best = {k: max(v, key=lambda x: x["events_per_s"]) for k, v in samples.items() if v}
    raw_rate = best["raw"]["events_per_s"]
    doc: dict[str, Any] = {
        "bench": "drain",
        "events": args.events,
        "inflight_window": args.inflight,
        "protocol": "MQTT 5, QoS 1",
        "agent_events_per_s": round(best["agent"]["events_per_s"], 1),
        "raw_paho_events_per_s": round(raw_rate, 1),
        "ratio": round(best["agent"]["events_per_s"] / raw_rate, 3),
        "agent_drain_s": round(best["agent"]["seconds"], 3),
        "broker_start_to_connack_s": round(best["agent"]["broker_start_to_connack_s"], 3),
        "pending_after": best["agent"]["pending_after"],
    }
    raw_async_rate = best["raw_async"]["events_per_s"]
    doc["raw_paho_asyncio_events_per_s"] = round(raw_async_rate, 1)
    doc["ratio_to_raw_asyncio"] = round(best["agent"]["events_per_s"] / raw_async_rate, 3)
    doc["median_ratio"] = round(statistics.median(
        a["events_per_s"] / r["events_per_s"]
        for a, r in zip(samples["agent"], samples["raw"], strict=True)), 3)
    doc["samples"] = {k: [round(x["events_per_s"], 1) for x in v]
                      for k, v in samples.items() if v}
    doc["target"] = "agent >= 0.8 of raw (threaded paho); raw on asyncio also given"
    emit(doc)


if __name__ == "__main__":
    main()
