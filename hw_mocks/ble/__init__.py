"""Fake Bluetooth LE for tests and the demo: a bleak backend, peripherals, virtual time.

    adapter = FakeAdapter(clock=clock)
    cuff = FakePeripheral("AA:BB:CC:00:00:01", "BP7000", profiles=["blood_pressure", "battery"])
    adapter.add(cuff)
    client = BleakClient(cuff.address, backend=adapter.client_backend)

`default_adapter()` is the process-wide adapter the `backend = "fake"` driver
option resolves to (see drivers/ble/README.md).
"""

from __future__ import annotations

from edgeagent_drivers.ble.backends import BleBackend

from . import encoders
from .backend import FakeAdapter, FakeBleakClient, FakeBleakScanner
from .demo import DEMO_DEVICES, populate_demo
from .peripheral import FakePeripheral
from .virtual_time import VirtualTime

_DEFAULT: FakeAdapter | None = None


def default_adapter() -> FakeAdapter:
    """The shared adapter behind `backend = "fake"`; demos add peripherals to it."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = FakeAdapter()
    return _DEFAULT


def reset_default_adapter() -> FakeAdapter:
    global _DEFAULT
    _DEFAULT = FakeAdapter()
    return _DEFAULT


__all__ = [
    "DEMO_DEVICES", "FakeAdapter", "FakeBleakClient", "FakeBleakScanner", "FakePeripheral",
    "VirtualTime",
    "default_adapter", "encoders", "fake_backend", "populate_demo", "reset_default_adapter",
]


def fake_backend() -> BleBackend:
    """The `fake` BLE backend (entry point `edgeagent.ble_backends`): the shared adapter."""
    adapter = default_adapter()
    return BleBackend(adapter.client_backend, adapter.scanner_backend)
