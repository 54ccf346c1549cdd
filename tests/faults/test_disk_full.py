"""Disk full: the outbox's filesystem runs out of space under load, then space returns.

A tiny tmpfs holds the outbox (we are root in CI; elsewhere the test is
skipped, saying why). A ballast file eats the free space. The agent must
keep running, report `outbox_full`, hold what it could not store in memory
(alerts first), and store and publish all of it, gap-free, once the ballast
is deleted. docs/architecture.md: nothing is published from memory, so alerts raised
while the disk is full reach the platform when space returns, not before.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import time
from pathlib import Path

import pytest

from edgeagent.heuristics.passthrough import PassthroughEngine
from edgeagent.supervisor import Agent
from tests.conftest import RunningAgent, make_config
from tests.faults.harness import DurableSubscriber
from tests.faults.kill_trials import BROKER_AS_US
from tests.support.mosquitto import Mosquitto
from tests.support.waiting import until

COUNT = 600
ALERT_EVERY = 10


@pytest.fixture
def tiny_fs(tmp_path: Path):
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs",
                           str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); "
                    f"run as root or see bench/ for an RLIMIT_FSIZE variant")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(directory: Path) -> Path:
    """Write a ballast file until the filesystem says ENOSPC (down to the last 512 bytes)."""
    ballast = directory / "ballast"
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (65536, 4096, 512):
            chunk = b"\0" * size
            try:
                while True:
                    os.write(fd, chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return ballast


@pytest.mark.timeout(90)
async def test_disk_full_keeps_running_reports_and_resumes_without_loss(
        tmp_path, tiny_fs, mosquitto, platform, always_synced):
    config = make_config(tmp_path, mosquitto.url, [
        {"type": "mock.stress", "name": "s", "rate_hz": 100, "count": COUNT,
         "alert_every": ALERT_EVERY}],
        outbox={"path": str(tiny_fs / "outbox.db")})
    agent = Agent(config, sync_probe=always_synced, tick_interval=0.05,
                  engine=PassthroughEngine())
    ballast: Path | None = None
    try:
        async with RunningAgent(agent):
            await until(lambda: agent.outbox.last_seq >= 50, 20, "first events stored")
            ballast = fill(tiny_fs)
            stored_at_full = agent.outbox.last_seq
            took = await until(lambda: "outbox_full" in agent.status()["warnings"], 20,
                               "outbox_full reported")
            print(f"outbox_full reported {took:.2f}s after the disk filled "
                  f"(last stored seq {agent.outbox.last_seq})")
            readings = agent.counters["readings"]
            await until(lambda: agent.counters["readings"] >= readings + 100, 20,
                        "drivers keep running")
            assert agent.counters["unstored"] > 0
            held = agent.pipeline.unstored  # what the supervisor holds in memory, alerts first
            kinds = [str(d.kind) for d in held]
            assert "alert" in kinds
            assert kinds == sorted(kinds, key=lambda k: k != "alert"), "alerts are not first"
            status = agent.status()
            assert status["outbox"]["full"] or status["counters"]["unstored"] > 0
            live_alerts_seen = sum(1 for e in platform.events() if e["kind"] == "alert")
            ballast.unlink()
            ballast = None
            freed = time.monotonic()
            await until(lambda: agent.counters["readings"] >= COUNT and
                        agent.outbox.last_seq == COUNT and agent.outbox.stats().pending == 0 and
                        set(range(1, COUNT + 1)) <= platform.seqs(), 40, "caught up")
            print(f"space returned: all {COUNT} events stored and published "
                  f"{time.monotonic() - freed:.2f}s later; {stored_at_full} were stored before "
                  f"the disk filled, {live_alerts_seen} alerts published before space returned")
            assert "outbox_full" not in agent.status()["warnings"]
        alerts = [e for e in platform.events() if e["kind"] == "alert"]
        assert len({a["seq"] for a in alerts}) == COUNT // ALERT_EVERY
        assert platform.seqs() == set(range(1, COUNT + 1))
    finally:
        if ballast is not None:
            with contextlib.suppress(OSError):
                ballast.unlink()


@pytest.mark.timeout(90)
async def test_pubacks_arriving_while_disk_is_full_are_recorded_later(
        tmp_path, tiny_fs, always_synced):
    """Recording a PUBACK is a write too. While it fails the publisher must stay alive, not
    re-send what the broker already took, and record the acks once space returns."""
    broker = Mosquitto(tmp_path / "b", persistence=True, extra=BROKER_AS_US).start()
    sub = DurableSubscriber(broker.port).start()
    config = make_config(tmp_path, broker.url, [
        {"type": "mock.stress", "name": "s", "rate_hz": 400, "count": 200}],
        outbox={"path": str(tiny_fs / "outbox.db")})
    agent = Agent(config, sync_probe=always_synced, tick_interval=0.05,
                  engine=PassthroughEngine())
    ballast: Path | None = None
    broker.stop()
    try:
        async with RunningAgent(agent):
            await until(lambda: agent.outbox.last_seq == 200, 20, "backlog stored")
            ballast = fill(tiny_fs)
            broker.start()
            await until(lambda: set(range(1, 201)) <= sub.seqs(), 30, "broker took everything")
            assert agent.publisher.connected, agent.publisher.health.as_dict()
            assert agent.outbox.stats().pending > 0  # nothing could be recorded yet
            sent = agent.publisher.health.published
            ballast.unlink()
            ballast = None
            await until(lambda: agent.outbox.stats().pending == 0, 20, "acks recorded")
            assert agent.publisher.health.published == sent  # recorded, not re-sent
        fresh = sub.counts(fresh_only=True)
        assert max(fresh.values()) == 1
    finally:
        if ballast is not None:
            with contextlib.suppress(OSError):
                ballast.unlink()
        sub.stop()
        broker.kill()
