"""One fixture per hardware boundary, each restoring what it changed (gpiozero's habit)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from edgeagent.config import AgentConfig, parse_config
from edgeagent.supervisor import Agent
from tests.support.mosquitto import Mosquitto
from tests.support.platform import PlatformSubscriber


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path / "broker").start()
    yield broker
    broker.kill()


@pytest.fixture
def platform(mosquitto: Mosquitto) -> Iterator[PlatformSubscriber]:
    sub = PlatformSubscriber(mosquitto.port).start()
    yield sub
    sub.stop()


def make_config(tmp_path: Path, broker_url: str, drivers: list[dict[str, Any]] | None = None,
                **sections: dict[str, Any]) -> AgentConfig:
    data: dict[str, Any] = {
        "home": {"id": "home-1", "timezone": "Europe/Amsterdam"},
        "mqtt": {"urls": [broker_url], "topic_prefix": "care", "backoff_initial": 0.05,
                 "backoff_max": 0.5, "keepalive": 5, "connect_timeout": 3},
        "outbox": {"path": str(tmp_path / "outbox.db")},
        "control": {"socket": str(tmp_path / "control.sock")},
        "drivers": drivers or [],
    }
    for key, value in sections.items():
        data.setdefault(key, {}).update(value)
    return parse_config(data, "<test>")


class RunningAgent:
    """An Agent running as a task in the test's event loop."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.stop_event = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Agent:
        self.task = asyncio.create_task(self.agent.run(self.stop_event))
        await asyncio.wait_for(self.agent.ready.wait(), 10)
        return self.agent

    async def __aexit__(self, *exc: object) -> None:
        self.stop_event.set()
        assert self.task is not None
        await asyncio.wait_for(self.task, 15)


@pytest.fixture
def always_synced() -> Any:
    return lambda: True


def write_config(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


class AgentProcess:
    """`edgeagent run` as a real process, so it can be SIGKILLed."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def connections(self) -> int:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return text.count("mqtt: connected to")

    def wait_connected(self, before: int, timeout: float = 20.0) -> None:
        """Block until this run logged a new broker connection (signal handlers are in place)."""
        deadline = time.monotonic() + timeout
        while self.connections() <= before:
            if time.monotonic() > deadline or (self.proc and self.proc.poll() is not None):
                raise TimeoutError(f"agent did not connect; log:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.02)

    def start(self, wait: bool = False) -> AgentProcess:
        before = self.connections()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "edgeagent.cli.main", "-v", "run", "--config",
                 str(self.config)], stdout=log, stderr=log, env=env)
        if wait:
            self.wait_connected(before)
        return self

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self, timeout: float = 10) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)


@pytest.fixture
async def no_op() -> AsyncIterator[None]:
    yield
