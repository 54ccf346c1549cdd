"""Prototype (bench only): drive paho from the asyncio loop instead of a thread per connection.

The drain profile shows `paho.Client.publish` spending ~140 us of its own
time per call on the event-loop thread, while paho's network thread reads
the PUBACKs: the two threads hand the GIL and paho's mutexes back and
forth, and every PUBACK crosses threads again (call_soon_threadsafe).
paho supports an external event loop (`on_socket_open`,
`on_socket_register_write`, `loop_read`, `loop_write`, `loop_misc`, the way
aiomqtt uses it); this link registers the socket with the asyncio loop, so
publishing, reading PUBACKs and recording them all happen on one thread.

`use_async_link()` swaps `edgeagent.publisher._Link` for this class in the
*bench process only*. Not production-ready: `connect()` (TCP + TLS
handshake) still blocks the loop here, and the dead-link watchdog of the
threaded link is not reproduced.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

import edgeagent.publisher as publisher_module


class _NoThread:
    def is_alive(self) -> bool:
        return False

    def join(self, timeout: float | None = None) -> None:
        return None


class AsyncLink:
    """Same surface as publisher._Link (client, address, thread, start, close)."""

    def __init__(self, client: mqtt.Client, address: Any, connect_kwargs: dict[str, Any],
                 on_closed: Callable[[Any, str], None]) -> None:
        self.client = client
        self.address = address
        self._connect_kwargs = connect_kwargs
        self._on_closed = on_closed
        self.thread = _NoThread()
        self._loop = asyncio.get_running_loop()
        self._sock: Any = None
        self._misc: asyncio.TimerHandle | None = None
        self._closed = False
        client.on_socket_open = self._open
        client.on_socket_close = self._close_sock
        client.on_socket_register_write = self._want_write
        client.on_socket_unregister_write = self._no_write

    def _open(self, _c: mqtt.Client, _u: Any, sock: Any) -> None:
        self._sock = sock
        self._loop.add_reader(sock, self._readable)

    def _close_sock(self, _c: mqtt.Client, _u: Any, sock: Any) -> None:
        with contextlib.suppress(ValueError, OSError):
            self._loop.remove_reader(sock)
            self._loop.remove_writer(sock)

    def _want_write(self, _c: mqtt.Client, _u: Any, sock: Any) -> None:
        self._loop.add_writer(sock, self._writable)

    def _no_write(self, _c: mqtt.Client, _u: Any, sock: Any) -> None:
        with contextlib.suppress(ValueError, OSError):
            self._loop.remove_writer(sock)

    def _readable(self) -> None:
        rc = self.client.loop_read()
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self._finish(mqtt.error_string(rc))

    def _writable(self) -> None:
        rc = self.client.loop_write()
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self._finish(mqtt.error_string(rc))

    def _tick(self) -> None:
        rc = self.client.loop_misc()  # keepalive pings, timeouts
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self._finish(mqtt.error_string(rc))
            return
        self._misc = self._loop.call_later(1.0, self._tick)

    def start(self) -> None:
        try:
            self.client.connect(self.address.host, self.address.port, **self._connect_kwargs)
        except (OSError, ssl.SSLError, ValueError) as exc:
            self._loop.call_soon(self._finish, f"{type(exc).__name__}: {exc}")
            return
        self._misc = self._loop.call_later(1.0, self._tick)

    def _finish(self, reason: str) -> None:
        if self._closed:
            return
        self._closed = True
        if self._misc is not None:
            self._misc.cancel()
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(ValueError, OSError):
                self._loop.remove_reader(sock)
                self._loop.remove_writer(sock)
            with contextlib.suppress(OSError):
                sock.close()
        self._on_closed(self, reason)

    def close(self) -> None:
        self._finish("closed")


def use_async_link() -> None:
    publisher_module._Link = AsyncLink  # type: ignore[misc,assignment]
