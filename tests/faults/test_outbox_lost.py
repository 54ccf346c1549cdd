"""The data directory removed under a running agent: noticed at once, and after the restart
`seq` continues above everything issued before, with an `outbox_lost` event naming the range
that may be missing. Never a seq sent twice with different ids."""

from __future__ import annotations

import shutil
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import AgentProcess, write_config
from tests.support.mosquitto import Mosquitto
from tests.support.platform import PlatformSubscriber
from tests.support.waiting import wait_until

DELETED = "was deleted while the agent runs"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    server = Mosquitto(tmp_path / "broker").start()
    yield server
    server.kill()


@pytest.fixture
def platform(broker: Mosquitto) -> Iterator[PlatformSubscriber]:
    sub = PlatformSubscriber(broker.port, "care/#").start()
    yield sub
    sub.stop()


@pytest.fixture
def agent(tmp_path: Path, broker: Mosquitto) -> Iterator[AgentProcess]:
    config = write_config(tmp_path / "agent.toml", f"""
        [home]
        id = "home-1"
        [mqtt]
        urls = ["{broker.url}"]
        backoff_initial = 0.05
        backoff_max = 0.3
        [outbox]
        path = "{tmp_path}/data/outbox.db"
        [control]
        socket = "{tmp_path}/control.sock"
        [[drivers]]
        type = "mock.stress"
        name = "stress-1"
        rate_hz = 20
    """)
    proc = AgentProcess(config, tmp_path / "agent.log")
    yield proc
    proc.kill()


def ids_by_seq(platform: PlatformSubscriber) -> dict[int, set[str]]:
    seen: dict[int, set[str]] = defaultdict(set)
    for event in platform.events():
        seen[event["seq"]].add(event["id"])
    return seen


def outbox_lost(platform: PlatformSubscriber) -> list[dict[str, Any]]:
    return [e for e in platform.events() if e["type"] == "outbox_lost"]


def restart_and_check(agent: AgentProcess, platform: PlatformSubscriber,
                      high_before: int) -> dict[str, Any]:
    """Restart; the outbox_lost warning arrives and numbering continues above it."""
    seen_before = set(ids_by_seq(platform))
    agent.start(wait=True)
    platform.wait_for(lambda s: any(
        e["type"] == "outbox_lost" for e in (m.json() for m in s.messages if "/events/" in m.topic)
    ), timeout=30)
    [lost] = outbox_lost(platform)
    assert lost["kind"] == "status" and lost["severity"] == "warning"
    data = lost["data"]
    assert data["from_seq"] <= high_before + 1 and data["to_seq"] >= high_before
    assert lost["seq"] == data["to_seq"] + 1  # the first event of the new outbox
    platform.wait_for(lambda s: len({e for e in s.seqs_unlocked() if e > lost["seq"]}) >= 20)
    after = set(ids_by_seq(platform)) - seen_before
    assert after and min(after) > high_before  # nothing renumbered from 1
    assert all(len(ids) == 1 for ids in ids_by_seq(platform).values())  # no seq reused
    return data


def test_data_dir_removed_while_running_is_noticed_and_no_seq_is_reused(
        tmp_path, agent, platform):
    agent.start(wait=True)
    platform.wait_for(lambda s: len(s.seqs_unlocked()) >= 17)
    shutil.rmtree(tmp_path / "data")
    wait_until(lambda: DELETED in agent.log.read_text(), 20, "the agent to notice")
    assert "CRITICAL" in next(line for line in agent.log.read_text().splitlines()
                              if DELETED in line)
    assert agent.terminate() == 0
    high_before = max(platform.seqs())
    data = restart_and_check(agent, platform, high_before)
    assert data["high_water_file"] >= high_before  # written back after the deletion
    assert data["reason"] == "new outbox file"


def test_data_dir_removed_after_a_stop_continues_from_the_broker_status(
        tmp_path, agent, platform):
    agent.start(wait=True)
    platform.wait_for(lambda s: len(s.seqs_unlocked()) >= 17)
    assert agent.terminate() == 0
    high_before = max(platform.seqs())
    shutil.rmtree(tmp_path / "data")  # the mark file too: only the broker remembers
    data = restart_and_check(agent, platform, high_before)
    assert data["high_water_file"] is None
    assert data["high_water_broker"] >= high_before


def test_data_dir_removed_then_killed_continues_above_the_will(tmp_path, agent, platform):
    agent.start(wait=True)
    platform.wait_for(lambda s: len(s.seqs_unlocked()) >= 17)
    shutil.rmtree(tmp_path / "data")
    agent.kill()
    high_before = max(platform.seqs())
    shutil.rmtree(tmp_path / "data", ignore_errors=True)  # whatever it wrote back, gone too
    wait_until(lambda: any(m.json().get("state") == "offline" for m in platform.messages
                           if m.topic.endswith("/status")), 20, "the will")
    data = restart_and_check(agent, platform, high_before)
    assert data["high_water_broker"] >= high_before
