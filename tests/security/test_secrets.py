"""Secrets: refused when others can read them, and never echoed anywhere.

A municipal kit's MQTT password or TLS key leaking into a support bundle or a
journal that a technician pastes into a ticket is a breach. We plant a
recognisable secret, run the real daemon (debug logging on), `doctor --json`
standalone and against the daemon, and `bundle`, with both a right and a wrong
password, and grep every byte they produced.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.conftest import write_config
from tests.faults.kill_trials import BROKER_AS_US
from tests.support.mosquitto import Mosquitto
from tests.support.platform import PlatformSubscriber
from tests.support.waiting import wait_until

SECRET = "PLANTED-s3cret-7f3a9c"
CLI = [sys.executable, "-m", "edgeagent.cli.main"]


def edgeagent(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize(("key", "mode"), [
    ("password_file", 0o644), ("password_file", 0o640), ("key_file", 0o604)])
def test_run_refuses_secret_readable_by_others_naming_why(tmp_path, key, mode):
    secret = tmp_path / "secret"
    secret.write_text(SECRET + "\n")
    secret.chmod(mode)
    cert = tmp_path / "kit.crt"
    cert.write_text("not read: refused before\n")
    extra = (f'username = "home-1"\npassword_file = "{secret}"' if key == "password_file"
             else f'cert_file = "{cert}"\nkey_file = "{secret}"')
    cfg = tmp_path / "agent.toml"
    cfg.write_text(f'[home]\nid = "home-1"\n[mqtt]\nurls = ["mqtts://localhost:8883"]\n{extra}\n'
                   f'[outbox]\npath = "{tmp_path}/outbox.db"\n')
    done = edgeagent("run", "--config", str(cfg), timeout=30)
    assert done.returncode == 2, done.stderr
    assert f"mqtt.{key}" in done.stderr
    assert "chmod 600" in done.stderr
    assert f"{mode:04o}" in done.stderr
    assert SECRET not in done.stdout + done.stderr
    assert not (tmp_path / "outbox.db").exists()  # refused before touching anything


def test_run_refuses_an_mqtt_local_password_file_readable_by_others(tmp_path):
    secret = tmp_path / "ha.password"
    secret.write_text(SECRET + "\n")
    secret.chmod(0o644)
    cfg = write_config(tmp_path / "agent.toml", f"""
        [home]
        id = "home-1"
        [outbox]
        path = "{tmp_path}/outbox.db"
        [[drivers]]
        type = "mqtt.local"
        name = "ha"
        username = "ha"
        password_file = "{secret}"
        [[drivers.map]]
        topic = "zigbee2mqtt/plug"
        field = "power"
        kind = "power"
    """)
    done = edgeagent("run", "--config", str(cfg), timeout=30)
    assert done.returncode == 2, done.stderr
    assert "drivers[0].password_file" in done.stderr
    assert "chmod 600" in done.stderr and "0644" in done.stderr
    assert "Traceback" not in done.stderr
    assert SECRET not in done.stdout + done.stderr
    assert not (tmp_path / "outbox.db").exists()  # refused before touching anything


class Daemon:
    def __init__(self, cfg: Path, log: Path) -> None:
        with log.open("ab") as out:
            self.proc = subprocess.Popen([*CLI, "-vv", "run", "--config", str(cfg)],
                                         stdout=out, stderr=out)
        self.log = log

    def wait_log(self, text: str, timeout: float = 30) -> None:
        wait_until(lambda: text in self.log.read_text(errors="replace"), timeout,
                   f"log line {text!r}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(20)


@pytest.mark.timeout(150)
def test_secret_never_in_logs_doctor_bundle_or_status(tmp_path):
    passwd = tmp_path / "broker.passwd"
    passwd.touch()
    subprocess.run(["mosquitto_passwd", "-b", str(passwd), "home-1", SECRET], check=True)
    broker = Mosquitto(tmp_path / "b", extra=f"{BROKER_AS_US}\nallow_anonymous false\n"
                                               f"password_file {passwd}").start()
    outputs: dict[str, bytes] = {}
    try:
        for label, password in (("right", SECRET), ("wrong", SECRET + "-but-wrong")):
            work = tmp_path / label
            work.mkdir()
            secret = work / "mqtt.password"
            secret.write_text(password + "\n")
            secret.chmod(0o600)
            cfg = write_config(work / "agent.toml", f"""
                [home]
                id = "home-1"
                [mqtt]
                urls = ["{broker.url}"]
                username = "home-1"
                password_file = "{secret}"
                backoff_initial = 0.2
                backoff_max = 1.0
                [outbox]
                path = "{work}/outbox.db"
                [control]
                socket = "{work}/control.sock"
                [[drivers]]
                type = "mock.stress"
                name = "s"
                rate_hz = 20
                count = 20
                [[drivers]]
                type = "mqtt.local"
                name = "ha"
                broker = "mqtt://home-1:{password}@127.0.0.1:{broker.port}"
                username = "home-1"
                password_file = "{secret}"
                [[drivers.map]]
                topic = "zigbee2mqtt/plug"
                field = "power"
                kind = "power"
            """)
            standalone = edgeagent("doctor", "--config", str(cfg), "--json", "--timeout", "3")
            outputs[f"{label}/doctor-standalone"] = (standalone.stdout + standalone.stderr).encode()
            checks = {c["name"]: c for c in json.loads(standalone.stdout)["checks"]}
            auth = next(c for n, c in checks.items() if n.startswith("mqtt.auth"))
            assert auth["status"] == ("pass" if label == "right" else "fail"), auth
            daemon = Daemon(cfg, work / "agent.log")
            try:
                daemon.wait_log("connected to" if label == "right" else "refused the connection")
                wait_until(lambda w=work: (w / "control.sock").exists(), 20, "control socket")
                live = edgeagent("doctor", "--config", str(cfg), "--json", "--timeout", "3")
                outputs[f"{label}/doctor-live"] = (live.stdout + live.stderr).encode()
                bundle_path = work / "bundle.tar.gz"
                bundle = edgeagent("bundle", "--config", str(cfg), "-o", str(bundle_path),
                                   "--log-file", str(work / "agent.log"))
                outputs[f"{label}/bundle-cli"] = (bundle.stdout + bundle.stderr).encode()
                json_bundle = work / "bundle.json"
                json_bundle.write_text("{}")  # an existing 0644 file is made private too
                json_bundle.chmod(0o644)
                edgeagent("bundle", "--config", str(cfg), "-o", str(json_bundle),
                          "--log-file", str(work / "agent.log"))
                assert json_bundle.stat().st_mode & 0o777 == 0o600
                outputs[f"{label}/bundle.json"] = json_bundle.read_bytes()
                outputs[f"{label}/config check"] = edgeagent(
                    "config", "check", str(cfg)).stdout.encode()
                with tarfile.open(bundle_path) as tar:
                    for member in tar.getmembers():
                        fh = tar.extractfile(member)
                        if fh is not None:
                            outputs[f"{label}/bundle:{member.name}"] = fh.read()
            finally:
                daemon.stop()
            outputs[f"{label}/agent.log"] = (work / "agent.log").read_bytes()
        status = PlatformSubscriber(broker.port, "care/home-1/status")
        status.client.username_pw_set("home-1", SECRET)
        status.start()
        status.wait_for(lambda s: bool(s.messages), timeout=10)
        outputs["retained status"] = status.messages[-1].payload
        status.stop()
    finally:
        broker.kill()
    assert len(outputs) >= 14
    # The mqtt.local broker is in the retained status, with its credentials stripped.
    assert b"mqtt://127.0.0.1:" in outputs["retained status"]
    leaks = [name for name, data in outputs.items() if SECRET.encode() in data]
    assert leaks == [], f"the planted secret appears in: {leaks}"
    assert any(b"refused the connection" in data for name, data in outputs.items()
               if name == "wrong/agent.log")
    print(f"grepped {len(outputs)} outputs ({sum(map(len, outputs.values()))} bytes): "
          f"no secret")
