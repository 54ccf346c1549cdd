"""Private instances of the three MQTT brokers on this machine, each on free loopback ports.

- mosquitto: tests/support/mosquitto.py (MQTT 5 and 3.1.1).
- NATS: `nats-server` with a config file enabling JetStream (its MQTT layer
  stores sessions, retained messages and QoS 1 in JetStream) and an `mqtt`
  listener; starts in well under a second.
- RabbitMQ: a private node (own node name, data dir, ports, enabled-plugins
  file with rabbitmq_mqtt) run from /usr/lib/rabbitmq/bin, so the system
  node and the system mosquitto on 1883 are never touched. Erlang boots in
  ~15 s, so it is started once per session and in the background while the
  other brokers' tests run.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.mosquitto import Mosquitto, free_port, wait_port

NATS = shutil.which("nats-server") or "/usr/sbin/nats-server"
RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")


def speaks_v5(port: int, timeout: float = 5.0) -> bool:
    """Does the broker accept an MQTT 5 CONNECT? (RabbitMQ < 3.13 and NATS 2.9 do not.)"""
    result: list[bool] = []
    done = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-{time.monotonic_ns()}",
                         protocol=mqtt.MQTTv5)

    def on_connect(c: mqtt.Client, u: object, f: object, rc: object, p: object) -> None:
        result.append(not getattr(rc, "is_failure", True))
        done.set()

    client.on_connect = on_connect
    client.on_disconnect = lambda *a: done.set()
    try:
        client.connect("127.0.0.1", port, keepalive=10)
    except OSError:
        return False
    client.loop_start()
    done.wait(timeout)
    client.disconnect()
    client.loop_stop()
    return bool(result and result[0])


class BrokerUnderTest:
    """What an interop test needs from a broker: a port, its MQTT version, restart."""

    name = "?"
    protocol = "3.1.1"

    @property
    def port(self) -> int:
        raise NotImplementedError

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def stop(self) -> None:
        raise NotImplementedError


class MosquittoUnderTest(BrokerUnderTest):
    name = "mosquitto"
    protocol = "5"

    def __init__(self, workdir: Path) -> None:
        self.broker = Mosquitto(workdir, persistence=True).start()

    @property
    def port(self) -> int:
        return self.broker.port

    def stop(self) -> None:
        self.broker.kill()


class NatsUnderTest(BrokerUnderTest):
    name = "nats"

    def __init__(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self._port = free_port()
        self.client_port = free_port()
        conf = workdir / "nats.conf"
        conf.write_text(
            f'server_name: "edgeagent-test-{self._port}"\n'
            f"listen: 127.0.0.1:{self.client_port}\n"
            f'jetstream {{ store_dir: "{workdir / "js"}" }}\n'
            f"mqtt {{ listen: 127.0.0.1:{self._port} }}\n"
        )
        self.log = (workdir / "nats.log").open("ab")
        self.proc = subprocess.Popen([NATS, "-c", str(conf)], stdout=self.log,
                                     stderr=self.log)
        wait_port(self._port, timeout=15)
        self.protocol = "5" if speaks_v5(self._port) else "3.1.1"

    @property
    def port(self) -> int:
        return self._port

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


class RabbitUnderTest(BrokerUnderTest):
    """A private RabbitMQ node with the MQTT plugin. `start()` returns at once; `ready()` waits."""

    name = "rabbitmq"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self._port = free_port()
        self.amqp_port = free_port()
        self.dist_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.error = ""

    @staticmethod
    def available() -> str | None:
        """None when a private node can be started here, else the reason it cannot."""
        if not (RABBIT_BIN / "rabbitmq-server").exists():
            return "RabbitMQ is not installed (/usr/lib/rabbitmq/bin/rabbitmq-server missing)"
        plugins = list(Path("/usr/lib/rabbitmq/lib").glob("rabbitmq_server-*/plugins/"
                                                          "rabbitmq_mqtt-*"))
        if not plugins:
            return "RabbitMQ has no rabbitmq_mqtt plugin"
        return None

    def start(self) -> RabbitUnderTest:
        w = self.workdir
        (w / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.amqp_port}\n"
            f"mqtt.listeners.tcp.default = 127.0.0.1:{self._port}\n"
            "mqtt.allow_anonymous = true\n"
            "loopback_users = none\n"
        )
        (w / "enabled_plugins").write_text("[rabbitmq_mqtt].\n")
        env = dict(
            os.environ,
            RABBITMQ_NODENAME=f"edgeagent-test-{self._port}@localhost",
            RABBITMQ_CONFIG_FILE=str(w / "rabbitmq.conf"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(w / "advanced.config"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(w / "enabled_plugins"),
            RABBITMQ_MNESIA_BASE=str(w / "mnesia"),
            RABBITMQ_LOG_BASE=str(w / "log"),
            RABBITMQ_PLUGINS_EXPAND_DIR=str(w / "plugins-expand"),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_CONF_ENV_FILE="/dev/null",
            ERL_EPMD_ADDRESS="127.0.0.1",
            HOME=str(w),
        )
        self.log = (w / "rabbitmq.out").open("ab")
        self.proc = subprocess.Popen([str(RABBIT_BIN / "rabbitmq-server")], env=env,
                                     stdout=self.log, stderr=self.log,
                                     start_new_session=True)
        return self

    def ready(self, timeout: float = 60.0) -> bool:
        if self.proc is None:
            return False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.error = f"rabbitmq-server exited ({self.proc.returncode}): " + \
                    (self.workdir / "rabbitmq.out").read_text(errors="replace")[-800:]
                return False
            try:
                with socket.create_connection(("127.0.0.1", self._port), timeout=0.2):
                    self.protocol = "5" if speaks_v5(self._port) else "3.1.1"
                    return True
            except OSError:
                time.sleep(0.1)
        self.error = f"RabbitMQ MQTT listener not up within {timeout:.0f} s"
        return False

    @property
    def port(self) -> int:
        return self._port

    def stop(self) -> None:
        """The whole node's process group (shell wrapper, beam, erl_child_setup)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        if self.proc is not None:
            self.log.close()
