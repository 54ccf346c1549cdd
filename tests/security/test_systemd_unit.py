"""systemd/edgeagent.service: hardened as documented, valid, and at most exposure 1.5."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgeagent.config import ControlConfig, OutboxConfig

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "edgeagent.service"
ANALYZE = shutil.which("systemd-analyze")


def directives() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def test_unit_has_the_hardening_the_docs_promise():
    d = directives()
    expect = {
        "Type": "notify", "Restart": "on-failure", "User": "edgeagent",
        "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
        "PrivateTmp": "yes", "StateDirectory": "edgeagent", "RuntimeDirectory": "edgeagent",
        "CapabilityBoundingSet": "", "ExecReload": "/bin/kill -HUP $MAINPID",
        "DevicePolicy": "closed", "ProtectClock": "yes",
    }
    for key, value in expect.items():
        assert d.get(key) == [value], (key, d.get(key))
    assert int(d["WatchdogSec"][0]) > 0
    assert d["StartLimitIntervalSec"] and d["StartLimitBurst"]
    assert set(d["SupplementaryGroups"][0].split()) == {"gpio", "dialout", "bluetooth"}
    # BLE goes through BlueZ over D-Bus (AF_UNIX): tests/security/test_bluez_without_bt_sockets.py
    assert set(d["RestrictAddressFamilies"][0].split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}
    assert "IPAddressAllow" not in d and "IPAddressDeny" not in d  # opt-in drop-in only
    assert {v.split()[0] for v in d["DeviceAllow"]} >= {"char-gpiochip", "char-ttyUSB",
                                                        "char-ttyACM"}
    # The defaults the agent ships with live where the unit lets it write.
    assert str(ControlConfig().socket) == "/run/edgeagent/control.sock"
    assert str(OutboxConfig().path).startswith("/var/lib/edgeagent/")


def rendered(tmp_path: Path) -> Path:
    """The unit as `edgeagent install` writes it: Exec lines pointing at this venv."""
    exe = Path(sys.executable).parent / "edgeagent"
    if not exe.exists():
        pytest.skip("no edgeagent console script beside this interpreter")
    path = tmp_path / "edgeagent.service"
    path.write_text(UNIT.read_text().replace("/usr/bin/edgeagent", str(exe)))
    return path


@pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed here")
def test_systemd_analyze_verify_is_clean(tmp_path):
    done = subprocess.run([ANALYZE, "verify", str(rendered(tmp_path))], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "edgeagent.service" not in done.stderr, done.stderr


MAX_EXPOSURE = 1.5


@pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed here "
                                             "(scripts/test installs it: apt package systemd)")
def test_systemd_analyze_security_exposure_at_most_1_5(tmp_path):
    done = subprocess.run([ANALYZE, "security", "--offline=true", str(rendered(tmp_path))],
                          capture_output=True, text=True, timeout=60)
    if done.returncode != 0 and "offline" in done.stderr:
        pytest.skip(f"this systemd-analyze has no --offline: {done.stderr.strip()}")
    match = re.search(r"Overall exposure level for edgeagent\.service: ([0-9.]+)", done.stdout)
    assert match, done.stdout[-2000:] + done.stderr
    exposure = float(match.group(1))
    print(f"systemd-analyze security exposure: {exposure}")
    assert exposure <= MAX_EXPOSURE, done.stdout
