"""`ble.vitals`: vital signs from Bluetooth LE monitors that follow the SIG health profiles.

Reads heart rate, SpO2, blood pressure, body temperature, weight and battery
level through bleak (`BleakScanner`, `BleakClient`) and keeps doing so on a
Raspberry Pi's BlueZ for months. What BlueZ does wrong, and what this driver
does about it (see docs/ble.md for the sources):

- A D-Bus call can hang forever (hung bluetoothd, bleak-retry-connector #78):
  every scan, connect, read, subscribe and disconnect runs under
  `asyncio.timeout`.
- A timed-out connect can leave BlueZ answering "Operation already in
  progress" (bleak #490) and concurrent connects make it worse: one connect
  or scan at a time per adapter (a lock), a bounded number of simultaneous
  connections (`max_concurrent_connections`, a semaphore), and after such a
  failure the cached device is dropped and rediscovered.
- "Software caused connection abort" is usually transient (bleak #666): a
  few quick retries before the exponential backoff.
- Pi 3B+ connects time out where desktops do not (bleak #1139): backoff with
  full jitter between attempts, never a busy loop.
- Notifications do not survive a reconnect: subscriptions are made again on
  every connection.
- Devices that only advertise are read by a passive scanner, restarted when
  it falls silent (Home Assistant's habluetooth does the same after ~90 s).

Each device has its own rhythm (`expected_interval_s`): silent past it, the
driver emits `device_status = "offline"` once, and `"online"` when it is heard
again. Malformed payloads are counted (`malformed_payloads`), logged and
skipped. Device timestamps go into `data`, never into the reading's time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bleak import BleakClient, BleakScanner
from bleak.args.bluez import OrPattern
from bleak.assigned_numbers import AdvertisementDataType
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakBluetoothNotAvailableError, BleakDBusError, BleakError
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from edgeagent.backoff import Backoff
from edgeagent.driver import (
    BleScanCheck,
    Driver,
    DriverContext,
    DriverOptions,
    HardwareCheck,
    HealthState,
)
from edgeagent.errors import DriverError, HardwareUnavailable

from . import parsers
from .backends import BleBackend, backend_names, ble_backend
from .parsers import GattPayloadError, UnknownCharacteristicError, short_uuid
from .passive import BLE_ERRORS, passive_scan_forever
from .profiles import HEALTH_SERVICES, PROFILES, ProfileName, profile_of_characteristic

log = logging.getLogger(__name__)

SleepFn = Callable[[float], Awaitable[None]]


# --- backends --------------------------------------------------------------------------------


# --- options -----------------------------------------------------------------------------------


class BleDeviceOptions(BaseModel):
    """One monitor. Found by `address`, or by advertised `local_name` / `service`."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, description="Device name in readings and alerts")
    address: str | None = None
    local_name: str | None = None
    service: str | None = None
    profiles: list[ProfileName] = Field(min_length=1)
    mode: Literal["notify", "poll", "advert"] = "notify"
    expected_interval_s: float = Field(default=86_400, gt=0)
    poll_interval_s: float = Field(default=900, gt=0)
    poll_listen_s: float = Field(default=20, ge=0)
    low_battery_pct: int = Field(default=20, ge=0, le=100)
    room: str | None = None
    role: str | None = None

    @field_validator("service")
    @classmethod
    def _service_uuid(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return short_uuid(value)
        except UnknownCharacteristicError as exc:
            raise ValueError(str(exc)) from exc

    @model_validator(mode="after")
    def _findable(self) -> BleDeviceOptions:
        if not (self.address or self.local_name or self.service):
            raise ValueError(f"device {self.id!r} needs address, local_name or service")
        return self


def reject_ids_used_twice(ids: list[str], what: str) -> None:
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValueError(f"{what} ids used twice: {', '.join(dupes)}")


class BleAdapterOptions(DriverOptions):
    """Keys every BLE driver has: which adapter and backend, and how long BlueZ may take."""

    adapter: str = "hci0"
    backend: str = "bleak"
    operation_timeout_s: float = Field(default=10, gt=0)
    watchdog_interval_s: float = Field(default=30, gt=0)
    scanner_restart_s: float = Field(default=90, gt=0)

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if value not in backend_names():
            raise ValueError(f"unknown BLE backend {value!r} "
                             f"(known: {', '.join(backend_names())})")
        return value

    def scan_check(self) -> BleScanCheck:
        """What the doctor probes for a BLE driver: the adapter, then a scan for its devices."""
        backend = self.backend
        return BleScanCheck(adapter=self.adapter, backend=backend,
                            scanner=lambda: ble_backend(backend).scanner,
                            short_uuid=short_uuid, devices=tuple(getattr(self, "devices", ())))


def ble_checks(options: DriverOptions) -> list[HardwareCheck]:
    """`Driver.checks` of every BLE driver (its options derive from BleAdapterOptions)."""
    return [options.scan_check()] if isinstance(options, BleAdapterOptions) else []


class BleVitalsOptions(BleAdapterOptions):
    """The `[[drivers]]` table of type `ble.vitals`; every key is documented in README.md."""

    devices: list[BleDeviceOptions] = Field(min_length=1)
    connect_timeout_s: float = Field(default=20, gt=0)
    scan_timeout_s: float = Field(default=10, gt=0)
    max_concurrent_connections: int = Field(default=1, ge=1)
    backoff_base_s: float = Field(default=2, gt=0)
    backoff_max_s: float = Field(default=300, gt=0)
    backoff_min_s: float = Field(default=1, ge=0)
    transient_retries: int = Field(default=3, ge=0)
    reconnect_delay_s: float = Field(default=1, ge=0)
    advert_repeat_s: float = Field(default=300, ge=0)
    device_timezone: str | None = None

    @field_validator("device_timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _unique_ids(self) -> BleVitalsOptions:
        reject_ids_used_twice([d.id for d in self.devices], "device")
        return self


# --- retry policy (pure) -------------------------------------------------------------------------


class DeviceNotFoundError(BleakError):
    """The scan did not see the device within scan_timeout_s."""


def classify(exc: BaseException) -> str:
    """Name the failure the way the retry policy acts on it."""
    text = str(exc).lower()
    if isinstance(exc, DeviceNotFoundError) or "not found" in text:
        return "not_found"
    if isinstance(exc, BleakDBusError) and exc.dbus_error == "org.bluez.Error.InProgress":
        return "in_progress"
    if "already in progress" in text:
        return "in_progress"
    if "connection abort" in text or "abort-by-local" in text:
        return "abort"
    if isinstance(exc, TimeoutError):
        return "timeout"
    return "error"


# --- per-device state ----------------------------------------------------------------------------


@dataclass(slots=True)
class _Device:
    opts: BleDeviceOptions
    last_seen: float
    address: str | None
    ble_device: BLEDevice | None = None
    connected: bool = False
    ever_connected: bool = False
    offline: bool = False
    reconnects: int = 0
    failures: int = 0
    rssi: int | None = None
    battery_pct: int | None = None
    last_error: str = ""
    last_reading_mono: float | None = None
    session_frames: int = 0
    advert_last: dict[str, tuple[bytes, float]] = field(default_factory=dict)

    def matches(self, device: BLEDevice, adv: AdvertisementData) -> bool:
        o = self.opts
        if o.address and device.address.lower() == o.address.lower():
            return True
        if o.local_name and o.local_name in (adv.local_name, device.name):
            return True
        if o.service:
            services = {short_or_none(u) for u in adv.service_uuids}
            return o.service in services
        return False


async def _first_of(*waits: Awaitable[Any]) -> None:
    """Wait until the first of several awaitables finishes; cancel the rest."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


def _first_leaf(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


def short_or_none(uuid: str) -> str | None:
    try:
        return short_uuid(uuid)
    except UnknownCharacteristicError:
        return None


# --- the driver ---


class BleDriver(Driver):
    """A driver on one BLE adapter: the doctor's scan check, the bleak backend chosen by its
    `backend` option (or given, in tests) and a sleep tests can replace."""

    @classmethod
    def checks(cls, options: DriverOptions) -> list[HardwareCheck]:
        return ble_checks(options)

    def __init__(self, options: DriverOptions, context: DriverContext, *,
                 backend: BleBackend | None = None, sleep: SleepFn | None = None) -> None:
        super().__init__(options, context)
        assert isinstance(options, BleAdapterOptions)
        self.backend = backend if backend is not None else ble_backend(options.backend)
        self._sleep: SleepFn = sleep or asyncio.sleep


class BleVitalsDriver(BleDriver):
    """Vital signs from SIG-profile BLE monitors; one task per connected device.

    `backend=` (constructor) or the `backend` option ("bleak", "fake") choose
    the bleak backend; `sleep=` and `rng=` make backoff and timers testable.
    """

    Options: ClassVar[type[DriverOptions]] = BleVitalsOptions
    options: BleVitalsOptions

    def __init__(self, options: DriverOptions, context: DriverContext, *,
                 backend: BleBackend | None = None, sleep: SleepFn | None = None,
                 rng: random.Random | None = None) -> None:
        super().__init__(options, context, backend=backend, sleep=sleep)
        assert isinstance(options, BleVitalsOptions)
        self.options = options
        o = options
        self.backoff = Backoff(initial=o.backoff_base_s, maximum=o.backoff_max_s,
                               floor=o.backoff_min_s, rng=rng or random.Random())
        now = context.clock.monotonic()
        self.devices = {d.id: _Device(d, now, d.address) for d in o.devices}
        self._slots = asyncio.Semaphore(o.max_concurrent_connections)
        self._adapter_lock = asyncio.Lock()
        self._tz = ZoneInfo(o.device_timezone) if o.device_timezone else None

    # --- lifecycle ---

    async def run(self) -> None:
        self.set_health(HealthState.STARTING, "starting")
        self._refresh_health()
        try:
            async with asyncio.TaskGroup() as tasks:
                for dev in self.devices.values():
                    if dev.opts.mode != "advert":
                        tasks.create_task(self._device_loop(dev), name=f"ble:{dev.opts.id}")
                if any(d.opts.mode == "advert" for d in self.devices.values()):
                    tasks.create_task(self._advert_loop(), name="ble:adverts")
                tasks.create_task(self._watchdog(), name="ble:watchdog")
        except ExceptionGroup as group:
            # The supervisor acts on one precise error, not on a group of them.
            first = _first_leaf(group.subgroup(HardwareUnavailable) or group)
            if isinstance(first, DriverError):
                raise first from group
            self.set_health(HealthState.FAILED, f"{type(first).__name__}: {first}")
            raise DriverError(f"ble.vitals stopped: {type(first).__name__}: {first}") from group

    async def _watchdog(self) -> None:
        while True:
            await self._sleep(self.options.watchdog_interval_s)
            self.check_offline()

    # --- connected devices ---

    async def _device_loop(self, dev: _Device) -> None:
        """Connect, collect, reconnect, forever; failures back off, successes reset."""
        quick_retries = 0
        while True:
            try:
                frames = await self._session(dev)
            except BleakBluetoothNotAvailableError as exc:
                self.set_health(HealthState.FAILED, f"Bluetooth unavailable: {exc}")
                raise HardwareUnavailable(f"Bluetooth adapter unavailable: {exc}") from exc
            except BLE_ERRORS as exc:
                kind = classify(exc)
                dev.failures += 1
                dev.last_error = f"{kind}: {exc}" if str(exc) else kind
                self.count(f"connect_{kind}")
                if kind in ("in_progress", "timeout", "not_found", "error"):
                    dev.ble_device = None  # stale BlueZ object or address: rediscover
                if kind == "abort" and quick_retries < self.options.transient_retries:
                    quick_retries += 1
                    delay = self.backoff.floor
                else:
                    quick_retries = 0
                    delay = self.backoff.delay(dev.failures)
                log.warning("%s: %s; retry in %.1f s", dev.opts.id, dev.last_error, delay)
                self._refresh_health()
                await self._sleep(delay)
                continue
            quick_retries = 0
            if dev.opts.mode == "poll":
                dev.failures = 0
                await self._sleep(dev.opts.poll_interval_s)
            elif frames > 0:
                dev.failures = 0
                await self._sleep(self.options.reconnect_delay_s)
            else:  # connected, then dropped without a word: do not spin
                dev.failures += 1
                await self._sleep(self.backoff.delay(dev.failures))

    async def _locate(self, dev: _Device) -> BLEDevice:
        """Find the device by scanning (rediscovery clears stale addresses and BlueZ objects).

        The scan window is timed with the injected sleep, so tests run it in
        virtual time; start and stop are bounded by real timeouts.
        """
        if dev.ble_device is not None:
            return dev.ble_device
        found: list[tuple[BLEDevice, AdvertisementData]] = []
        seen = asyncio.Event()

        def on_advertisement(device: BLEDevice, adv: AdvertisementData) -> None:
            if dev.matches(device, adv):
                found.append((device, adv))
                seen.set()

        o = self.options
        scanner = BleakScanner(on_advertisement, **self._scanner_args())
        async with self._adapter_lock:
            async with asyncio.timeout(o.operation_timeout_s):
                await scanner.start()
            try:
                await _first_of(seen.wait(), self._sleep(o.scan_timeout_s))
            finally:
                with contextlib.suppress(*BLE_ERRORS):
                    async with asyncio.timeout(o.operation_timeout_s):
                        await scanner.stop()
        if not found:
            raise DeviceNotFoundError(f"{dev.opts.id} not seen in a {o.scan_timeout_s:g} s scan")
        device, adv = found[-1]
        dev.rssi = adv.rssi
        if dev.address and device.address.lower() != dev.address.lower():
            log.info("%s: address changed %s -> %s", dev.opts.id, dev.address, device.address)
            self.count("address_changes")
        dev.address = device.address
        dev.ble_device = device
        return device

    def _scanner_args(self) -> BleakScanner.ExtraArgs:
        args: BleakScanner.ExtraArgs = {"bluez": {"adapter": self.options.adapter}}
        if self.backend.scanner is not None:
            args["backend"] = self.backend.scanner
        return args

    async def _session(self, dev: _Device) -> int:
        """One connection: returns how many good frames it delivered."""
        device = await self._locate(dev)
        o = self.options
        disconnected = asyncio.Event()
        dev.session_frames = 0
        async with self._slots:
            client = BleakClient(
                device, disconnected_callback=lambda _c: disconnected.set(),
                timeout=o.connect_timeout_s, backend=self.backend.client,
                bluez={"adapter": o.adapter})
            try:
                async with self._adapter_lock:  # one connect in flight per adapter
                    # Outer safety net a little above bleak's own timeout: a hung
                    # bluetoothd never answers, and bleak would wait with it.
                    async with asyncio.timeout(o.connect_timeout_s * 1.25):
                        await client.connect()
                dev.connected = True
                if dev.ever_connected:
                    dev.reconnects += 1
                dev.ever_connected = True
                dev.last_error = ""
                self.count("connections")
                self._refresh_health()
                subscribed = await self._collect(client, dev)
                if dev.opts.mode == "notify" and subscribed:
                    await self._while_connected(dev, disconnected)
                elif subscribed and dev.opts.poll_listen_s > 0:
                    await self._sleep(dev.opts.poll_listen_s)
                return dev.session_frames
            finally:
                dev.connected = False
                with contextlib.suppress(*BLE_ERRORS):
                    async with asyncio.timeout(o.operation_timeout_s):
                        await client.disconnect()
                self._refresh_health()

    async def _while_connected(self, dev: _Device, disconnected: asyncio.Event) -> None:
        """Until the link drops, or looks stale: connected yet silent past its interval.

        A link BlueZ still reports as up but that carries nothing is dropped and
        remade (Home Assistant treats such connections the same way).
        """
        connected_at = self.context.clock.monotonic()
        while not disconnected.is_set():
            await _first_of(disconnected.wait(), self._sleep(self.options.watchdog_interval_s))
            since = max(dev.last_seen, connected_at)
            silent_for = self.context.clock.monotonic() - since
            if not disconnected.is_set() and silent_for > dev.opts.expected_interval_s:
                self.count("stale_connections")
                dev.last_error = f"connected but silent for {silent_for:.0f} s"
                log.warning("%s: %s; reconnecting", dev.opts.id, dev.last_error)
                return

    async def _collect(self, client: BleakClient, dev: _Device) -> int:
        """Read what is readable, subscribe to what notifies; returns subscriptions made."""
        chars = {short_uuid(c.uuid): c for c in client.services.characteristics.values()}
        subscribed = 0
        timeout = self.options.operation_timeout_s
        for profile_name in dev.opts.profiles:
            for uuid in PROFILES[profile_name].characteristics:
                char = chars.get(uuid)
                if char is None:
                    continue
                props = set(char.properties)
                try:
                    if "read" in props:
                        async with asyncio.timeout(timeout):
                            data = await client.read_gatt_char(char)
                        self.handle_payload(dev, uuid, bytes(data))
                    if props & {"notify", "indicate"}:
                        async with asyncio.timeout(timeout):
                            await client.start_notify(char, self._notify_callback(dev))
                        subscribed += 1
                except BleakError as exc:
                    # One refused characteristic (e.g. needs encryption) must not
                    # cost the others; a dead link fails the next call anyway.
                    if not client.is_connected:
                        raise
                    self.count("gatt_errors")
                    log.warning("%s: %s on %s: %s", dev.opts.id, type(exc).__name__, uuid, exc)
        if not subscribed and not dev.session_frames:
            self.count("profiles_missing")
            log.warning("%s offers none of %s", dev.opts.id, ", ".join(dev.opts.profiles))
        return subscribed

    def _notify_callback(self, dev: _Device) -> Callable[[BleakGATTCharacteristic, bytearray],
                                                          None]:
        def on_notify(char: BleakGATTCharacteristic, data: bytearray) -> None:
            self.handle_payload(dev, short_uuid(char.uuid), bytes(data))
        return on_notify

    # --- advertising-only devices ---

    def _or_patterns(self) -> list[OrPattern]:
        uuids: set[str] = set()
        for dev in self.devices.values():
            if dev.opts.mode == "advert":
                for name in dev.opts.profiles:
                    uuids.add(PROFILES[name].service)
                    uuids.update(PROFILES[name].characteristics)
        return [OrPattern(0, AdvertisementDataType.SERVICE_DATA_UUID16,
                          bytes.fromhex(u)[::-1]) for u in sorted(uuids)]

    async def _advert_loop(self) -> None:
        """A passive scanner feeding `on_advertisement`; restarted when it goes quiet."""
        o = self.options
        await passive_scan_forever(
            self, self.on_advertisement, or_patterns=self._or_patterns(), adapter=o.adapter,
            scanner_backend=self.backend.scanner, operation_timeout_s=o.operation_timeout_s,
            restart_after_s=o.scanner_restart_s, poll_s=o.watchdog_interval_s,
            sleep=self._sleep, retry_delay=self.backoff.delay)

    def on_advertisement(self, device: BLEDevice, adv: AdvertisementData) -> None:
        now = self.context.clock.monotonic()
        for dev in self.devices.values():
            if dev.opts.mode != "advert" or not dev.matches(device, adv):
                continue
            dev.rssi = adv.rssi
            dev.address = device.address
            for uuid, payload in adv.service_data.items():
                char = self._advert_characteristic(dev, uuid)
                if char is None:
                    continue
                last = dev.advert_last.get(char)
                if last and last[0] == payload and now - last[1] < self.options.advert_repeat_s:
                    self._mark_seen(dev)  # same broadcast again: alive, nothing new
                    continue
                dev.advert_last[char] = (payload, now)
                self.handle_payload(dev, char, payload)

    @staticmethod
    def _advert_characteristic(dev: _Device, uuid: str) -> str | None:
        """Service data keyed by a measurement characteristic or by its profile's service."""
        short = short_or_none(uuid)
        if short is None:
            return None
        profile = profile_of_characteristic(short)
        if profile is None and short in HEALTH_SERVICES:
            profile = HEALTH_SERVICES[short]
            short = profile.characteristics[0]
        if profile is None or profile.name not in dev.opts.profiles:
            return None
        return short

    # --- payloads to readings ---

    def handle_payload(self, dev: _Device, uuid: str, payload: bytes) -> None:
        """Decode one frame; a malformed one is counted and logged, never raised."""
        try:
            measurement = parsers.decode(uuid, payload)
        except GattPayloadError as exc:
            self.count("malformed_payloads")
            log.warning("%s: malformed %s payload %s: %s", dev.opts.id, uuid, payload.hex(),
                        exc.reason)
            return
        dev.session_frames += 1
        self.count("frames")
        self._mark_seen(dev)
        for sensor, value, data in self._to_readings(dev, uuid, measurement):
            if value is None:
                self.count("no_value_frames")
                continue
            data.update({"characteristic": uuid, "address": dev.address})
            reading = self.reading(sensor, value, device=dev.opts.id, room=dev.opts.room,
                                   role=dev.opts.role, data=data)
            dev.last_reading_mono = reading.mono
            self.count("readings")
            self.context.emit(reading)
        self._refresh_health()

    def _device_time(self, ts: parsers.GattDateTime | None) -> dict[str, Any]:
        if ts is None:
            return {}
        out: dict[str, Any] = {"device_timestamp": ts.as_dict()}
        when = ts.as_datetime()
        if when is not None:
            agent = self.context.clock.wall().astimezone(self._tz).replace(tzinfo=None)
            out["device_timestamp"] = when.isoformat()
            out["device_clock_offset_s"] = round((when - agent).total_seconds(), 3)
        return out

    def _to_readings(self, dev: _Device, uuid: str, m: parsers.Measurement
                     ) -> list[tuple[str, Any, dict[str, Any]]]:
        p = parsers
        if isinstance(m, p.HeartRateMeasurement):
            return [("heart_rate", m.heart_rate_bpm, {
                "unit": "bpm", "device_unit": "bpm", "device_value": m.heart_rate_bpm,
                "sensor_contact": m.sensor_contact, "energy_expended_kj": m.energy_expended_kj,
                "rr_intervals_s": list(m.rr_intervals_s)})]
        if isinstance(m, p.PlxSpotCheck | p.PlxContinuous):
            common: dict[str, Any] = {"measurement_status": m.measurement_status,
                                      "device_and_sensor_status": m.device_and_sensor_status,
                                      "kind": "spot_check" if uuid == "2a5e" else "continuous"}
            if isinstance(m, p.PlxSpotCheck):
                common.update(self._device_time(m.timestamp))
            return [
                ("spo2", m.spo2_pct, {"unit": "%", "device_unit": "%", "device_value": m.spo2_pct,
                                      "pulse_rate_bpm": m.pulse_rate_bpm,
                                      "pulse_amplitude_index": m.pulse_amplitude_index,
                                      **common}),
                ("heart_rate", m.pulse_rate_bpm, {"unit": "bpm", "device_unit": "bpm",
                                                  "device_value": m.pulse_rate_bpm,
                                                  "source_profile": "pulse_oximeter", **common}),
            ]
        if isinstance(m, p.BloodPressureMeasurement):
            status = m.status
            return [("blood_pressure", m.systolic_mmhg, {
                "unit": "mmHg", "systolic": m.systolic_mmhg, "diastolic": m.diastolic_mmhg,
                "mean_arterial_pressure": m.mean_arterial_pressure_mmhg,
                "pulse_rate_bpm": m.pulse_rate_bpm, "user_id": m.user_id,
                "device_unit": m.unit,
                "device_value": {"systolic": m.systolic, "diastolic": m.diastolic,
                                 "mean_arterial_pressure": m.mean_arterial_pressure},
                "irregular_pulse": status.irregular_pulse_detected if status else None,
                "body_movement": status.body_movement_detected if status else None,
                "cuff_too_loose": status.cuff_too_loose if status else None,
                **self._device_time(m.timestamp)})]
        if isinstance(m, p.TemperatureMeasurement):
            return [("temperature", m.celsius, {
                "unit": "degC", "device_unit": m.unit, "device_value": m.temperature,
                "temperature_type": m.temperature_type_name, **self._device_time(m.timestamp)})]
        if isinstance(m, p.WeightMeasurement):
            return [("weight", m.weight_kg, {
                "unit": "kg", "device_unit": m.unit, "device_value": m.weight,
                "user_id": m.user_id, "bmi": m.bmi, "height": m.height,
                "height_unit": m.height_unit, **self._device_time(m.timestamp)})]
        if isinstance(m, p.BatteryLevel):
            dev.battery_pct = m.percent
            low = m.percent < dev.opts.low_battery_pct
            return [("battery", m.percent, {"unit": "%", "device_unit": "%",
                                            "device_value": m.percent, "low": low,
                                            "low_battery_pct": dev.opts.low_battery_pct})]
        return []  # intermediate cuff pressure: not a result

    # --- liveness and health ---

    def _mark_seen(self, dev: _Device) -> None:
        now = self.context.clock.monotonic()
        silent_for = now - dev.last_seen
        dev.last_seen = now
        if dev.offline:
            dev.offline = False
            self.context.emit(self.reading(
                "device_status", "online", device=dev.opts.id, room=dev.opts.room,
                role=dev.opts.role,
                data={"offline_for_s": round(silent_for, 1),
                      "expected_interval_s": dev.opts.expected_interval_s}))
            self._refresh_health()

    def check_offline(self) -> None:
        """Emit `device_status = offline` once for each device silent past its interval."""
        now = self.context.clock.monotonic()
        for dev in self.devices.values():
            silent_for = now - dev.last_seen
            if dev.offline or silent_for <= dev.opts.expected_interval_s:
                continue
            dev.offline = True
            reason = f"nothing heard for {silent_for:.0f} s"
            if dev.last_error:
                reason += f"; last error: {dev.last_error}"
            self.count("offline_events")
            self.context.emit(self.reading(
                "device_status", "offline", device=dev.opts.id, room=dev.opts.room,
                role=dev.opts.role,
                data={"reason": reason, "expected_interval_s": dev.opts.expected_interval_s,
                      "silent_for_s": round(silent_for, 1)}))
        self._refresh_health()

    def _refresh_health(self) -> None:
        now = self.context.clock.monotonic()
        details: dict[str, Any] = {}
        for dev in self.devices.values():
            details[dev.opts.id] = {
                "address": dev.address,
                "mode": dev.opts.mode,
                "connected": dev.connected,
                "offline": dev.offline,
                "last_reading_age_s": None if dev.last_reading_mono is None
                else round(now - dev.last_reading_mono, 1),
                "rssi": dev.rssi,
                "reconnects": dev.reconnects,
                "battery_pct": dev.battery_pct,
                "low_battery": dev.battery_pct is not None
                and dev.battery_pct < dev.opts.low_battery_pct,
                "consecutive_failures": dev.failures,
                "last_error": dev.last_error,
            }
        self.health.details = details
        if self.health.state == HealthState.FAILED:
            return
        offline = [d.opts.id for d in self.devices.values() if d.offline]
        if offline:
            self.set_health(HealthState.DEGRADED, "offline: " + ", ".join(offline))
        else:
            self.set_health(HealthState.OK, "")

