"""A small MQTT broker so that `edgeagent demo` runs on a machine with no broker installed.

It serves one machine's loopback: the agent under demonstration, the demo's
"platform view" and tests. It speaks MQTT 3.1.1 and 5.0 (3.1 is accepted as
3.1.1), stdlib only, one asyncio task per connection. It is not a production
broker: no TLS, no authentication (username and password are accepted and
ignored), no shared subscriptions, no enhanced auth.

What it does, and the simplifications it makes on purpose:

- QoS 0 and 1 end to end. Deliveries are downgraded to the subscription's QoS;
  QoS 1 deliveries stay in the subscriber's session until its PUBACK.
- Inbound QoS 2 is answered correctly (PUBREC, then PUBCOMP on PUBREL, with
  duplicates dropped until PUBREL) and delivered onward at QoS 1 at most;
  SUBACK never grants more than QoS 1. Nothing is ever sent out at QoS 2.
- Retained messages: stored per topic, delivered on subscribe (honouring v5
  retain handling), an empty retained payload clears the topic.
- Will messages: published when a connection ends without a clean DISCONNECT
  (socket closed, keepalive expired after 1.5 x keepalive of silence, protocol
  error, session taken over) or with a v5 DISCONNECT whose reason code is not
  0 (0x04 = "disconnect with will message"). The v5 will delay is ignored.
- Persistent sessions (v3 clean session = 0, v5 session expiry > 0) keep
  their subscriptions, unacknowledged QoS 1 messages (re-sent with DUP) and up
  to `queue_limit` QoS 1 messages while the client is away, for as long as the
  broker runs; the expiry interval itself is not enforced.
- v5 properties of every packet are parsed; PUBLISH properties meant for the
  receiver (payload format, expiry, content type, response topic, correlation
  data, user properties) are forwarded to v5 subscribers, plus their
  subscription identifiers. Topic aliases from clients are resolved (though the
  broker never advertises any); it never sends aliases itself.
- No flow control: a subscriber that stops reading makes its socket buffer grow
  (fine on loopback, wrong for a real deployment); the client's Receive Maximum
  and Maximum Packet Size are not enforced. Incoming packets over `max_packet`
  bytes are refused.
- Bad bytes close that one connection (v5 clients first get a DISCONNECT with
  a reason code); they are counted in `counters` and logged, never fatal.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import itertools
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from edgeagent.errors import EdgeAgentError

log = logging.getLogger(__name__)

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = range(1, 8)
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = range(8, 16)
V311, V5 = 4, 5

# v5 property identifier -> value encoding (MQTT 5.0 section 2.2.2.2).
_PROPERTY_KINDS: dict[int, str] = {
    0x01: "u8", 0x02: "u32", 0x03: "str", 0x08: "str", 0x09: "bin", 0x0B: "varint",
    0x11: "u32", 0x12: "str", 0x13: "u16", 0x15: "str", 0x16: "bin", 0x17: "u8",
    0x18: "u32", 0x19: "u8", 0x1A: "str", 0x1C: "str", 0x1F: "str", 0x21: "u16",
    0x22: "u16", 0x23: "u16", 0x24: "u8", 0x25: "u8", 0x26: "pair", 0x27: "u32",
    0x28: "u8", 0x29: "u8", 0x2A: "u8",
}  # fmt: skip
# PUBLISH properties the broker passes on to subscribers unchanged.
_FORWARDED = frozenset({0x01, 0x02, 0x03, 0x08, 0x09, 0x26})
RESPONSE_TOPIC, CORRELATION_DATA, SUBSCRIPTION_ID, SESSION_EXPIRY = 0x08, 0x09, 0x0B, 0x11
TOPIC_ALIAS, AUTH_METHOD = 0x23, 0x15

Properties = tuple[tuple[int, bytes], ...]
"""v5 properties as (identifier, raw encoded value), so they can be re-sent verbatim."""


class MalformedPacketError(EdgeAgentError):
    """A client sent bytes that are not valid MQTT; its connection is closed.

    `reason` is the v5 reason code sent in the DISCONNECT before closing.
    """

    def __init__(self, message: str, reason: int = 0x81) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class BrokerMessage:
    """An application message as the broker routes it (also what `on_publish` hooks get)."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    sender: str = ""
    properties: Properties = ()

    def _property(self, identifier: int) -> bytes | None:
        return next((raw for pid, raw in self.properties if pid == identifier), None)

    @property
    def response_topic(self) -> str | None:
        raw = self._property(RESPONSE_TOPIC)
        return None if raw is None else raw[2:].decode()

    @property
    def correlation_data(self) -> bytes | None:
        raw = self._property(CORRELATION_DATA)
        return None if raw is None else raw[2:]


