"""Drains the outbox to the MQTT broker. An event is delivered only on its PUBACK.

One paho client per connection, driven by the asyncio loop through paho's
external-loop hooks (only the blocking TCP/TLS connect runs in a thread of
its own); the loop alone touches the outbox. On any disconnect the client
is discarded and whatever was in
flight simply stays pending in the outbox, to be sent again on the next
connection: nothing is ever published from memory (EdgeX #318), and paho's
per-connection message ids are never used as durable keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import ssl
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edgeagent.backoff import Backoff
from edgeagent.config import MqttConfig
from edgeagent.errors import EdgeAgentError, OutboxError
from edgeagent.event import historical
from edgeagent.limits import MAX_INBOUND_PACKET_BYTES
from edgeagent.outbox import Outbox, StoredEvent
from edgeagent.poison import DropTracker
from edgeagent.resend import RESENT_PROPERTY, ResendQueue
from edgeagent.secrets import read_secret
from edgeagent.topics import Topics

log = logging.getLogger(__name__)

STABLE_CONNECTION_S = 10.0  # a connection shorter than this does not reset the backoff
ACK_RETRY_S = 1.0  # how often to retry recording PUBACKs when the outbox cannot be written
# During a drain, PUBACKs are recorded in batches of up to ACK_BATCH or every ACK_FLUSH_S
# (one SQLite transaction each) instead of one transaction per loop wake-up. The drain
# skips acked-but-unrecorded seqs, so the window refills at once either way; the last
# PUBACK of a burst (nothing else in flight) is recorded immediately.
ACK_BATCH = 128
ACK_FLUSH_S = 0.05
# A link silent this many keepalives while owing us an answer is dead. 1.4, not 1.5: the
# link looks every TICK_S = 0.5 s (0.1 keepalive at the 5 s minimum), so it is closed
# within the 1.5 x keepalive the platform is promised.
LIVENESS_FACTOR = 1.4
TICK_S = 0.5  # keepalive and dead-link checks
# Packets the broker must answer (PUBACK, PINGRESP, SUBACK, CONNACK): paho's log line prefixes.
_EXPECTS_ANSWER = ("Sending PUBLISH", "Sending PINGREQ", "Sending SUBSCRIBE", "Sending CONNECT")


class LinkState(StrEnum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    REFUSED = "refused"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        parsed = urlparse(url)
        tls = parsed.scheme in ("mqtts", "ssl")
        return cls(parsed.hostname or "127.0.0.1", parsed.port or (8883 if tls else 1883), tls)

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


@dataclass(slots=True)
class PublisherHealth:
    state: LinkState = LinkState.DISCONNECTED
    broker: str = ""
    last_error: str = ""
    connect_attempts: int = 0
    connections: int = 0
    published: int = 0
    acked: int = 0
    rejected: int = 0
    inflight: int = 0
    connected_since: float | None = None
    attempt_times: list[float] = field(default_factory=list)
    last_close: str = ""
    # The broker's last "no" to an event (PUBACK reason code). Kept across reconnects:
    # mosquitto 2.0 closes the link after a denied PUBLISH and the next CONNACK clears
    # last_error, which would hide why nothing gets through.
    last_refusal: str = ""
    # Links the broker closed with events in flight, and what the last one did (kept).
    link_drops: int = 0
    last_drop: str = ""
    # The platform's `resend` requests (edgeagent/resend.py): queued, in flight, counters.
    resend: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": str(self.state), "broker": self.broker, "last_error": self.last_error,
            "connect_attempts": self.connect_attempts, "connections": self.connections,
            "published": self.published, "acked": self.acked, "rejected": self.rejected,
            "inflight": self.inflight, "last_refusal": self.last_refusal,
            "last_close": self.last_close,
            "link_drops": self.link_drops, "last_drop": self.last_drop,
            "resend": dict(self.resend),
        }


CommandHandler = Callable[[str, bytes, dict[str, Any]], Awaitable[tuple[str, bytes, Any] | None]]


def tls_context(cfg: MqttConfig) -> ssl.SSLContext:
    """TLS 1.2+ with hostname verification; client certificate for mutual TLS when given."""
    ctx = ssl.create_default_context(
        purpose=ssl.Purpose.SERVER_AUTH,
        cafile=str(cfg.ca_file) if cfg.ca_file else None,
    )
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if cfg.cert_file:
        key = cfg.key_file
        if key is not None:
            from edgeagent.secrets import check_private  # noqa: PLC0415 - only with mTLS

            check_private(key, "mqtt.key_file")
        ctx.load_cert_chain(str(cfg.cert_file), str(key) if key else None)
    if cfg.tls_insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


class _AckMailbox:
    """PUBACKs handed to the event loop in batches: one loop callback per read, not per ack."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[tuple[int, ReasonCode]] = []

    def put(self, mid: int, rc: ReasonCode) -> bool:
        """Add one; True when the caller must schedule a `take` (the mailbox was empty)."""
        with self._lock:
            self._items.append((mid, rc))
            return len(self._items) == 1

    def take(self) -> list[tuple[int, ReasonCode]]:
        with self._lock:
            items, self._items = self._items, []
        return items


