"""What the BTHome device drivers (`ble.button`, `ble.sensors`) share.

A passive scan hears each configured device by its address; its service
data is decoded (and decrypted with its bind key from `keys_file`) by an
`AdvertDecoder` that also refuses repeated and replayed counters. A device
not heard for `supervision_minutes` gets one `device_status = "offline"`
reading (the engine's `device_offline` warning), and `"online"` when heard
again. Battery changes become `battery` readings (the engine's
`low_battery`). Frames that cannot be used are counted; each device's
problem is logged once when it changes and shown in health, so a wrong key
is one clear message, not a stream of errors.

Subclasses say what a decoded frame means (`on_frame`).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
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
from edgeagent.errors import PayloadError

from . import bthome
from .ble_keys import normal_mac
from .formats import DecryptionError, EncryptedPayloadError, EnvFrame
from .secure_adverts import (
    AdvertDecoder,
    DuplicateFrameError,
    KeysFileOptions,
    ReplayedCounterError,
)

log = logging.getLogger(__name__)

LOW_BATTERY_PCT = 20.0  # shown in doctor; the engine's low_battery has its own setting


class BthomeDeviceOptions(BaseModel):
    """One device, found by its Bluetooth address."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    address: str
    room: str | None = None
    supervision_minutes: float | None = Field(default=None, gt=0)

    @field_validator("address")
    @classmethod
    def _mac(cls, value: str) -> str:
        return normal_mac(value)


class BthomeDriverOptions(BleAdapterOptions, KeysFileOptions):
    """Keys every BTHome device driver has (see docs/ble.md)."""

    devices: Sequence[BthomeDeviceOptions] = Field(min_length=1)
    supervision_minutes: float = Field(default=60, gt=0)
    retry_delay_s: float = Field(default=30, gt=0)

    @model_validator(mode="after")
    def _unique(self) -> BthomeDriverOptions:
        reject_ids_used_twice([d.id for d in self.devices], "device")
        reject_ids_used_twice([d.address for d in self.devices], "device address")
        return self


@dataclass(slots=True)
class Tag:
    """What the driver knows of one device."""

    opts: BthomeDeviceOptions
    silent_after_s: float
    last_seen: float
    heard: bool = False
    last_heard_wall: str | None = None
    offline: bool = False
    rssi: int | None = None
    battery: float | None = None
    encrypted: bool = False
    last_packet_id: int | None = None
    problem: str = ""
    values: dict[str, Any] = field(default_factory=dict)


