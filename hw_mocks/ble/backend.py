"""A fake bleak backend: `BleakClient(..., backend=adapter.client_backend)` runs bleak's own code.

bleak picks a platform backend class (`BaseBleakClient`/`BaseBleakScanner`
subclass) and forwards every public call to it; this module is one more such
backend. The `FakeAdapter` plays the Bluetooth controller (hci0): it knows
which `FakePeripheral`s are in range, hands out bound backend classes, and
records every connection attempt and the peak number of simultaneous
connections so tests can check backoff and slot sharing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, ClassVar

from bleak.args import SizedBuffer
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import (
    BleakBluetoothNotAvailableError,
    BleakBluetoothNotAvailableReason,
    BleakDBusError,
    BleakDeviceNotFoundError,
    BleakError,
    BleakGATTProtocolError,
    BleakGATTProtocolErrorCode,
)
from edgeagent_drivers.ble.parsers import full_uuid, short_uuid

from edgeagent.clock import Clock

from .peripheral import FakePeripheral


class FakeAdapter:
    """One pretend controller. Backends bound to it see only its peripherals."""

    def __init__(self, name: str = "hci0", clock: Clock | None = None) -> None:
        self.name = name
        self.clock = clock
        self.powered = True
        self.peripherals: dict[str, FakePeripheral] = {}
        self.scanners: list[FakeBleakScanner] = []
        self.connect_log: list[tuple[float | None, str, str]] = []
        self.connected: set[str] = set()
        self.max_connected = 0
        self.scans_started = 0
        self.client_backend: type[FakeBleakClient] = type(
            f"FakeBleakClient_{name}", (FakeBleakClient,), {"adapter": self})
        self.scanner_backend: type[FakeBleakScanner] = type(
            f"FakeBleakScanner_{name}", (FakeBleakScanner,), {"adapter": self})

    def add(self, *peripherals: FakePeripheral) -> None:
        for p in peripherals:
            p.adapter = self
            self.peripherals[p.address] = p
            self.advertise(p)

    def remove(self, address: str) -> None:
        self.peripherals.pop(address.upper(), None)

    def find(self, address: str) -> FakePeripheral | None:
        p = self.peripherals.get(address.upper())
        return p if p is not None and p.in_range else None

    def rekey(self, old: str, p: FakePeripheral) -> None:
        self.peripherals.pop(old, None)
        self.peripherals[p.address] = p
        self.advertise(p)

    def advertise(self, p: FakePeripheral) -> None:
        """Deliver one advertisement from `p` to every running scanner."""
        if p.in_range:
            for scanner in list(self.scanners):
                scanner.hear(p)

    def advertise_all(self) -> None:
        for p in list(self.peripherals.values()):
            self.advertise(p)

    def log_attempt(self, address: str, outcome: str) -> None:
        now = self.clock.monotonic() if self.clock is not None else None
        self.connect_log.append((now, address.upper(), outcome))

    def attempts(self, address: str) -> list[tuple[float | None, str]]:
        return [(t, o) for t, a, o in self.connect_log if a == address.upper()]

    def pump(self) -> int:
        return sum(p.pump() for p in list(self.peripherals.values()))

    async def autopump(self, period_s: float = 1.0) -> None:
        """Demo helper: run schedules and re-advertise every `period_s` real seconds."""
        while True:
            self.pump()
            self.advertise_all()
            await asyncio.sleep(period_s)


def _dbus(name: str, detail: str) -> BleakDBusError:
    return BleakDBusError(name, [detail])


class FakeBleakClient(BaseBleakClient):
    """bleak client backend that talks to a FakePeripheral through its FakeAdapter."""

    adapter: ClassVar[FakeAdapter]

    def __init__(self, address_or_ble_device: BLEDevice | str, *,
                 disconnected_callback: Callable[[], None] | None, timeout: float,
                 **kwargs: Any) -> None:
        super().__init__(address_or_ble_device, disconnected_callback=disconnected_callback,
                         timeout=timeout)
        self._peripheral: FakePeripheral | None = None

    @property
    def name(self) -> str:
        if self._peripheral is not None and self._peripheral.name:
            return self._peripheral.name
        return self.address.replace(":", "-")

    @property
    def mtu_size(self) -> int:
        return 23

    @property
    def is_connected(self) -> bool:
        return self._peripheral is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        adapter = self.adapter
        if not adapter.powered:
            raise BleakBluetoothNotAvailableError(
                "No powered Bluetooth adapters found.",
                BleakBluetoothNotAvailableReason.POWERED_OFF)
        p = adapter.find(self.address)
        failure = "not_found" if p is None else p.next_connect_failure()
        adapter.log_attempt(self.address, failure or "connected")
        if p is None or failure == "not_found":
            raise BleakDeviceNotFoundError(
                self.address, f"Device with address {self.address} was not found.")
        if failure == "refuse":
            raise _dbus("org.bluez.Error.Failed", "le-connection-abort-by-remote")
        if failure == "timeout":
            raise TimeoutError(f"connect to {self.address} timed out after {self._timeout} s")
        if failure == "in_progress":
            raise _dbus("org.bluez.Error.InProgress", "Operation already in progress")
        if failure == "abort":
            raise _dbus("org.bluez.Error.Failed", "Software caused connection abort")
        if failure == "hang":
            await asyncio.Event().wait()  # a hung bluetoothd: only cancellation ends it
        if p.client is not None:
            raise _dbus("org.bluez.Error.InProgress", "Operation already in progress")
        p.attach(self)
        self._peripheral = p
        self.services = self._build_services(p)
        adapter.connected.add(p.address)
        adapter.max_connected = max(adapter.max_connected, len(adapter.connected))

    def _build_services(self, p: FakePeripheral) -> BleakGATTServiceCollection:
        collection = BleakGATTServiceCollection()
        handle = 1
        for service_uuid, chars in p.services.items():
            service = BleakGATTService(None, handle, full_uuid(service_uuid))
            collection.add_service(service)
            handle += 1
            for char in chars:
                characteristic = BleakGATTCharacteristic(
                    None, handle, full_uuid(char), list(p.properties[char]),  # type: ignore[arg-type]
                    lambda: 20, service)
                collection.add_characteristic(characteristic)  # also adds it to the service
                handle += 2
        return collection

    def _release(self) -> FakePeripheral | None:
        p = self._peripheral
        if p is not None:
            p.detach()
            self.adapter.connected.discard(p.address)
        self._peripheral = None
        return p

    async def disconnect(self) -> None:
        self._release()

    def peripheral_dropped(self) -> None:
        """Unsolicited disconnect: bleak schedules the user's callback, we call it."""
        if self._release() is not None and self._disconnected_callback is not None:
            self._disconnected_callback()

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def unpair(self) -> None:
        return None

    def _require(self) -> FakePeripheral:
        if self._peripheral is None:
            raise BleakError("Not connected")
        return self._peripheral

    async def read_gatt_char(self, characteristic: BleakGATTCharacteristic, *,
                             use_cached: bool = False, **kwargs: Any) -> bytearray:
        p = self._require()
        if "read" not in characteristic.properties:
            raise BleakGATTProtocolError(BleakGATTProtocolErrorCode.READ_NOT_PERMITTED)
        uuid = short_uuid(characteristic.uuid)
        if uuid in p.refused:
            raise BleakGATTProtocolError(p.refused[uuid])
        return bytearray(p.read(uuid))

    async def read_gatt_descriptor(self, descriptor: BleakGATTDescriptor, *,
                                   use_cached: bool = False, **kwargs: Any) -> bytearray:
        self._require()
        return bytearray()

    async def write_gatt_char(self, characteristic: BleakGATTCharacteristic,
                              data: SizedBuffer, response: bool) -> None:
        self._require().values[short_uuid(characteristic.uuid)] = bytes(data)

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor,
                                    data: SizedBuffer) -> None:
        self._require()

    async def start_notify(self, characteristic: BleakGATTCharacteristic,
                           callback: NotifyCallback, **kwargs: Any) -> None:
        p = self._require()
        if not {"notify", "indicate"} & set(characteristic.properties):
            raise BleakError(f"characteristic {characteristic.uuid} cannot notify")
        uuid = short_uuid(characteristic.uuid)
        if uuid in p.refused:
            raise BleakGATTProtocolError(p.refused[uuid])
        p.subscribe(uuid, callback)

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        p = self._require()
        p.subscriptions.pop(short_uuid(characteristic.uuid), None)