class _Link:
    """One paho client, one connection, driven by the asyncio loop. Thrown away when it closes.

    paho's external-loop hooks (the way aiomqtt drives it) put the socket on
    the asyncio selector, so publishing, reading PUBACKs and recording them
    happen on one thread. With a network thread per connection, the GIL and
    paho's mutexes changed hands several times per event: the drain ran at
    0.6 of a bare paho loop; on the loop it runs faster than that loop
    (bench/drain.py, docs/performance.md). Only the TCP connect and TLS
    handshake, which paho does blocking, run in a thread of their own.
    """

    def __init__(self, client: mqtt.Client, address: BrokerAddress, connect_kwargs: dict[str, Any],
                 on_closed: Callable[[_Link, str], None]) -> None:
        self.client = client
        self.address = address
        self._connect_kwargs = connect_kwargs
        self._on_closed = on_closed
        self._loop = asyncio.get_running_loop()
        self._connecting: asyncio.Future[None] | None = None
        self._attached = False  # socket on the selector; before that, hooks only take notes
        self._sock: Any = None
        self._write_wanted = False
        self._tick_handle: asyncio.TimerHandle | None = None
        self._finished = False
        self.dropped_by_peer = False  # the broker (or the path) ended it, not us or a timeout
        # Dead-link detection. paho pings only after `keepalive` of silence and then waits
        # another full keepalive (2 x keepalive in all); a black-holed path (no RST) must be
        # noticed sooner. paho logs every packet it sends and receives.
        keepalive = float(connect_kwargs.get("keepalive", 60))
        self._dead_after = LIVENESS_FACTOR * keepalive
        self._min_wait = (LIVENESS_FACTOR - 1.0) * keepalive
        self._last_rx = time.monotonic()
        self._waiting_since: float | None = None
        client.on_log = self._on_packet_log
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_register_write
        client.on_socket_unregister_write = self._on_unregister_write

    # -- liveness ------------------------------------------------------------------------

    def _on_packet_log(self, _c: mqtt.Client, _u: Any, _level: int, line: str) -> None:
        if line.startswith("Received "):
            self._last_rx = time.monotonic()
            self._waiting_since = None
        elif self._waiting_since is None and line.startswith(_EXPECTS_ANSWER):
            self._waiting_since = time.monotonic()

    def _dead_link(self) -> str | None:
        """Something awaits an answer and the broker has been silent for 1.5 x keepalive."""
        waiting = self._waiting_since
        if waiting is None:
            return None
        now = time.monotonic()
        if now - self._last_rx >= self._dead_after and now - waiting >= self._min_wait:
            return (f"no packet from the broker for {now - self._last_rx:.1f}s while waiting "
                    f"for an answer (dead link)")
        return None

    # -- paho's socket hooks ---------------------------------------------------------------

    def _on_socket_open(self, _c: mqtt.Client, _u: Any, sock: Any) -> None:
        self._sock = sock  # in the connect worker: attached to the loop once connect returns

    def _on_socket_close(self, _c: mqtt.Client, _u: Any, sock: Any) -> None:
        if self._attached:
            self._detach(sock)

    def _on_register_write(self, _c: mqtt.Client, _u: Any, sock: Any) -> None:
        if self._attached:
            self._loop.add_writer(sock, self._writable)
        else:
            self._write_wanted = True

    def _on_unregister_write(self, _c: mqtt.Client, _u: Any, sock: Any) -> None:
        if self._attached:
            with contextlib.suppress(ValueError, OSError):
                self._loop.remove_writer(sock)
        else:
            self._write_wanted = False

    def _detach(self, sock: Any) -> None:
        with contextlib.suppress(ValueError, OSError):
            self._loop.remove_reader(sock)
            self._loop.remove_writer(sock)

    # -- running ---------------------------------------------------------------------------

    def start(self) -> None:
        # A thread of its own, not the loop's default executor: drivers run blocking library
        # calls there, and a few hung ones must never leave the alarm path without a connect.
        self._connecting = self._loop.create_future()
        self._connecting.add_done_callback(self._connect_done)
        threading.Thread(target=self._connect_blocking, name=f"mqtt-connect-{self.address.host}",
                         daemon=True).start()

    def _connect_blocking(self) -> None:
        error: BaseException | None = None
        try:
            self.client.connect(self.address.host, self.address.port, **self._connect_kwargs)
        except Exception as exc:  # noqa: BLE001 - handed to the loop, which reports it
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is waiting
            self._loop.call_soon_threadsafe(self._resolve_connect, error)

    def _resolve_connect(self, error: BaseException | None) -> None:
        assert self._connecting is not None
        if self._connecting.done():
            return
        if error is None:
            self._connecting.set_result(None)
        else:
            self._connecting.set_exception(error)

    def _connect_done(self, future: asyncio.Future[None]) -> None:
        exc = future.exception()
        if self._finished:  # closed while connecting: do not leave the socket behind
            _close_quietly(self.client.socket())
            return
        if exc is not None:
            self._finish(f"{type(exc).__name__}: {exc}")
            return
        sock = self.client.socket()
        if sock is None:
            self._finish("connect returned without a socket")
            return
        self._sock = sock
        self._attached = True
        self._loop.add_reader(sock, self._readable)
        if self._write_wanted:
            self._loop.add_writer(sock, self._writable)
        self._tick_handle = self._loop.call_later(TICK_S, self._tick)

    def _readable(self) -> None:
        rc = self.client.loop_read()
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self.dropped_by_peer = True
            self._finish(mqtt.error_string(rc))
            return
        sock = self.client.socket()
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            self._loop.call_soon(self._readable)  # decrypted bytes the selector cannot see

    def _writable(self) -> None:
        rc = self.client.loop_write()
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self.dropped_by_peer = True
            self._finish(mqtt.error_string(rc))

    def _tick(self) -> None:
        self._tick_handle = None
        if self._finished:
            return
        rc = self.client.loop_misc()  # keepalive pings, paho's own timeouts
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self._finish(mqtt.error_string(rc))
            return
        dead = self._dead_link()
        if dead is not None:
            self._finish(dead)
            return
        self._tick_handle = self._loop.call_later(TICK_S, self._tick)

    def _finish(self, reason: str) -> None:
        if self._finished:
            return
        self._finished = True
        if self._tick_handle is not None:
            self._tick_handle.cancel()
        sock = self.client.socket() or self._sock
        if self._attached and sock is not None:
            self._detach(sock)
        if self._connecting is not None and self._connecting.done():
            # The socket is closed without waiting for the peer (black holes).
            _close_quietly(sock)
        self._on_closed(self, reason)

    def close(self) -> None:
        """End the link; whatever paho still holds to write (a DISCONNECT) goes first."""
        if self._attached and not self._finished:
            with contextlib.suppress(OSError, ssl.SSLError, ValueError):
                self.client.loop_write()
        self._finish("closed")

    def connect_pending(self) -> bool:
        return self._connecting is not None and not self._connecting.done()

    async def wait_connect_worker(self, timeout: float) -> None:
        """Wait (bounded) for a connect still running in its worker thread."""
        if self._connecting is not None and not self._connecting.done():
            with contextlib.suppress(TimeoutError, OSError, ssl.SSLError, ValueError):
                await asyncio.wait_for(asyncio.shield(self._connecting), timeout)


