"""One ingest worker: MQTT in, schema check, de-duplicated store, gap repair.

N workers share the load through an MQTT 5 shared subscription
(`$share/<group>/<prefix>/+/events/#`): the broker hands each event to one of
them, and a dead worker's share moves to the live ones. Each message is
acknowledged (PUBACK) only after the batch holding it is committed, so a worker
killed mid-batch loses nothing the broker still holds; what the broker itself
dropped shows as a `seq` gap. One worker at a time (a lease in the database)
tracks the watermark per home and asks the agent to `resend` a gap that stays
open past `gap_grace_s`, less often each time; a gap becomes `lost` only when
the agent answers that those seqs are unavailable.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from edgeagent_platform.contract import EventValidator, Topics
from edgeagent_platform.gaps import advance, limit_ask, next_ask_delay, overlaps
from edgeagent_platform.store import Row, Store
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

log = logging.getLogger(__name__)

BATCH = 1000  # messages per transaction at most
BATCH_WAIT_S = 0.02  # how long a batch waits to fill once its first message is in
LEASE_S = 2.0  # a tracker that stops renewing (killed, hung) is replaced after this


@dataclass
class WorkerConfig:
    broker: str = "mqtt://127.0.0.1:1883"
    prefix: str = "care"
    db: str = "sqlite:///edgeagent-platform.db"
    group: str | None = "ingest"  # None: a plain subscription (MQTT 3.1.1 brokers, one worker)
    protocol: str = "5"
    name: str = field(default_factory=lambda: f"w-{uuid.uuid4().hex[:8]}")
    gap_grace_s: float = 30.0
    tick_s: float = 0.0  # 0: gap_grace_s / 5, at most 1 s
    # 0: a worker's session ends with its connection, so its share of a shared subscription
    # moves to the live workers at once. Longer lets a restarted worker pick up what the
    # broker queued meanwhile, but a broker that keeps routing to an offline session
    # (mosquitto does) traps that share until it expires; gap repair covers both.
    session_expiry_s: int = 0


@dataclass(slots=True)
class _Message:
    topic: str
    payload: bytes
    mid: int
    qos: int
    resent: bool


class Worker:
    """Run with `run(stop)`; `counters` say what it did (stored, duplicates, invalid, ...)."""

    def __init__(self, cfg: WorkerConfig) -> None:
        self.cfg = cfg
        self.topics = Topics(cfg.prefix)
        self.validator = EventValidator()
        self.store = Store(cfg.db)
        self.counters: dict[str, int] = {"received": 0, "stored": 0, "duplicates": 0,
                                         "invalid": 0, "resend_asked": 0, "probes": 0}
        self._inbox: queue.Queue[_Message] = queue.Queue()
        self.connected = threading.Event()
        self.subscribed = threading.Event()  # SUBACK for this connection's subscriptions
        self._client = self._new_client()
        self._tracker_store: Store | None = None  # opened by the tracker thread
        self._known_homes: set[str] = set()  # homes this worker has registered
        self.tick_s = cfg.tick_s or min(1.0, cfg.gap_grace_s / 5)

    # -- MQTT ---------------------------------------------------------------------------

    def _new_client(self) -> mqtt.Client:
        v5 = self.cfg.protocol == "5"
        client = mqtt.Client(CallbackAPIVersion.VERSION2,
                             client_id=f"edgeagent-platform-{self.cfg.name}",
                             protocol=MQTTProtocolVersion.MQTTv5 if v5
                             else MQTTProtocolVersion.MQTTv311,
                             clean_session=None if v5 else False)
        client.manual_ack_set(True)  # PUBACK after the commit, not on arrival
        client.reconnect_delay_set(1, 5)
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        return client

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if getattr(rc, "is_failure", False):
            log.warning("platform: broker refused the connection: %s", rc)
            return
        group = self.cfg.group if self.cfg.protocol == "5" else None
        client.subscribe([(self.topics.events_filter(group), 1),
                          (self.topics.replies_filter(group), 1),
                          (self.topics.status_filter, 1)])
        self.connected.set()

    def _on_subscribe(self, *_args: Any) -> None:
        log.info("platform: worker %s subscribed", self.cfg.name)
        self.subscribed.set()

    def _on_disconnect(self, *_args: Any) -> None:
        self.connected.clear()
        self.subscribed.clear()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        props = dict(getattr(msg.properties, "UserProperty", None) or [])
        self._inbox.put(_Message(msg.topic, bytes(msg.payload), msg.mid, msg.qos,
                                 props.get("resent") == "1"))

    def _connect(self) -> None:
        parsed = urlparse(self.cfg.broker)
        kwargs: dict[str, Any] = {"keepalive": 30}
        if self.cfg.protocol == "5":
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = self.cfg.session_expiry_s
            # Acks wait for the commit: let the broker have a batch's worth in flight.
            props.ReceiveMaximum = BATCH
            kwargs["clean_start"] = False
            kwargs["properties"] = props
        self._client.connect_async(parsed.hostname or "127.0.0.1", parsed.port or 1883, **kwargs)
        self._client.loop_start()

    # -- running ------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Ingest on this thread, gap tracking on another (with its own connection), so a
        tracker pass over many homes never holds up the batches."""
        self._connect()
        tracker = threading.Thread(target=self._track_loop, args=(stop,), daemon=True,
                                   name=f"tracker-{self.cfg.name}")
        tracker.start()
        try:
            while not stop.is_set():
                batch = self._take_batch()
                if batch:
                    self._process(batch)
        finally:
            stop.set()
            tracker.join(30)
            self._client.disconnect()
            self._client.loop_stop()
            self.store.close()
            if self._tracker_store is not None:
                self._tracker_store.close()

    def _track_loop(self, stop: threading.Event) -> None:
        while not stop.wait(self.tick_s):
            try:
                self.tick(time.time())
            except Exception:
                log.exception("platform: gap tracking failed; retrying next tick")

    def _take_batch(self) -> list[_Message]:
        try:
            first = self._inbox.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + BATCH_WAIT_S
        while len(batch) < BATCH:
            try:
                batch.append(self._inbox.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                break
        return batch

    def _process(self, batch: list[_Message]) -> None:
        """Validate, store in one transaction, then acknowledge every message of the batch."""
        now = time.time()
        events: list[Row] = []
        invalid: list[Row] = []
        for msg in batch:
            parsed = self.topics.parse(msg.topic)
            if parsed is None:
                continue
            home, what = parsed
            if what == "status":
                self._on_status(home, msg.payload, now)
            elif what == "reply":
                self._on_reply(home, msg.payload, now)
            else:
                self.counters["received"] += 1
                event, why = self.validator.check(home, msg.topic, msg.payload)
                if event is None:
                    invalid.append((now, msg.topic, why, msg.payload[:4096].decode(
                        "utf-8", "replace")))
                    continue
                alert = event.get("alert") or {}
                events.append((event["id"], home, event["seq"], event["kind"], event["type"],
                               event["severity"], event["ts"], alert.get("id"),
                               alert.get("state"), msg.payload.decode(), now, int(msg.resent)))
        if invalid:
            self.counters["invalid"] += len(invalid)
            log.warning("platform: %d invalid messages quarantined (last: %s: %s)",
                        len(invalid), invalid[-1][1], invalid[-1][2])
        if events or invalid:
            homes = {row[1] for row in events} - self._known_homes
            inserted = self.store.store_batch(events, invalid, {"invalid": len(invalid)},
                                              worker=self.cfg.name, new_homes=sorted(homes))
            self._known_homes |= homes
            self.counters["stored"] += inserted
            self.counters["duplicates"] += len(events) - inserted
        for msg in batch:
            if msg.qos:
                self._client.ack(msg.mid, msg.qos)

    def _on_status(self, home: str, payload: bytes, now: float) -> None:
        """The retained birth / Last Will: liveness, and what the agent has stored."""
        try:
            doc = json.loads(payload) if payload else {}
        except (ValueError, RecursionError):
            doc = {}
        if not isinstance(doc, dict):
            doc = {}
        self.store.set_status(home, doc.get("state") == "online",
                              payload[:65536].decode("utf-8", "replace"), now)
        last_seq = _seq(doc.get("last_seq"))
        if last_seq is not None:
            self.store.saw_last_seq(home, last_seq)

    def _on_reply(self, home: str, payload: bytes, now: float) -> None:
        """The agent's answer to a `resend`: unavailable seqs are lost, nothing else is."""
        try:
            doc = json.loads(payload)
        except (ValueError, RecursionError):
            return
        result = doc.get("result") if isinstance(doc, dict) and doc.get("ok") else None
        if not isinstance(result, dict):
            if isinstance(doc, dict):
                log.warning("platform: %s refused resend: %s", home, str(doc.get("error"))[:200])
            return
        unavailable = result.get("unavailable")
        lost = [(int(item[0]), int(item[1])) for item in
                (unavailable if isinstance(unavailable, list) else [])
                if isinstance(item, list) and len(item) == 2
                and None not in (_seq(item[0]), _seq(item[1])) and 1 <= item[0] <= item[1]]
        if lost:
            self.store.add_lost(home, lost, now)
            log.warning("platform: %s says seqs %s are unavailable: marked lost", home, lost)
        last_seq = _seq(result.get("last_seq"))
        if last_seq is not None:
            self.store.saw_last_seq(home, last_seq)

    # -- gap tracking (the lease holder only) ---------------------------------------------

    @property
    def tracker_store(self) -> Store:
        if self._tracker_store is None:
            self._tracker_store = Store(self.cfg.db)
        return self._tracker_store

    def tick(self, now: float) -> None:
        store = self.tracker_store
        if not store.take_lease(self.cfg.name, now, LEASE_S):
            return
        for home, watermark, known_last, last_event_at, probed_at, online in store.homes():
            if not self._track(str(home), int(watermark), int(known_last), now):
                self._probe_tail(str(home), last_event_at, probed_at, online, now)

    def _track(self, home: str, watermark: int, known_last: int, now: float) -> bool:
        """Move the watermark, keep the gap rows, ask for due gaps; True if any is open."""
        present = self.tracker_store.seqs_above(home, watermark)
        lost = self.tracker_store.lost_ranges(home)
        mark, gaps = advance(watermark, present, lost)
        top = max([watermark, *present[-1:]])
        if known_last > top:  # the agent has more than we saw: the tail is a gap too
            gaps.append((top + 1, known_last))
        old = self.tracker_store.gap_rows(home)
        if not gaps and not old:
            if mark != watermark:
                self.tracker_store.save_tracking(home, mark, [], [])
            return False
        grace = self.cfg.gap_grace_s
        rows: list[Row] = []
        for low, high in gaps:
            before = [r for r in old if overlaps((low, high), (int(r[0]), int(r[1])))]
            if before:
                opened = min(float(r[2]) for r in before)
                attempts = max(int(r[3]) for r in before)
                due = max(float(r[4]) for r in before)
            else:
                opened, attempts, due = now, 0, now + grace
            rows.append((low, high, opened, attempts, due))
        repaired = [(r[0], r[1], r[2], now, r[3]) for r in old
                    if not any(overlaps((int(r[0]), int(r[1])), g) for g in gaps)
                    and not any(overlaps((int(r[0]), int(r[1])), x) for x in lost)]
        unchanged = mark == watermark and not repaired and [tuple(r) for r in old] == [
            tuple(r) for r in rows]
        asked = [(int(r[0]), int(r[1])) for r in rows if now >= float(r[4])]
        if asked:
            ranges = limit_ask(asked)
            self._ask(home, ranges)
            rows = [(lo, hi, op, att + 1, now + next_ask_delay(grace, att + 1))
                    if any(overlaps((lo, hi), a) for a in ranges) else (lo, hi, op, att, due)
                    for lo, hi, op, att, due in rows]
        if not (unchanged and not asked):
            self.tracker_store.save_tracking(home, mark, rows, repaired)
        return bool(rows)

    def _probe_tail(self, home: str, last_event_at: Any, probed_at: Any, online: Any,
                    now: float) -> None:
        """Quiet after events: one `resend` just past the newest seq asks the agent for its
        `last_seq`, so events the broker dropped at the end of a burst are found too."""
        if last_event_at is None or not online:
            return
        if now - float(last_event_at) < self.cfg.gap_grace_s or float(probed_at) >= float(
                last_event_at):
            return
        top = self.tracker_store.max_seq(home)
        self.tracker_store.probed(home, now)
        self.counters["probes"] += 1
        self._ask(home, [(top + 1, top + 1)])

    def _ask(self, home: str, ranges: list[tuple[int, int]]) -> None:
        command = {"id": str(uuid.uuid4()), "ts": datetime.now(UTC).isoformat(),
                   "args": {"ranges": [list(r) for r in ranges]}}
        self._client.publish(self.topics.resend(home), json.dumps(command), qos=1)
        self.counters["resend_asked"] += 1
        log.info("platform: asked %s to resend %s", home, ranges)


def _seq(value: Any) -> int | None:
    """A seq from the network: an integer a BIGINT column holds, or None."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63:
        return value
    return None
