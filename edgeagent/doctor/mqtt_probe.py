"""A short-lived MQTT connection of its own, for doctor and a standalone `test-alarm`.

It uses a client id of its own (`edgeagent-<home>-<purpose>`) with a clean
session, so it never takes over the daemon's persistent session, and the
same link as the publisher (`edgeagent.mqtt_link`: client settings, TLS
context and credentials from `[mqtt]`), so what it proves is what the daemon
will see. The link runs on a private event loop in a thread of the probe's
own; the probe's methods block, each bounded by `timeout`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from edgeagent.config import MqttConfig
from edgeagent.errors import EdgeAgentError
from edgeagent.mqtt_link import BrokerAddress, ClientSettings, Link

T = TypeVar("T")
PROBE_KEEPALIVE_S = 30


class ProbeError(EdgeAgentError):
    """A step of the probe failed; the message says what the broker or the network said."""


class MqttProbe:
    def __init__(self, cfg: MqttConfig, address: BrokerAddress, client_id: str, *,
                 timeout: float = 5.0) -> None:
        self.cfg = cfg
        self.address = address
        self.client_id = client_id
        self.timeout = timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._link: Link | None = None
        self._acks: dict[int, ReasonCode] = {}
        self._acked = threading.Condition()
        self._subscribed = threading.Event()
        self.messages: list[mqtt.MQTTMessage] = []
        self.message_arrived = threading.Condition()

    # -- paho's callbacks, on the probe's loop ----------------------------------------------

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, rc: ReasonCode, _p: Any) -> None:
        with self._acked:
            self._acks[mid] = rc
            self._acked.notify_all()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self.message_arrived:
            self.messages.append(msg)
            self.message_arrived.notify_all()

    # -- the private loop -----------------------------------------------------------------

    def _start_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=loop.run_forever, name="mqtt-probe",
                                            daemon=True)
            self._thread.start()
            self._loop = loop
        return self._loop

    def _on_loop(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the probe's loop (paho's client is not thread-safe) and return its value."""
        assert self._loop is not None
        done: concurrent.futures.Future[T] = concurrent.futures.Future()

        def call() -> None:
            try:
                done.set_result(fn())
            except Exception as exc:  # noqa: BLE001 - raised again in the caller's thread
                done.set_exception(exc)

        self._loop.call_soon_threadsafe(call)
        return done.result(self.timeout + 5.0)

    async def _connect(self, settings: ClientSettings) -> ReasonCode:
        loop = asyncio.get_running_loop()
        connack: asyncio.Future[ReasonCode] = loop.create_future()
        closed: asyncio.Future[str] = loop.create_future()

        def on_closed(_link: Link, reason: str) -> None:
            if not closed.done():
                closed.set_result(reason)

        def on_connect(_c: mqtt.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
            if not connack.done():
                connack.set_result(rc)

        link = Link(settings, self.address, on_closed)
        link.client.on_connect = on_connect
        link.client.on_publish = self._on_publish
        link.client.on_subscribe = lambda *_a: self._subscribed.set()
        link.client.on_message = self._on_message
        self._link = link
        link.start()
        waiting: set[asyncio.Future[Any]] = {connack, closed}
        await asyncio.wait(waiting, timeout=self.timeout, return_when=asyncio.FIRST_COMPLETED)
        if connack.done():
            return connack.result()
        error = link.connect_error
        if isinstance(error, OSError):  # refused, unreachable, DNS, TLS handshake
            raise ProbeError(f"{type(error).__name__}: {error}") from error
        if error is not None:
            raise error
        raise ProbeError(f"no CONNACK within {self.timeout:g} s (broker closed the "
                         "connection: TLS client certificate refused, or not MQTT?)")

    # -- public ---------------------------------------------------------------------------

    def connect(self) -> ReasonCode:
        """TCP, TLS and CONNECT; returns the CONNACK reason (a failure is returned, not raised)."""
        settings = ClientSettings.from_config(self.cfg, self.address, self.client_id,
                                              clean=True, keepalive=PROBE_KEEPALIVE_S,
                                              connect_timeout=self.timeout)
        loop = self._start_loop()
        result = asyncio.run_coroutine_threadsafe(self._connect(settings), loop)
        try:
            return result.result(self.timeout + 5.0)
        except concurrent.futures.TimeoutError:
            result.cancel()
            raise ProbeError(f"no CONNACK within {self.timeout:g} s") from None

    def publish(self, topic: str, payload: bytes | str, *, retain: bool = False) -> ReasonCode:
        """QoS 1 publish; returns the PUBACK reason code once it arrives."""
        link = self._link
        if link is None:
            raise ProbeError("publish before connect")
        info = self._on_loop(lambda: link.client.publish(topic, payload, qos=1, retain=retain))
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise ProbeError(f"publish not sent: {mqtt.error_string(info.rc)}")
        with self._acked:
            if not self._acked.wait_for(lambda: info.mid in self._acks, self.timeout):
                raise ProbeError(f"no PUBACK within {self.timeout:g} s")
            return self._acks[info.mid]

    def subscribe(self, topic: str) -> None:
        link = self._link
        if link is None:
            raise ProbeError("subscribe before connect")
        self._on_loop(lambda: link.client.subscribe(topic, qos=1))
        if not self._subscribed.wait(self.timeout):
            raise ProbeError(f"no SUBACK for {topic} within {self.timeout:g} s")

    def close(self) -> None:
        loop, link = self._loop, self._link
        if loop is None:
            return
        if link is not None:

            def goodbye() -> None:
                if not link.finished:
                    link.client.disconnect()  # written by close() before the socket goes
                    link.close()

            try:
                self._on_loop(goodbye)
                asyncio.run_coroutine_threadsafe(link.wait_connect_worker(self.timeout),
                                                 loop).result(self.timeout + 1.0)
            except (concurrent.futures.TimeoutError, OSError, ValueError):
                pass  # the process is ending the probe anyway; the loop goes below
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(5.0)
        if not loop.is_running():
            loop.close()
        self._loop = None

    def __enter__(self) -> MqttProbe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
