"""`edgeagent walk-test` against a real agent (gpiozero mock pins) and a real mosquitto."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from edgeagent.supervisor import Agent
from tests.conftest import RunningAgent, make_config
from tests.drivers.conftest import wait_for
from tests.support.chromium import dump_dom
from tests.support.mosquitto import Mosquitto
from tests.support.platform import PlatformSubscriber

DRIVERS = [
    {"type": "gpio.pir", "name": "pir-hall", "room": "hall", "pin": 17},
    {"type": "gpio.contact", "name": "door-front", "room": "entrance", "pin": 22,
     "role": "entrance", "settle": 0},
    {"type": "gpio.sos", "name": "sos-bed", "room": "bedroom", "pin": 26},
]


def _driver_toml(table: dict[str, object]) -> str:
    return "[[drivers]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in table.items())


def _reply_to_test_alarms(platform: PlatformSubscriber) -> None:
    """A platform that confirms each raised test alarm on `<prefix>/<home>/test-alarm/reply`."""
    recorded = platform.client.on_message

    def on_message(client: Any, userdata: Any, msg: Any) -> None:
        recorded(client, userdata, msg)
        if msg.topic.endswith("/events/alert/test"):
            event = json.loads(msg.payload)
            if event["alert"]["state"] == "raised":
                client.publish("care/home-1/test-alarm/reply",
                               json.dumps({"id": event["id"], "seen_by": "operator-7"}), qos=1)

    platform.client.on_message = on_message


async def _line_with(stream: asyncio.StreamReader, text: str, seen: list[str],
                     timeout: float = 20.0) -> str:
    """Read lines until one contains `text` (all lines kept in `seen`)."""
    async def read() -> str:
        while True:
            raw = await stream.readline()
            if not raw:
                raise AssertionError(f"{text!r} never printed; got:\n" + "".join(seen))
            seen.append(raw.decode())
            if text in seen[-1]:
                return seen[-1]
    try:
        return await asyncio.wait_for(read(), timeout)
    except TimeoutError:
        raise AssertionError(f"{text!r} not printed within {timeout} s; got:\n" + "".join(seen)) from None


async def _walk(proc: asyncio.subprocess.Process, pins: MockFactory) -> None:
    """The technician: reads the listing, sets off two of three sensors, presses Enter."""
    assert proc.stdin and proc.stdout and proc.stderr
    err: list[str] = []
    out: list[str] = []
    await _line_with(proc.stderr, "press Enter", err)
    listing = "".join(err)
    for name, room in (("pir-hall", "hall"), ("door-front", "entrance"),
                       ("sos-bed", "bedroom")):
        assert name in listing and f"[{room}]" in listing
    assert "Asia/Shanghai" in listing
    url = re.search(r"(http://127\.0\.0\.1:\d+/\?t=[\w-]+)", listing)
    assert url, listing
    if importlib.util.find_spec("segno"):
        assert "█" in listing                     # the link as a QR code for the phone

    pins.pin(17).drive_high()          # the technician walks past the PIR
    await _line_with(proc.stdout, "✓ pir-hall", out)
    pins.pin(22).drive_low()           # shuts the front door (it stood open)
    tick = await _line_with(proc.stdout, "✓ door-front", out)
    assert "[entrance]" in tick and "(2/3)" in tick
    dom = await asyncio.to_thread(dump_dom, url.group(1))  # the technician's phone
    for key, state in (("pir-hall", "fired"), ("door-front", "fired"), ("sos-bed", "waiting")):
        assert f'data-sensor="{key}" data-state="{state}"' in dom, dom
    proc.stdin.write(b"\n")                    # Enter: the walk is over
    await proc.stdin.drain()
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    err.append(stderr.decode())
    out.append(stdout.decode())
    assert proc.returncode == 1, "".join(err)  # a silent sensor: warn
    assert "SILENT: sos-bed [bedroom]" in "".join(err)
    with pytest.raises(OSError):                   # the page ended with the walk test
        await asyncio.to_thread(urllib.request.urlopen, url.group(1), timeout=5)


async def test_walk_test_ticks_driven_sensors_flags_the_silent_one_and_confirms_three_alarms(
        tmp_path: Path, mosquitto: Mosquitto, platform: PlatformSubscriber,
        mock_factory: MockFactory) -> None:
    config = make_config(tmp_path, mosquitto.url, DRIVERS, home={"timezone": "Asia/Shanghai"})
    config_file = tmp_path / "agent.toml"
    config_file.write_text(f"""
