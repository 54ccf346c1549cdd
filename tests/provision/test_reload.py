"""Config reload (SIGHUP): only changed drivers restart, no event lost, seq continues."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from edgeagent.clock import ManualClock
from edgeagent.config import AgentConfig, parse_config
from edgeagent.heuristics.passthrough import PassthroughEngine
from edgeagent.reload import diff_drivers
from edgeagent.supervisor import Agent
from tests.conftest import RunningAgent
from tests.support.waiting import until


def free_port() -> int:
    """A loopback port nobody listens on: the publisher just retries, events stay stored."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stress(name: str, **extra: Any) -> dict[str, Any]:
    return {"type": "mock.stress", "name": name, "rate_hz": 200, **extra}


def config_data(tmp_path: Path, drivers: list[dict[str, Any]], port: int) -> dict[str, Any]:
    return {
        "home": {"id": "home-1"},
        "mqtt": {"urls": [f"mqtt://127.0.0.1:{port}"], "backoff_initial": 0.05,
                 "backoff_max": 0.2},
        "outbox": {"path": str(tmp_path / "outbox.db")},
        "control": {"socket": str(tmp_path / "control.sock")},
        "drivers": drivers,
    }


def events(outbox: Path) -> list[tuple[int, dict[str, Any]]]:
    conn = sqlite3.connect(outbox)
    try:
        cols = [r[1] for r in conn.execute("PRAGMA table_info(events)")]
        body = "body" if "body" in cols else "payload"
        rows = conn.execute(f"SELECT seq, {body} FROM events ORDER BY seq").fetchall()
    finally:
        conn.close()
    return [(seq, json.loads(raw)) for seq, raw in rows]


def stored_count(outbox: Path) -> int:
    """For polling while the daemon may still be creating the database."""
    try:
        return len(events(outbox))
    except sqlite3.Error:
        return 0


def make_agent(config: AgentConfig) -> Agent:
    return Agent(config, clock=ManualClock(), sync_probe=lambda: True,
                 engine=PassthroughEngine(send_raw_states=True), tick_interval=0.05)


def readings_of(agent: Agent, name: str) -> int:
    return next(s.readings for s in agent.slots if s.options.name == name)


def test_diff_names_added_removed_changed_and_unchanged(tmp_path: Path) -> None:
    old = parse_config(config_data(tmp_path, [stress("a"), stress("b"), stress("c")], 1))
    new = parse_config(config_data(tmp_path, [stress("a"), stress("b", rate_hz=5),
                                              stress("d")], 1))
    diff = diff_drivers(old.drivers, new.drivers)
    assert (diff.added, diff.removed, diff.changed, diff.unchanged) == (
        ("d",), ("c",), ("b",), ("a",))


async def test_reload_restarts_only_the_changed_driver_and_loses_no_event(
        tmp_path: Path) -> None:
    port = free_port()
    config = parse_config(config_data(tmp_path, [stress("a"), stress("b")], port),
                          "edgeagent.toml")
    agent = make_agent(config)
    async with RunningAgent(agent):
        await until(lambda: readings_of(agent, "a") >= 20 and readings_of(agent, "b") >= 20)
        slot_a = next(s for s in agent.slots if s.options.name == "a")
        task_a, driver_a = slot_a.task, slot_a.driver
        slot_b = next(s for s in agent.slots if s.options.name == "b")
        task_b, driver_b = slot_b.task, slot_b.driver

        new = parse_config(config_data(tmp_path, [stress("a"), stress("b", sensor="door")],
                                       port), "edgeagent.toml")
        result = await agent.reload(new)

        assert result.ok, result.reason
        assert result.restarted == ["b"] and result.unchanged == ["a"]
        assert task_b is not None and task_b.cancelled()
        new_b = next(s for s in agent.slots if s.options.name == "b")
        assert new_b.task is not task_b
        # Driver a was not touched: same task, same driver object, still running.
        assert slot_a in agent.slots and slot_a.task is task_a and slot_a.driver is driver_a
        assert task_a is not None and not task_a.done()
        await until(lambda: new_b.readings >= 20 and new_b.driver is not driver_b)
        a_before = slot_a.readings
        await until(lambda: slot_a.readings >= a_before + 20)
    stored = events(tmp_path / "outbox.db")
    seqs = [seq for seq, _ in stored]
    assert seqs == list(range(1, len(seqs) + 1))  # gap-free, one counter across the reload
    # Every reading driver a ever produced is stored: its own counter has no gap.
    a_numbers = [body["data"]["n"] for _, body in stored
                 if body["source"].get("device") == "a" or body["source"].get("driver") == "a"]
    assert a_numbers == list(range(1, len(a_numbers) + 1))
    assert len(a_numbers) == agent.slots[0].readings >= 40
    # Driver b restarted with its new table: door readings after, numbered from 1 again.
    b_types = [body["type"] for _, body in stored
               if body["source"].get("device") == "b" or body["source"].get("driver") == "b"]
    assert len(b_types) >= 40 and b_types[0] == "motion" and b_types[-1] == "door"
    assert sorted(set(b_types)) == ["door", "motion"]


