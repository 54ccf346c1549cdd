"""The broker restarts, or says no: events stay in the outbox, health says why, no tight loop."""

from __future__ import annotations

import logging
import subprocess
import time
from pathlib import Path

import pytest

from edgeagent.publisher import LinkState
from edgeagent.supervisor import Agent
from tests.conftest import RunningAgent, make_config
from tests.faults.harness import DurableSubscriber
from tests.faults.kill_trials import BROKER_AS_US
from tests.support.mosquitto import Mosquitto
from tests.support.waiting import until


def attempts_per_minute(agent: Agent, window: float) -> float:
    now = time.monotonic()
    recent = [t for t in agent.publisher.health.attempt_times if now - t <= window]
    return len(recent) * 60.0 / window


@pytest.mark.timeout(60)
@pytest.mark.parametrize("persistence", [True, False])
async def test_broker_restart_mid_stream(tmp_path, always_synced, persistence):
    """With persistence the platform gets everything; without, the agent still delivers every
    event to the broker (PUBACK), and what the broker forgot is the broker's loss, counted."""
    broker = Mosquitto(tmp_path / "b", persistence=persistence, extra=BROKER_AS_US).start()
    sub = DurableSubscriber(broker.port).start()
    config = make_config(tmp_path, broker.url, [
        {"type": "mock.stress", "name": "s", "rate_hz": 150, "count": 300, "alert_every": 30}])
    agent = Agent(config, sync_probe=always_synced, tick_interval=0.05)
    try:
        async with RunningAgent(agent):
            await until(lambda: agent.publisher.health.acked >= 50, 15, "first acks")
            broker.stop()
            down_at = agent.outbox.last_seq
            await until(lambda: agent.outbox.last_seq >= down_at + 20, 10, "stored while down")
            assert agent.outbox.stats().pending >= 20
            restarted = time.monotonic()
            broker.start()
            await until(lambda: agent.outbox.last_seq == 300 and
                        agent.outbox.stats().pending == 0, 30, "all acknowledged")
            print(f"persistence={persistence}: backlog delivered "
                  f"{time.monotonic() - restarted:.2f}s after the restart")
            assert agent.publisher.health.connections >= 2
            if persistence:
                await until(lambda: set(range(1, 301)) <= sub.seqs(), 20, "platform complete")
            else:
                missing = set(range(1, 301)) - sub.seqs()
                print(f"without broker persistence the platform missed {len(missing)} events "
                      f"the broker had acknowledged")
    finally:
        sub.stop()
        broker.kill()


def password_broker(tmp_path: Path, user: str, password: str) -> Mosquitto:
    passwd = tmp_path / "broker.passwd"
    passwd.touch()
    subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, password], check=True,
                   capture_output=True)
    passwd.chmod(0o644)
    return Mosquitto(tmp_path / "b", extra=f"{BROKER_AS_US}\nallow_anonymous false\n"
                                           f"password_file {passwd}").start()


@pytest.mark.timeout(60)
async def test_bad_credentials_refused_clearly_and_backed_off(tmp_path, always_synced, caplog):
    broker = password_broker(tmp_path, "home-1", "right-password")
    secret = tmp_path / "mqtt.password"
    secret.write_text("wrong-password\n")
    secret.chmod(0o600)
    config = make_config(tmp_path, broker.url, [
        {"type": "mock.stress", "name": "s", "rate_hz": 200, "count": 30}],
        mqtt={"username": "home-1", "password_file": str(secret), "backoff_initial": 0.2,
              "backoff_max": 2.0})
    agent = Agent(config, sync_probe=always_synced, tick_interval=0.05)
    caplog.set_level(logging.WARNING, "edgeagent.publisher")
    try:
        async with RunningAgent(agent):
            await until(lambda: agent.publisher.health.state is LinkState.REFUSED, 10, "refused")
            window = 5.0
            start = time.monotonic()
            await until(lambda: time.monotonic() - start >= window, window + 1, "window")
            health = agent.publisher.health
            rate = attempts_per_minute(agent, window)
            print(f"bad credentials: {rate:.0f} connect attempts/min over {window}s "
                  f"(backoff 0.2..2 s); last_error={health.last_error!r}")
            assert "refused the connection" in health.last_error
            assert "password" in health.last_error.lower() or "authori" in \
                health.last_error.lower()
            assert agent.outbox.stats().pending == agent.outbox.last_seq == 30
            assert health.acked == 0
            # Full-jitter backoff capped at 2 s averages 1 s per attempt once capped (~60/min,
            # more early on); without backoff a refused CONNECT repeats thousands of times a
            # minute on loopback.
            assert rate <= 150
        assert any("refused the connection" in r.getMessage() for r in caplog.records)
        assert "right-password" not in caplog.text and "wrong-password" not in caplog.text
    finally:
        broker.kill()


