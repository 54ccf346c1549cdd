"""Fixtures for the reference platform ingest: a private PostgreSQL, workers in threads."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from edgeagent_platform.worker import Worker, WorkerConfig

from tests.support.postgres import Postgres
from tests.support.waiting import wait_until


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Postgres]:
    server = Postgres().start()
    yield server
    server.stop()


@pytest.fixture
def pg_url(postgres_server: Postgres) -> str:
    return postgres_server.create_database(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'platform.db'}"
    return str(request.getfixturevalue("pg_url"))


class WorkerThread:
    """One ingest worker running in a thread of the test process."""

    def __init__(self, cfg: WorkerConfig) -> None:
        self.worker = Worker(cfg)
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.worker.run, args=(self.stop_event,),
                                       daemon=True)

    def start(self) -> WorkerThread:
        self.thread.start()
        if not self.worker.subscribed.wait(10):
            raise TimeoutError("ingest worker did not subscribe")
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(15)


class WorkerProcess:
    """`edgeagent-platform run` as a real process: stopped with SIGTERM, killed with SIGKILL."""

    def __init__(self, name: str, broker: str, db: str, log: Path, *extra: str) -> None:
        self.name = name
        self.args = [sys.executable, "-m", "edgeagent_platform.cli", "run", "-v", "--broker",
                     broker, "--prefix", "care", "--db", db, "--name", name, *extra]
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def subscriptions(self) -> int:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return text.count(f"worker {self.name} subscribed")

    def start(self) -> WorkerProcess:
        before = self.subscriptions()
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(self.args, stdout=log, stderr=log)
        wait_until(lambda: self.subscriptions() > before or self.proc.poll() is not None, 30,
                   f"worker {self.name} subscribed")
        assert self.proc.poll() is None, self.log.read_text()[-3000:]
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(15)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(15)
