"""A TCP proxy between the agent and a broker that a test can cut, refuse or make deaf.

Restarting RabbitMQ takes ~15 s; cutting the path in front of it takes a
millisecond and looks the same to the agent (the connection dies, the next
attempts are refused, then one succeeds). It also makes a deterministic
QoS 1 redelivery test possible: with `deaf = True` the broker's bytes
(CONNACK aside, PUBACKs included) never reach the agent, so everything it
publishes stays unacknowledged and must be sent again after the cut.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from tests.support.mosquitto import free_port


class CutProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.accepting = True
        self.deaf = False
        self.connections = 0
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if not self.accepting:
                with contextlib.suppress(OSError):
                    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                      b"\x01\x00\x00\x00\x00\x00\x00\x00")
                client.close()  # RST: looks like a refused/dead broker
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._socks += [client, upstream]
                self.connections += 1
            threading.Thread(target=self._pump, args=(client, upstream, False),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True),
                             daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, downstream: bool) -> None:
        first = True
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                # The first bytes from the broker carry the CONNACK: always let them through.
                if downstream and self.deaf and not first:
                    continue
                first = False
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    s.close()

    def cut(self) -> None:
        """Kill every open connection at once (a broker crash or a dead uplink)."""
        with self._lock:
            socks, self._socks = self._socks, []
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()

    def close(self) -> None:
        self._closed = True
        self.cut()
        with contextlib.suppress(OSError):
            self._server.close()
