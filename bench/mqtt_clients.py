"""MQTT client layers side by side: N QoS 1 messages, a window in flight, every PUBACK awaited.

The same messages (the drain bench's backlog: topics and bodies as the agent
sends them) go to the same private mosquitto (MQTT 5) through:

- `raw_paho`: a bare paho client on its network thread (`loop_start`), a
  semaphore keeping at most `--inflight` publishes unacknowledged (the
  drain bench's baseline);
- `raw_paho_asyncio`: bare paho on an asyncio loop through its external-loop
  hooks, the same window;
- `link`: `edgeagent.mqtt_link.Link`, the agent's link (paho on the loop,
  connect in its own thread, dead-link check), PUBACKs counted in
  `on_publish` as the publisher does, the same window;
- `aiomqtt` (when installed): `aiomqtt.Client` with `max_inflight_messages`
  set to the window and `--inflight` tasks each awaiting `publish(qos=1)`,
  which returns on the message's PUBACK.

`cpu_us_per_msg_best` is this process's CPU time (all threads) per message,
the least of the rounds: less sensitive to the machine's other load than
msgs/s. No outbox: this compares the client layers alone (bench/drain.py measures
the agent's whole drain). Rounds alternate the clients so they see the same
machine noise; the best of each is reported with every sample.

    .venv/bin/python bench/mqtt_clients.py [--messages 10000] [--rounds 3] [--inflight 64]

aiomqtt is not a dependency of the project: install it into the venv to
include it (`.venv/bin/pip install aiomqtt`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from _common import Broker, emit, log
from drain import HOME, AckWindow, backlog_messages, fill, raw_async_round, raw_round

from edgeagent.mqtt_link import BrokerAddress, ClientSettings, Link
from edgeagent.outbox import Outbox

Messages = list[tuple[str, str]]


async def link_round(port: int, messages: Messages, inflight: int) -> dict[str, float]:
    """The agent's link: a window of PUBACKs, as `Publisher` keeps it (no outbox)."""
    loop = asyncio.get_running_loop()
    connected = asyncio.Event()
    closed: list[str] = []
    window = AckWindow(len(messages), inflight)
    settings = ClientSettings(client_id=f"bench-link-{time.monotonic_ns()}", keepalive=30,
                              max_inflight=inflight)
    link = Link(settings, BrokerAddress("127.0.0.1", port, tls=False),
                lambda _lk, why: closed.append(why))

    link.client.on_publish = window.on_publish
    link.client.on_connect = lambda *_: loop.call_soon(connected.set)
    link.start()
    await asyncio.wait_for(connected.wait(), 10)
    result = await window.send(link.client, messages)
    link.client.disconnect()
    link.close()
    assert closed == ["closed"], closed
    return result


async def aiomqtt_round(port: int, messages: Messages, inflight: int) -> dict[str, float]:
    """aiomqtt's idiom: `inflight` tasks, each awaiting its publish's PUBACK in turn."""
    import aiomqtt  # noqa: PLC0415 - optional: measured only when installed

    acked = 0
    it = iter(messages)
    async with aiomqtt.Client("127.0.0.1", port, identifier=f"bench-aio-{time.monotonic_ns()}",
                              protocol=aiomqtt.ProtocolVersion.V5, keepalive=30,
                              max_inflight_messages=inflight,
                              max_queued_outgoing_messages=0) as client:
        client.pending_calls_threshold = inflight + 1  # its warning is for leaks, not windows

        async def worker() -> None:
            nonlocal acked
            for topic, payload in it:
                await client.publish(topic, payload, qos=1)
                acked += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(inflight)))
        elapsed = time.perf_counter() - start
    return {"events_per_s": acked / elapsed, "seconds": elapsed, "acked": acked}


def _aiomqtt_version() -> str | None:
    try:
        return version("aiomqtt")
    except PackageNotFoundError:  # not installed: that column is left out
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--inflight", type=int, default=64)
    args = parser.parse_args()
    logging.getLogger("mqtt").setLevel(logging.ERROR)
    aio_version = _aiomqtt_version()
    names = ["raw_paho", "raw_paho_asyncio", "link"] + (["aiomqtt"] if aio_version else [])
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory(prefix="bench-clients-") as tmp:
        workdir = Path(tmp)
        probe = Outbox(workdir / "messages.db", HOME, boot_id="bench", max_bytes=10**12)
        fill(probe, args.messages)
        messages = backlog_messages(probe)
        probe.close()
        broker = Broker(workdir / "broker").start()
        try:
            for r in range(args.rounds):
                order = names[r % len(names):] + names[:r % len(names)]  # rotate who goes first
                for name in order:
                    cpu = time.process_time()
                    if name == "raw_paho":
                        result = raw_round(broker.port, messages, args.inflight)
                    elif name == "raw_paho_asyncio":
                        result = asyncio.run(raw_async_round(broker.port, messages, args.inflight))
                    elif name == "link":
                        result = asyncio.run(link_round(broker.port, messages, args.inflight))
                    else:
                        result = asyncio.run(aiomqtt_round(broker.port, messages, args.inflight))
                    # CPU of this process (all its threads, connect to disconnect) per message:
                    # less sensitive than msgs/s to what else the machine runs.
                    result["cpu_us_per_msg"] = (time.process_time() - cpu) / len(messages) * 1e6
                    assert result["acked"] == len(messages), (name, result)
                    samples[name].append(result)
                log(f"round {r + 1}: " + "  ".join(
                    f"{k} {v[-1]['events_per_s']:.0f}/s" for k, v in samples.items()))
        finally:
            broker.stop()
    best = {k: max(v, key=lambda x: x["events_per_s"])["events_per_s"] for k, v in samples.items()}
    raw = best["raw_paho"]
    doc: dict[str, Any] = {
        "bench": "mqtt_clients",
        "messages": args.messages,
        "inflight_window": args.inflight,
        "protocol": "MQTT 5, QoS 1, every PUBACK awaited",
        "paho_version": version("paho-mqtt"),
        "aiomqtt_version": aio_version,
        "msgs_per_s": {k: round(v, 1) for k, v in best.items()},
        "ratio_to_raw_paho": {k: round(v / raw, 3) for k, v in best.items()},
        "cpu_us_per_msg_best": {k: round(min(x["cpu_us_per_msg"] for x in v), 1)
                                for k, v in samples.items()},
        "samples": {k: [round(x["events_per_s"], 1) for x in v] for k, v in samples.items()},
    }
    emit(doc)


if __name__ == "__main__":
    main()
