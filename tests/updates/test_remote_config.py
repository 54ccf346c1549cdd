"""`cmd/config-set` / `config-get`: only allowed sections change, alarms stay, the root
updater keeps a new config only if the agent is healthy after the reload."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edgeagent.config import parse_config
from edgeagent.limits import MAX_CONFIG_PAYLOAD_BYTES, MAX_INBOUND_PACKET_BYTES
from edgeagent.updates.apply import Updater
from edgeagent.updates.config_change import ConfigChangeRefused, check_change, parse_new
from edgeagent.updates.health import Baseline, Probe, Verdict, baseline_from_socket, control_probe
from edgeagent.updates.remote_config import RemoteConfig
from edgeagent.updates.request import REQUEST
from tests.support.platform import PlatformSubscriber
from tests.updates.release_kit import PathUnit

BASE = """
[home]
id = "home-1"
[mqtt]
urls = ["{url}"]
keepalive = 5
connect_timeout = 2
backoff_initial = 0.02
backoff_max = 0.2
[outbox]
path = "{work}/outbox.db"
[control]
socket = "{work}/control.sock"
[commands]
allow_changes = true
allow_diagnostics = true
rate_per_minute = 100
[heuristics]
night_start = "22:00"
[[drivers]]
type = "mock.stress"
name = "stress-1"
rate_hz = 5
alert_every = 1000000
"""
SOS = """
[[drivers]]
type = "gpio.sos"
name = "sos-button"
pin = 5
"""


def config(text: str, **fmt: str) -> Any:
    import tomllib

    return parse_config(tomllib.loads(text.format(url="mqtt://127.0.0.1:1", work="/tmp/x",
                                                  **fmt)), "<test>")


def test_only_heuristics_and_drivers_change_remotely_and_alarms_stay():
    running = config(BASE + SOS)
    diff = check_change(running, config(BASE.replace('"22:00"', '"21:30"') + SOS))
    assert diff == ["heuristics.night_start: '22:00:00' -> '21:30:00'"]
    with pytest.raises(ConfigChangeRefused, match=r"\[mqtt\] may not change remotely"):
        check_change(running, config(BASE.replace("keepalive = 5", "keepalive = 6") + SOS))
    with pytest.raises(ConfigChangeRefused, match=r"alarm driver.*sos-button"):
        check_change(running, config(BASE))
    with pytest.raises(ConfigChangeRefused, match=r"alarm driver.*sos-button"):
        check_change(running, config(BASE + SOS + "enabled = false\n"))
    assert check_change(running, config(BASE), force_alarm_removal=True) == [
        "drivers[sos-button]: removed"]
    core = config(BASE.replace("allow_diagnostics = true",
                               "allow_diagnostics = true\nallow_remote_core = true") + SOS)
    assert check_change(core, config(BASE.replace("keepalive = 5", "keepalive = 6") + SOS)) \
        == ["commands.allow_remote_core: True -> False", "mqtt.keepalive: 5 -> 6"]


def test_a_bad_config_is_refused_naming_the_key_like_config_check():
    with pytest.raises(ConfigChangeRefused, match=r"mqtt\.keepalive"):
        parse_new(BASE.format(url="mqtt://h", work="/tmp") .replace("keepalive = 5",
                                                                    "keepalive = 1"))
    with pytest.raises(ConfigChangeRefused, match="not valid TOML"):
        parse_new("[home\n")
    with pytest.raises(ConfigChangeRefused, match="exceeds 65536"):
        parse_new("#" * 70_000)


async def test_config_get_redacts_credentials(tmp_path):
    text = BASE.replace('urls = ["{url}"]', 'urls = ["mqtt://kit:hunter2-secret@broker:1883"]')
    remote = RemoteConfig(lambda: config(text), tmp_path)
    got = json.dumps(await remote.get({}))
    assert "hunter2-secret" not in got and "stress-1" in got


class Agent:
    """`edgeagent run` whose config the updater rewrites; reload = SIGHUP, as systemd does."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.config = work / "edgeagent.toml"
        self.log = work / "agent.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "edgeagent.cli.main", "-v", "run", "--config",
                 str(self.config)], stdout=log, stderr=log,
                env=dict(os.environ, PYTHONUNBUFFERED="1"))

    def reload(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGHUP)

    def probe(self) -> Probe:
        inner = control_probe(self.work / "control.sock")

        def probe(baseline: Baseline) -> Verdict:
            if self.proc is None or self.proc.poll() is not None:
                return Verdict(False, "agent not running")
            return inner(baseline)

        return probe

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(20)


