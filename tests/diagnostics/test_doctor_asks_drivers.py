"""The doctor knows drivers only through the driver interface: each class's `checks()`."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

from edgeagent.config import parse_config
from edgeagent.driver import BleScanCheck, GpioPinCheck, SerialPortCheck, hardware_checks

ROOT = Path(__file__).resolve().parents[2]
DOCTOR = ROOT / "edgeagent" / "doctor"
DRIVER_PACKAGES = ("edgeagent_drivers", "edgeagent_mocks")


def _driver_references(path: Path) -> list[str]:
    """Imports of a driver package in `path`, static or by name (importlib, strings)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names = [node.value]
        found += [f"{path.name}:{getattr(node, 'lineno', 0)}: {n}" for n in names
                  if n.startswith(DRIVER_PACKAGES)]
    return found


def test_no_doctor_module_imports_a_driver() -> None:
    modules = sorted(DOCTOR.glob("*.py"))
    assert len(modules) > 10
    assert [ref for path in modules for ref in _driver_references(path)] == []


@pytest.mark.parametrize("sample", ["gpio", "serial", "ble", "ambient"])
def test_every_sample_driver_asks_the_doctor_for_the_probe_of_its_hardware(sample: str) -> None:
    path = ROOT / "drivers" / sample / "sample.toml"
    config = parse_config(tomllib.loads(path.read_text("utf-8")), str(path))
    assert config.drivers
    for opts in config.drivers:
        probes = hardware_checks(opts)
        family = opts.type.split(".", 1)[0]
        if family == "gpio":
            assert [type(p) for p in probes] == [GpioPinCheck], opts.type
            assert isinstance(probes[0], GpioPinCheck)
            assert probes[0].pin == opts.pin
        elif family == "serial":
            assert [type(p) for p in probes] == [SerialPortCheck], opts.type
            assert isinstance(probes[0], SerialPortCheck)
            assert probes[0].port == opts.port
            assert probes[0].framer().feed(b"") == []
        elif family == "ble":
            assert [type(p) for p in probes] == [BleScanCheck], opts.type
            assert isinstance(probes[0], BleScanCheck)
            assert probes[0].adapter == opts.adapter
            assert [d.id for d in probes[0].devices] == \
                [d.id for d in getattr(opts, "devices", [])]
            assert probes[0].short_uuid("00002a37-0000-1000-8000-00805f9b34fb") == "2a37"
        else:  # mqtt.local: nothing on this machine to probe
            assert probes == [], opts.type