# --- wire encoding ---------------------------------------------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        value, digit = divmod(value, 128)
        out.append(digit | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _u16(value: int) -> bytes:
    return value.to_bytes(2, "big")


def _bin(data: bytes) -> bytes:
    return _u16(len(data)) + data


def _str(text: str) -> bytes:
    return _bin(text.encode())


def _props(props: Iterable[tuple[int, bytes]]) -> bytes:
    body = b"".join(_varint(pid) + raw for pid, raw in props)
    return _varint(len(body)) + body


def _packet(kind: int, flags: int, body: bytes) -> bytes:
    return bytes([kind << 4 | flags]) + _varint(len(body)) + body


class _Fields:
    """Reads the fields of one packet body; running past its end is a malformed packet."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, size: int) -> bytes:
        if size < 0 or self.pos + size > len(self.data):
            raise MalformedPacketError("packet shorter than its fields")
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def left(self) -> int:
        return len(self.data) - self.pos

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def varint(self) -> int:
        value = 0
        for shift in range(0, 28, 7):
            digit = self.u8()
            value |= (digit & 0x7F) << shift
            if not digit & 0x80:
                return value
        raise MalformedPacketError("variable byte integer longer than 4 bytes")

    def binary(self) -> bytes:
        return self.take(self.u16())

    def string(self) -> str:
        try:
            text = self.binary().decode()
        except UnicodeDecodeError as exc:
            raise MalformedPacketError("string is not UTF-8") from exc
        if "\0" in text:
            raise MalformedPacketError("string contains U+0000")
        return text

    def properties(self) -> Properties:
        end = self.varint() + self.pos
        if end > len(self.data):
            raise MalformedPacketError("property length exceeds packet")
        props = []
        while self.pos < end:
            pid = self.varint()
            kind = _PROPERTY_KINDS.get(pid)
            start = self.pos
            if kind is None:
                raise MalformedPacketError(f"unknown property 0x{pid:02x}")
            if kind in ("u8", "u16", "u32"):
                self.take({"u8": 1, "u16": 2, "u32": 4}[kind])
            elif kind == "varint":
                self.varint()
            elif kind == "pair":
                self.string()
                self.string()
            elif kind == "str":
                self.string()
            else:
                self.binary()
            props.append((pid, self.data[start : self.pos]))
        if self.pos != end:
            raise MalformedPacketError("property overruns its length")
        return tuple(props)


def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT filter matching: `+` is one level, a final `#` is this level and everything below."""
    if topic.startswith("$") and topic_filter[:1] in ("+", "#"):
        return False
    levels = topic.split("/")
    for i, part in enumerate(topic_filter.split("/")):
        if part == "#":
            return True
        if i >= len(levels) or (part != "+" and part != levels[i]):
            return False
    return len(topic_filter.split("/")) == len(levels)


def _valid_topic(topic: str) -> bool:
    return bool(topic) and "+" not in topic and "#" not in topic


def _valid_filter(topic_filter: str) -> bool:
    parts = topic_filter.split("/")
    return bool(topic_filter) and all(
        (p in ("+", "#") or ("+" not in p and "#" not in p)) and (p != "#" or i == len(parts) - 1)
        for i, p in enumerate(parts)
    )


# --- sessions and connections -----------------------------------------------------------------


@dataclass
class _Subscription:
    qos: int
    no_local: bool = False
    retain_as_published: bool = False
    identifier: int | None = None


@dataclass
class _Delivery:
    message: BrokerMessage
    qos: int
    retain: bool
    subscription_ids: tuple[int, ...] = ()


@dataclass
class _Session:
    client_id: str
    persistent: bool = False
    subscriptions: dict[str, _Subscription] = field(default_factory=dict)
    inflight: dict[int, _Delivery] = field(default_factory=dict)  # sent QoS 1, awaiting PUBACK
    queue: collections.deque[_Delivery] = field(default_factory=collections.deque)
    connection: _Connection | None = None
    _ids: itertools.cycle[int] = field(default_factory=lambda: itertools.cycle(range(1, 65536)))

    def next_packet_id(self) -> int:
        return next(i for i in self._ids if i not in self.inflight)


@dataclass(eq=False)
class _Connection:
    writer: asyncio.StreamWriter
    version: int = V311
    session: _Session | None = None
    will: BrokerMessage | None = None
    aliases: dict[int, str] = field(default_factory=dict)
    awaiting_pubrel: set[int] = field(default_factory=set)

    def send(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)

    def send_publish(self, delivery: _Delivery, packet_id: int = 0, dup: bool = False) -> None:
        msg = delivery.message
        body = _str(msg.topic) + (_u16(packet_id) if delivery.qos else b"")
        if self.version == V5:
            props = [p for p in msg.properties if p[0] in _FORWARDED]
            props += [(SUBSCRIPTION_ID, _varint(i)) for i in delivery.subscription_ids]
            body += _props(props)
        flags = dup << 3 | delivery.qos << 1 | delivery.retain
        self.send(_packet(PUBLISH, flags, body + msg.payload))

    def close(self, reason: int | None = None) -> None:
        """Close the socket; v5 clients first hear why (a v5 DISCONNECT reason code)."""
        if reason is not None and self.version == V5 and self.session is not None:
            self.send(_packet(DISCONNECT, 0, bytes([reason]) + _props(())))
        self.writer.close()


# --- the broker -------------------------------------------------------------------------------


class MiniBroker:
    """An in-process MQTT 3.1.1/5.0 broker on loopback (see the module docstring for limits).

    `on_publish` is a list of callables that see every message the broker routes
    (including wills and retained-clearing messages), in the broker's event loop;
    a hook that raises is logged and does not disturb delivery.
    """

    def __init__(self, *, max_packet: int = 1 << 20, queue_limit: int = 1000) -> None:
        self.max_packet = max_packet
        self.queue_limit = queue_limit
        self.on_publish: list[Callable[[BrokerMessage], None]] = []
        self.counters: collections.Counter[str] = collections.Counter()
        self.retained: dict[str, BrokerMessage] = {}
        self._sessions: dict[str, _Session] = {}
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._connections: set[_Connection] = set()
        self._host, self._port = "127.0.0.1", 0
        self._stopping = False

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on host:port (0 = any free port) and return the bound port."""
        self._server = await asyncio.start_server(self._serve, host, port)
        self._host, self._port = host, self._server.sockets[0].getsockname()[1]
        log.info("mini broker listening on %s", self.url)
        return self._port

    @property
    def url(self) -> str:
        return f"mqtt://{self._host}:{self._port}"

    @property
    def port(self) -> int:
        return self._port

    def is_connected(self, client_id: str) -> bool:
        session = self._sessions.get(client_id)
        return session is not None and session.connection is not None

    async def stop(self) -> None:
        """Stop listening and drop every connection; no will is published for a shutdown."""
        self._stopping = True
        if self._server is not None:
            self._server.close()
        for conn in self._connections:
            conn.writer.transport.abort()
        handlers = list(self._handlers)
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    # -- connection lifecycle ------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        conn = _Connection(writer)
        self._connections.add(conn)
        self.counters["connections"] += 1
        try:
            kind, flags, body = await asyncio.wait_for(self._read(reader), timeout=10)
            keepalive = self._connect(conn, kind, body)
            if keepalive is None:
                return
            while True:
                timeout = keepalive * 1.5 if keepalive else None
                kind, flags, body = await asyncio.wait_for(self._read(reader), timeout)
                if not self._dispatch(conn, kind, flags, body):
                    return
                await writer.drain()
        except MalformedPacketError as exc:
            self.counters["malformed"] += 1
            log.warning("closing %s: malformed packet: %s", self._who(conn), exc)
            conn.close(exc.reason)
        except TimeoutError:
            self.counters["keepalive_timeouts"] += 1
            log.info("closing %s: keepalive expired", self._who(conn))
            conn.close(0x8D)
        except (asyncio.IncompleteReadError, ConnectionError):
            log.debug("%s went away", self._who(conn))
        except asyncio.CancelledError:
            # Broker shutdown. Not re-raised: on 3.11 start_server logs a spurious error for a
            # cancelled connection task, and nothing awaits this task but stop().
            conn.will = None
        except Exception:
            self.counters["internal_errors"] += 1
            log.exception("closing %s after an internal error", self._who(conn))
        finally:
            self._disconnected(conn)
            writer.close()
            self._handlers.discard(task)
            self._connections.discard(conn)

    @staticmethod
    def _who(conn: _Connection) -> str:
        return f"client {conn.session.client_id!r}" if conn.session else "unidentified client"

    async def _read(self, reader: asyncio.StreamReader) -> tuple[int, int, bytes]:
        first = (await reader.readexactly(1))[0]
        length = 0
        for shift in range(0, 28, 7):
            digit = (await reader.readexactly(1))[0]
            length |= (digit & 0x7F) << shift
            if not digit & 0x80:
                break
        else:
            raise MalformedPacketError("remaining length longer than 4 bytes")
        if length > self.max_packet:
            raise MalformedPacketError(f"packet of {length} bytes exceeds {self.max_packet}", 0x95)
        return first >> 4, first & 0x0F, await reader.readexactly(length)

    def _connect(self, conn: _Connection, kind: int, body: bytes) -> int | None:
        """Handle CONNECT; return the keepalive, or None if the connection was refused."""
        if kind != CONNECT:
            raise MalformedPacketError(f"first packet is type {kind}, not CONNECT")
        f = _Fields(body)
        name, level = f.string(), f.u8()
        if (name, level) not in (("MQTT", V311), ("MQTT", V5), ("MQIsdp", 3)):
            # A v3-style refusal is understood by every client (0x01 = unacceptable version).
            conn.send(_packet(CONNACK, 0, b"\x00\x01"))
            conn.writer.close()
            return None
        conn.version = V5 if level == V5 else V311
        flags, keepalive = f.u8(), f.u16()
        will_flag, will_qos, will_retain = flags & 0x04, flags >> 3 & 3, bool(flags & 0x20)
        if flags & 0x01 or will_qos == 3 or (not will_flag and (will_qos or will_retain)):
            raise MalformedPacketError(f"invalid connect flags 0x{flags:02x}")
        props = dict(f.properties()) if conn.version == V5 else {}
        client_id = f.string()
        if will_flag:
            will_props = f.properties() if conn.version == V5 else ()
            topic, payload = f.string(), f.binary()
            if not _valid_topic(topic):
                raise MalformedPacketError(f"invalid will topic {topic!r}", 0x90)
            conn.will = BrokerMessage(topic, payload, will_qos, will_retain, client_id, will_props)
        if flags & 0x80:
            f.string()  # user name: accepted, not checked
        if flags & 0x40:
            f.binary()  # password: accepted, not checked
        if f.left():
            raise MalformedPacketError("trailing bytes after CONNECT payload")
        ack_props: list[tuple[int, bytes]] = [(0x2A, b"\x00")]  # no shared subscriptions
        clean = bool(flags & 0x02)
        if AUTH_METHOD in props:
            conn.send(_packet(CONNACK, 0, b"\x00\x8c" + _props(())))  # bad authentication method
            conn.writer.close()
            return None
        if not client_id and conn.version == V311 and not clean:
            conn.send(_packet(CONNACK, 0, b"\x00\x02"))  # identifier rejected (3.1.1 rule)
            conn.writer.close()
            return None
        if not client_id:
            client_id = f"mini-{self.counters['connections']}-{id(conn):x}"
            ack_props.append((0x12, _str(client_id)))  # assigned client identifier
            if conn.will is not None:
                conn.will = dataclasses.replace(conn.will, sender=client_id)
        old = self._sessions.get(client_id)
        if old is not None and old.connection is not None:
            log.info("client %r connected again: taking over its session", client_id)
            self._take_over(old.connection)
        if old is None or clean:
            old, present = _Session(client_id), False
        else:
            present = True
        session = self._sessions[client_id] = old
        if conn.version == V5:
            session.persistent = int.from_bytes(props.get(SESSION_EXPIRY, b"\0"), "big") > 0
        else:
            session.persistent = not clean
        session.connection, conn.session = conn, session
        rest = _props(ack_props) if conn.version == V5 else b""
        conn.send(_packet(CONNACK, 0, bytes([present, 0]) + rest))
        for packet_id, delivery in session.inflight.items():
            conn.send_publish(delivery, packet_id, dup=True)
        while session.queue:
            self._deliver(session, session.queue.popleft())
        return keepalive

    def _take_over(self, old: _Connection) -> None:
        """A second CONNECT with the same client id ends the first connection, will included."""
        assert old.session is not None
        old.close(0x8E)  # session taken over
        old.session.connection = None
        old.session = None
        if old.will is not None:
            will, old.will = old.will, None
            self.route(will)

    def _disconnected(self, conn: _Connection) -> None:
        session = conn.session
        if session is not None and session.connection is conn:
            session.connection = None
            if not session.persistent:
                del self._sessions[session.client_id]
        if conn.will is not None and not self._stopping:
            log.info("publishing the will of %s on %s", self._who(conn), conn.will.topic)
            self.route(conn.will)
        conn.will = None

    # -- packets after CONNECT -----------------------------------------------------------------

    def _dispatch(self, conn: _Connection, kind: int, flags: int, body: bytes) -> bool:
        """Handle one packet; False means the client disconnected cleanly."""
        session = conn.session
        assert session is not None
        f = _Fields(body)
        if kind == PUBLISH:
            self._publish(conn, flags, f)
        elif kind == PUBACK:
            session.inflight.pop(f.u16(), None)
        elif kind == PUBREL and flags == 0x02:
            packet_id = f.u16()
            conn.awaiting_pubrel.discard(packet_id)
            conn.send(_packet(PUBCOMP, 0, _u16(packet_id)))
        elif kind == SUBSCRIBE and flags == 0x02:
            self._subscribe(conn, session, f)
        elif kind == UNSUBSCRIBE and flags == 0x02:
            packet_id = f.u16()
            if conn.version == V5:
                f.properties()
            codes = bytearray()
            while f.left() or not codes:
                codes.append(0x00 if session.subscriptions.pop(f.string(), None) else 0x11)
            tail = _props(()) + codes if conn.version == V5 else b""
            conn.send(_packet(UNSUBACK, 0, _u16(packet_id) + tail))
        elif kind == PINGREQ and not body:
            conn.send(_packet(PINGRESP, 0, b""))
        elif kind == DISCONNECT:
            reason = f.u8() if conn.version == V5 and f.left() else 0
            if reason == 0:  # v5 0x04 and error codes keep the will
                conn.will = None
            return False
        else:
            raise MalformedPacketError(f"unexpected packet type {kind} flags 0x{flags:x}", 0x82)
        return True

    def _publish(self, conn: _Connection, flags: int, f: _Fields) -> None:
        qos, retain = flags >> 1 & 3, bool(flags & 1)
        if qos == 3:
            raise MalformedPacketError("PUBLISH with QoS 3")
        topic = f.string()
        packet_id = f.u16() if qos else 0
        props = f.properties() if conn.version == V5 else ()
        alias = next((int.from_bytes(raw, "big") for pid, raw in props if pid == TOPIC_ALIAS), 0)
        if alias and topic:
            conn.aliases[alias] = topic
        elif alias:
            topic = conn.aliases.get(alias, "")
        if not _valid_topic(topic):
            raise MalformedPacketError(f"invalid topic name {topic!r}", 0x90)
        assert conn.session is not None
        message = BrokerMessage(topic, f.take(f.left()), qos, retain, conn.session.client_id, props)
        self.counters["published"] += 1
        if qos == 2:
            if packet_id not in conn.awaiting_pubrel:  # else a DUP re-send: already routed
                conn.awaiting_pubrel.add(packet_id)
                self.route(message)
            conn.send(_packet(PUBREC, 0, _u16(packet_id)))
            return
        self.route(message)
        if qos == 1:
            conn.send(_packet(PUBACK, 0, _u16(packet_id)))

    def _subscribe(self, conn: _Connection, session: _Session, f: _Fields) -> None:
        packet_id = f.u16()
        props = dict(f.properties()) if conn.version == V5 else {}
        identifier = _Fields(props[SUBSCRIPTION_ID]).varint() if SUBSCRIPTION_ID in props else None
        codes, new_retained = bytearray(), []
        while f.left() or not codes:
            topic_filter, options = f.string(), f.u8()
            if options & (0xC0 if conn.version == V5 else 0xFC) or options & 3 == 3:
                raise MalformedPacketError(f"invalid subscription options 0x{options:02x}")
            if conn.version == V5 and topic_filter.startswith("$share/"):
                codes.append(0x9E)  # shared subscriptions not supported
                continue
            if not _valid_filter(topic_filter):
                codes.append(0x8F if conn.version == V5 else 0x80)
                continue
            qos, no_local, as_published = min(options & 3, 1), bool(options & 4), bool(options & 8)
            sub = _Subscription(qos, no_local, as_published, identifier)
            handling = options >> 4 & 3 if conn.version == V5 else 0
            existed = session.subscriptions.get(topic_filter) is not None
            session.subscriptions[topic_filter] = sub
            codes.append(sub.qos)
            if handling == 0 or (handling == 1 and not existed):
                new_retained.append((topic_filter, sub))
        tail = _props(()) if conn.version == V5 else b""
        conn.send(_packet(SUBACK, 0, _u16(packet_id) + tail + codes))
        for topic_filter, sub in new_retained:
            ids = () if sub.identifier is None else (sub.identifier,)
            for msg in list(self.retained.values()):
                if topic_matches(topic_filter, msg.topic):
                    self._deliver(session, _Delivery(msg, min(msg.qos, sub.qos), True, ids))

    # -- routing -------------------------------------------------------------------------------

    def route(self, message: BrokerMessage) -> None:
        """Store or clear a retained message, tell the hooks, deliver to every matching session."""
        if message.retain:
            if message.payload:
                self.retained[message.topic] = message
            else:
                self.retained.pop(message.topic, None)
        for hook in list(self.on_publish):
            try:
                hook(message)
            except Exception:
                log.exception("on_publish hook %r failed", hook)
        for session in list(self._sessions.values()):
            matches = [
                sub
                for topic_filter, sub in session.subscriptions.items()
                if topic_matches(topic_filter, message.topic)
                and not (sub.no_local and message.sender == session.client_id)
            ]
            if matches:
                qos = min(message.qos, max(s.qos for s in matches))
                retain = message.retain and any(s.retain_as_published for s in matches)
                ids = tuple(s.identifier for s in matches if s.identifier is not None)
                self._deliver(session, _Delivery(message, qos, retain, ids))

    def _deliver(self, session: _Session, delivery: _Delivery) -> None:
        conn = session.connection
        if conn is None:
            if delivery.qos and len(session.queue) < self.queue_limit:
                session.queue.append(delivery)
            else:
                self.counters["dropped"] += 1
            return
        packet_id = 0
        if delivery.qos and len(session.inflight) >= 0xFFFF:  # no free packet id: a stuck client
            self.counters["dropped"] += 1
            return
        if delivery.qos:
            packet_id = session.next_packet_id()
            session.inflight[packet_id] = delivery
        conn.send_publish(delivery, packet_id)
        self.counters["delivered"] += 1


# --- for callers without an event loop ---------------------------------------------------------


class BrokerThread:
    """A MiniBroker running in its own thread and event loop (tests, bench, sync callers).

    Hooks added to `broker.on_publish` run in that thread. Also a context manager.
    """

    def __init__(self, broker: MiniBroker, loop: asyncio.AbstractEventLoop) -> None:
        self.broker = broker
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="mini-broker", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return self.broker.url

    @property
    def port(self) -> int:
        return self.broker.port

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the broker and its thread; safe to call twice."""
        if self._loop.is_closed():
            return
        if self.broker.port:
            future = asyncio.run_coroutine_threadsafe(self.broker.stop(), self._loop)
            with contextlib.suppress(TimeoutError):
                future.result(timeout)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> BrokerThread:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_in_thread(
    host: str = "127.0.0.1", port: int = 0, timeout: float = 10.0, **options: int
) -> BrokerThread:
    """Start a MiniBroker in a daemon thread; return once it listens (start errors re-raised)."""
    handle = BrokerThread(MiniBroker(**options), asyncio.new_event_loop())
    try:
        asyncio.run_coroutine_threadsafe(handle.broker.start(host, port), handle._loop).result(
            timeout
        )
    except BaseException:
        handle.stop()
        raise
    return handle
