"""Fixtures for doctor and the control socket: a PKI, TLS and password brokers, a quiet env."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edgeagent.config import AgentConfig
from edgeagent.doctor import DoctorContext
from tests.conftest import make_config
from tests.support.mosquitto import Mosquitto

from .pki import Pki, make_pki


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def tls_broker(tmp_path: Path, pki: Pki) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path / "tls-broker", listener_extra="\n".join([
        f"cafile {pki.ca.path}", f"certfile {pki.server_crt}", f"keyfile {pki.server_key}",
    ]), extra=KEEP_ROOT).start()
    yield broker
    broker.kill()


@pytest.fixture
def password_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    work = tmp_path / "pw-broker"
    work.mkdir()
    passwd = work / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwd), "tech", "right-password"],
                   check=True, capture_output=True)
    passwd.chmod(0o600)
    broker = Mosquitto(work, extra=f"allow_anonymous false\npassword_file {passwd}\n{KEEP_ROOT}").start()
    yield broker
    broker.kill()


# Started as root, mosquitto drops to user `mosquitto` before reading the TLS files, which
# live in pytest's private (0700) tmp dirs: keep the test broker's user.
KEEP_ROOT = "user root"


def quiet_env(**overrides: Any) -> DoctorContext:
    """A DoctorContext that does not depend on this machine's NTP or systemd."""
    base: dict[str, Any] = {"sync_probe": lambda: True, "systemctl": None, "mqtt_timeout": 3.0,
                            "ble_scan_seconds": 0.5}
    base.update(overrides)
    return DoctorContext(**base)


def config_with(tmp_path: Path, url: str, drivers: list[dict[str, Any]] | None = None,
                **mqtt: Any) -> AgentConfig:
    return make_config(tmp_path, url, drivers, mqtt=mqtt) if mqtt else \
        make_config(tmp_path, url, drivers)
