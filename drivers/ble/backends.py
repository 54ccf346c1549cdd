"""Which bleak backend a BLE driver uses, chosen by name (a driver's `backend` key).

bleak picks its platform backend itself and takes another one as a class
(`BleakClient(..., backend=...)`); this is the same seam, by name. `bleak` is
bleak's platform default (BlueZ over D-Bus on a Pi). Every other name comes
from the `edgeagent.ble_backends` entry-point group, a factory returning a
`BleBackend`: `edgeagent_mocks` registers `fake` (the simulated adapter the
demo and the tests use), so production code never imports the mocks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points

from bleak.backends.client import BaseBleakClient
from bleak.backends.scanner import BaseBleakScanner

ENTRY_POINT_GROUP = "edgeagent.ble_backends"


@dataclass(frozen=True, slots=True)
class BleBackend:
    """bleak backend classes to use; None means bleak's platform default (BlueZ on a Pi)."""

    client: type[BaseBleakClient] | None = None
    scanner: type[BaseBleakScanner] | None = None


BackendFactory = Callable[[], BleBackend]
_registered: dict[str, BackendFactory] = {"bleak": BleBackend}


def register_backend(name: str, factory: BackendFactory) -> None:
    """Offer a backend under `backend = "<name>"` without an entry point (a test, a plugin)."""
    _registered[name] = factory


def backend_names() -> list[str]:
    """Every name a driver's `backend` may take."""
    names = dict.fromkeys(_registered)
    names.update(dict.fromkeys(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)))
    return list(names)


def ble_backend(name: str) -> BleBackend:
    """The backend registered as `name`; LookupError naming the known ones if none is."""
    factory = _registered.get(name)
    if factory is None:
        found = entry_points(group=ENTRY_POINT_GROUP, name=name)
        if not found:
            raise LookupError(f"unknown BLE backend {name!r} (known: {', '.join(backend_names())})")
        factory = next(iter(found)).load()
    backend = factory()
    if not isinstance(backend, BleBackend):
        raise TypeError(f"BLE backend {name!r} did not give a BleBackend: {backend!r}")
    return backend
