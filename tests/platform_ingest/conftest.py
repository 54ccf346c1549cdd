"""Fixtures for the reference platform ingest: a private PostgreSQL, workers in threads."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from edgeagent_platform.worker import Worker, WorkerConfig

from tests.support.postgres import Postgres


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