def daemon_toml(tmp_path: Path, port: int) -> str:
    """Home, broker (nothing listens: reloads need no broker), outbox and control socket."""
    return f"""
[home]
id = "home-1"
[mqtt]
urls = ["mqtt://127.0.0.1:{port}"]
[outbox]
path = "{tmp_path / 'outbox.db'}"
[control]
socket = "{tmp_path / 'control.sock'}"
"""


async def test_invalid_config_is_refused_and_the_old_one_keeps_running(tmp_path: Path) -> None:
    port = free_port()
    path = tmp_path / "edgeagent.toml"
    path.write_text(daemon_toml(tmp_path, port) + """
[[drivers]]
type = "mock.stress"
name = "a"
rate_hz = 200
""")
    from edgeagent.config import load_config

    agent = make_agent(load_config(path))
    async with RunningAgent(agent):
        await until(lambda: readings_of(agent, "a") >= 10)
        task_a = agent.slots[0].task
        path.write_text(path.read_text().replace("rate_hz = 200", "rate_hz = -1"))
        result = await agent.reload_from_file()
        assert not result.ok
        assert "drivers[0].rate_hz" in result.reason
        assert agent.slots[0].task is task_a and task_a is not None and not task_a.done()
        assert agent.config.drivers[0].rate_hz == 200  # type: ignore[attr-defined]
        before = agent.slots[0].readings
        await until(lambda: agent.slots[0].readings >= before + 10)

        # A change that needs a restart is refused as a whole, naming the section.
        path.write_text(path.read_text().replace("rate_hz = -1", "rate_hz = 100")
                        .replace('id = "home-1"', 'id = "home-2"'))
        refused = await agent.reload_from_file()
        assert not refused.ok and "[home] changed" in refused.reason
        assert agent.slots[0].task is task_a and agent.config.home.id == "home-1"


@pytest.mark.slow
def test_sighup_reloads_the_running_daemon(tmp_path: Path) -> None:
    """The real signal path: `edgeagent run`, edit the file, `kill -HUP`, read the log."""
    port = free_port()
    path = tmp_path / "edgeagent.toml"
    base = daemon_toml(tmp_path, port) + """
[heuristics]
enabled = false
[[drivers]]
type = "mock.stress"
name = "a"
rate_hz = 50
"""
    path.write_text(base)
    log = tmp_path / "agent.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "edgeagent.cli.main", "run", "--config",
                                 str(path)], stdout=out, stderr=out,
                                env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        deadline = time.monotonic() + 20
        while stored_count(tmp_path / "outbox.db") == 0:
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        path.write_text(base + '\n[[drivers]]\ntype = "mock.stress"\nname = "b"\nrate_hz = 50\n')
        proc.send_signal(signal.SIGHUP)
        while "reloaded (started: b" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        path.write_text("not toml [")
        proc.send_signal(signal.SIGHUP)
        while "reload refused" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        assert proc.poll() is None  # still running on the old config
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
    assert "not valid TOML" in log.read_text()


async def test_heuristics_change_rebuilds_the_engine_with_its_running_state(
        tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from edgeagent.models import Reading

    data = config_data(tmp_path, [stress("a")], free_port())
    agent = Agent(parse_config(data, "edgeagent.toml"), clock=ManualClock(),
                  sync_probe=lambda: True)
    old_engine = agent.engine
    now = datetime.now(UTC)
    for n, sensor in enumerate(("motion", "bed")):
        agent.engine.feed(Reading(driver="a", device=f"{sensor}-1", sensor=sensor,
                                  value=True, mono=float(n), wall=now, room="bedroom",
                                  role=None, data={}))
    state = agent.engine.snapshot()
    from edgeagent.pipeline import build_default_engine

    assert state != build_default_engine(agent.config).snapshot()  # it learned something
    new = parse_config({**data, "heuristics": {"bed_exit_no_return_minutes": 25}},
                       "edgeagent.toml")
    result = await agent.reload(new)
    assert result.ok and result.heuristics.startswith("rebuilt")
    assert result.unchanged == ["a"] and result.restarted == []
    assert agent.engine is not old_engine
    assert agent.engine.snapshot() == state  # what the engine knew survives the reload
    assert agent.config.heuristics.bed_exit_no_return_minutes == 25
    assert agent.engine.settings.bed_exit_no_return_minutes == 25  # type: ignore[attr-defined]
    agent.outbox.close()
