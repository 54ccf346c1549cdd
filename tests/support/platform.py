"""A platform-side subscriber: what the call centre receives, collected for assertions."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool

    def json(self) -> Any:
        return json.loads(self.payload)


class PlatformSubscriber:
    """A persistent-session QoS 1 subscriber that records every message it gets."""

    def __init__(self, port: int, topic: str = "#", client_id: str | None = None,
                 clean: bool = True, protocol: int = mqtt.MQTTv311) -> None:
        self.messages: list[Received] = []
        self.cond = threading.Condition()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2,
                                  client_id=client_id or f"platform-{time.monotonic_ns()}",
                                  clean_session=clean if protocol == mqtt.MQTTv311 else None,
                                  protocol=protocol)
        self.topic = topic
        self.subscribed = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = self._on_message
        self.port = port

    def _on_connect(self, client: mqtt.Client, *args: Any) -> None:
        client.subscribe(self.topic, qos=1)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self.cond:
            self.messages.append(Received(msg.topic, bytes(msg.payload), bool(msg.retain)))
            self.cond.notify_all()

    def start(self) -> PlatformSubscriber:
        self.client.connect("127.0.0.1", self.port, keepalive=10)
        self.client.loop_start()
        if not self.subscribed.wait(10):
            raise TimeoutError("subscriber did not get SUBACK")
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def events(self) -> list[dict[str, Any]]:
        with self.cond:
            return [m.json() for m in self.messages if "/events/" in m.topic]

    def seqs(self) -> set[int]:
        return {e["seq"] for e in self.events()}

    def wait_for(self, predicate: Callable[[PlatformSubscriber], bool],
                 timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"condition not met; {len(self.messages)} messages")
                self.cond.wait(remaining)

    def wait_seqs(self, n: int, timeout: float = 30.0) -> None:
        self.wait_for(lambda s: set(range(1, n + 1)) <= s.seqs_unlocked(), timeout)

    def seqs_unlocked(self) -> set[int]:
        return {json.loads(m.payload)["seq"] for m in self.messages if "/events/" in m.topic}
