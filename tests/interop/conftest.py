"""One `broker` fixture, parametrised over mosquitto, NATS and RabbitMQ (private instances).

mosquitto and NATS start per test (fast). RabbitMQ boots once per session,
in the background from collection time, and its tests are ordered last so
the ~15 s Erlang boot overlaps the other brokers' tests. Every test uses
its own home id and topic prefix, so the shared RabbitMQ node carries no
retained message or session from one test into the next.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.interop.brokers import (
    NATS,
    BrokerUnderTest,
    MosquittoUnderTest,
    NatsUnderTest,
    RabbitUnderTest,
)

BROKERS = ["mosquitto", "nats", "rabbitmq"]
_rabbit: RabbitUnderTest | None = None
_rabbit_skip: str | None = None
_counter = itertools.count(1)


def _uses_rabbit(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    return callspec is not None and callspec.params.get("broker") == "rabbitmq"


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    items.sort(key=_uses_rabbit)  # stable: RabbitMQ tests last, everything else unchanged


def pytest_collection_finish(session: pytest.Session) -> None:
    """Boot RabbitMQ only if a selected test needs it (after -k/-m deselection)."""
    global _rabbit, _rabbit_skip
    if session.config.option.collectonly or _rabbit is not None:
        return
    if not any(_uses_rabbit(i) for i in session.items):
        return
    _rabbit_skip = RabbitUnderTest.available()
    if _rabbit_skip is None:
        workdir = Path(tempfile.mkdtemp(prefix="edgeagent-rabbitmq-"))
        _rabbit = RabbitUnderTest(workdir).start()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _rabbit is not None:
        _rabbit.stop()
        shutil.rmtree(_rabbit.workdir, ignore_errors=True)


@pytest.fixture(params=BROKERS)
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BrokerUnderTest]:
    name = request.param
    if name == "mosquitto":
        b: BrokerUnderTest = MosquittoUnderTest(tmp_path / "mosquitto")
    elif name == "nats":
        if not Path(NATS).exists():
            pytest.skip(f"nats-server is not installed ({NATS} missing)")
        b = NatsUnderTest(tmp_path / "nats")
    else:
        if _rabbit_skip:
            pytest.skip(_rabbit_skip)
        assert _rabbit is not None
        if not _rabbit.ready():
            pytest.skip(f"private RabbitMQ node did not start: {_rabbit.error}")
        yield _rabbit
        return
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture
def unique() -> str:
    """A home id (and topic prefix) no other test uses, for brokers shared across tests."""
    return f"interop-{next(_counter)}-{id(object()) % 100000}"
