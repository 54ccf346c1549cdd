"""BLE backends are chosen by name; the fake one comes from the mocks' entry point."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from edgeagent_drivers.ble.backends import BleBackend, backend_names, ble_backend
from edgeagent_drivers.ble.vitals import BleVitalsOptions
from edgeagent_mocks.ble import default_adapter
from pydantic import ValidationError

ROOT = Path(__file__).resolve().parents[2]


def test_bleak_is_the_platform_default_and_fake_is_the_mocks_adapter() -> None:
    assert ble_backend("bleak") == BleBackend(None, None)
    fake = ble_backend("fake")
    adapter = default_adapter()
    assert (fake.client, fake.scanner) == (adapter.client_backend, adapter.scanner_backend)
    assert {"bleak", "fake"} <= set(backend_names())


def test_an_unknown_backend_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(LookupError, match=r"unknown BLE backend 'blez' \(known: bleak, .*fake"):
        ble_backend("blez")
    with pytest.raises(ValidationError, match="unknown BLE backend 'blez'"):
        BleVitalsOptions(type="ble.vitals", name="v", backend="blez")


def test_no_production_module_imports_the_mocks() -> None:
    """The fake backend is registered by edgeagent_mocks; drivers/ and edgeagent/ never
    import it (a kit without the mocks installed still runs)."""
    offenders = []
    for folder in ("drivers", "edgeagent"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                if any(n.startswith("edgeagent_mocks") for n in names):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