class BthomeDevicesDriver(BleDriver, abc.ABC):
    """Scan, decode, supervise; subclasses turn frames into readings."""

    Options: ClassVar[type[DriverOptions]] = BthomeDriverOptions
    options: BthomeDriverOptions
    kind_word: ClassVar[str] = "device"

    def __init__(self, options: DriverOptions, context: DriverContext, *,
                 backend: BleBackend | None = None, sleep: SleepFn | None = None) -> None:
        super().__init__(options, context, backend=backend, sleep=sleep)
        assert isinstance(options, BthomeDriverOptions)
        self.options = options
        self.decoder = AdvertDecoder(options.bind_keys())
        now = context.clock.monotonic()
        self.tags: dict[str, Tag] = {
            d.address: Tag(d, 60 * (d.supervision_minutes or options.supervision_minutes), now)
            for d in options.devices}

    async def run(self) -> None:
        self.set_health(HealthState.STARTING, "starting")
        self.refresh_health()
        watchdog = asyncio.create_task(self._watchdog(), name=f"{self.name}:supervision")
        try:
            o = self.options
            await passive_scan_forever(
                self, self.on_advertisement,
                or_patterns=[OrPattern(0, AdvertisementDataType.SERVICE_DATA_UUID16,
                                       bytes.fromhex(bthome.SERVICE_UUID16)[::-1])],
                adapter=o.adapter, scanner_backend=self.backend.scanner,
                operation_timeout_s=o.operation_timeout_s, restart_after_s=o.scanner_restart_s,
                poll_s=o.watchdog_interval_s, sleep=self._sleep,
                retry_delay=lambda _failures: o.retry_delay_s)
        finally:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog

    async def _watchdog(self) -> None:
        while True:
            await self._sleep(self.options.watchdog_interval_s)
            self.check_silence()

    # --- advertisements ---

    def on_advertisement(self, device: BLEDevice, adv: AdvertisementData) -> None:
        tag = self.tags.get(device.address.upper())
        if tag is None:
            self.count("ignored_adverts")
            return
        for uuid, payload in adv.service_data.items():
            if short_or_none(uuid) == bthome.SERVICE_UUID16:
                self.handle_payload(tag, bytes(payload), adv.rssi)

    def handle_payload(self, tag: Tag, payload: bytes, rssi: int | None) -> None:
        """Decode one frame; nothing here raises, a bad frame is counted and shown."""
        try:
            frame = self.decoder.decode(tag.opts.address, bthome.SERVICE_UUID16, payload)
        except DuplicateFrameError:
            self.count("duplicate_frames")
            return
        except PayloadError as exc:
            self._frame_problem(tag, exc)
            return
        if tag.problem:
            log.info("%s: frames decode again", tag.opts.id)
        tag.problem = ""
        self.count("frames")
        tag.rssi = rssi
        tag.encrypted = frame.encrypted
        tag.values = dict(frame.values)
        fresh = frame.packet_id is None or frame.packet_id != tag.last_packet_id \
            or frame.counter is not None
        tag.last_packet_id = frame.packet_id
        self._mark_heard(tag)
        self._battery(tag, frame)
        self.on_frame(tag, frame, fresh=fresh)
        self.refresh_health(tag)

    def _frame_problem(self, tag: Tag, exc: PayloadError) -> None:
        if isinstance(exc, DecryptionError):
            counter = "decrypt_failures"
            problem = ("adverts do not decrypt with the bind key in the keys file (wrong key, "
                       "or the device was re-keyed)")
        elif isinstance(exc, EncryptedPayloadError):
            counter = "encrypted_payloads"
            problem = (f"adverts are encrypted and the keys file has no bind key for "
                       f"{tag.opts.address}")
        elif isinstance(exc, ReplayedCounterError):
            counter = "replayed_counters"
            problem = f"replayed or old frame refused: {getattr(exc, 'reason', exc)}"
        else:
            counter = "malformed_payloads"
            problem = f"malformed advert: {exc}"
        self.count(counter)
        if problem != tag.problem:
            log.warning("%s %s: %s", self.kind_word, tag.opts.id, problem)
        tag.problem = problem
        self.refresh_health(tag)

    def _mark_heard(self, tag: Tag) -> None:
        tag.last_seen = self.context.clock.monotonic()
        tag.last_heard_wall = self.context.clock.wall().isoformat(timespec="seconds")
        tag.heard = True
        if tag.offline:
            tag.offline = False
            self.context.emit(self.reading(
                "device_status", "online", device=tag.opts.id, room=self.room_of(tag),
                data={"address": tag.opts.address, "rssi": tag.rssi}))

    def _battery(self, tag: Tag, frame: EnvFrame) -> None:
        value = frame.values.get("battery")
        if not isinstance(value, int | float) or isinstance(value, bool) or value == tag.battery:
            return
        tag.battery = float(value)
        self.context.emit(self.reading(
            "battery", value, device=tag.opts.id, room=self.room_of(tag),
            data={"unit": "%", "address": tag.opts.address, "rssi": tag.rssi}))

    def room_of(self, tag: Tag) -> str | None:
        return tag.opts.room if tag.opts.room is not None else self.options.room

    @abc.abstractmethod
    def on_frame(self, tag: Tag, frame: EnvFrame, *, fresh: bool) -> None:
        """Readings from one decoded frame; `fresh` is False for a repeated packet id."""

    # --- supervision ---

    def silence_reason(self, tag: Tag, silent_for: float) -> str:
        return f"not heard for {silent_for / 60:.0f} min"

    def check_silence(self) -> None:
        now = self.context.clock.monotonic()
        for tag in self.tags.values():
            silent_for = now - tag.last_seen
            if tag.offline or silent_for <= tag.silent_after_s:
                continue
            tag.offline = True
            reason = self.silence_reason(tag, silent_for)
            if tag.problem:
                reason += f" (last problem: {tag.problem})"
            self.count("offline_events")
            log.warning("%s %s offline: %s", self.kind_word, tag.opts.id, reason)
            self.context.emit(self.reading(
                "device_status", "offline", device=tag.opts.id, room=self.room_of(tag),
                data={"reason": reason, "address": tag.opts.address,
                      "supervision_minutes": round(tag.silent_after_s / 60, 1),
                      "silent_for_s": round(silent_for, 1)}))
        self.refresh_health()

    def tag_details(self, tag: Tag) -> dict[str, Any]:
        now = self.context.clock.monotonic()
        # The keys `doctor` shows per BLE device (ble.monitor[...]): rssi, age, battery.
        return {"address": tag.opts.address, "heard": tag.heard, "offline": tag.offline,
                "last_heard": tag.last_heard_wall,
                "last_reading_age_s": round(now - tag.last_seen, 1) if tag.heard else None,
                "rssi": tag.rssi, "battery_pct": tag.battery,
                "low_battery": tag.battery is not None and tag.battery < LOW_BATTERY_PCT,
                "encrypted": tag.encrypted, "has_key": self.decoder.has_key(tag.opts.address),
                "problem": tag.problem}

    def refresh_health(self, tag: Tag | None = None) -> None:
        """Details of `tag` (every advert), or of all (each supervision pass), and the state.

        One tag at a time keeps 50 devices at 1 Hz cheap; the others' ages are at most
        `watchdog_interval_s` old.
        """
        for t in (tag,) if tag is not None else self.tags.values():
            self.health.details[t.opts.id] = self.tag_details(t)
        if self.health.state == HealthState.FAILED:
            return
        problems = [f"{self.kind_word} {t.opts.id} offline" for t in self.tags.values()
                    if t.offline]
        problems += [f"{t.opts.id}: {t.problem}" for t in self.tags.values() if t.problem]
        if problems:
            self.set_health(HealthState.DEGRADED, "; ".join(problems))
        else:
            self.set_health(HealthState.OK, "")
