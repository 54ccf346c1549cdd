"""Fault-injection tools shared by tests/faults and bench/soak.py.

Everything here works with real processes and real sockets: a durable
subscriber that records the DUP flag of each delivery, a loopback TCP proxy
that can black-hole a path without sending RST, a socket that accepts TCP
and never answers, and read-only views of an outbox file.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import sqlite3
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

# -- the platform side ------------------------------------------------------------------


@dataclass
class Delivery:
    seq: int
    dup: bool  # set by the broker when it re-delivers to us (our own PUBACK was lost)
    topic: str


class DurableSubscriber:
    """A clean_session=False QoS 1 subscriber that rides out broker restarts.

    It keeps every delivery with the broker's DUP flag, so a duplicate the
    broker re-sent to *us* can be told apart from one the agent published twice.
    """

    def __init__(self, port: int, topic: str = "care/#", client_id: str = "platform-durable",
                 **tls: Any) -> None:
        self.deliveries: list[Delivery] = []
        self.lock = threading.Lock()
        self.port = port
        self.topic = topic
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=False, protocol=mqtt.MQTTv311)
        self.client.reconnect_delay_set(0.02, 0.2)
        if tls:
            self.client.tls_set(**tls)
        self.subscribed = threading.Event()
        self.client.on_connect = lambda c, *a: c.subscribe(self.topic, qos=1)
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = self._on_message

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if "/events/" not in msg.topic:
            return
        seq = int(json.loads(msg.payload)["seq"])
        with self.lock:
            self.deliveries.append(Delivery(seq, bool(msg.dup), msg.topic))

    def start(self, host: str = "127.0.0.1") -> DurableSubscriber:
        self.client.connect(host, self.port, keepalive=10)
        self.client.loop_start()
        if not self.subscribed.wait(10):
            raise TimeoutError("subscriber got no SUBACK")
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def seqs(self) -> set[int]:
        with self.lock:
            return {d.seq for d in self.deliveries}

    def max_seq(self) -> int:
        with self.lock:
            return max((d.seq for d in self.deliveries), default=0)

    def counts(self, *, fresh_only: bool) -> Counter[int]:
        """Deliveries per seq; fresh_only drops the broker's own DUP re-deliveries."""
        with self.lock:
            return Counter(d.seq for d in self.deliveries if not (fresh_only and d.dup))


# -- the outbox, read from outside ------------------------------------------------------


def read_outbox(path: Path) -> tuple[int, list[int], set[int]]:
    """(meta last_seq, all stored seqs, undelivered seqs) of an outbox file, read-only."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        last = int(conn.execute("SELECT value FROM meta WHERE key='last_seq'").fetchone()[0])
        seqs = [r[0] for r in conn.execute("SELECT seq FROM events ORDER BY seq")]
        pending = {r[0] for r in conn.execute(
            "SELECT seq FROM events WHERE delivered_at IS NULL")}
        return last, seqs, pending
    finally:
        conn.close()


def integrity(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


# -- the network ------------------------------------------------------------------------


@dataclass
class _Pair:
    client: socket.socket
    upstream: socket.socket


@dataclass
class BlackHoleProxy:
    """Loopback TCP proxy: forwards, or silently swallows both directions (no RST, no FIN).

    While `blackhole` is on, bytes are read and dropped, so neither side sees an error:
    exactly a Wi-Fi router that lost its uplink, or a NAT entry that expired.
    """

    upstream_port: int
    port: int = 0
    blackhole: bool = False
    pairs: list[_Pair] = field(default_factory=list)
    accepted: int = 0

    def __post_init__(self) -> None:
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", self.port))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="blackhole-proxy")

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> BlackHoleProxy:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()
        for pair in self.pairs:
            pair.client.close()
            pair.upstream.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            socks: list[socket.socket] = [self._listener]
            with self._lock:
                for pair in self.pairs:
                    socks += [pair.client, pair.upstream]
            try:
                readable, _, _ = select.select(socks, [], [], 0.05)
            except (OSError, ValueError):
                self._prune()
                continue
            for sock in readable:
                if sock is self._listener:
                    self._accept()
                else:
                    self._pump(sock)

    def _accept(self) -> None:
        client, _ = self._listener.accept()
        if self.blackhole:
            # A SYN through a dead path gets no answer at all; we can only hold it open.
            with self._lock:
                self.pairs.append(_Pair(client, socket.socket()))
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=2)
        except OSError:
            client.close()
            return
        with self._lock:
            self.pairs.append(_Pair(client, upstream))
            self.accepted += 1

    def _pump(self, sock: socket.socket) -> None:
        with self._lock:
            pair = next((p for p in self.pairs if sock in (p.client, p.upstream)), None)
        if pair is None:
            return
        try:
            data = sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            with self._lock:
                self.pairs.remove(pair)
            pair.client.close()
            pair.upstream.close()
            return
        if self.blackhole:
            return  # swallowed: no error, no answer
        other = pair.upstream if sock is pair.client else pair.client
        with contextlib.suppress(OSError):
            other.sendall(data)

    def _prune(self) -> None:
        with self._lock:
            self.pairs = [p for p in self.pairs
                          if p.client.fileno() >= 0 and p.upstream.fileno() >= 0]


class SilentBroker:
    """Accepts TCP and reads whatever comes, and never answers: no CONNACK, ever."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        self.connections: list[tuple[float, socket.socket]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="silent-broker")

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> SilentBroker:
        self._thread.start()
        return self

    def _serve(self) -> None:
        self._listener.settimeout(0.05)
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections.append((time.monotonic(), conn))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()
        for _, conn in self.connections:
            conn.close()