class FakeBleakScanner(BaseBleakScanner):
    """bleak scanner backend: hears the adapter's in-range peripherals' advertisements."""

    adapter: ClassVar[FakeAdapter]

    def __init__(self, detection_callback: AdvertisementDataCallback | None,
                 service_uuids: list[str] | None, scanning_mode: str = "active",
                 **kwargs: Any) -> None:
        super().__init__(detection_callback, service_uuids)
        self.scanning_mode = scanning_mode

    async def start(self) -> None:
        adapter = self.adapter
        if not adapter.powered:
            raise BleakBluetoothNotAvailableError(
                "No powered Bluetooth adapters found.",
                BleakBluetoothNotAvailableReason.POWERED_OFF)
        self.seen_devices = {}
        adapter.scans_started += 1
        adapter.scanners.append(self)
        # The first advertisements arrive after start() returns, as on air.
        asyncio.get_running_loop().call_soon(self._hear_all)

    def _hear_all(self) -> None:
        if self in self.adapter.scanners:
            for p in list(self.adapter.peripherals.values()):
                if p.in_range:
                    self.hear(p)

    async def stop(self) -> None:
        if self in self.adapter.scanners:
            self.adapter.scanners.remove(self)

    def hear(self, p: FakePeripheral) -> None:
        adv = p.advertisement()
        if not self.is_allowed_uuid(adv.service_uuids):
            return
        device = self.create_or_update_device(p.address, p.address, p.name, None, adv)
        self.call_detection_callbacks(device, adv)
