"""Mutual TLS against a real mosquitto with `require_certificate` and per-client ACLs.

The broker takes the MQTT username from the client certificate's CN
(`use_identity_as_username`) and lets each home write only under its own
prefix (`pattern readwrite care/%u/#`). A kit holding another home's
certificate therefore cannot publish into this home's topics, and says so.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading

import pytest

from edgeagent.config import MqttConfig
from edgeagent.mqtt_link import tls_context
from edgeagent.publisher import LinkState
from edgeagent.supervisor import Agent
from tests.conftest import RunningAgent, make_config
from tests.faults.harness import DurableSubscriber
from tests.faults.kill_trials import BROKER_AS_US
from tests.security.certs import Pki
from tests.support.mosquitto import Mosquitto
from tests.support.waiting import until


@pytest.fixture
def pki(tmp_path):
    return Pki(tmp_path / "pki")


@pytest.fixture
def tls_broker(tmp_path, pki):
    server = pki.server()
    acl = tmp_path / "broker.acl"
    acl.write_text("pattern readwrite care/%u/#\n\nuser platform\ntopic read care/#\n")
    broker = Mosquitto(
        tmp_path / "b", extra=f"{BROKER_AS_US}\nacl_file {acl}",
        listener_extra=(f"cafile {pki.ca}\ncertfile {server.cert}\nkeyfile {server.key}\n"
                        "require_certificate true\nuse_identity_as_username true\n"
                        "tls_version tlsv1.2"))
    broker.start()
    yield broker
    broker.kill()


@pytest.fixture
def platform_tls(tls_broker, pki):
    me = pki.client("platform")
    sub = DurableSubscriber(tls_broker.port, client_id="platform-tls", ca_certs=str(pki.ca),
                            certfile=str(me.cert), keyfile=str(me.key))
    sub.start(host="localhost")
    yield sub
    sub.stop()


def kit_config(tmp_path, pki, port: int, cert_cn: str, host: str = "localhost", **mqtt):
    me = pki.client(cert_cn)
    return make_config(tmp_path, f"mqtts://{host}:{port}", [
        {"type": "mock.stress", "name": "s", "rate_hz": 100, "count": 10, "alert_every": 5}],
        mqtt={"ca_file": str(pki.ca), "cert_file": str(me.cert), "key_file": str(me.key),
              "backoff_initial": 0.2, "backoff_max": 1.0, **mqtt})


async def test_mutual_tls_home_publishes_its_own_topics(tmp_path, pki, tls_broker, platform_tls,
                                                        always_synced):
    agent = Agent(kit_config(tmp_path, pki, tls_broker.port, "home-1"), sync_probe=always_synced,
                  tick_interval=0.05)
    async with RunningAgent(agent):
        await until(lambda: set(range(1, 11)) <= platform_tls.seqs(), 20, "events over mTLS")
        await until(lambda: agent.outbox.stats().pending == 0, 10, "all acked")
    assert "home-1" in tls_broker.log_text()


async def test_another_homes_certificate_cannot_publish_here_and_agent_reports(
        tmp_path, pki, tls_broker, platform_tls, always_synced):
    """A kit configured as home-1 but holding home-2's certificate (a swapped SD card)."""
    agent = Agent(kit_config(tmp_path, pki, tls_broker.port, "home-2"), sync_probe=always_synced,
                  tick_interval=0.05)
    async with RunningAgent(agent):
        await until(lambda: "Not authorized" in agent.publisher.health.last_refusal, 20,
                    "ACL refusal")
        health = agent.publisher.health
        assert "Not authorized" in health.last_refusal, health.last_refusal
        assert agent.status()["mqtt"]["last_refusal"] == health.last_refusal
        assert agent.outbox.stats().pending == agent.outbox.last_seq > 0
    assert platform_tls.seqs() == set()
    assert "Denied PUBLISH from edgeagent-home-1" in tls_broker.log_text()
    assert "u'home-2'" in tls_broker.log_text()  # the identity came from the certificate


async def test_hostname_mismatch_is_refused(tmp_path, pki, tls_broker, always_synced):
    """The broker's certificate names `localhost`; dialling 127.0.0.1 must fail verification."""
    agent = Agent(kit_config(tmp_path, pki, tls_broker.port, "home-1", host="127.0.0.1"),
                  sync_probe=always_synced, tick_interval=0.05)
    async with RunningAgent(agent):
        await until(lambda: "CERTIFICATE_VERIFY_FAILED" in agent.publisher.health.last_error or
                    "mismatch" in agent.publisher.health.last_error, 15, "verification error")
        assert agent.publisher.health.connections == 0
        assert agent.publisher.health.state is not LinkState.CONNECTED


async def test_kit_without_client_certificate_is_refused_by_broker(tmp_path, pki, tls_broker,
                                                                   always_synced):
    config = make_config(tmp_path, f"mqtts://localhost:{tls_broker.port}", mqtt={
        "ca_file": str(pki.ca), "backoff_initial": 0.2, "backoff_max": 1.0})
    agent = Agent(config, sync_probe=always_synced, tick_interval=0.05)
    async with RunningAgent(agent):
        await until(lambda: agent.publisher.health.connect_attempts >= 2 and
                    agent.publisher.health.last_error != "", 15, "refused")
        assert agent.publisher.health.connections == 0


def test_tls_context_is_1_2_plus_with_hostname_check(pki):
    ctx = tls_context(MqttConfig(urls=["mqtts://localhost:8883"], ca_file=pki.ca))
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert ctx.check_hostname is True
    assert ctx.verify_mode == ssl.CERT_REQUIRED


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion:DeprecationWarning")
def test_server_offering_only_tls_1_1_is_refused(pki):
    """A downgraded (or ancient) endpoint: the agent's context will not go below TLS 1.2."""
    server = pki.server()
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(server.cert, server.key)
    server_ctx.minimum_version = ssl.TLSVersion.TLSv1
    server_ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    with contextlib.suppress(ssl.SSLError):  # OpenSSL builds without TLS 1.1 ciphers
        server_ctx.set_ciphers("ALL:@SECLEVEL=0")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            with server_ctx.wrap_socket(conn, server_side=True):
                pass
        except (ssl.SSLError, OSError):
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ctx = tls_context(MqttConfig(urls=["mqtts://localhost:1"], ca_file=pki.ca))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with pytest.raises(ssl.SSLError):
            ctx.wrap_socket(raw, server_hostname="localhost")
    thread.join(5)
    listener.close()
