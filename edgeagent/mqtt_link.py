"""One MQTT connection on the asyncio loop: client setup, the link, dead-link detection.

Everything in edgeagent that talks MQTT to a broker goes through here: the
publisher, the `mqtt.local` driver and the doctor's probe.

- `ClientSettings` (built from `MqttConfig` by `ClientSettings.from_config`,
  or by hand) says how to build a paho client: protocol 3.1.1 or 5, client
  id, clean or persistent session, credentials, TLS context, Last Will,
  keepalive, in-flight window. `new_client` builds it; `connect_kwargs`
  gives what `connect` takes.
- `Link` is one paho client, one connection, driven by the asyncio loop
  through paho's public external-loop hooks (`on_socket_open`,
  `on_socket_register_write`, ..., `loop_read`, `loop_write`,
  `loop_misc`). Only the blocking TCP connect and TLS handshake run in a
  thread of their own. A link is thrown away when it closes; the owner
  makes a new one to reconnect.
- Dead links are noticed from socket activity (see `Link`): bytes read
  from the broker mark the link alive; a write starts the wait for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edgeagent.config import MqttConfig
from edgeagent.secrets import read_secret

# A link that owes us an answer and has heard nothing from the broker for this many
# keepalives is dead. 1.4, not 1.5: the link looks every TICK_S = 0.5 s (0.1 keepalive at
# the 5 s minimum), so it is closed within the 1.5 x keepalive the platform is promised.
LIVENESS_FACTOR = 1.4
TICK_S = 0.5  # keepalive pings (paho's loop_misc) and dead-link checks


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


@dataclass(frozen=True, slots=True)
class Will:
    """The Last Will the broker publishes if the link dies without a DISCONNECT."""

    topic: str
    payload: str | bytes
    qos: int = 1
    retain: bool = True


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """How to build one paho client and connect it."""

    client_id: str
    protocol: str = "5"  # "5" or "3.1.1"
    clean: bool = True  # False: a persistent session (clean_session / clean_start false)
    keepalive: int = 60
    connect_timeout: float = 10.0
    username: str | None = None
    password: str | None = None
    tls: ssl.SSLContext | None = None
    will: Will | None = None
    max_inflight: int = 20
    session_expiry: int | None = None  # MQTT 5 only
    maximum_packet_size: int | None = None  # MQTT 5 only: the broker sends nothing larger

    @classmethod
    def from_config(cls, cfg: MqttConfig, address: BrokerAddress, client_id: str, *,
                    clean: bool, keepalive: int | None = None,
                    connect_timeout: float | None = None, will: Will | None = None,
                    maximum_packet_size: int | None = None) -> ClientSettings:
        """The agent's `[mqtt]` settings: credentials from the password file, TLS for
        `mqtts://` or a CA file, the session expiry for a persistent MQTT 5 session.

        Raises what reading the secret or building the TLS context raises (OSError,
        ssl.SSLError, ConfigError)."""
        password = None
        if cfg.username and cfg.password_file:
            password = read_secret(cfg.password_file, "mqtt.password_file")
        tls = tls_context(cfg) if address.tls or cfg.ca_file else None
        return cls(
            client_id=client_id, protocol=cfg.protocol, clean=clean,
            keepalive=cfg.keepalive if keepalive is None else keepalive,
            connect_timeout=cfg.connect_timeout if connect_timeout is None else connect_timeout,
            username=cfg.username or None, password=password, tls=tls, will=will,
            max_inflight=cfg.max_inflight,
            session_expiry=None if clean else cfg.session_expiry,
            maximum_packet_size=maximum_packet_size)

    @property
    def v5(self) -> bool:
        return self.protocol == "5"


def new_client(settings: ClientSettings) -> mqtt.Client:
    """A paho client (callback API 2) that never reconnects or queues on its own."""
    v5 = settings.v5
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=settings.client_id,
        protocol=MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311,
        clean_session=None if v5 else settings.clean,
        reconnect_on_failure=False,
    )
    client.max_inflight_messages_set(settings.max_inflight)
    client.max_queued_messages_set(0)
    client.connect_timeout = settings.connect_timeout
    if settings.username:
        client.username_pw_set(settings.username, settings.password)
    if settings.tls is not None:
        client.tls_set_context(settings.tls)
    if settings.will is not None:
        will = settings.will
        client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
    return client


def connect_kwargs(settings: ClientSettings) -> dict[str, Any]:
    """Keyword arguments of `mqtt.Client.connect` for these settings."""
    kwargs: dict[str, Any] = {"keepalive": settings.keepalive}
    if settings.v5:
        kwargs["clean_start"] = settings.clean
        if settings.session_expiry is not None or settings.maximum_packet_size is not None:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            if settings.session_expiry is not None:
                props.SessionExpiryInterval = settings.session_expiry
            if settings.maximum_packet_size is not None:
                props.MaximumPacketSize = settings.maximum_packet_size
            kwargs["properties"] = props
    return kwargs


class Link:
    """One paho client, one connection, driven by the asyncio loop. Thrown away when it closes.

    paho's external-loop hooks (the way aiomqtt drives it) put the socket on
    the asyncio selector, so publishing, reading acknowledgements and acting
    on them happen on one thread. With a network thread per connection, the
    GIL and paho's mutexes changed hands several times per event and the
    agent's drain ran at 0.6 of a bare paho loop; on the loop it keeps up
    with one (bench/drain.py, bench/mqtt_clients.py). Only the TCP connect
    and TLS handshake, which paho does blocking, run in a thread of their own.

    The owner sets paho's message callbacks (`on_connect`, `on_publish`,
    `on_message`, ...) on `client` before `start()`; they run on the loop,
    inside `loop_read`. `on_closed(link, reason)` is called once, on the
    loop, when the link ends for any reason.

    Dead-link detection, from socket activity only. paho pings only after a
    keepalive of silence and then waits another full keepalive (2 x
    keepalive in all); a black-holed path (no RST, no FIN) must be noticed
    sooner. Bytes read from the socket (our reader ran and `loop_read`
    succeeded) mark the link alive. A write (paho asking to write, or
    `loop_write` run) starts the wait. The link is closed once the broker
    has been silent for LIVENESS_FACTOR x keepalive and the wait has lasted
    (LIVENESS_FACTOR - 1) x keepalive.

    Why any write, not only the packets that expect an answer (PUBLISH QoS 1,
    PINGREQ, SUBSCRIBE, CONNECT): a healthy link is never closed by it.
    paho's `loop_misc` sends a PINGREQ once nothing has been received for
    one keepalive (whatever was written), and the broker answers it; so
    after any write, something arrives from a live broker within keepalive
    + TICK_S + one round trip of the last bytes read, before 1.4 x keepalive
    (0.4 x keepalive >= 2 s > TICK_S + a round trip). The writes that expect
    no answer (a PUBACK to a downlink message, which follows bytes just
    read) therefore only start a wait that the next ping ends. And a dead
    link is still caught: whatever the last write was, paho's ping is a
    write within one keepalive of the last bytes read.
    """

    def __init__(self, settings: ClientSettings, address: BrokerAddress,
                 on_closed: Callable[[Link, str], None]) -> None:
        self.settings = settings
        self.address = address
        self.client = new_client(settings)
        self._connect_kwargs = connect_kwargs(settings)
        self._on_closed = on_closed
        self._loop = asyncio.get_running_loop()
        self._connecting: asyncio.Future[None] | None = None
        self._attached = False  # socket on the selector; before that, hooks only take notes
        self._sock: Any = None
        self._write_wanted = False
        self._tick_handle: asyncio.TimerHandle | None = None
        self._finished = False
        self.close_reason = ""
        self.connect_error: BaseException | None = None  # what the TCP/TLS connect raised
        self.dropped_by_peer = False  # the broker (or the path) ended it, not us or a timeout
        keepalive = float(settings.keepalive)
        self._dead_after = LIVENESS_FACTOR * keepalive
        self._min_wait = (LIVENESS_FACTOR - 1.0) * keepalive
        self._last_rx = time.monotonic()
        self._waiting_since: float | None = None
        client = self.client
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_register_write
        client.on_socket_unregister_write = self._on_unregister_write

    # -- liveness (socket activity) ------------------------------------------------------

    def _heard(self) -> None:
        self._last_rx = time.monotonic()
        self._waiting_since = None

    def _wrote(self) -> None:
        if self._waiting_since is None:
            self._waiting_since = time.monotonic()

    @property
    def last_heard(self) -> float:
        """`time.monotonic()` when bytes last came from the broker (or the connect finished)."""
        return self._last_rx

    def dead_link(self, now: float | None = None) -> str | None:
        """Why the link is dead (a write waits and the broker has been silent), or None."""
        waiting = self._waiting_since
        if waiting is None:
            return None
        now = time.monotonic() if now is None else now
        if now - self._last_rx >= self._dead_after and now - waiting >= self._min_wait:
            return (f"no packet from the broker for {now - self._last_rx:.1f}s while waiting "
                    f"for an answer (dead link)")
        return None

    # -- paho's socket hooks -------------------------------------------------------------

    def _on_socket_open(self, _c: mqtt.Client, _u: Any, sock: Any) -> None:
        self._sock = sock  # in the connect worker: attached to the loop once connect returns

    def _on_socket_close(self, _c: mqtt.Client, _u: Any, sock: Any) -> None:
        if self._attached:
            self._detach(sock)

    def _on_register_write(self, _c: mqtt.Client, _u: Any, sock: Any) -> None:
        if self._attached:
            self._wrote()  # a packet is queued: the write starts now
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

    # -- running -------------------------------------------------------------------------

    def start(self) -> None:
        """Connect in a worker thread; the socket joins the loop once connected."""
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
            self.connect_error = exc
            self._finish(f"{type(exc).__name__}: {exc}")
            return
        sock = self.client.socket()
        if sock is None:
            self._finish("connect returned without a socket")
            return
        self._sock = sock
        self._attached = True
        self._last_rx = time.monotonic()  # the TCP (and TLS) handshake was heard
        self._loop.add_reader(sock, self._readable)
        if self._write_wanted:
            self._wrote()  # CONNECT
            self._loop.add_writer(sock, self._writable)
        self._tick_handle = self._loop.call_later(TICK_S, self._tick)

    def _readable(self) -> None:
        rc = self.client.loop_read()
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self.dropped_by_peer = True
            self._finish(mqtt.error_string(rc))
            return
        self._heard()
        sock = self.client.socket()
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            self._loop.call_soon(self._readable)  # decrypted bytes the selector cannot see

    def _writable(self) -> None:
        rc = self.client.loop_write()
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self.dropped_by_peer = True
            self._finish(mqtt.error_string(rc))
            return
        self._wrote()

    def _tick(self) -> None:
        self._tick_handle = None
        if self._finished:
            return
        rc = self.client.loop_misc()  # keepalive pings, paho's own timeouts
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self._finish(mqtt.error_string(rc))
            return
        dead = self.dead_link()
        if dead is not None:
            self._finish(dead)
            return
        self._tick_handle = self._loop.call_later(TICK_S, self._tick)

    def _finish(self, reason: str) -> None:
        if self._finished:
            return
        self._finished = True
        self.close_reason = reason
        if self._tick_handle is not None:
            self._tick_handle.cancel()
        sock = self.client.socket() or self._sock
        if self._attached and sock is not None:
            self._detach(sock)
        if self._connecting is not None and self._connecting.done():
            # The socket is closed without waiting for the peer (black holes).
            _close_quietly(sock)
        self._on_closed(self, reason)

    @property
    def finished(self) -> bool:
        return self._finished

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
