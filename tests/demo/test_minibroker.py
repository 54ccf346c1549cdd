"""The demo's in-process broker, exercised by real paho-mqtt 2.x clients (v3.1.1 and v5).

Where a test must show that something did NOT arrive, it publishes a sentinel
afterwards on the same path: the broker routes in order, so a message that
would have arrived comes before the sentinel.
"""

from __future__ import annotations

import asyncio
import queue
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edgeagent.demo.broker import (
    BrokerMessage,
    BrokerThread,
    MiniBroker,
    run_in_thread,
    topic_matches,
)
from tests.support.waiting import wait_until

TIMEOUT = 5.0
VERSIONS = [pytest.param(mqtt.MQTTv311, id="v311"), pytest.param(mqtt.MQTTv5, id="v5")]


class Peer:
    """A paho client on its own network thread, with what it received kept in a queue."""

    def __init__(
        self, port: int, protocol: mqtt.MQTTProtocolVersion, client_id: str, clean: bool = True
    ) -> None:
        self.port, self.protocol, self.clean = port, protocol, clean
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=protocol,
            clean_session=clean if protocol == mqtt.MQTTv311 else None,
        )
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.connected = threading.Event()
        self.session_present = False
        self.acks: dict[int, list[ReasonCode]] = {}  # SUBACK / UNSUBACK codes by message id
        self.ack_seen = threading.Condition()
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda _c, _u, msg: self.messages.put(msg)
        self.client.on_subscribe = self._on_ack
        self.client.on_unsubscribe = self._on_ack

    def _on_connect(self, _c, _u, flags, reason_code, _p) -> None:
        assert not reason_code.is_failure, reason_code
        self.session_present = flags.session_present
        self.connected.set()

    def _on_ack(self, _c, _u, mid, reason_codes, _p) -> None:
        with self.ack_seen:
            self.acks[mid] = reason_codes
            self.ack_seen.notify_all()

    def _wait_ack(self, mid: int) -> list[ReasonCode]:
        with self.ack_seen:
            assert self.ack_seen.wait_for(lambda: mid in self.acks, TIMEOUT)
            return self.acks[mid]

    def start(self) -> Peer:
        if self.protocol == mqtt.MQTTv5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 0 if self.clean else 3600
            self.client.connect("127.0.0.1", self.port, clean_start=self.clean, properties=props)
        else:
            self.client.connect("127.0.0.1", self.port)
        self.client.loop_start()
        assert self.connected.wait(TIMEOUT)
        return self

    def subscribe(self, *filters: str, qos: int = 1) -> list[ReasonCode]:
        _, mid = self.client.subscribe([(f, qos) for f in filters])
        return self._wait_ack(mid)

    def unsubscribe(self, *filters: str) -> list[ReasonCode]:
        _, mid = self.client.unsubscribe(list(filters))
        return self._wait_ack(mid)

    def publish(
        self,
        topic: str,
        payload: bytes = b"x",
        qos: int = 1,
        retain: bool = False,
        properties: Properties | None = None,
    ) -> None:
        info = self.client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        info.wait_for_publish(TIMEOUT)
        assert info.is_published()

    def next_message(self) -> mqtt.MQTTMessage:
        return self.messages.get(timeout=TIMEOUT)

    def messages_before(self, sentinel: str) -> list[mqtt.MQTTMessage]:
        received = []
        while (msg := self.next_message()).topic != sentinel:
            received.append(msg)
        return received

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def broker() -> Iterator[BrokerThread]:
    with run_in_thread() as handle:
        yield handle


@pytest.fixture
def peer(broker: BrokerThread) -> Iterator[Callable[..., Peer]]:
    started: list[Peer] = []

    def make(
        client_id: str, protocol: mqtt.MQTTProtocolVersion = mqtt.MQTTv5, clean: bool = True
    ) -> Peer:
        started.append(Peer(broker.port, protocol, client_id, clean).start())
        return started[-1]

    yield make
    for p in started:
        p.stop()


# --- raw MQTT bytes, for what a well-behaved client will not send ------------------------------