[home]
id = "home-1"
timezone = "Asia/Shanghai"
[mqtt]
urls = ["{mosquitto.url}"]
topic_prefix = "care"
[outbox]
path = "{tmp_path}/outbox.db"
[control]
socket = "{tmp_path}/control.sock"
""" + "".join(_driver_toml(d) for d in DRIVERS))
    _reply_to_test_alarms(platform)
    agent = Agent(config, sync_probe=lambda: True, tick_interval=0.05)
    async with RunningAgent(agent):
        pir, door, sos = agent.slots  # start-up states in (the SOS reports only presses)
        await wait_for(lambda: agent.publisher.connected and pir.readings >= 1
                       and door.readings >= 1 and sos.health()["state"] == "ok", timeout=10)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "edgeagent.cli.main", "walk-test", "-c", str(config_file),
            "-o", str(tmp_path / "reports"), "--timeout", "10", "--web", "--bind", "127.0.0.1",
            "--wait", "--wait-timeout", "10",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=dict(os.environ, PYTHONUNBUFFERED="1"))
        assert proc.stdin and proc.stdout and proc.stderr
        try:
            await _walk(proc, mock_factory)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        await asyncio.to_thread(platform.wait_for, lambda p: len(
            [e for e in p.events() if e["type"] == "test"]) == 6)
    reports = {p.suffix: p for p in (tmp_path / "reports").iterdir()}
    report = json.loads(reports[".json"].read_text())
    if importlib.util.find_spec("matplotlib"):    # the image a technician hands over
        assert sorted(reports) == [".json", ".png", ".txt"]
        assert reports[".png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:                                          # skipped, and the report says so
        assert sorted(reports) == [".json", ".txt"]
        assert any("matplotlib" in note for note in report["notes"])
    assert report["result"] == "warn" and report["silent"] == ["sos-bed"]
    assert report["started"].endswith("+08:00")    # the home's time, not the machine's
    fired = {s["key"]: s["fired"] for s in report["sensors"]}
    assert fired == {"pir-hall": True, "door-front": True, "sos-bed": False}
    assert [(a["severity"], a["stage"]) for a in report["alarms"]] == [
        ("info", "resolved"), ("warning", "resolved"), ("critical", "resolved")]
    assert [a["platform_reply"] for a in report["alarms"]] == [   # --wait: the replies
        {"id": a["id"], "seen_by": "operator-7"} for a in report["alarms"]]
    assert report["notes"] == ([] if ".png" in reports else report["notes"][:1])
    tests = [e for e in platform.events() if e["type"] == "test"]
    by_alert: dict[str, list[str]] = {}
    for event in tests:
        assert event["kind"] == "alert" and event["data"]["note"] == "walk test"
        by_alert.setdefault(event["alert"]["id"], []).append(event["alert"]["state"])
    assert list(by_alert.values()) == [["raised", "resolved"]] * 3
    assert sorted({e["severity"] for e in tests}) == ["critical", "info", "warning"]
    text = reports[".txt"].read_text()
    assert "sos-bed" in text and "SILENT" in text and "critical" in text


def test_without_a_running_agent_the_walk_test_says_so_in_the_technicians_language(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from edgeagent.cli.main import main
    from edgeagent.i18n import set_language

    config = tmp_path / "agent.toml"
    config.write_text(f'[home]\nid = "home-1"\n[control]\nsocket = "{tmp_path}/none.sock"\n')
    try:
        assert main(["--lang", "zh_CN", "walk-test", "-c", str(config), "-o", str(tmp_path)]) == 2
    finally:
        set_language("en")
    assert "巡检测试需要代理程序正在运行" in capsys.readouterr().err
    assert not list(tmp_path.glob("walk-test-*"))  # no report pretends a walk happened
