"""End-to-end latency: a GPIO edge on gpiozero's MockFactory -> PUBACK at a real mosquitto.

The agent is the real thing in-process: `Agent` with the `gpio.sos` (and
`gpio.pir`) drivers from drivers/gpio, pins on gpiozero's own MockFactory,
the default heuristics engine, the outbox (synchronous=FULL) and the MQTT 5
publisher, against a private mosquitto on loopback. A stimulus thread
(standing in for lgpio's alert thread) drives the pin and waits until the
resulting event's PUBACK is recorded by the agent, then releases the pin
and goes again, so events never queue behind each other.

A second baseline is a one-row SQLite commit with the outbox's pragmas
(WAL, synchronous=FULL) on the same disk: the fsync every alert pays
before it may be published.

Stages per event: edge -> reading reaches the supervisor -> event committed
to the outbox (fsync) -> PUBACK recorded by the agent's event loop.

The baseline in the same run is a bare paho MQTT 5 client doing QoS 1
publish -> PUBACK round trips (same payload size, same broker), one at a
time: what the network and broker cost without any agent.

With `--audio`, the same presses run a second time in the same run with
the kit talking: a buzzer and call light on MockFactory pins and an
`audio.speech` output whose player is a stand-in for espeak-ng that takes
`--speech-seconds` per sentence (every press starts a tone, "calling for
help" and the LED). Speech runs in a subprocess off the event loop, so
`with_audio.edge_to_puback` should match `edge_to_puback` of the baseline.

With `--prealarm`, the measurement is the pre-alarm's instead: a night's
`bed_exit_no_return` through the bed mat and hall PIR drivers on a kit that
cannot ask, one that asks and gets no answer, and one where she presses
"I'm OK" (bench/prealarm_latency.py; `--rounds`, `--prealarm-seconds`).

    .venv/bin/python bench/latency.py [--events 1000] [--driver sos|pir] [--audio]
    .venv/bin/python bench/latency.py --prealarm [--rounds 5] [--prealarm-seconds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import prealarm_latency
from _common import Broker, emit, log, summary_ms
from gpiozero import Device
from gpiozero.pins.mock import MockFactory
from paho.mqtt.enums import CallbackAPIVersion

from edgeagent.config import parse_config
from edgeagent.supervisor import Agent

PIN = {"sos": 17, "pir": 27}


def raw_round_trips(port: int, payload: bytes, n: int) -> list[float]:
    acked = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="raw-latency",
                         protocol=mqtt.MQTTv5)
    client.on_publish = lambda *a: acked.set()
    connected = threading.Event()
    client.on_connect = lambda *a: connected.set()
    client.connect("127.0.0.1", port, keepalive=30)
    client.loop_start()
    connected.wait(10)
    out = []
    for _ in range(n):
        acked.clear()
        start = time.perf_counter()
        client.publish("care/bench-home/events/alert/sos", payload, qos=1)
        acked.wait(10)
        out.append(time.perf_counter() - start)
    client.disconnect()
    client.loop_stop()
    return out


def raw_commits(path: Path, n: int) -> list[float]:
    """One-row INSERT + COMMIT with the outbox's pragmas: the price of durability alone."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (seq INTEGER PRIMARY KEY, body TEXT)")
    out = []
    for i in range(n):
        start = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t VALUES (?, ?)", (i, "x" * 420))
        conn.execute("COMMIT")
        out.append(time.perf_counter() - start)
    conn.close()
    return out


