"""`edgeagent --lang zh_CN doctor`: every check line a technician reads is in Chinese.

The kit below makes doctor run most of its families for real: config and a
leaky secret file, a GPIO driver on gpiozero's mock pins, a BLE driver on the
fake bleak backend (its monitor is out of range), a real mosquitto, an outbox
with an undelivered event, no daemon, no systemd.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from edgeagent_mocks.ble import reset_default_adapter

from edgeagent.cli.main import main
from edgeagent.i18n import set_language
from edgeagent.models import Draft, Kind, Severity
from edgeagent.outbox import Outbox
from tests.support.mosquitto import Mosquitto

CJK = re.compile(r"[\u4e00-\u9fff]")
TAGS_ZH = ("通过", "警告", "失败", "跳过")


@pytest.fixture
def kit(tmp_path: Path, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    reset_default_adapter()
    secret = tmp_path / "mqtt-password"
    secret.write_text("pw")
    secret.chmod(0o644)
    outbox = Outbox(tmp_path / "outbox.db", "home-1", boot_id="b")
    outbox.append([Draft(kind=Kind.STATE, type="motion", severity=Severity.INFO,
                         source={"driver": "pir", "device": "pir"}, mono=0.0,
                         wall=datetime.now(UTC),
                         data={})], synced=True)
    outbox.close()
    path = tmp_path / "edgeagent.toml"
    path.write_text(f"""
[home]
id = "home-1"
[mqtt]
urls = ["{mosquitto.url}"]
username = "kit"
password_file = "{secret}"
[outbox]
path = "{tmp_path / 'outbox.db'}"
[control]
socket = "{tmp_path / 'control.sock'}"
[[drivers]]
type = "gpio.pir"
name = "pir-bedroom"
pin = 17
pin_factory = "mock"
[[drivers]]
type = "ble.vitals"
name = "vitals"
backend = "fake"
[[drivers.devices]]
id = "bp-1"
address = "C0:FF:EE:00:00:01"
profiles = ["blood_pressure"]
[[drivers]]
type = "mock.stress"
name = "stress"
""")
    yield path
    set_language("en")
    reset_default_adapter()


def check_lines(out: str) -> list[str]:
    return [line for line in out.splitlines()
            if line.startswith((*TAGS_ZH, "PASS", "WARN", "FAIL", "SKIP"))]


def test_doctor_in_chinese_prints_chinese_for_every_check(
        kit: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--lang", "zh_CN", "doctor", "--config", str(kit), "--timeout", "3",
                 "--ble-scan-seconds", "0.2"])
    out = capsys.readouterr().out
    lines = check_lines(out)
    families = {line.split()[1].split("[")[0].split(".")[0] for line in lines}
    assert {"agent", "config", "driver", "ble", "mqtt", "clock", "outbox",
            "systemd"} <= families, out
    assert len(lines) >= 15, out
    for line in lines:
        tag, _name, reason = line.split(None, 2)
        assert tag in TAGS_ZH, line
        assert CJK.search(reason), f"no Chinese in: {line}"
    fixes = [line for line in out.splitlines() if line.strip().startswith("->")]
    assert fixes and all(CJK.search(f) for f in fixes), out
    summary = out.strip().splitlines()[-1]
    assert "项通过" in summary and f"退出码 {code}" in summary


def test_the_same_kit_in_english_has_no_chinese(kit: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    main(["--lang", "en", "doctor", "--config", str(kit), "--timeout", "3",
          "--ble-scan-seconds", "0.2"])
    out = capsys.readouterr().out
    assert len(check_lines(out)) >= 15
    assert not CJK.search(out), out
