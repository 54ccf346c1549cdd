"""`ble.advert_env`: room thermometer/hygrometers read from their advertisements.

Cheap BLE thermometers broadcast temperature, humidity and battery every few
seconds; a passive scan hears them without connecting (no pairing, no extra
battery drain, any number of sensors). Supported formats: BTHome v2 (0xFCD2,
encrypted ones with their bind key in `keys_file`) and the atc1441 / pvvx
custom firmware layouts (0x181A); see docs/environment.md and docs/ble.md.

The scanner, backends ("bleak" or the fake one) and "restart a silent scanner"
follow `ble.vitals`. Adverts repeat far more often than anyone needs, so a
value is emitted when it moved by its step or `report_interval_s` has passed.
Each sensor silent past `expected_interval_s` gets `device_status = "offline"`
once, and `"online"` when heard again. Malformed or encrypted frames are
counted, logged (once per new reason) and skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
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
from pydantic import BaseModel, ConfigDict, Field, model_validator

from edgeagent.driver import (
    DriverContext,
    DriverOptions,
    HealthState,
)
from edgeagent.errors import PayloadError

from .formats import SUPPORTED_UUIDS, DecryptionError, EncryptedPayloadError, EnvFrame
from .secure_adverts import (
    AdvertDecoder,
    DuplicateFrameError,
    KeysFileOptions,
    ReplayedCounterError,
)

log = logging.getLogger(__name__)


UNITS = {"temperature": "degC", "humidity": "%", "battery": "%"}
"""The readings this driver emits, with their units; other decoded values go into `data`."""


class EnvSensorOptions(BaseModel):
    """One thermometer, found by `address` or advertised `local_name`."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    address: str | None = None
    local_name: str | None = None
    room: str | None = None
    expected_interval_s: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _findable(self) -> EnvSensorOptions:
        if not (self.address or self.local_name):
            raise ValueError(f"sensor {self.id!r} needs address or local_name")
        return self


class AdvertEnvOptions(BleAdapterOptions, KeysFileOptions):
    """The `[[drivers]]` table of type `ble.advert_env` (keys in docs/environment.md)."""

    sensors: list[EnvSensorOptions] = Field(min_length=1)
    expected_interval_s: float = Field(default=900, gt=0)
    report_interval_s: float = Field(default=300, ge=0)
    temperature_step_c: float = Field(default=0.2, ge=0)
    humidity_step_pct: float = Field(default=2.0, ge=0)
    retry_delay_s: float = Field(default=30, gt=0)

    @model_validator(mode="after")
    def _unique_ids(self) -> AdvertEnvOptions:
        reject_ids_used_twice([s.id for s in self.sensors], "sensor")
        return self


@dataclass(slots=True)
class _Sensor:
    opts: EnvSensorOptions
    expected_s: float
    last_seen: float
    heard: bool = False
    offline: bool = False
    address: str | None = None
    rssi: int | None = None
    fmt: str | None = None
    last_error: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    emitted: dict[str, tuple[Any, float]] = field(default_factory=dict)

    def matches(self, device: BLEDevice, adv: AdvertisementData) -> bool:
        o = self.opts
        if o.address and device.address.lower() == o.address.lower():
            return True
        return bool(o.local_name and o.local_name in (adv.local_name, device.name))