class Probe:
    """Stamps each stage of one press, from the agent's own hooks."""

    def __init__(self, agent: Agent, event_type: str) -> None:
        self.event_type = event_type
        self.t_edge = 0.0
        self.t_reading = 0.0
        self.t_stored = 0.0
        self.t_acked = 0.0
        self.seq: int | None = None
        self.done = threading.Event()
        self.samples: list[tuple[float, float, float, float]] = []
        self.error = ""
        self.spoken = 0
        self.cues = 0
        self.agent = agent
        agent.listeners.append(self._listen)
        original = agent.outbox.mark_delivered

        def mark_delivered(seqs: Any, when: float | None = None) -> None:
            now = time.perf_counter()
            if self.seq is not None and self.seq in seqs and not self.done.is_set():
                self.t_acked = now
                self.done.set()
            original(seqs, when)

        agent.outbox.mark_delivered = mark_delivered  # type: ignore[method-assign]

    def _listen(self, what: str, payload: dict[str, Any]) -> None:
        now = time.perf_counter()
        if what == "reading" and not self.t_reading:
            self.t_reading = now
        elif what == "event" and payload["type"] == self.event_type and self.seq is None \
                and (self.event_type != "motion" or '"value":true' in payload["body"]):
            self.t_stored = now
            self.seq = payload["seq"]

    def arm(self) -> None:
        self.t_reading = self.t_stored = self.t_acked = 0.0
        self.seq = None
        self.done.clear()
        self.t_edge = time.perf_counter()

    def record(self) -> None:
        self.samples.append((self.t_reading - self.t_edge, self.t_stored - self.t_edge,
                             self.t_acked - self.t_edge, self.t_acked - self.t_stored))


