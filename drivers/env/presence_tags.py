"""`ble.presence`: her wristband or pendant as a beacon, present or absent in the home.

A tag is found by its fixed `address` (a BTHome pendant, a band with a
static address) or by iBeacon `ibeacon_uuid` (+ optional `major`, `minor`).
`TagPresence` turns its adverts into present/absent with RSSI hysteresis
and a miss window; each change is one reading: sensor `tag`, value
"present" or "absent", data with the RSSI and, when absent, `silent_for_s`
(how long since the last advert that kept it present). The fence logic
(`edgeagent.heuristics.fence`) combines these with the entrance door.

BlueZ passive scanning needs patterns: BTHome service data and Apple
iBeacon manufacturer data are matched, so an address-only tag must send
one of the two (BTHome pendants and iBeacon bands do).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from bleak.args.bluez import OrPattern
from bleak.assigned_numbers import AdvertisementDataType
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from edgeagent_drivers.ble.passive import passive_scan_forever
from edgeagent_drivers.ble.vitals import (
    BACKENDS,
    BleAdapterOptions,
    BleBackend,
    reject_ids_used_twice,
)
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from edgeagent.driver import Driver, DriverContext, DriverOptions, HealthState

from .ble_keys import normal_mac
from .bthome import SERVICE_UUID16
from .tag_presence import IBeacon, TagPresence, parse_ibeacon

SleepFn = Callable[[float], Awaitable[None]]


class TagOptions(BaseModel):
    """One tag: a fixed address, or an iBeacon UUID (with major/minor if shared)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    address: str | None = None
    ibeacon_uuid: str | None = Field(default=None,
                                     pattern=r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
    major: int | None = Field(default=None, ge=0, le=0xFFFF)
    minor: int | None = Field(default=None, ge=0, le=0xFFFF)

    @field_validator("address")
    @classmethod
    def _mac(cls, value: str | None) -> str | None:
        return normal_mac(value) if value is not None else None

    @model_validator(mode="after")
    def _findable(self) -> TagOptions:
        if (self.address is None) == (self.ibeacon_uuid is None):
            raise ValueError(f"tag {self.id!r} needs address or ibeacon_uuid (one of them)")
        return self

    def matches(self, address: str, beacon: IBeacon | None) -> bool:
        if self.address is not None:
            return address.upper() == self.address
        return (beacon is not None and self.ibeacon_uuid is not None
                and beacon.uuid == self.ibeacon_uuid.lower()
                and self.major in (None, beacon.major) and self.minor in (None, beacon.minor))


class PresenceOptions(BleAdapterOptions):
    """The `[[drivers]]` table of type `ble.presence` (docs/ble.md)."""

    tags: list[TagOptions] = Field(min_length=1)
    present_rssi: int = Field(default=-85, ge=-127, le=20)
    absent_rssi: int = Field(default=-95, ge=-127, le=20)
    miss_window_s: float = Field(default=120, gt=0, le=3600)
    tick_s: float = Field(default=5, gt=0, le=60)
    retry_delay_s: float = Field(default=30, gt=0)

    @model_validator(mode="after")
    def _consistent(self) -> PresenceOptions:
        reject_ids_used_twice([t.id for t in self.tags], "tag")
        if self.absent_rssi > self.present_rssi:
            raise ValueError("absent_rssi must be at or below present_rssi (the hysteresis)")
        return self


class PresenceDriver(Driver):
    """`tag` present/absent readings from beacon adverts."""

    Options: ClassVar[type[DriverOptions]] = PresenceOptions
    options: PresenceOptions

    def __init__(self, options: DriverOptions, context: DriverContext, *,
                 backend: BleBackend | None = None, sleep: SleepFn | None = None) -> None:
        super().__init__(options, context)
        assert isinstance(options, PresenceOptions)
        self.options = options
        self.backend = backend if backend is not None else BACKENDS[options.backend]()
        self._sleep: SleepFn = sleep or asyncio.sleep
        now = context.clock.monotonic()
        self.states = {t.id: TagPresence(options.present_rssi, options.absent_rssi,
                                         options.miss_window_s, now) for t in options.tags}
        self.rssi: dict[str, int | None] = {}

    async def run(self) -> None:
        self.set_health(HealthState.OK, "")
        self._refresh_health()
        ticker = asyncio.create_task(self._ticker(), name=f"{self.name}:presence")
        o = self.options
        patterns = [
            OrPattern(0, AdvertisementDataType.SERVICE_DATA_UUID16,
                      bytes.fromhex(SERVICE_UUID16)[::-1]),
            OrPattern(0, AdvertisementDataType.MANUFACTURER_SPECIFIC_DATA,
                      bytes([0x4C, 0x00, 0x02, 0x15])),
        ]
        try:
            await passive_scan_forever(
                self, self.on_advertisement, or_patterns=patterns, adapter=o.adapter,
                scanner_backend=self.backend.scanner, operation_timeout_s=o.operation_timeout_s,
                restart_after_s=o.scanner_restart_s, poll_s=o.watchdog_interval_s,
                sleep=self._sleep, retry_delay=lambda _failures: o.retry_delay_s)
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker

    async def _ticker(self) -> None:
        while True:
            await self._sleep(self.options.tick_s)
            self.tick()

    def on_advertisement(self, device: BLEDevice, adv: AdvertisementData) -> None:
        beacon = parse_ibeacon(dict(adv.manufacturer_data))
        now = self.context.clock.monotonic()
        for tag in self.options.tags:
            if tag.matches(device.address, beacon):
                self.rssi[tag.id] = adv.rssi
                if self.states[tag.id].heard(adv.rssi, now):
                    self._emit(tag.id, True, {"rssi": adv.rssi})
                return
        self.count("ignored_adverts")

    def tick(self) -> None:
        now = self.context.clock.monotonic()
        for tag_id, state in self.states.items():
            if state.tick(now) is False:
                self._emit(tag_id, False, {
                    "silent_for_s": round(now - state.last_kept, 1),
                    "miss_window_s": self.options.miss_window_s,
                    "last_rssi": self.rssi.get(tag_id)})
        self._refresh_health()

    def _emit(self, tag_id: str, present: bool, data: dict[str, Any]) -> None:
        self.count("arrivals" if present else "departures")
        self.context.emit(self.reading("tag", "present" if present else "absent",
                                       device=tag_id, data=data))
        self._refresh_health()

    def _refresh_health(self) -> None:
        self.health.details = {
            tag_id: {"present": state.present, "rssi": self.rssi.get(tag_id)}
            for tag_id, state in self.states.items()}