def send(port: int, name: str, args: dict[str, Any], command_id: str) -> None:
    body = {"id": command_id, "ts": datetime.now(UTC).isoformat(), "args": args}
    send_payload(port, name, json.dumps(body).encode(), command_id)


def send_payload(port: int, name: str, payload: bytes, command_id: str) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"ops-{command_id}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.publish(f"care/home-1/cmd/{name}", payload, qos=1).wait_for_publish(10)
    client.loop_stop()
    client.disconnect()


def config_set_of_size(text: str, command_id: str, size: int) -> bytes:
    """A config-set payload of exactly `size` bytes: `text` padded with a comment."""
    def payload(pad: int) -> bytes:
        body = {"id": command_id, "ts": datetime.now(UTC).isoformat(),
                "args": {"toml": text + "#" * pad + "\n"}}
        return json.dumps(body).encode()

    sized = payload(size - len(payload(0)))
    assert len(sized) == size
    return sized


def reply(platform: PlatformSubscriber, name: str, command_id: str) -> dict[str, Any]:
    def find(p: PlatformSubscriber) -> dict[str, Any] | None:
        for m in p.messages:
            if m.topic == f"care/home-1/cmd/{name}/reply" and m.json().get("id") == command_id:
                return m.json()  # type: ignore[no-any-return]
        return None

    platform.wait_for(lambda p: find(p) is not None, 30)
    found = find(platform)
    assert found is not None
    return found


def config_events(platform: PlatformSubscriber) -> list[dict[str, Any]]:
    return [e["data"] for e in platform.events() if e["kind"] == "status"
            and e["type"] == "config"]