def _s(text: str) -> bytes:
    return len(text.encode()).to_bytes(2, "big") + text.encode()


def connect_packet(
    client_id: str, version: int = 4, keepalive: int = 60, will: tuple[str, bytes] | None = None
) -> bytes:
    props = b"\x00" if version == 5 else b""
    flags, payload = 0x02, _s(client_id)
    if will:
        flags |= 0x04 | 0x08  # will at QoS 1
        payload += props + _s(will[0]) + len(will[1]).to_bytes(2, "big") + will[1]
    body = _s("MQTT") + bytes([version, flags]) + keepalive.to_bytes(2, "big") + props + payload
    assert len(body) < 128
    return bytes([0x10, len(body)]) + body


def raw_client(port: int, connect: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    sock.sendall(connect)
    header = sock.recv(2, socket.MSG_WAITALL)
    assert header[0] == 0x20, "expected CONNACK"
    sock.recv(header[1], socket.MSG_WAITALL)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the broker sends until it closes the socket (a timeout fails the test)."""
    data = b""
    try:
        while chunk := sock.recv(4096):
            data += chunk
    except ConnectionResetError:
        pass
    return data


# --- publish, subscribe, wildcards ---------------------------------------------------------------


@pytest.mark.parametrize("protocol", VERSIONS)
def test_qos1_publish_is_acknowledged_with_puback(peer, protocol) -> None:
    sender = peer("sensor-kit", protocol)
    info = sender.client.publish("care/kit1/event", b"{}", qos=1)
    info.wait_for_publish(TIMEOUT)
    assert info.is_published(), "no PUBACK from the broker"


@pytest.mark.parametrize("protocol", VERSIONS)
def test_subscribers_receive_exact_and_wildcard_topics(peer, protocol) -> None:
    exact, plus, hash_ = peer("exact", protocol), peer("plus", protocol), peer("hash", protocol)
    exact.subscribe("care/kit1/alert", "sentinel")
    plus.subscribe("care/+/alert", "sentinel")
    hash_.subscribe("care/#", "sentinel")
    sender = peer("sender", protocol)
    for topic in ("care/kit1/alert", "care/kit2/alert", "care/kit1/cmd/reply", "other/alert"):
        sender.publish(topic, topic.encode())
    sender.publish("sentinel")

    assert [m.topic for m in exact.messages_before("sentinel")] == ["care/kit1/alert"]
    assert [m.topic for m in plus.messages_before("sentinel")] == [
        "care/kit1/alert",
        "care/kit2/alert",
    ]
    received = hash_.messages_before("sentinel")
    assert [m.topic for m in received] == [
        "care/kit1/alert",
        "care/kit2/alert",
        "care/kit1/cmd/reply",
    ]
    assert received[0].payload == b"care/kit1/alert" and received[0].qos == 1


@pytest.mark.parametrize("protocol", VERSIONS)
def test_qos_is_downgraded_to_the_subscription_and_qos2_capped_at_1(peer, protocol) -> None:
    low, high = peer("low", protocol), peer("high", protocol)
    low.subscribe("t", qos=0)
    granted = high.subscribe("t", qos=2)
    assert [code.value for code in granted] == [1]
    peer("sender", protocol).publish("t", qos=2)  # completes PUBREC/PUBREL/PUBCOMP
    assert low.next_message().qos == 0
    assert high.next_message().qos == 1


@pytest.mark.parametrize("protocol", VERSIONS)
def test_unsubscribe_stops_delivery(peer, protocol) -> None:
    listener = peer("listener", protocol)
    listener.subscribe("care/kit1/alert", "sentinel")
    listener.unsubscribe("care/kit1/alert")
    sender = peer("sender", protocol)
    sender.publish("care/kit1/alert")
    sender.publish("sentinel")
    assert listener.messages_before("sentinel") == []


# --- retained messages ------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", VERSIONS)
def test_retained_message_reaches_later_subscriber_until_cleared(peer, protocol) -> None:
    sender = peer("sender", protocol)
    sender.publish("care/kit1/status", b"online", retain=True)

    late = peer("late", protocol)
    late.subscribe("care/kit1/#")
    msg = late.next_message()
    assert (msg.topic, msg.payload, msg.retain) == ("care/kit1/status", b"online", True)

    sender.publish("care/kit1/status", b"", retain=True)  # empty payload clears
    later = peer("later", protocol)
    later.subscribe("care/kit1/#")
    later.publish("care/kit1/sentinel")
    assert [m.topic for m in later.messages_before("care/kit1/sentinel")] == []


def test_live_message_to_existing_subscriber_has_retain_flag_cleared(peer) -> None:
    listener = peer("listener", mqtt.MQTTv311)
    listener.subscribe("care/kit1/status")
    peer("sender", mqtt.MQTTv311).publish("care/kit1/status", b"online", retain=True)
    assert listener.next_message().retain is False


# --- wills ------------------------------------------------------------------------------------


def _dying_client(port: int, protocol: mqtt.MQTTProtocolVersion, client_id: str) -> mqtt.Client:
    """A paho client with a will, driven by hand so that its socket can vanish mid-session."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol)
    client.will_set("care/kit1/status", b"offline", qos=1, retain=True)
    connected = threading.Event()
    client.on_connect = lambda *_: connected.set()
    client.connect("127.0.0.1", port)
    deadline = time.monotonic() + TIMEOUT
    while not connected.is_set():
        assert time.monotonic() < deadline
        client.loop(timeout=0.05)
    return client


@pytest.mark.parametrize("protocol", VERSIONS)
def test_will_is_published_when_socket_closes_abruptly(broker, peer, protocol) -> None:
    watcher = peer("watcher", protocol)
    watcher.subscribe("care/kit1/status")
    client = _dying_client(broker.port, protocol, "kit1")
    client.socket().close()  # power cut: no DISCONNECT
    msg = watcher.next_message()
    assert (msg.topic, msg.payload, msg.qos) == ("care/kit1/status", b"offline", 1)
    assert broker.broker.retained["care/kit1/status"].payload == b"offline"


@pytest.mark.parametrize("protocol", VERSIONS)
def test_no_will_after_clean_disconnect(broker, peer, protocol) -> None:
    watcher = peer("watcher", protocol)
    watcher.subscribe("care/kit1/status")
    client = _dying_client(broker.port, protocol, "kit1")
    client.disconnect()
    wait_until(lambda: not broker.broker.is_connected("kit1"), TIMEOUT)
    watcher.publish("care/kit1/status", b"sentinel")
    assert watcher.next_message().payload == b"sentinel"


def test_v5_disconnect_with_will_message_reason_publishes_will(broker, peer) -> None:
    watcher = peer("watcher")
    watcher.subscribe("care/kit1/status")
    client = _dying_client(broker.port, mqtt.MQTTv5, "kit1")
    client.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT, "Disconnect with will message"))
    client.loop(timeout=0.05)
    assert watcher.next_message().payload == b"offline"


