"""The technician's commands as real processes: exit codes, JSON, and the daemon/standalone split."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edgeagent.cli.main import main
from edgeagent.control import ControlClient, DaemonUnreachable
from edgeagent.models import Kind, Severity
from edgeagent.outbox import Outbox
from tests.conftest import AgentProcess, write_config
from tests.support.mosquitto import free_port

from .pki import Pki
from .test_doctor_system import draft

SECRET = "Planted-S3cret-9f2c"
URL_SECRET = "UrlPass-77aa"


def edgeagent(*args: str, timeout: float = 60, **kw) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NO_COLOR="", PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "edgeagent.cli.main", *args],
                          capture_output=True, text=True, timeout=timeout, env=env, **kw)


def config_file(tmp_path: Path, url: str, extra_mqtt: str = "", drivers: str = "") -> Path:
    return write_config(tmp_path / "edgeagent.toml", f"""
        # technician note: old password was {SECRET}
        [home]
        id = "home-1"
        timezone = "Europe/Amsterdam"
        [mqtt]
        urls = ["{url}"]
        backoff_initial = 0.05
        backoff_max = 0.5
        {extra_mqtt}
        [outbox]
        path = "{tmp_path}/outbox.db"
        [control]
        socket = "{tmp_path}/control.sock"
    """ + drivers)


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """The same CLI in this process (fast: no interpreter start-up); stdout is not a TTY."""
    capsys.readouterr()
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def wait_daemon(sock: Path, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        try:
            status = ControlClient(sock, timeout=2).request({"cmd": "status"})
            if status["mqtt"]["state"] == "connected":
                return status
        except DaemonUnreachable:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("daemon did not come up")
        time.sleep(0.05)


@pytest.fixture
def daemon(tmp_path, mosquitto):
    path = config_file(tmp_path, mosquitto.url, drivers="""
        [[drivers]]
        type = "mock.stress"
        name = "stress"
        rate_hz = 20
        room = "hall"
    """)
    proc = AgentProcess(path, tmp_path / "agent.log").start()
    wait_daemon(tmp_path / "control.sock")
    yield path
    proc.terminate()


# -- doctor -----------------------------------------------------------------------------


def test_doctor_json_exit_code_and_no_colour_in_a_pipe(tmp_path, mosquitto, capsys):
    path = str(config_file(tmp_path, mosquitto.url))
    code, out, _ = cli(capsys, "doctor", "--config", path, "--json")
    report = json.loads(out)
    assert code == report["exit_code"]
    names = {c["name"]: c for c in report["checks"]}
    assert names[f"mqtt.publish[127.0.0.1:{mosquitto.port}]"]["status"] == "pass"
    assert names["agent.daemon"]["status"] == "warn"  # no daemon: standalone
    _, text, err = cli(capsys, "doctor", "--config", path, "--no-network")
    assert "\033[" not in text and "\r" not in err  # not a TTY: no colour, no progress
    assert "agent.daemon" in text and "exit" in text


def test_doctor_with_a_bad_config_exits_2(tmp_path):
    bad = write_config(tmp_path / "bad.toml", "[mqtt]\nkeepalive = 1\n")
    out = edgeagent("doctor", "--config", str(bad), "--json")
    assert out.returncode == 2
    check = json.loads(out.stdout)["checks"][1]
    assert check["name"] == "config.valid" and "mqtt.keepalive" in check["reason"]


# -- secrets never leave ----------------------------------------------------------------


def test_planted_secrets_never_appear_in_doctor_bundle_or_logs(tmp_path, mosquitto, pki: Pki):
    password = tmp_path / "mqtt.pass"
    password.write_text(SECRET + "\n")
    password.chmod(0o600)
    key_lines = [ln for ln in pki.client_key.read_text().splitlines() if not ln.startswith("--")]
    url = f"mqtt://tech:{URL_SECRET}@127.0.0.1:{mosquitto.port}"
    path = config_file(tmp_path, url, f'username = "tech"\npassword_file = "{password}"\n'
                                      f'key_file = "{pki.client_key}"')
    log = tmp_path / "agent.log"
    proc = AgentProcess(path, log).start()
    try:
        wait_daemon(tmp_path / "control.sock")
        doctor = edgeagent("-vv", "doctor", "--config", str(path), "--json")
        # A leak we plant on purpose: the bundle must scrub it from the log it ships.
        with log.open("a") as fh:
            fh.write(f"DEBUG something printed the password {SECRET} and {URL_SECRET}\n")
        tar_out = tmp_path / "bundle.tar.gz"
        bundle = edgeagent("-vv", "bundle", "--config", str(path), "--output", str(tar_out),
                           "--log-file", str(log))
        json_out = tmp_path / "bundle.json"
        edgeagent("bundle", "--config", str(path), "--output", str(json_out),
                  "--log-file", str(log), "--no-network")
    finally:
        proc.terminate()
    assert bundle.returncode == 0, bundle.stderr
    with tarfile.open(tar_out) as tar:
        members = {m.name: tar.extractfile(m).read().decode() for m in tar.getmembers()}
    assert "edgeagent-bundle/logs.txt" in members
    assert "something printed the password <redacted>" in members["edgeagent-bundle/logs.txt"]
    config_doc = json.loads(members["edgeagent-bundle/config.redacted.json"])
    assert config_doc["mqtt"]["password_file"] == str(password)
    assert config_doc["mqtt"]["urls"] == [f"mqtt://tech:<redacted>@127.0.0.1:{mosquitto.port}"]
    texts = {
        "doctor stdout": doctor.stdout, "doctor stderr": doctor.stderr,
        "bundle stderr": bundle.stderr, "bundle.json": json_out.read_text(),
        **members,
    }
    for where, text in texts.items():
        assert SECRET not in text, where
        assert URL_SECRET not in text, where
        for line in key_lines:
            assert line not in text, where
    # The daemon's own log never had the secrets (until we planted them above).
    daemon_log = log.read_text().split("DEBUG something printed")[0]
    assert SECRET not in daemon_log and URL_SECRET not in daemon_log
    assert os.stat(tar_out).st_mode & 0o077 == 0


# -- outbox -----------------------------------------------------------------------------


def test_outbox_stats_export_and_purge(tmp_path, capsys):
    path = str(config_file(tmp_path, f"mqtt://127.0.0.1:{free_port()}"))
    outbox = Outbox(tmp_path / "outbox.db", "home-1", boot_id="b")
    outbox.append([draft(), draft(Kind.ALERT, "sos", Severity.CRITICAL), draft()], synced=True)
    outbox.mark_delivered([1])
    outbox.close()
    stats = json.loads(cli(capsys, "outbox", "stats", "--config", path, "--json")[1])
    assert stats["pending"] == 2 and stats["delivered_kept"] == 1
    assert stats["pending_by_class"] == {"critical_alert": 1, "raw_state": 1}
    assert "critical_alert=1" in cli(capsys, "outbox", "stats", "--config", path)[1]
    exported = cli(capsys, "outbox", "export", "--config", path, "--since", "1")[1]
    assert [json.loads(line)["seq"] for line in exported.splitlines()] == [2, 3]
    code, _, err = cli(capsys, "outbox", "purge", "--config", path)
    assert code == 2 and "--delivered" in err
    purged = cli(capsys, "outbox", "purge", "--delivered", "--config", path, "--json")[1]
    assert json.loads(purged) == {"purged": 1, "via": "direct"}
    stats = json.loads(cli(capsys, "outbox", "stats", "--config", path, "--json")[1])
    assert stats["delivered_kept"] == 0 and stats["pending"] == 2


# -- test-alarm -------------------------------------------------------------------------


def test_test_alarm_through_the_daemon(tmp_path, mosquitto, platform, daemon):
    out = edgeagent("test-alarm", "--config", str(daemon), "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["mode"] == "daemon" and result["acked"] is True
    platform.wait_for(lambda s: any(e["id"] == result["id"] for e in s.events()))
    human = edgeagent("test-alarm", "--config", str(daemon))
    assert "waiting for the broker's PUBACK" in human.stderr
    assert "broker acknowledged test alarm" in human.stderr


def test_test_alarm_without_daemon_publishes_directly(tmp_path, mosquitto, platform):
    path = config_file(tmp_path, mosquitto.url)
    out = edgeagent("test-alarm", "--config", str(path), "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["mode"] == "direct" and result["acked"] is True and result["seq"] == 1
    platform.wait_for(lambda s: any(e["type"] == "test" and e["seq"] == 1 for e in s.events()))
    outbox = Outbox(tmp_path / "outbox.db", "home-1", boot_id="b")
    assert outbox.stats().pending == 0 and outbox.stats().last_delivered_seq == 1
    outbox.close()


def test_test_alarm_with_no_broker_and_no_daemon_fails_and_keeps_the_alarm(tmp_path):
    path = config_file(tmp_path, f"mqtt://127.0.0.1:{free_port()}")
    out = edgeagent("test-alarm", "--config", str(path), "--json", "--timeout", "2")
    assert out.returncode == 2
    result = json.loads(out.stdout)
    assert result["acked"] is False and "stays in the outbox" in result["error"]
    outbox = Outbox(tmp_path / "outbox.db", "home-1", boot_id="b")
    assert outbox.stats().pending == 1
    outbox.close()


class PlatformResponder:
    """A platform that answers test alarms on <prefix>/<home>/test-alarm/reply."""

    def __init__(self, port: int) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="platform-responder")
        ready = threading.Event()
        self.client.on_subscribe = lambda *a: ready.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.client.subscribe("care/+/events/alert/test", qos=1)
        assert ready.wait(10)

    def _on_message(self, client, _u, msg) -> None:
        event = json.loads(msg.payload)
        client.publish(f"care/{event['home']}/test-alarm/reply",
                       json.dumps({"id": event["id"], "operator": "desk 4"}), qos=1)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_test_alarm_wait_reports_the_platform_reply(tmp_path, mosquitto, daemon):
    responder = PlatformResponder(mosquitto.port)
    try:
        out = edgeagent("test-alarm", "--config", str(daemon), "--wait", "--json",
                        "--wait-timeout", "20")
    finally:
        responder.stop()
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["platform_reply"] == {"id": result["id"], "operator": "desk 4"}


def test_test_alarm_wait_without_platform_support_exits_1(tmp_path, mosquitto, daemon):
    out = edgeagent("test-alarm", "--config", str(daemon), "--wait", "--json",
                    "--wait-timeout", "0.5")
    assert out.returncode == 1
    result = json.loads(out.stdout)
    assert result["acked"] is True and result["platform_reply"] is None


# -- watch ------------------------------------------------------------------------------


def test_watch_streams_the_daemon_readings_with_a_filter(tmp_path, daemon):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "edgeagent.cli.main", "watch", "--config",
                             str(daemon), "--json", "--type", "motion", "--room", "hall"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        lines = [json.loads(proc.stdout.readline()) for _ in range(4)]
    finally:
        proc.kill()
        proc.wait()
    assert {ln["what"] for ln in lines} <= {"reading", "event"}
    readings = [ln["payload"] for ln in lines if ln["what"] == "reading"]
    assert readings and all(r["sensor"] == "motion" and r["room"] == "hall" for r in readings)


def test_watch_without_daemon_explains(tmp_path):
    path = config_file(tmp_path, f"mqtt://127.0.0.1:{free_port()}")
    out = edgeagent("watch", "--config", str(path))
    assert out.returncode == 2 and "daemon not running" in out.stderr


def test_outbox_purge_goes_through_a_running_daemon(tmp_path, daemon, capsys):
    sock = tmp_path / "control.sock"
    deadline = time.monotonic() + 20
    while ControlClient(sock).request({"cmd": "status"})["outbox"]["delivered_kept"] == 0:
        assert time.monotonic() < deadline, "the stress driver's events were never delivered"
        time.sleep(0.05)
    code, out, _ = cli(capsys, "outbox", "purge", "--delivered", "--config", str(daemon),
                       "--json")
    result = json.loads(out)
    assert code == 0 and result["via"] == "daemon" and result["purged"] > 0
