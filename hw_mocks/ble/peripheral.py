"""A pretend Bluetooth LE health monitor, served to bleak through the fake backend.

A `FakePeripheral` holds GATT services with spec-encoded values, sends
notifications when told (`notify`) or on a schedule driven by an injected
clock (`every` + `pump`), and misbehaves on request the way real monitors and
BlueZ do: refuse connections, time out, hang, answer "Operation already in
progress", drop the link mid-stream, send malformed bytes, change address,
run its battery down, go out of range.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from bleak.backends.scanner import AdvertisementData
from edgeagent_drivers.ble.parsers import full_uuid
from edgeagent_drivers.ble.profiles import CHARACTERISTIC_PROPERTIES, PROFILES

from edgeagent.clock import Clock

from . import encoders

if TYPE_CHECKING:
    from .backend import FakeAdapter, FakeBleakClient

ConnectFailure = Literal["refuse", "timeout", "hang", "in_progress", "abort", "not_found"]
NotifyCallback = Callable[[bytearray], None]


@dataclass(slots=True)
class _Schedule:
    characteristic: str
    interval_s: float
    next_due: float
    payload: Callable[[int], bytes]
    times: int | None = None
    count: int = 0


class FakePeripheral:
    """One monitor. `profiles` picks the SIG services it serves (see profiles.PROFILES).

    `store_while_disconnected=True` makes it behave like a BP cuff or scale
    with memory: measurements taken while no central is subscribed are kept
    and sent, in order, when one subscribes again.
    """

    def __init__(self, address: str, name: str | None = None, *,
                 profiles: Iterable[str] = ("heart_rate", "battery"), rssi: int = -60,
                 battery_pct: int = 100, store_while_disconnected: bool = False,
                 clock: Clock | None = None) -> None:
        self.address = address.upper()
        self.name = name
        self.rssi = rssi
        self.clock = clock
        self.store_while_disconnected = store_while_disconnected
        self.services: dict[str, tuple[str, ...]] = {}
        for profile_name in profiles:
            profile = PROFILES[profile_name]
            self.services[profile.service] = profile.characteristics
        self.properties: dict[str, tuple[str, ...]] = {
            char: CHARACTERISTIC_PROPERTIES[char]
            for chars in self.services.values() for char in chars
        }
        self.values: dict[str, bytes] = {}
        self.battery_pct = battery_pct
        if "2a19" in self.properties:
            self.values["2a19"] = encoders.battery(battery_pct)
        self.in_range = True
        self.refuse_connections = False
        self.service_data: dict[str, bytes] = {}
        self.adapter: FakeAdapter | None = None
        self.client: FakeBleakClient | None = None
        self.subscriptions: dict[str, NotifyCallback] = {}
        self.stored: deque[tuple[str, bytes]] = deque()
        self.sent: list[tuple[str, bytes]] = []
        self.connect_count = 0
        self.refused: dict[str, int] = {}
        self._failures: deque[ConnectFailure] = deque()
        self._schedules: list[_Schedule] = []

    # --- scripted misbehaviour ---

    def fail_next_connects(self, count: int, how: ConnectFailure = "refuse") -> None:
        """The next `count` connection attempts fail in the given way, then it recovers."""
        self._failures.extend([how] * count)

    def refuse(self, characteristic: str, att_error: int = 0x0F) -> None:
        """Answer reads and subscriptions of one characteristic with an ATT error
        (default 0x0F, insufficient encryption: a device that wants bonding)."""
        self.refused[characteristic] = att_error

    def next_connect_failure(self) -> ConnectFailure | None:
        if self.refuse_connections:
            return "refuse"
        return self._failures.popleft() if self._failures else None

    def disconnect(self) -> None:
        """Drop the link from the peripheral side (walked out of range, powered off)."""
        if self.client is not None:
            self.client.peripheral_dropped()

    def change_address(self, new_address: str) -> None:
        """Resolvable private addresses rotate; a central that cached the old one must rescan."""
        old = self.address
        self.address = new_address.upper()
        if self.adapter is not None:
            self.adapter.rekey(old, self)

    def run_battery_down(self, to_pct: int) -> None:
        self.battery_pct = to_pct
        self.values["2a19"] = encoders.battery(to_pct)
        self.notify("2a19", self.values["2a19"])

    # --- GATT server side ---

    def attach(self, client: FakeBleakClient) -> None:
        self.client = client
        self.connect_count += 1

    def detach(self) -> None:
        self.client = None
        self.subscriptions.clear()

    def read(self, characteristic: str) -> bytes:
        return self.values.get(characteristic, b"")

    def subscribe(self, characteristic: str, callback: NotifyCallback) -> None:
        self.subscriptions[characteristic] = callback
        backlog = [item for item in self.stored if item[0] == characteristic]
        for item in backlog:
            self.stored.remove(item)
        if backlog:
            # Stored measurements arrive after the CCCD write completes, as on air.
            loop = asyncio.get_running_loop()
            for char, payload in backlog:
                loop.call_soon(self._deliver, char, payload)

    def _deliver(self, characteristic: str, payload: bytes) -> bool:
        callback = self.subscriptions.get(characteristic)
        if callback is None:
            if self.store_while_disconnected and characteristic != "2a19":
                self.stored.append((characteristic, payload))
            return False
        self.sent.append((characteristic, payload))
        callback(bytearray(payload))
        return True

    def notify(self, characteristic: str, payload: bytes) -> bool:
        """Send a notification/indication now. False if nobody was subscribed."""
        self.values[characteristic] = payload
        return self._deliver(characteristic, payload)

    def send_malformed(self, characteristic: str, payload: bytes = b"\x1f\x48") -> bool:
        """Bytes whose flags promise fields that are not there (a truncated frame)."""
        return self._deliver(characteristic, payload)

    # --- schedule driven by the injected clock ---

    def every(self, characteristic: str, interval_s: float,
              payload: Callable[[int], bytes], *, times: int | None = None) -> None:
        """Produce `payload(n)` every `interval_s` of the peripheral's clock (see `pump`),
        `times` times or forever."""
        if self.clock is None:
            raise ValueError("a scheduled peripheral needs a clock")
        self._schedules.append(_Schedule(
            characteristic, interval_s, self.clock.monotonic() + interval_s, payload, times))

    def pump(self) -> int:
        """Send every scheduled measurement now due by the clock; returns how many were taken."""
        if self.clock is None:
            return 0
        now = self.clock.monotonic()
        taken = 0
        for sched in self._schedules:
            while sched.next_due <= now and (sched.times is None or sched.count < sched.times):
                payload = sched.payload(sched.count)
                sched.count += 1
                sched.next_due += sched.interval_s
                taken += 1
                if self.in_range:
                    self.notify(sched.characteristic, payload)
        return taken

    # --- advertising ---

    def advertisement(self) -> AdvertisementData:
        return AdvertisementData(
            local_name=self.name,
            manufacturer_data={},
            service_data=dict(self.service_data),
            service_uuids=[full_uuid(s) for s in self.services],
            tx_power=None,
            rssi=self.rssi,
            platform_data=(),
        )

    def broadcast(self, characteristic_or_service: str, payload: bytes) -> None:
        """Put a reading in advertisement service data (cheap scales and thermometers do)."""
        self.service_data = {full_uuid(characteristic_or_service): payload}
        if self.adapter is not None:
            self.adapter.advertise(self)