def stimulate(factory: MockFactory, driver: str, probe: Probe, n: int,
              loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    pin = factory.pin(PIN[driver])
    try:
        for i in range(n + 20):
            probe.arm()
            if driver == "sos":
                pin.drive_low()   # pressed (pull-up, active low)
            else:
                pin.drive_high()  # PIR output high: motion
            if not probe.done.wait(10):
                probe.error = f"no PUBACK within 10 s for edge {i}; stopped there"
                break
            if i >= 20:  # the first presses warm caches and the connection
                probe.record()
            if driver == "sos":
                pin.drive_high()
            else:
                pin.drive_low()
    finally:
        loop.call_soon_threadsafe(stop.set)


def speech_outputs(workdir: Path, seconds: float) -> list[dict[str, Any]]:
    """A buzzer, a call light and a voice whose player takes `seconds` per sentence."""
    player = workdir / "slow-espeak"
    player.write_text(f"#!/bin/sh\nsleep {seconds}\n")
    player.chmod(0o755)
    return [{"type": "gpio.buzzer", "name": "buzzer", "pin": 18},
            {"type": "gpio.led", "name": "call-light", "pin": 23},
            {"type": "audio.speech", "name": "voice", "espeak": str(player)}]


async def run_agent(workdir: Path, broker: Broker, driver: str, n: int,
                    outputs: list[dict[str, Any]] | None = None) -> Probe:
    table: dict[str, Any] = {"type": f"gpio.{driver}", "name": driver, "pin": PIN[driver],
                             "bounce_time": 0, "max_edges_per_minute": 1_000_000,
                             "room": "hall"}
    if driver == "pir":
        table.update({"hold_off": 0, "repeat_every": 3600})
    config = parse_config({
        "home": {"id": "bench-home-audio" if outputs else "bench-home"},
        "mqtt": {"urls": [broker.url], "backoff_initial": 0.05, "backoff_max": 0.5},
        "outbox": {"path": str(workdir / "outbox.db")},
        "control": {"socket": str(workdir / "control.sock")},
        "drivers": [table],
        "outputs": outputs or [],
    }, "<bench>")
    agent = Agent(config, sync_probe=lambda: True, tick_interval=1.0)
    probe = Probe(agent, "sos" if driver == "sos" else "motion")
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    await asyncio.wait_for(agent.ready.wait(), 10)
    while not agent.publisher.connected:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)  # let the driver claim its pin and report its start level
    factory = Device.pin_factory
    assert isinstance(factory, MockFactory)
    thread = threading.Thread(target=stimulate, args=(factory, driver, probe, n,
                                                      asyncio.get_running_loop(), stop))
    thread.start()
    await task
    thread.join()
    voice = agent.output_set.outputs.get("voice")
    probe.spoken = voice.health.counters.get("players_started", 0) if voice is not None else 0
    probe.cues = agent.announcer.counters["cues"]
    return probe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--driver", choices=["sos", "pir"], default="sos")
    parser.add_argument("--audio", action="store_true",
                        help="run the presses again with a talking kit (buzzer, LED, speech)")
    parser.add_argument("--speech-seconds", type=float, default=1.5)
    parser.add_argument("--prealarm", action="store_true",
                        help="measure what asking her first adds to a night alarm instead")
    parser.add_argument("--rounds", type=int, default=5, help="nights, with --prealarm")
    parser.add_argument("--prealarm-seconds", type=float, default=3.0,
                        help="the cancel window, with --prealarm")
    args = parser.parse_args()
    if args.prealarm:
        prealarm_latency.main(["--rounds", str(args.rounds),
                               "--prealarm-seconds", str(args.prealarm_seconds)])
        return
    Device.pin_factory = MockFactory()
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        workdir = Path(tmp)
        broker = Broker(workdir / "broker").start()
        try:
            log(f"agent: {args.events} {args.driver} edges ...")
            probe = asyncio.run(run_agent(workdir, broker, args.driver, args.events))
            talking: Probe | None = None
            spoken = 0
            if args.audio:
                log(f"agent with audio outputs: {args.events} {args.driver} edges ...")
                (workdir / "audio").mkdir()
                talking = asyncio.run(run_agent(
                    workdir / "audio", broker, args.driver, args.events,
                    speech_outputs(workdir, args.speech_seconds)))
                spoken = talking.spoken
            body = (workdir / "outbox.db").exists()
            log("raw paho round trips ...")
            payload = b"x" * 420  # about the size of an SOS alert body
            raw = raw_round_trips(broker.port, payload, args.events)
            log("raw sqlite commits ...")
            commits = raw_commits(workdir / "commits.db", args.events)
        finally:
            broker.stop()
    reading = [s[0] for s in probe.samples]
    stored = [s[1] for s in probe.samples]
    acked = [s[2] for s in probe.samples]
    publish = [s[3] for s in probe.samples]
    agent = summary_ms(acked)
    baseline = summary_ms(raw)
    emit({
        "bench": "latency",
        "driver": f"gpio.{args.driver} on gpiozero MockFactory (real driver from drivers/gpio)",
        "outbox_used": body,
        "error": probe.error or None,
        "edge_to_puback": agent,
        "raw_paho_publish_to_puback": baseline,
        "agent_adds_p50_ms": round(agent["p50_ms"] - baseline["p50_ms"], 3),
        "agent_adds_p99_ms": round(agent["p99_ms"] - baseline["p99_ms"], 3),
        "raw_sqlite_commit_fsync": summary_ms(commits),
        "stages": {"edge_to_reading": summary_ms(reading),
                   "edge_to_committed": summary_ms(stored),
                   "committed_to_puback": summary_ms(publish)},
        "target": "agent adds < 5 ms at p99 over the raw round trip",
        **({"with_audio": {
            "outputs": "gpio.buzzer + gpio.led (MockFactory) + audio.speech (player stand-in "
                       f"taking {args.speech_seconds} s per sentence)",
            "error": talking.error or None,
            "announcer_cues": talking.cues,
            "speech_players_started": spoken,
            "edge_to_puback": summary_ms([s[2] for s in talking.samples]),
            "adds_p50_ms_over_baseline": round(
                summary_ms([s[2] for s in talking.samples])["p50_ms"] - agent["p50_ms"], 3),
            "adds_p99_ms_over_baseline": round(
                summary_ms([s[2] for s in talking.samples])["p99_ms"] - agent["p99_ms"], 3),
        }} if talking is not None else {}),
    })


if __name__ == "__main__":
    main()
