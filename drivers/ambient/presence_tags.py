"""`ble.presence`: her wristband or pendant as a beacon, present or absent in the home.

A tag is found by its fixed `address` (any advert from it), by iBeacon
`ibeacon_uuid` (+ optional `major`, `minor`), or as a BTHome device by
`bthome_address`: plain BTHome adverts from that address, or, when the keys
file holds its bind key, encrypted adverts that decrypt with that key from
any address (a tag with a rotating random address; see `bthome_tag`).
`TagPresence` turns its adverts into present/absent with RSSI hysteresis
and a miss window; each change is one reading: sensor `tag`, value
"present" or "absent", data with the RSSI and, when absent, `silent_for_s`
(how long since the last advert that kept it present). The first reading of
each tag after the driver (re)starts carries `initial` (the state found, not an
arrival or a departure). The fence logic (`edgeagent.heuristics.fence`)
combines these with the entrance door.

BlueZ passive scanning needs patterns: BTHome service data and Apple
iBeacon manufacturer data are matched, so an address-only tag must send
one of the two (BTHome pendants and iBeacon bands do).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, ClassVar

from bleak.args.bluez import OrPattern
from bleak.assigned_numbers import AdvertisementDataType
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from edgeagent_drivers.ble.backends import BleBackend
from edgeagent_drivers.ble.passive import passive_scan_forever
from edgeagent_drivers.ble.vitals import (
    BleAdapterOptions,
    BleDriver,
    SleepFn,
    reject_ids_used_twice,
    short_or_none,
)
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from edgeagent.driver import (
    DriverContext,
    DriverOptions,
    HealthState,
)

from .ble_keys import normal_mac
from .bthome import SERVICE_UUID16
from .bthome_tag import BthomeTag, Verdict
from .secure_adverts import KeysFileOptions
from .tag_presence import IBeacon, TagPresence, parse_ibeacon

log = logging.getLogger(__name__)


class TagOptions(BaseModel):
    """One tag: a fixed address, an iBeacon UUID (with major/minor if shared), or a BTHome
    device's address (its bind key, if it encrypts, in the keys file)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    address: str | None = None
    ibeacon_uuid: str | None = Field(default=None,
                                     pattern=r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
    major: int | None = Field(default=None, ge=0, le=0xFFFF)
    minor: int | None = Field(default=None, ge=0, le=0xFFFF)
    bthome_address: str | None = None

    @field_validator("address", "bthome_address")
    @classmethod
    def _mac(cls, value: str | None) -> str | None:
        return normal_mac(value) if value is not None else None

    @model_validator(mode="after")
    def _findable(self) -> TagOptions:
        ways = [self.address, self.ibeacon_uuid, self.bthome_address]
        if sum(way is not None for way in ways) != 1:
            raise ValueError(f"tag {self.id!r} needs exactly one of address, ibeacon_uuid or "
                             "bthome_address")
        if (self.major is not None or self.minor is not None) and self.ibeacon_uuid is None:
            raise ValueError(f"tag {self.id!r}: major and minor belong to an ibeacon_uuid")
        return self

    def matches(self, address: str, beacon: IBeacon | None) -> bool:
        if self.address is not None:
            return address.upper() == self.address
        return (beacon is not None and self.ibeacon_uuid is not None
                and beacon.uuid == self.ibeacon_uuid.lower()
                and self.major in (None, beacon.major) and self.minor in (None, beacon.minor))


class PresenceOptions(BleAdapterOptions, KeysFileOptions):
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
        reject_ids_used_twice([t.bthome_address for t in self.tags
                               if t.bthome_address is not None], "tag bthome_address")
        if self.absent_rssi > self.present_rssi:
            raise ValueError("absent_rssi must be at or below present_rssi (the hysteresis)")
        return self


class PresenceDriver(BleDriver):
    """`tag` present/absent readings from beacon adverts."""

    Options: ClassVar[type[DriverOptions]] = PresenceOptions
    options: PresenceOptions

    def __init__(self, options: DriverOptions, context: DriverContext, *,
                 backend: BleBackend | None = None, sleep: SleepFn | None = None) -> None:
        super().__init__(options, context, backend=backend, sleep=sleep)
        assert isinstance(options, PresenceOptions)
        self.options = options
        now = context.clock.monotonic()
        self.states = {t.id: TagPresence(options.present_rssi, options.absent_rssi,
                                         options.miss_window_s, now) for t in options.tags}
        self.rssi: dict[str, int | None] = {}
        keys = options.bind_keys()
        self.bthome_tags = {t.id: BthomeTag(t.bthome_address, keys.get(t.bthome_address))
                            for t in options.tags if t.bthome_address is not None}
        self.problems: dict[str, str] = {}
        self.reported: set[str] = set()  # tags with a reading since this (re)start

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
        payload = next((bytes(data) for uuid, data in adv.service_data.items()
                        if short_or_none(uuid) == SERVICE_UUID16), None)
        for tag in self.options.tags:
            bthome_tag = self.bthome_tags.get(tag.id)
            if bthome_tag is not None:
                if payload is None:
                    continue
                verdict = bthome_tag.check(device.address, payload)
                if not verdict.hers:
                    continue
                self._bthome_verdict(tag.id, verdict)
                if not verdict.heard:
                    return
            elif not tag.matches(device.address, beacon):
                continue
            self._heard(tag.id, adv.rssi)
            return
        self.count("ignored_adverts")

    def _heard(self, tag_id: str, rssi: int | None) -> None:
        self.rssi[tag_id] = rssi
        if self.states[tag_id].heard(rssi, self.context.clock.monotonic()):
            self._emit(tag_id, True, {"rssi": rssi})

    def _bthome_verdict(self, tag_id: str, verdict: Verdict) -> None:
        """Count the frame; a problem is logged once when it changes and shown in health."""
        self.count(verdict.counter)
        if verdict.counter == "duplicate_frames":
            return
        old = self.problems.get(tag_id, "")
        if verdict.problem != old:
            if verdict.problem:
                log.warning("tag %s: %s", tag_id, verdict.problem)
            else:
                log.info("tag %s: frames decode again", tag_id)
            self.problems[tag_id] = verdict.problem
            self._refresh_health()

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
        if tag_id not in self.reported:
            self.reported.add(tag_id)
            data = {**data, "initial": True}  # the state found at (re)start: a baseline
        self.context.emit(self.reading("tag", "present" if present else "absent",
                                       device=tag_id, data=data))
        self._refresh_health()

    def _refresh_health(self) -> None:
        details: dict[str, Any] = {}
        for tag_id, state in self.states.items():
            details[tag_id] = {"present": state.present, "rssi": self.rssi.get(tag_id)}
            bthome_tag = self.bthome_tags.get(tag_id)
            if bthome_tag is not None:
                details[tag_id].update({
                    "encrypted": bthome_tag.encrypted, "heard_from": bthome_tag.last_address,
                    "problem": self.problems.get(tag_id, "")})
        self.health.details = details
        if self.health.state == HealthState.FAILED:
            return
        problems = [f"tag {tag_id}: {problem}" for tag_id, problem in self.problems.items()
                    if problem]
        if problems:
            self.set_health(HealthState.DEGRADED, "; ".join(problems))
        elif self.health.state == HealthState.DEGRADED:
            self.set_health(HealthState.OK, "")
