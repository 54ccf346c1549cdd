"""Read this home's own retained `status` back from the broker, once, bounded in time.

A new outbox asks it where `seq` stood (`high_water_seq`, `last_acked_seq`):
the broker's copy survives a removed data directory. One short MQTT
connection of its own (its own client id, clean start, nothing published),
subscribe, then unsubscribe: the broker sends a retained message before it
answers the UNSUBSCRIBE, so the UNSUBACK means "that is all there is".
Unreachable, refused or silent: None after `timeout` seconds, and the agent
starts anyway.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt

from edgeagent.config import MqttConfig
from edgeagent.errors import EdgeAgentError
from edgeagent.topics import Topics

log = logging.getLogger(__name__)

READBACK_TIMEOUT_S = 3.0


def read_retained_status(cfg: MqttConfig, home: str,  # noqa: C901 - connect, subscribe, wait, decode, with a None for each failure on the way
                         timeout: float = READBACK_TIMEOUT_S) -> dict[str, Any] | None:
    """The retained status document of `home` on the first configured broker, or None."""
    from edgeagent.mqtt_link import (  # noqa: PLC0415 - no cycle
        BrokerAddress,
        ClientSettings,
        connect_kwargs,
        new_client,
    )

    topic = Topics(cfg.topic_prefix, home).status
    address = BrokerAddress.parse(cfg.urls[0])
    found: dict[str, Any] = {}
    done = threading.Event()
    deadline = time.monotonic() + timeout
    client: mqtt.Client | None = None
    try:
        settings = ClientSettings.from_config(
            cfg, address, f"{cfg.client_id or f'edgeagent-{home}'}-seq", clean=True,
            keepalive=max(5, int(timeout) + 5), connect_timeout=max(0.1, timeout))
        client = new_client(settings)

        def on_connect(c: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
            if getattr(rc, "is_failure", False):
                done.set()
                return
            c.subscribe(topic, qos=1)

        def on_subscribe(c: mqtt.Client, *_a: Any) -> None:
            c.unsubscribe(topic)

        def on_message(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
            if msg.retain and msg.topic == topic:
                try:
                    doc = json.loads(msg.payload)
                except ValueError:
                    return
                if isinstance(doc, dict):
                    found["status"] = doc

        client.on_connect = on_connect
        client.on_subscribe = on_subscribe
        client.on_unsubscribe = lambda *_a: done.set()
        client.on_message = on_message
        client.connect(address.host, address.port, **connect_kwargs(settings))
        while not done.is_set() and time.monotonic() < deadline:
            if client.loop(timeout=min(0.1, max(0.01, deadline - time.monotonic()))) \
                    != mqtt.MQTT_ERR_SUCCESS:
                break
        if done.is_set():
            client.disconnect()
            client.loop_write()
    except (OSError, ValueError, EdgeAgentError) as exc:
        log.info("could not read the retained status back from %s (%s)", address, exc)
        return None
    finally:
        sock = client.socket() if client is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
    if not done.is_set():
        log.info("no answer from %s within %.1f s while reading the retained status back",
                 address, timeout)
    status: dict[str, Any] | None = found.get("status")
    return status