def test_will_is_published_after_keepalive_silence(broker, peer) -> None:
    watcher = peer("watcher")
    watcher.subscribe("care/kit1/status")
    sock = raw_client(
        broker.port, connect_packet("kit1", keepalive=1, will=("care/kit1/status", b"gone"))
    )
    started = time.monotonic()
    read_until_closed(sock)  # the broker hangs up after 1.5 x keepalive without a packet
    assert time.monotonic() - started >= 1.4
    assert watcher.next_message().payload == b"gone"
    assert broker.broker.counters["keepalive_timeouts"] == 1
    sock.close()


def test_reconnect_with_same_client_id_takes_over_and_publishes_old_will(broker, peer) -> None:
    watcher = peer("watcher")
    watcher.subscribe("care/kit1/status")
    old = raw_client(broker.port, connect_packet("kit1", will=("care/kit1/status", b"old")))
    peer("kit1")
    assert read_until_closed(old) == b""  # v3.1.1 client: closed without a DISCONNECT
    assert watcher.next_message().payload == b"old"
    assert broker.broker.is_connected("kit1")
    old.close()


# --- MQTT 5 properties --------------------------------------------------------------------------


def test_v5_response_topic_and_correlation_data_reach_subscriber(broker, peer) -> None:
    seen: list[BrokerMessage] = []
    broker.broker.on_publish.append(seen.append)
    platform = peer("platform")
    platform.subscribe("care/kit1/cmd/#")
    props = Properties(PacketTypes.PUBLISH)
    props.ResponseTopic = "care/kit1/cmd/ping/reply"
    props.CorrelationData = b"\x00\x01req-42"
    props.UserProperty = ("origin", "call-centre")
    peer("caller").publish("care/kit1/cmd/ping", b"{}", properties=props)

    msg = platform.next_message()
    assert msg.properties.ResponseTopic == "care/kit1/cmd/ping/reply"
    assert msg.properties.CorrelationData == b"\x00\x01req-42"
    assert msg.properties.UserProperty == [("origin", "call-centre")]
    assert seen[-1].correlation_data == b"\x00\x01req-42"
    assert seen[-1].response_topic == "care/kit1/cmd/ping/reply"


