"""Update and config events name the command they answer (`data.command_id`).

The id travels: router -> handler -> the updater's request -> its result file
-> the event the agent publishes after the restart or reload. Each hop is the
real code; the refusals here are real ones (a closed loopback port, an
unsigned bundle, an updater that does not manage the config).
"""

from __future__ import annotations

import asyncio
import json
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edgeagent.config import parse_config
from edgeagent.downlink import CommandRouter
from edgeagent.topics import Topics
from edgeagent.updates.apply import Updater
from edgeagent.updates.health import Baseline, Verdict
from edgeagent.updates.remote import CriticalAlerts, RemoteUpdates
from edgeagent.updates.remote_config import RemoteConfig
from edgeagent.updates.request import REQUEST, RESULT, write_update_request


def remote_updates(state: Path, events: list[tuple[str, dict[str, Any]]]) -> RemoteUpdates:
    config = parse_config({"home": {"id": "h"}, "updates": {"allowed_hosts": ["127.0.0.1"]},
                           "commands": {"allow_changes": True}}, "<test>")
    return RemoteUpdates(config, state, emit=lambda kind, data: events.append((kind, data)),
                         installed="0.1.0", alerts=CriticalAlerts(),
                         wall=lambda: datetime(2026, 6, 1, 12, tzinfo=UTC))


def updater(root: Path, report: Path) -> Updater:
    baseline = Baseline()
    return Updater(root, [], restart=lambda: None, probe=lambda _b: Verdict(True, ""),
                   baseline=lambda: baseline, report=report)


def test_the_router_passes_the_command_id_to_handlers_that_take_it():
    seen: list[tuple[dict[str, Any], str | None]] = []

    async def with_id(args: dict[str, Any], command_id: str | None) -> dict[str, Any]:
        seen.append((args, command_id))
        return {}

    async def plain(args: dict[str, Any]) -> dict[str, Any]:
        return {"plain": True}

    router = CommandRouter(Topics("care", "h"))
    router.register_with_id("update", with_id)
    router.register("ping", plain)
    ts = datetime.now(UTC).isoformat()
    loop = asyncio.new_event_loop()
    try:
        for body in ({"id": "u-7", "ts": ts, "args": {"x": 1}}, {"ts": ts}):
            loop.run_until_complete(router.handle("care/h/cmd/update",
                                                  json.dumps(body).encode(), {}))
        answer = loop.run_until_complete(router.handle(
            "care/h/cmd/ping", json.dumps({"id": "p-1", "ts": ts}).encode(), {}))
    finally:
        loop.close()
    assert seen == [({"x": 1}, "u-7"), ({}, None)]
    assert answer is not None and json.loads(answer[1])["result"] == {"plain": True}


def test_update_events_carry_the_command_id_before_and_after_the_updater(tmp_path):
    events: list[tuple[str, dict[str, Any]]] = []
    remote = remote_updates(tmp_path, events)
    with socket.socket() as closed:  # a port nothing listens on: the download fails for real
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]

    async def command() -> None:
        await remote.handle({"url": f"http://127.0.0.1:{port}/edgeagent-0.2.0.tar",
                             "sha256": "0" * 64, "version": "0.2.0"}, "u-1")
        assert remote.task is not None
        await remote.task

    asyncio.run(command())
    assert [(kind, d["state"], d["command_id"]) for kind, d in events] == [
        ("update", "downloading", "u-1"), ("update", "failed", "u-1")]

    # The id goes to the updater in the request and comes back in its result.
    bundle = tmp_path / "updates" / "edgeagent-0.2.0.tar"
    bundle.parent.mkdir(exist_ok=True)
    bundle.write_bytes(b"not a bundle")
    write_update_request(tmp_path, bundle, "u-2")
    [outcome] = updater(tmp_path / "opt", tmp_path / RESULT).run(tmp_path / REQUEST, list)
    assert outcome.id == "u-2"
    events.clear()
    remote.report_result()
    assert [(kind, d["state"], d["command_id"]) for kind, d in events] == [
        ("update", "failed", "u-2")]


def test_a_config_event_carries_the_command_id(tmp_path):
    events: list[tuple[str, dict[str, Any]]] = []
    running = parse_config({"home": {"id": "h"}}, "<test>")
    text = '[home]\nid = "h"\n[heuristics]\nnight_start = "21:30"\n'
    answer = asyncio.run(RemoteConfig(lambda: running, tmp_path).set({"toml": text}, "c-1"))
    assert answer["changed"] is True
    assert json.loads((tmp_path / REQUEST).read_text())["id"] == "c-1"
    # This updater manages no config file: it refuses, and says so for command c-1.
    [outcome] = updater(tmp_path / "opt", tmp_path / RESULT).run(tmp_path / REQUEST, list)
    assert (outcome.kind, outcome.id) == ("config", "c-1")
    remote_updates(tmp_path, events).report_result()
    assert [(kind, d["state"], d["command_id"]) for kind, d in events] == [
        ("config", "failed", "c-1")]
