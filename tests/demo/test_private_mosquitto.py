"""The private mosquitto the demo (and the test suite) starts: a real broker, or a clear error."""

from __future__ import annotations

import queue

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from edgeagent.demo.mosquitto import Mosquitto, wait_port


def test_starts_on_a_free_loopback_port_and_accepts_mqtt5_shared_subscriptions(tmp_path):
    broker = Mosquitto(tmp_path / "b").start()
    try:
        granted: queue.Queue[list[ReasonCode]] = queue.Queue()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        client.on_subscribe = lambda _c, _u, _mid, codes, _p: granted.put(list(codes))
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        try:
            client.subscribe("$share/ingest/care/+/events/#", qos=1)
            codes = granted.get(timeout=5)
            assert [code.value for code in codes] == [1]  # granted QoS 1, not a failure
            info = client.publish("care/x/events/alert", b"{}", qos=1)
            info.wait_for_publish(timeout=5)
            assert info.is_published()
        finally:
            client.disconnect()
            client.loop_stop()
    finally:
        broker.stop()
    wait_port(broker.port, up=False, timeout=5)
    assert "terminating" in broker.log_text()


def test_a_broker_that_cannot_start_is_reported_with_its_log(tmp_path):
    broker = Mosquitto(tmp_path / "b", extra="no_such_option true")
    with pytest.raises(RuntimeError, match="mosquitto failed to start") as failed:
        broker.start()
    assert "no_such_option" in str(failed.value)
    assert broker.proc is None
