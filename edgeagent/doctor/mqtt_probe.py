"""A short-lived MQTT connection of its own, for doctor and a standalone `test-alarm`.

It uses a client id of its own (`edgeagent-<home>-<purpose>`) with a clean
session, so it never takes over the daemon's persistent session, and the
same TLS context and credentials as the publisher (`tls_context`), so what
it proves is what the daemon will see.
"""

from __future__ import annotations

import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from edgeagent.config import MqttConfig
from edgeagent.errors import EdgeAgentError
from edgeagent.mqtt_link import BrokerAddress, tls_context
from edgeagent.secrets import read_secret


class ProbeError(EdgeAgentError):
    """A step of the probe failed; the message says what the broker or the network said."""


class MqttProbe:
    def __init__(self, cfg: MqttConfig, address: BrokerAddress, client_id: str, *,
                 timeout: float = 5.0) -> None:
        self.cfg = cfg
        self.address = address
        self.timeout = timeout
        v5 = cfg.protocol == "5"
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id,
            protocol=MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311,
            clean_session=None if v5 else True, reconnect_on_failure=False)
        self.client.connect_timeout = timeout
        self._connack = threading.Event()
        self._connack_rc: ReasonCode | None = None
        self._acks: dict[int, ReasonCode] = {}
        self._acked = threading.Condition()
        self._subscribed = threading.Event()
        self.messages: list[mqtt.MQTTMessage] = []
        self.message_arrived = threading.Condition()
        self.client.on_connect = self._on_connect
        self.client.on_publish = self._on_publish
        self.client.on_subscribe = lambda *_a: self._subscribed.set()
        self.client.on_message = self._on_message
        self._started = False

    def _on_connect(self, _c: mqtt.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        self._connack_rc = rc
        self._connack.set()

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, rc: ReasonCode, _p: Any) -> None:
        with self._acked:
            self._acks[mid] = rc
            self._acked.notify_all()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self.message_arrived:
            self.messages.append(msg)
            self.message_arrived.notify_all()

    def connect(self) -> ReasonCode:
        """TCP, TLS and CONNECT; returns the CONNACK reason (a failure is returned, not raised)."""
        if self.cfg.username:
            password = (read_secret(self.cfg.password_file, "mqtt.password_file")
                        if self.cfg.password_file else None)
            self.client.username_pw_set(self.cfg.username, password)
        if self.address.tls or self.cfg.ca_file:
            self.client.tls_set_context(tls_context(self.cfg))
        try:
            kwargs: dict[str, Any] = {"keepalive": 30}
            if self.cfg.protocol == "5":
                kwargs["clean_start"] = True
            self.client.connect(self.address.host, self.address.port, **kwargs)
        except OSError as exc:
            raise ProbeError(f"{type(exc).__name__}: {exc}") from exc
        self.client.loop_start()
        self._started = True
        if not self._connack.wait(self.timeout):
            raise ProbeError(f"no CONNACK within {self.timeout:g} s (broker closed the "
                             "connection: TLS client certificate refused, or not MQTT?)")
        assert self._connack_rc is not None
        return self._connack_rc

    def publish(self, topic: str, payload: bytes | str, *, retain: bool = False) -> ReasonCode:
        """QoS 1 publish; returns the PUBACK reason code once it arrives."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise ProbeError(f"publish not sent: {mqtt.error_string(info.rc)}")
        with self._acked:
            if not self._acked.wait_for(lambda: info.mid in self._acks, self.timeout):
                raise ProbeError(f"no PUBACK within {self.timeout:g} s")
            return self._acks[info.mid]

    def subscribe(self, topic: str) -> None:
        self.client.subscribe(topic, qos=1)
        if not self._subscribed.wait(self.timeout):
            raise ProbeError(f"no SUBACK for {topic} within {self.timeout:g} s")

    def close(self) -> None:
        if self._started:
            self.client.disconnect()
            self.client.loop_stop()
        else:
            sock = self.client.socket()
            if sock is not None:
                sock.close()

    def __enter__(self) -> MqttProbe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
