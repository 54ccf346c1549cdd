"""The demo's fallback broker where mosquitto cannot be installed: amqtt, in-process.

amqtt (extra `[demo-broker]`) is a maintained asyncio MQTT broker. It speaks
MQTT 3.1.1 only, so a demo on it runs the agent and the ingest on 3.1.1 (no
shared subscriptions; the demo's one ingest worker needs none). It listens on a
free loopback port with anonymous access, as the private mosquitto does.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from edgeagent.demo.mosquitto import free_port

PROTOCOL = "3.1.1"


def available() -> bool:
    return importlib.util.find_spec("amqtt") is not None


class AmqttBroker:
    """An amqtt broker on this event loop: `await start()`, `await stop()`."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._broker: Any = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    async def start(self) -> AmqttBroker:
        from amqtt.broker import Broker  # noqa: PLC0415 - optional extra
        from amqtt.contexts import BrokerConfig, ListenerConfig  # noqa: PLC0415

        config = BrokerConfig(
            listeners={"default": ListenerConfig(bind=f"127.0.0.1:{self.port}")},
            plugins={"amqtt.plugins.authentication.AnonymousAuthPlugin":
                     {"allow_anonymous": True}})
        self._broker = Broker(config)
        await self._broker.start()
        return self

    async def stop(self) -> None:
        if self._broker is not None:
            await self._broker.shutdown()
            self._broker = None
