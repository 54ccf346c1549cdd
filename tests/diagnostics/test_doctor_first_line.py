"""`edgeagent doctor` prints its first line before importing the heavy parts.

The header (home and config file) is what a technician sees while the checks
run; it must not wait for the config model, the drivers or the MQTT client.
The guard is the import structure, not a stopwatch: a fresh interpreter runs
doctor with stdout wrapped, and the modules loaded at the first newline are
compared with those loaded at the end.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HEAVY = ("edgeagent.config", "edgeagent.doctor", "edgeagent.cli.diagnostics",
         "edgeagent.driver", "edgeagent.publisher", "pydantic", "paho")

SPY = """
import json, sys
from edgeagent.cli.main import main

class FirstLineSpy:
    def __init__(self, inner):
        self.inner, self.modules = inner, None
    def write(self, text):
        if self.modules is None and "\\n" in text:
            self.modules = sorted(sys.modules)
        return self.inner.write(text)
    def __getattr__(self, name):
        return getattr(self.inner, name)

spy = sys.stdout = FirstLineSpy(sys.stdout)
code = main(sys.argv[1:])
sys.stdout.flush()
print(json.dumps({"code": code, "at_first_line": spy.modules, "at_end": sorted(sys.modules)}),
      file=sys.stderr)
"""


def run_doctor(tmp_path: Path, *extra: str) -> tuple[list[str], dict[str, Any]]:
    config = tmp_path / "kit.toml"
    config.write_text(f"""
[home]
id = "home-7"
[outbox]
path = "{tmp_path / 'outbox.db'}"
[control]
socket = "{tmp_path / 'control.sock'}"
""", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-c", SPY, *extra, "doctor", "-c", str(config), "--no-network",
         "--timeout", "1"],
        capture_output=True, text=True, timeout=60, check=False)
    result: dict[str, Any] = json.loads(proc.stderr.strip().splitlines()[-1])
    return proc.stdout.splitlines(), result


def test_doctor_prints_its_header_before_loading_config_model_drivers_or_mqtt(
        tmp_path: Path) -> None:
    lines, result = run_doctor(tmp_path)
    assert lines[0] == f"edgeagent doctor: home home-7, config {tmp_path / 'kit.toml'}"
    assert any(line.startswith("PASS  agent.version") for line in lines)  # the report follows
    first, end = set(result["at_first_line"]), set(result["at_end"])
    assert [m for m in HEAVY if m in first] == []
    assert {"edgeagent.config", "edgeagent.doctor", "pydantic"} <= end  # the spy saw them load


def test_doctor_header_follows_the_language(tmp_path: Path) -> None:
    lines, _ = run_doctor(tmp_path, "--lang", "zh_CN")
    assert lines[0].startswith("edgeagent doctor") and "家庭 home-7" in lines[0], lines[0]
    assert "配置" in lines[0], lines[0]
