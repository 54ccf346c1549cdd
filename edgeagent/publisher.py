"""Drains the outbox to the MQTT broker. An event is delivered only on its PUBACK.

One `mqtt_link.Link` per connection (one paho client driven by the asyncio
loop; dead links noticed from socket activity); the loop alone touches the
outbox. On any disconnect the link is discarded and whatever was in
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

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edgeagent.backoff import Backoff
from edgeagent.config import MqttConfig
from edgeagent.errors import EdgeAgentError, OutboxError
from edgeagent.event import historical
from edgeagent.limits import MAX_INBOUND_PACKET_BYTES
from edgeagent.mqtt_link import BrokerAddress, ClientSettings, Link, Will
from edgeagent.outbox import Outbox, StoredEvent
from edgeagent.poison import DropTracker
from edgeagent.resend import RESENT_PROPERTY, ResendQueue
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


class LinkState(StrEnum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    REFUSED = "refused"
    STOPPED = "stopped"


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
        self._link: Link | None = None
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

    def _new_link(self, address: BrokerAddress,
                  closed: Callable[[Link, str], None]) -> Link:
        """A link with this home's client id, persistent session, credentials, TLS and will."""
        settings = ClientSettings.from_config(
            self.cfg, address, self.cfg.client_id or f"edgeagent-{self.home}", clean=False,
            will=Will(self.topics.status, self._status_payload("offline", will=True)),
            # The broker must not forward anything larger to us (mosquitto drops it): a
            # 100 MB downlink would otherwise be read whole into memory before rejection.
            maximum_packet_size=MAX_INBOUND_PACKET_BYTES)
        link = Link(settings, address, closed)
        client = link.client
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
        return link

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
        def closed(lk: Link, why: str) -> None:
            loop.call_soon_threadsafe(self._on_link_closed, lk, why)

        try:
            link = self._new_link(address, closed)
        except (OSError, ssl.SSLError, ValueError, EdgeAgentError) as exc:
            self._fail(f"TLS/client setup failed: {exc}")
            return None
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

    def _on_link_closed(self, link: Link, reason: str) -> None:
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

    def _drain_resends(self, link: Link, room: int) -> None:
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

    def _publish(self, link: Link, event: StoredEvent) -> bool:
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