class AdvertEnvDriver(BleDriver):
    """Room temperature, humidity and battery from advertising thermometers."""

    Options: ClassVar[type[DriverOptions]] = AdvertEnvOptions
    options: AdvertEnvOptions

    def __init__(self, options: DriverOptions, context: DriverContext, *,
                 backend: BleBackend | None = None, sleep: SleepFn | None = None) -> None:
        super().__init__(options, context, backend=backend, sleep=sleep)
        assert isinstance(options, AdvertEnvOptions)
        self.options = options
        self.decoder = AdvertDecoder(options.bind_keys())
        now = context.clock.monotonic()
        self.sensors = {
            s.id: _Sensor(s, s.expected_interval_s or options.expected_interval_s, now)
            for s in options.sensors}

    async def run(self) -> None:
        self.set_health(HealthState.STARTING, "starting")
        self._refresh_health()
        watchdog = asyncio.create_task(self._watchdog(), name="advert_env:watchdog")
        try:
            await self._scan_loop()
        finally:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog

    async def _watchdog(self) -> None:
        while True:
            await self._sleep(self.options.watchdog_interval_s)
            self.check_offline()

    @staticmethod
    def _or_patterns() -> list[OrPattern]:
        # BlueZ passive scanning needs patterns; match the service-data UUIDs we decode.
        return [OrPattern(0, AdvertisementDataType.SERVICE_DATA_UUID16, bytes.fromhex(u)[::-1])
                for u in SUPPORTED_UUIDS]

    async def _scan_loop(self) -> None:
        """A passive scanner feeding `on_advertisement`; restarted when it goes quiet."""
        o = self.options
        await passive_scan_forever(
            self, self.on_advertisement, or_patterns=self._or_patterns(), adapter=o.adapter,
            scanner_backend=self.backend.scanner, operation_timeout_s=o.operation_timeout_s,
            restart_after_s=o.scanner_restart_s, poll_s=o.watchdog_interval_s,
            sleep=self._sleep, retry_delay=lambda _failures: o.retry_delay_s)

    # --- advertisements to readings ---

    def on_advertisement(self, device: BLEDevice, adv: AdvertisementData) -> None:
        for sensor in self.sensors.values():
            if not sensor.matches(device, adv):
                continue
            sensor.address = device.address
            sensor.rssi = adv.rssi
            for uuid, payload in adv.service_data.items():
                short = short_or_none(uuid)
                if short in SUPPORTED_UUIDS:
                    self.handle_payload(sensor, short, bytes(payload))
            return
        self.count("ignored_adverts")

    def handle_payload(self, sensor: _Sensor, uuid16: str, payload: bytes) -> None:
        """Decode one frame; a bad one is counted and logged, never raised."""
        try:
            frame = self.decoder.decode(sensor.address or "", uuid16, payload)
        except DuplicateFrameError:
            self.count("duplicate_frames")
            return
        except PayloadError as exc:
            counter = ("decrypt_failures" if isinstance(exc, DecryptionError)
                       else "replayed_counters" if isinstance(exc, ReplayedCounterError)
                       else "encrypted_payloads" if isinstance(exc, EncryptedPayloadError)
                       else "malformed_payloads")
            self.count(counter)
            reason = str(exc)
            if reason != sensor.last_error:
                log.warning("%s: %s payload %s: %s", sensor.opts.id, uuid16, payload.hex(),
                            reason)
            sensor.last_error = reason
            self._refresh_health()
            return
        sensor.last_error = ""
        self.count("frames")
        self._mark_seen(sensor)
        self._emit_values(sensor, frame)
        self._refresh_health()

    def _mark_seen(self, sensor: _Sensor) -> None:
        now = self.context.clock.monotonic()
        sensor.last_seen = now
        sensor.heard = True
        if sensor.offline:
            sensor.offline = False
            self.context.emit(self.reading(
                "device_status", "online", device=sensor.opts.id, room=self._room(sensor),
                data={"address": sensor.address}))

    def _room(self, sensor: _Sensor) -> str | None:
        return sensor.opts.room if sensor.opts.room is not None else self.options.room

    def _due(self, sensor: _Sensor, name: str, value: Any, now: float) -> bool:
        last = sensor.emitted.get(name)
        if last is None or now - last[1] >= self.options.report_interval_s:
            return True
        step = {"temperature": self.options.temperature_step_c,
                "humidity": self.options.humidity_step_pct}.get(name, 0.0)
        moved = abs(float(value) - float(last[0]))
        return moved > 0 and moved >= step

    def _emit_values(self, sensor: _Sensor, frame: EnvFrame) -> None:
        now = self.context.clock.monotonic()
        sensor.fmt = frame.fmt
        sensor.values = dict(frame.values)
        extra = {k: v for k, v in frame.values.items() if k not in UNITS}
        for name, unit in UNITS.items():
            value = frame.values.get(name)
            if value is None or isinstance(value, bool | str):
                continue
            if not self._due(sensor, name, value, now):
                continue
            sensor.emitted[name] = (value, now)
            data: dict[str, Any] = {"unit": unit, "format": frame.fmt, "address": sensor.address,
                                    "rssi": sensor.rssi, "ambient": True, **extra}
            if frame.packet_id is not None:
                data["packet_id"] = frame.packet_id
            self.count("readings")
            self.context.emit(self.reading(name, value, device=sensor.opts.id,
                                           room=self._room(sensor), data=data))

    # --- silence ---

    def check_offline(self) -> None:
        now = self.context.clock.monotonic()
        for sensor in self.sensors.values():
            silent_for = now - sensor.last_seen
            if sensor.offline or silent_for <= sensor.expected_s:
                continue
            sensor.offline = True
            reason = f"nothing heard for {silent_for:.0f} s"
            if sensor.last_error:
                reason += f"; last error: {sensor.last_error}"
            self.count("offline_events")
            self.context.emit(self.reading(
                "device_status", "offline", device=sensor.opts.id, room=self._room(sensor),
                data={"reason": reason, "expected_interval_s": sensor.expected_s,
                      "silent_for_s": round(silent_for, 1)}))
        self._refresh_health()

    def _refresh_health(self) -> None:
        now = self.context.clock.monotonic()
        self.health.details = {
            s.opts.id: {"address": s.address, "format": s.fmt, "offline": s.offline,
                        "heard": s.heard, "rssi": s.rssi,
                        "last_seen_age_s": round(now - s.last_seen, 1) if s.heard else None,
                        "values": dict(s.values), "last_error": s.last_error}
            for s in self.sensors.values()}
        if self.health.state == HealthState.FAILED:
            return
        problems = [f"{s.opts.id} offline" for s in self.sensors.values() if s.offline]
        problems += [f"{s.opts.id}: {s.last_error}" for s in self.sensors.values()
                     if "encrypted" in s.last_error or "bind key" in s.last_error]
        if problems:
            self.set_health(HealthState.DEGRADED, "; ".join(problems))
        else:
            self.set_health(HealthState.OK, "")
