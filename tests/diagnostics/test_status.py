"""`edgeagent status`: one screen from the running daemon, and fast commands."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from edgeagent.cli.main import COMMAND_MODULES, COMMANDS, build_parser, main
from edgeagent.control import ControlClient
from edgeagent.supervisor import Agent
from tests.conftest import RunningAgent, make_config
from tests.support.mosquitto import Mosquitto
from tests.support.waiting import until as wait_until


async def test_status_shows_a_running_agent_with_drivers_outbox_alerts_and_last_event(
        tmp_path: Path, mosquitto: Mosquitto, always_synced: object,
        capsys: pytest.CaptureFixture[str]) -> None:
    config = make_config(tmp_path, mosquitto.url, [
        {"type": "gpio.contact", "name": "front", "pin": 21, "room": "hall",
         "role": "entrance", "pin_factory": "mock"}])
    sock = str(tmp_path / "control.sock")
    agent = Agent(config, sync_probe=always_synced)  # type: ignore[arg-type]
    async with RunningAgent(agent):
        await wait_until(lambda: agent.publisher.connected)
        stored = await asyncio.to_thread(
            lambda: next(iter(ControlClient(sock).stream(
                {"cmd": "test-alarm", "severity": "warning", "timeout": 10}))))
        code = await asyncio.to_thread(main, ["status", "--socket", sock, "--json"])
        doc = json.loads(capsys.readouterr().out)
        text_code = await asyncio.to_thread(main, ["status", "--socket", sock])
        text = capsys.readouterr().out
    assert code == 0 and text_code == 0
    assert doc["running"] is True and doc["home"] == "home-1" and doc["uptime_s"] >= 0
    assert doc["broker"]["state"] == "connected"
    assert set(doc["outbox"]) == {"pending", "oldest_pending_ts", "last_seq", "last_acked_seq"}
    assert doc["drivers"]["front"]["type"] == "gpio.contact"
    assert [a["type"] for a in doc["open_alerts"]] == ["test"]   # test alerts stay raised
    assert doc["last_event"]["seq"] >= stored["seq"]
    assert "active (running)" in text and "front (gpio.contact)" in text and "1 open" in text


def test_status_without_a_daemon_says_not_running_exit_3(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sock = str(tmp_path / "none.sock")
    assert main(["status", "--socket", sock, "--json"]) == 3
    assert json.loads(capsys.readouterr().out)["running"] is False
    config = tmp_path / "kit.toml"
    config.write_text(f'[control]\nsocket = "{sock}"\n', encoding="utf-8")
    assert main(["status", "-c", str(config)]) == 3              # the socket from -c
    assert "not running" in capsys.readouterr().out


def test_the_command_table_matches_what_the_modules_register() -> None:
    registered: dict[str, tuple[str, str]] = {}
    for name in COMMAND_MODULES:
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(name).register(sub)
        for action in sub._choices_actions:
            registered[action.dest] = (name, str(action.help))
    assert registered == COMMANDS


@pytest.mark.parametrize(("argv", "absent"), [
    (["--version"], ["edgeagent.cli.core_commands", "pydantic", "edgeagent.supervisor"]),
    (["--help"], ["edgeagent.cli.diagnostics", "pydantic", "edgeagent.supervisor"]),
    (["status", "--socket", "/nonexistent.sock"], ["edgeagent.supervisor", "edgeagent.config",
                                                    "edgeagent.cli.diagnostics"]),
    (["config", "check", "/nonexistent.toml"], ["edgeagent.supervisor", "edgeagent.outbox",
                                                "paho"]),
])
def test_fast_commands_import_only_what_they_need(argv: list[str], absent: list[str]) -> None:
    script = ("import json, sys\nfrom edgeagent.cli.main import main\n"
              f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
              "print(json.dumps(sorted(sys.modules)), file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=False)
    loaded = set(json.loads(proc.stderr.strip().splitlines()[-1]))
    assert not [m for m in absent if m in loaded]


def _leaves(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                out.update(_leaves(child, f"{prefix} {name}".strip()))
            return out
    out[prefix] = [o for a in parser._actions for o in a.option_strings]
    return out


def test_every_command_that_reads_the_config_takes_dash_c() -> None:
    leaves = _leaves(build_parser())
    readers = ["run", "config check", "status", "doctor", "watch", "test-alarm", "outbox stats",
               "outbox export", "outbox purge", "bundle", "pair", "ble scan", "replay",
               "identity create", "identity install", "update apply", "update run",
               "update recover"]
    assert [name for name in readers if not {"-c", "--config"} <= set(leaves[name])] == []