@pytest.mark.timeout(120)
def test_config_set_is_kept_when_healthy_and_restored_when_not(tmp_path, mosquitto, platform):
    work = tmp_path
    agent = Agent(work)
    text = textwrap.dedent(BASE).format(url=mosquitto.url, work=work)
    agent.config.write_text(text)
    agent.config.chmod(0o640)
    agent.start()
    updater = Updater(work / "opt", [], restart=lambda: None, probe=agent.probe(),
                      baseline=lambda: baseline_from_socket(work / "control.sock"),
                      health_s=5, report=work / "update-result.json", config=agent.config,
                      reload=agent.reload)
    unit = PathUnit(updater, work / REQUEST, work / "unused.pub").start()
    try:
        platform.wait_for(lambda p: any(m.topic == "care/home-1/status" for m in p.messages), 30)
        # A heuristics change: written by the updater, reloaded, healthy, kept; .prev kept.
        calmer = text.replace('night_start = "22:00"', 'night_start = "21:30"')
        send(mosquitto.port, "config-set", {"toml": calmer}, "c-1")
        answer = reply(platform, "config-set", "c-1")
        assert answer["ok"] and answer["result"]["diff"] == [
            "heuristics.night_start: '22:00:00' -> '21:30:00'"]
        platform.wait_for(lambda p: [d["state"] for d in config_events(p)] == ["applied"], 30)
        assert config_events(platform)[0]["command_id"] == "c-1"
        assert agent.config.read_text() == calmer
        assert (work / "edgeagent.toml.prev").read_text() == text
        assert agent.config.stat().st_mode & 0o777 == 0o640

        # A driver replaced by one that cannot start: unhealthy after the reload, restored.
        broken = calmer.replace('type = "mock.stress"', 'type = "serial.bedmat"\n'
                                'port = "/dev/edgeagent-no-such-port"').replace(
            "rate_hz = 5\nalert_every = 1000000\n", "")
        send(mosquitto.port, "config-set", {"toml": broken}, "c-2")
        assert reply(platform, "config-set", "c-2")["ok"]
        platform.wait_for(lambda p: len(config_events(p)) == 2, 60)
        restored = config_events(platform)[1]
        assert restored["state"] == "restored" and "driver stress-1" in restored["reason"]
        assert restored["command_id"] == "c-2"
        assert agent.config.read_text() == calmer

        # Refused on the kit: core section, alarm removal, too big; nothing reaches the updater.
        refused = {"c-3": calmer.replace("keepalive = 5", "keepalive = 7"),
                   "c-4": "x = [" * 10}
        for command_id, body in refused.items():
            send(mosquitto.port, "config-set", {"toml": body}, command_id)
            assert not reply(platform, "config-set", command_id)["ok"]
        assert "may not change remotely" in reply(platform, "config-set", "c-3")["error"]
        # Its payload may be far above the 4 KiB of other commands (a whole file, commented).
        send(mosquitto.port, "config-set", {"toml": calmer + "#" * 40_000 + "\n"}, "c-5")
        assert reply(platform, "config-set", "c-5")["result"] == {"changed": False, "diff": []}
        send(mosquitto.port, "ping", {"pad": "#" * 5000}, "p-1")  # unparsed: no id in reply
        platform.wait_for(lambda p: any(m.topic == "care/home-1/cmd/ping/reply"
                                        and "exceeds 4096" in m.json().get("error", "")
                                        for m in p.messages), 30)
        # The largest config-set arrives whole: the packet size the agent announces leaves
        # room for the topic and properties around a 64 KiB payload.
        send_payload(mosquitto.port, "config-set",
                     config_set_of_size(calmer, "c-6", MAX_CONFIG_PAYLOAD_BYTES), "c-6")
        assert reply(platform, "config-set", "c-6")["result"] == {"changed": False, "diff": []}
        # Above the packet size the broker does not forward it at all; between the two, the
        # router refuses it (config-set's own 64 KiB limit; other commands keep 4 KiB).
        dropped, refused_size = MAX_INBOUND_PACKET_BYTES + 1024, MAX_CONFIG_PAYLOAD_BYTES + 1024
        send_payload(mosquitto.port, "config-set",
                     config_set_of_size(calmer, "c-7", dropped), "c-7")
        send_payload(mosquitto.port, "config-set",
                     config_set_of_size(calmer, "c-8", refused_size), "c-8")

        def size_errors(p: PlatformSubscriber) -> list[str]:
            return [m.json().get("error", "") for m in p.messages
                    if m.topic == "care/home-1/cmd/config-set/reply"
                    and "exceeds" in m.json().get("error", "")]

        platform.wait_for(lambda p: any(f"payload of {refused_size} bytes exceeds 65536" in e
                                        for e in size_errors(p)), 30)
        send(mosquitto.port, "ping", {}, "p-2")  # delivered after c-7 and c-8, in order
        assert reply(platform, "ping", "p-2")["ok"]
        assert not [e for e in size_errors(platform) if f"payload of {dropped} " in e]
        assert len(unit.runs) == 2

        send(mosquitto.port, "config-get", {}, "g-1")
        got = reply(platform, "config-get", "g-1")
        assert got["ok"] and got["result"]["config"]["heuristics"]["night_start"] == "21:30:00"
    finally:
        unit.stop()
        agent.stop()


def test_a_cut_between_writing_the_config_and_its_verdict_restores_the_old_one(tmp_path):
    """The state a power cut leaves (journal, .prev, new file) is undone by the next run."""
    conf = tmp_path / "edgeagent.toml"
    conf.write_text("old = 1\n")
    reloads: list[str] = []
    updater = Updater(tmp_path / "opt", [], restart=lambda: None, probe=lambda _: Verdict(True),
                      baseline=Baseline, config=conf, reload=lambda: reloads.append("hup"),
                      report=tmp_path / "update-result.json")
    (tmp_path / "opt").mkdir()
    (tmp_path / "edgeagent.toml.prev").write_text("old = 1\n")
    conf.write_text("new = 1\n")
    (tmp_path / "opt" / "config-journal.json").write_text(json.dumps({"config": str(conf)}))
    outcome = updater.recover()
    assert outcome is not None and outcome.kind == "config" and outcome.state == "rolled_back"
    assert conf.read_text() == "old = 1\n" and reloads == ["hup"]
    assert not (tmp_path / "opt" / "config-journal.json").exists()
    assert json.loads((tmp_path / "update-result.json").read_text())["kind"] == "config"
    assert updater.recover() is None