def test_v5_properties_are_dropped_for_v311_subscriber(peer) -> None:
    old = peer("old", mqtt.MQTTv311)
    old.subscribe("cmd")
    props = Properties(PacketTypes.PUBLISH)
    props.CorrelationData = b"abc"
    peer("caller").publish("cmd", b"payload", properties=props)
    assert old.next_message().payload == b"payload"


# --- sessions ---------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", VERSIONS)
def test_persistent_session_keeps_subscription_and_queues_qos1(broker, peer, protocol) -> None:
    away = Peer(broker.port, protocol, "platform", clean=False).start()
    away.subscribe("care/#")
    away.stop()
    wait_until(lambda: not broker.broker.is_connected("platform"), TIMEOUT)
    peer("kit1", protocol).publish("care/kit1/alert", b"fall")

    back = Peer(broker.port, protocol, "platform", clean=False).start()
    try:
        assert back.session_present
        assert back.next_message().payload == b"fall"
    finally:
        back.stop()


# --- bad input --------------------------------------------------------------------------------


GARBAGE = {
    "remaining length of five bytes": b"\x10\xff\xff\xff\xff\x01",
    "publish before connect": b"\x30\x03\x00\x01a",
    "connect with reserved flag": bytes([0x10, 12]) + _s("MQTT") + b"\x04\x03\x00\x3c\x00\x00",
}


@pytest.mark.parametrize("garbage", GARBAGE.values(), ids=GARBAGE.keys())
def test_malformed_bytes_close_only_that_connection(broker, peer, garbage) -> None:
    listener = peer("listener")
    listener.subscribe("alive")
    sock = socket.create_connection(("127.0.0.1", broker.port), timeout=TIMEOUT)
    sock.sendall(garbage)
    assert read_until_closed(sock) == b""
    sock.close()
    assert broker.broker.counters["malformed"] == 1
    peer("sender").publish("alive", b"still here")
    assert listener.next_message().payload == b"still here"


@pytest.mark.parametrize("version", [4, 5])
def test_malformed_publish_after_connect_closes_and_publishes_will(broker, peer, version) -> None:
    watcher = peer("watcher")
    watcher.subscribe("care/kit1/status")
    sock = raw_client(
        broker.port, connect_packet("kit1", version, will=("care/kit1/status", b"lost"))
    )
    sock.sendall(b"\x32\x04\x00\x09ab")  # QoS 1 PUBLISH whose topic length runs past the packet
    reply = read_until_closed(sock)
    sock.close()
    # A v5 client is told why (DISCONNECT, 0x81 malformed packet); a v3.1.1 one is just closed.
    assert reply == (b"\xe0\x02\x81\x00" if version == 5 else b"")
    assert watcher.next_message().payload == b"lost"
    peer("sender").publish("care/kit1/status", b"ok")
    assert watcher.next_message().payload == b"ok"