def _close_quietly(sock: Any) -> None:
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.close()


class Publisher:
    """Keeps one broker connection alive and drains the outbox through it."""

    def __init__(
        self,
        cfg: MqttConfig,
        home: str,
        outbox: Outbox,
        *,
        status: Callable[[], dict[str, Any]],
        on_command: CommandHandler | None = None,
        backoff: Backoff | None = None,
        version: str = "",
    ) -> None:
        self.cfg = cfg
        self.home = home
        self.outbox = outbox
        self.topics = Topics(cfg.topic_prefix, home)
        self._status = status
        self._on_command = on_command
        self._backoff = backoff or Backoff(cfg.backoff_initial, cfg.backoff_max)
        self._addresses = [BrokerAddress.parse(u) for u in cfg.urls]
        self._address_index = 0
        self.health = PublisherHealth()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._link: _Link | None = None
        self._inflight: dict[int, int] = {}  # paho mid -> outbox seq, this connection only
        self._drops = DropTracker(outbox)  # events the broker closes the link over
        # Delivered events the platform asked for again: never more than half the window,
        # and only after pending events, so an alert never waits behind a resend.
        self.resends = ResendQueue()
        self._resend_window = max(1, cfg.max_inflight // 2)
        self._status_mids: set[int] = set()
        self._acked: list[int] = []
        self._drain_scheduled = False
        self._ack_timer: asyncio.TimerHandle | None = None
        self._ack_retry_pending = False
        self._ack_write_failing = False
        self._paused_until = 0.0
        self._connack: asyncio.Future[ReasonCode] | None = None
        self._closed: asyncio.Event = asyncio.Event()
        self._stopping = False
        self._stop_event = asyncio.Event()
        self._connected_wall = 0.0
        self.version = version
        self.acked_event = asyncio.Event()  # set whenever a batch of PUBACKs is recorded
        # Told the seqs of each recorded batch of PUBACKs (the call light turns steady).
        self.on_delivered: Callable[[list[int]], None] | None = None

    # -- public ------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.health.state is LinkState.CONNECTED

    def wake(self) -> None:
        """New events are in the outbox: drain soon (coalesced per loop iteration)."""
        if self._loop is None or self._drain_scheduled:
            return
        self._drain_scheduled = True
        self._loop.call_soon(self._drain)

    def resend(self, seqs: list[int]) -> int:
        """Queue delivered seqs to publish again (the `resend` command); the number added."""
        added = self.resends.add(seqs)
        self.health.resend = self.resends.as_dict()
        self.wake()
        return added

    async def run(self) -> None:
        """Connect, drain, reconnect with jittered backoff and failover, until stop()."""
        self._loop = asyncio.get_running_loop()
        while not self._stopping:
            connected_at = await self._one_connection()
            if self._stopping:
                break
            if connected_at is not None and time.monotonic() - connected_at > STABLE_CONNECTION_S:
                self._backoff.reset()
            if connected_at is None:
                self._address_index = (self._address_index + 1) % len(self._addresses)
            delay = self._backoff.next_delay()
            log.info("mqtt: reconnecting in %.1fs", delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_event.wait(), timeout=delay)
        self.health.state = LinkState.STOPPED

    async def stop(self, timeout: float = 2.0) -> None:
        """Say `offline` on purpose (a clean disconnect fires no Last Will), then disconnect."""
        self._stopping = True
        self._stop_event.set()
        link = self._link
        if link is not None and self.connected:
            info = link.client.publish(self.topics.status, self._status_payload("offline"),
                                       qos=1, retain=True)
            deadline = time.monotonic() + timeout
            while publish_outcome(info) is False and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            self._flush_acks()
            link.client.disconnect()
        if link is not None:
            link.close()
            await link.wait_connect_worker(timeout)

    def publish_status(self) -> None:
        """Refresh the retained birth message (buffer depth, drivers, evictions)."""
        link = self._link
        if link is None or not self.connected:
            return
        info = link.client.publish(self.topics.status, self._status_payload("online"),
                                   qos=1, retain=True)
        self._status_mids.add(info.mid)

    def publish_reply(self, topic: str, payload: bytes, properties: Any = None) -> None:
        link = self._link
        if link is None or not self.connected:
            return
        link.client.publish(topic, payload, qos=1, properties=properties)

    # -- one connection ----------------------------------------------------------------

    def _new_client(self) -> mqtt.Client:
        v5 = self.cfg.protocol == "5"
        client_id = self.cfg.client_id or f"edgeagent-{self.home}"
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311,
            clean_session=None if v5 else False,
            reconnect_on_failure=False,
        )
        client.max_inflight_messages_set(self.cfg.max_inflight)
        client.max_queued_messages_set(0)
        client.connect_timeout = self.cfg.connect_timeout
        if self.cfg.username:
            password = (read_secret(self.cfg.password_file, "mqtt.password_file")
                        if self.cfg.password_file else None)
            client.username_pw_set(self.cfg.username, password)
        address = self._addresses[self._address_index]
        if address.tls or self.cfg.ca_file:
            client.tls_set_context(tls_context(self.cfg))
        client.will_set(self.topics.status, self._status_payload("offline", will=True),
                        qos=1, retain=True)
        loop = self._loop
        assert loop is not None

        def on_connect(c: mqtt.Client, _u: Any, flags: Any, rc: ReasonCode, _p: Any) -> None:
            session = bool(getattr(flags, "session_present", False))
            loop.call_soon_threadsafe(self._on_connack, c, rc, session)

        acks = _AckMailbox()

        def on_publish(c: mqtt.Client, _u: Any, mid: int, rc: ReasonCode, _p: Any) -> None:
            if acks.put(mid, rc):
                loop.call_soon_threadsafe(self._on_pubacks, c, acks)

        def on_disconnect(c: mqtt.Client, _u: Any, flags: Any, rc: ReasonCode, _p: Any) -> None:
            by_broker = bool(getattr(flags, "is_disconnect_packet_from_server", False))
            loop.call_soon_threadsafe(self._on_disconnect_reason, c, rc, by_broker)

        def on_message(c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
            loop.call_soon_threadsafe(self._on_message, c, msg)

        client.on_connect = on_connect
        client.on_publish = on_publish
        client.on_disconnect = on_disconnect
        client.on_message = on_message
        return client

    def _connect_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"keepalive": self.cfg.keepalive}
        if self.cfg.protocol == "5":
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = self.cfg.session_expiry
            # The broker must not forward anything larger to us (mosquitto drops it): a
            # 100 MB downlink would otherwise be read whole into memory before rejection.
            props.MaximumPacketSize = MAX_INBOUND_PACKET_BYTES
            kwargs["clean_start"] = False
            kwargs["properties"] = props
        return kwargs

    async def _one_connection(self) -> float | None:
        """Run one connection to its end; return when it was established, or None."""
        loop = asyncio.get_running_loop()
        address = self._addresses[self._address_index]
        self.health.broker = str(address)
        self.health.state = LinkState.CONNECTING
        self.health.connect_attempts += 1
        self.health.attempt_times.append(time.monotonic())
        del self.health.attempt_times[:-100]
        self._closed = asyncio.Event()
        self._connack = loop.create_future()
        try:
            client = self._new_client()
        except (OSError, ssl.SSLError, ValueError, EdgeAgentError) as exc:
            self._fail(f"TLS/client setup failed: {exc}")
            return None
        def closed(lk: _Link, why: str) -> None:
            loop.call_soon_threadsafe(self._on_link_closed, lk, why)

        link = _Link(client, address, self._connect_kwargs(), closed)
        self._link = link
        link.start()
        connected_at: float | None = None
        try:
            waiter: asyncio.Future[Any] = asyncio.ensure_future(self._closed.wait())
            connack: asyncio.Future[Any] = self._connack
            done, _ = await asyncio.wait({connack, waiter},
                                         timeout=self.cfg.connect_timeout + 1.0,
                                         return_when=asyncio.FIRST_COMPLETED)
            if self._connack in done and not self._connack.result().is_failure:
                connected_at = time.monotonic()
                await self._closed.wait()
            elif not done:
                self._fail(f"no CONNACK from {address} within {self.cfg.connect_timeout:.0f}s")
            waiter.cancel()
        finally:
            link.close()
            await link.wait_connect_worker(2.0)
            if not link.connect_pending():
                _release_sockets(link.client)
            self._lost_connection()
        return connected_at

    def _fail(self, reason: str) -> None:
        self.health.last_error = reason
        log.warning("mqtt: %s", reason)

    # -- callbacks, on the asyncio loop -------------------------------------------------

    def _current(self, client: mqtt.Client) -> bool:
        return self._link is not None and self._link.client is client

    def _on_connack(self, client: mqtt.Client, rc: ReasonCode, session_present: bool) -> None:
        if not self._current(client) or self._connack is None or self._connack.done():
            return
        self._connack.set_result(rc)
        if rc.is_failure:
            self.health.state = LinkState.REFUSED
            self._fail(f"broker {self.health.broker} refused the connection: {rc.getName()}")
            return
        self.health.state = LinkState.CONNECTED
        self.health.connections += 1
        self.health.last_error = ""
        self._connected_wall = time.time()
        log.info("mqtt: connected to %s (session present: %s)", self.health.broker,
                 session_present)
        client.subscribe(self.topics.commands, qos=1)
        self.publish_status()
        self.wake()

    def _on_disconnect_reason(self, client: mqtt.Client, rc: ReasonCode,
                              by_broker: bool = False) -> None:
        if by_broker and self._link is not None and self._link.client is client:
            self._link.dropped_by_peer = True  # an MQTT 5 DISCONNECT (Packet too large, ...)
        # After a refused CONNACK paho also reports a disconnect ("Protocol error"): keep the
        # broker's own reason (bad credentials, not authorised) in last_error.
        if self._current(client) and rc.is_failure and self.health.state is not LinkState.REFUSED:
            self._fail(f"disconnected from {self.health.broker}: {rc.getName()}")

    def _on_link_closed(self, link: _Link, reason: str) -> None:
        if link is not self._link:
            return
        self.health.last_close = reason  # why this link ended, whatever reports follow
        if link.dropped_by_peer and not self._stopping and self._inflight:
            self.health.link_drops += 1
            note = self._drops.link_dropped(self._inflight.values(), reason)
            self.health.last_drop = note
            if not self.health.last_refusal:  # the broker's own refusal says more
                self.health.last_refusal = note
            log.warning("mqtt: %s", note)
        if link.dropped_by_peer and not self._stopping:
            self.resends.link_dropped()
        quiet = self.health.state is LinkState.REFUSED or self._stopping
        if not quiet and (self.health.state is LinkState.CONNECTED or not self.health.last_error):
            self._fail(f"connection to {link.address} closed: {reason}")
        self._closed.set()

    def _lost_connection(self) -> None:
        self._flush_acks()
        self._inflight.clear()
        self.resends.link_lost()  # what was in flight waits for the next connection
        self.health.resend = self.resends.as_dict()
        self._status_mids.clear()
        self.health.inflight = 0
        if self.health.state is not LinkState.REFUSED:
            self.health.state = LinkState.DISCONNECTED
        self._link = None

    def _on_pubacks(self, client: mqtt.Client, acks: _AckMailbox) -> None:
        for mid, rc in acks.take():
            self._on_puback(client, mid, rc)

    def _on_puback(self, client: mqtt.Client, mid: int, rc: ReasonCode) -> None:
        if not self._current(client):
            return
        if mid in self._status_mids:
            self._status_mids.discard(mid)
            if rc.is_failure:
                # Not authorised for our own status topic (e.g. another home's certificate):
                # mosquitto then drops the link before any event is tried; say why.
                self.health.last_refusal = f"broker refused the status message: {rc.getName()}"
                self._fail(self.health.last_refusal)
            return
        if self.resends.owns(mid):
            resent_seq = self.resends.acked(mid, refused=rc.is_failure)
            if rc.is_failure:
                log.warning("mqtt: broker refused resent seq %d: %s (not retried; the "
                            "platform may ask again)", resent_seq, rc.getName())
            self.health.resend = self.resends.as_dict()
            self.wake()
            return
        seq = self._inflight.pop(mid, None)
        self.health.inflight = len(self._inflight)
        if seq is None:
            return
        if rc.is_failure:
            # The broker said no (ACL, quota): keep the event, say why, do not hammer.
            self.health.rejected += 1
            self.health.last_refusal = f"broker refused event seq {seq}: {rc.getName()}"
            self._fail(self.health.last_refusal)
            self._paused_until = time.monotonic() + self._backoff.next_delay() + 1.0
            assert self._loop is not None
            self._loop.call_later(self._paused_until - time.monotonic(), self.wake)
            return
        self.health.last_refusal = ""
        self._acked.append(seq)
        if not self._inflight or len(self._acked) >= ACK_BATCH:
            self._flush_acks()
            return
        if self._ack_timer is None:
            assert self._loop is not None
            self._ack_timer = self._loop.call_later(ACK_FLUSH_S, self._flush_acks)
        self.wake()  # refill the window now; these seqs are skipped until recorded

    def _flush_acks(self) -> None:
        if self._ack_timer is not None:
            self._ack_timer.cancel()
            self._ack_timer = None
        if not self._acked:
            return
        acked, self._acked = self._acked, []
        try:
            self.outbox.mark_delivered(acked)
        except (sqlite3.Error, OutboxError) as exc:
            # Recording a PUBACK is a write; on a full disk it fails. The broker has these
            # events: keep their seqs (the drain skips them, so they are not re-sent), keep
            # publishing, and retry, instead of dropping the acks or killing the publisher.
            self._acked = acked + self._acked
            if not self._ack_write_failing:
                self._ack_write_failing = True
                self._fail(f"cannot record PUBACKs in the outbox ({exc}); retrying every "
                           f"{ACK_RETRY_S:.0f}s")
            if not self._ack_retry_pending:
                self._ack_retry_pending = True
                assert self._loop is not None
                self._loop.call_later(ACK_RETRY_S, self._retry_acks)
            self.wake()
            return
        if self._ack_write_failing:
            self._ack_write_failing = False
            log.info("mqtt: recorded %d PUBACKs held while the outbox was not writable",
                     len(acked))
        self.health.acked += len(acked)
        if self._drops.attempts:
            self._drops.delivered(acked)
        self.acked_event.set()
        if self.on_delivered is not None:
            try:
                self.on_delivered(acked)
            except Exception:  # a listener's fault never stops delivery
                log.exception("on_delivered listener failed")
        self.wake()

    def _retry_acks(self) -> None:
        self._ack_retry_pending = False
        self._flush_acks()

    def _drain(self) -> None:
        self._drain_scheduled = False
        link = self._link
        if link is None or not self.connected or time.monotonic() < self._paused_until:
            return
        room = self.cfg.max_inflight - len(self._inflight) - self.resends.in_flight
        if room <= 0:
            return
        # Acked but not yet recorded rows are still "pending" in SQLite: skip them too.
        skip = set(self._inflight.values())
        skip.update(self._acked)
        skip.update(self._drops.held_back)
        events = self.outbox.pending(room, skip=skip)
        if not events and self._drops.held_back and not self._inflight and not self._acked \
                and not self.resends.in_flight:
            # Only alerts dropped even when cut are left: one goes, alone, every connection.
            events = self.outbox.pending(1, skip=self._acked)
        published, stopped = 0, False
        for event in events:
            # An event that was in flight when the broker dropped the link goes alone: the
            # next drop is then its own, and it takes no innocent event down with it.
            alone = self._drops.is_suspect(event.seq) or event.seq in self._drops.held_back
            if alone and (self._inflight or self.resends.in_flight):
                stopped = True
                break
            if not self._publish(link, event):
                stopped = True
                break
            published += 1
            if alone:
                stopped = True
                break
        self.health.inflight = len(self._inflight)
        # Resends take only what pending events leave: an alert never waits behind them.
        if len(self.resends) and not stopped and published < room:
            self._drain_resends(link, room - published)

    def _drain_resends(self, link: _Link, room: int) -> None:
        """Publish queued resends into what the pending events left of (half) the window."""
        seqs = self.resends.take(min(room, self._resend_window - self.resends.in_flight))
        if not seqs:
            return
        stored = {event.seq: event for event in self.outbox.stored_events(seqs)}
        properties = None
        if self.cfg.protocol == "5":
            properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            properties.UserProperty = [RESENT_PROPERTY]
        for index, seq in enumerate(seqs):
            event = stored.get(seq)
            if event is None:
                self.resends.vanished(seq)
                continue
            # The body exactly as stored (and first sent): same id, seq and ts.
            info = link.client.publish(self.topics.event(event.kind, event.type), event.body,
                                       qos=1, properties=properties)
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                self.resends.put_back(seqs[index:])
                break
            self.resends.sent(info.mid, seq)
        self.health.resend = self.resends.as_dict()

    def _publish(self, link: _Link, event: StoredEvent) -> bool:
        payload = historical(event.body) if event.created < self._connected_wall else event.body
        info = link.client.publish(self.topics.event(event.kind, event.type), payload, qos=1)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            return False
        self._inflight[info.mid] = event.seq
        self.health.published += 1
        return True

    def _on_message(self, client: mqtt.Client, msg: mqtt.MQTTMessage) -> None:
        if not self._current(client) or self._on_command is None:
            return
        props: dict[str, Any] = {}
        if msg.properties is not None:
            for name in ("ResponseTopic", "CorrelationData", "MessageExpiryInterval"):
                if hasattr(msg.properties, name):
                    props[name] = getattr(msg.properties, name)
        assert self._loop is not None
        self._loop.create_task(self._answer(msg.topic, bytes(msg.payload), props))

    async def _answer(self, topic: str, payload: bytes, props: dict[str, Any]) -> None:
        assert self._on_command is not None
        try:
            reply = await self._on_command(topic, payload, props)
            if reply is None:
                return
            reply_topic, body, correlation = reply
            properties = None
            if self.cfg.protocol == "5" and correlation is not None:
                properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
                properties.CorrelationData = correlation
            self.publish_reply(reply_topic, body, properties)
        except Exception as exc:  # noqa: BLE001 - hostile input never ends in a traceback
            # The router rate-limits what reaches here, so this line is bounded too.
            log.warning("downlink reply not sent: %s: %s", type(exc).__name__, str(exc)[:200])

    def _status_payload(self, state: str, *, will: bool = False) -> str:
        doc: dict[str, Any] = {"state": state, "home": self.home, "version": self.version}
        if will:
            doc["reason"] = "connection lost (last will)"
            # The will replaces the retained status after a crash: it keeps the seq
            # high-water mark (as of this connect) for a new outbox to read back.
            doc["high_water_seq"] = self.outbox.high_water_seq
            return json.dumps(doc, separators=(",", ":"))
        try:
            doc.update(self._status())
        except Exception as exc:  # noqa: BLE001 - a status bug must not stop the birth message
            doc["status_error"] = repr(exc)
        doc["state"] = state
        return json.dumps(doc, separators=(",", ":"), default=str)


def _release_sockets(client: mqtt.Client) -> None:
    """Close paho's wake-up socketpair now, not when the garbage collector finds the client.

    One pair per discarded client piles up during a long outage with many reconnects.
    """
    reset = getattr(client, "_reset_sockets", None)
    if callable(reset):
        with contextlib.suppress(OSError):
            reset(sockpair_only=True)


def publish_outcome(info: mqtt.MQTTMessageInfo) -> bool | None:
    """True once acknowledged, False while pending, None if paho could not send it at all.

    paho raises from `is_published()` when the link dropped between our check and the
    publish (a broker closing after an ACL denial, say): at shutdown that is "not sent",
    never a crash.
    """
    try:
        return info.is_published()
    except (RuntimeError, ValueError):
        return None