def acl_broker(tmp_path: Path) -> Mosquitto:
    acl = tmp_path / "broker.acl"
    acl.write_text("topic readwrite care/home-1/status\ntopic readwrite care/home-1/cmd/#\n"
                   "topic read care/#\n")
    acl.chmod(0o644)
    return Mosquitto(tmp_path / "b", extra=f"{BROKER_AS_US}\nacl_file {acl}").start()


@pytest.mark.timeout(60)
async def test_acl_denial_mqtt5_keeps_events_and_reports(tmp_path, always_synced, caplog):
    """mosquitto answers a denied MQTT 5 PUBLISH with PUBACK reason 0x87 (not authorized)."""
    broker = acl_broker(tmp_path)
    config = make_config(tmp_path, broker.url, [
        {"type": "mock.stress", "name": "s", "rate_hz": 200, "count": 20, "alert_every": 5}],
        mqtt={"protocol": "5", "backoff_initial": 0.2, "backoff_max": 1.0})
    agent = Agent(config, sync_probe=always_synced, tick_interval=0.05)
    caplog.set_level(logging.WARNING, "edgeagent.publisher")
    try:
        async with RunningAgent(agent):
            await until(lambda: agent.publisher.health.rejected >= 3, 40, "rejections")
            health = agent.publisher.health
            assert "Not authorized" in health.last_refusal, health.last_refusal
            assert agent.status()["mqtt"]["last_refusal"] == health.last_refusal
            assert agent.outbox.stats().pending == 20
            assert health.acked == 0
            window = 4.0
            start = time.monotonic()
            await until(lambda: time.monotonic() - start >= window, window + 1, "window")
            rate = attempts_per_minute(agent, window)
            print(f"ACL denial (v5): {health.rejected} refusals, {rate:.0f} connect attempts/min "
                  f"(mosquitto closes the link after each denial; backoff 0.2..1 s), "
                  f"last_refusal={health.last_refusal!r}")
            assert rate <= 150
            assert agent.outbox.stats().pending == 20
        assert any("broker refused event" in r.getMessage() for r in caplog.records)
    finally:
        broker.kill()


@pytest.mark.timeout(60)
async def test_acl_denial_mqtt311_is_silently_acked_documented_limit(tmp_path, always_synced):
    """MQTT 3.1.1 has no PUBACK reason code: mosquitto 2.0 sends a plain PUBACK for a denied
    PUBLISH, drops the message, then closes the connection. The agent cannot tell this from a
    delivery: the events are lost to the platform. docs/reliability.md: use MQTT 5 (default)."""
    broker = acl_broker(tmp_path)
    sub = DurableSubscriber(broker.port, client_id="platform-acl").start()
    config = make_config(tmp_path, broker.url, [
        {"type": "mock.stress", "name": "s", "rate_hz": 200, "count": 10}],
        mqtt={"protocol": "3.1.1"})
    agent = Agent(config, sync_probe=always_synced, tick_interval=0.05)
    try:
        async with RunningAgent(agent):
            await until(lambda: agent.outbox.last_seq == 10 and
                        agent.outbox.stats().pending == 0, 30, "all 'delivered'")
            health = agent.publisher.health
            print(f"ACL denial (3.1.1): {health.acked} events acked by the broker and dropped, "
                  f"{health.connections} connections (the broker closes the link after each)")
            assert health.rejected == 0  # nothing in 3.1.1 can say "refused"
            assert health.connections >= 2
        assert sub.seqs() == set()
        assert "Denied PUBLISH" in broker.log_text()
    finally:
        sub.stop()
        broker.kill()