def test_random_packets_never_break_the_broker(broker, peer) -> None:
    """Seeded garbage after a valid CONNECT: every connection ends, none crashes the broker."""
    rng = random.Random(20261122)
    for i in range(300):
        body = bytes(rng.randrange(256) for _ in range(rng.randint(0, 40)))
        if rng.random() < 0.5:  # start with a plausible string so parsing gets further
            body = bytes([0, rng.randint(0, 6)]) + b"a/b/c#+"[: rng.randint(0, 7)] + body
        garbage = bytes([rng.randrange(256), len(body)]) + body
        sock = socket.create_connection(("127.0.0.1", broker.port), timeout=TIMEOUT)
        sock.sendall(connect_packet(f"fuzz{i}", rng.choice([4, 5])) + garbage)
        sock.shutdown(socket.SHUT_WR)
        read_until_closed(sock)
        sock.close()
    assert broker.broker.counters["internal_errors"] == 0
    assert broker.broker.counters["malformed"] > 200
    listener = peer("listener")
    listener.subscribe("alive")
    peer("sender").publish("alive", b"still here")
    assert listener.next_message().payload == b"still here"


def test_v5_client_without_id_gets_one_assigned(broker) -> None:
    assigned = queue.Queue()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="", protocol=mqtt.MQTTv5)
    client.on_connect = lambda _c, _u, _f, _rc, props: assigned.put(props.AssignedClientIdentifier)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        client_id = assigned.get(timeout=TIMEOUT)
        assert client_id and broker.broker.is_connected(client_id)
    finally:
        client.disconnect()
        client.loop_stop()


def test_v311_client_without_id_and_persistent_session_is_refused(broker) -> None:
    sock = socket.create_connection(("127.0.0.1", broker.port), timeout=TIMEOUT)
    body = _s("MQTT") + b"\x04\x00\x00\x3c" + _s("")  # clean session = 0, empty client id
    sock.sendall(bytes([0x10, len(body)]) + body)
    assert read_until_closed(sock) == b"\x20\x02\x00\x02"  # identifier rejected
    sock.close()


# --- wire bytes, in the caller's own event loop ----------------------------------------------


async def test_connack_bytes_and_on_publish_hook_in_event_loop() -> None:
    broker = MiniBroker()
    seen: list[BrokerMessage] = []
    broker.on_publish.append(seen.append)
    port = await broker.start()
    assert broker.url == f"mqtt://127.0.0.1:{port}"
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(connect_packet("v3", 4))
        assert await asyncio.wait_for(reader.readexactly(4), TIMEOUT) == b"\x20\x02\x00\x00"

        reader5, writer5 = await asyncio.open_connection("127.0.0.1", port)
        writer5.write(connect_packet("v5", 5))
        # flags, reason 0, properties: length 2, shared subscriptions available = 0
        assert await asyncio.wait_for(reader5.readexactly(7), TIMEOUT) == (
            b"\x20\x05\x00\x00\x02\x2a\x00"
        )
        writer5.write(b"\x32\x08" + _s("t/1") + b"\x00\x01" + b"\x00")  # QoS 1, no properties
        assert await asyncio.wait_for(reader5.readexactly(4), TIMEOUT) == b"\x40\x02\x00\x01"
        assert seen == [BrokerMessage("t/1", b"", 1, False, "v5")]
        writer5.write(b"\xc0\x00")  # PINGREQ
        assert await asyncio.wait_for(reader5.readexactly(2), TIMEOUT) == b"\xd0\x00"
        for w in (writer, writer5):
            w.close()
    finally:
        await broker.stop()


def test_topic_matching_rules() -> None:
    assert topic_matches("care/#", "care")
    assert topic_matches("care/#", "care/kit1/alert")
    assert topic_matches("care/+/alert", "care/kit1/alert")
    assert not topic_matches("care/+/alert", "care/kit1/cmd/alert")
    assert not topic_matches("care/+", "care")
    assert topic_matches("+/+", "/x")
    assert not topic_matches("#", "$SYS/uptime")
    assert topic_matches("$SYS/#", "$SYS/uptime")
