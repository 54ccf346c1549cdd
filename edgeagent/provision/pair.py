"""`edgeagent pair`: find a vital-sign monitor, prove it works, add it to the config.

Three steps, each one the technician can see:

1. `scan`: a BleakScanner scan, keeping only devices that advertise a SIG
   health service (heart rate, pulse oximeter, blood pressure, thermometer,
   weight scale), strongest signal first, with the services they offer.
2. `probe`: connect once to learn which health profiles the device really
   serves, then run the real `ble.vitals` driver with exactly the entry that
   will be written, until it has read the battery and one measurement. If
   the driver cannot read it now, it will not read it at 3 a.m. either.
3. `add_device`: append the device to the config's `ble.vitals` driver (or a
   new `[[drivers]]` table) with tomlkit, so the technician's comments and
   the order of the file survive; the result is validated like
   `edgeagent config check` before it replaces the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.items import AoT, Table

from edgeagent.clock import SystemClock
from edgeagent.config import parse_config
from edgeagent.driver import DriverContext
from edgeagent.errors import ConfigError, EdgeAgentError
from edgeagent.i18n import N_, _
from edgeagent.models import Reading

log = logging.getLogger(__name__)

DRIVER_TYPE = "ble.vitals"
DRIVER_NAME = "ble-vitals"
ID_PREFIX = {"heart_rate": "hr", "pulse_oximeter": "spo2", "blood_pressure": "bp",
             "thermometer": "thermo", "weight_scale": "scale", "battery": "ble"}
SENSOR_WORDS = {"heart_rate": N_("heart rate"), "spo2": N_("SpO2"),
                "blood_pressure": N_("blood pressure"), "temperature": N_("temperature"),
                "weight": N_("weight"), "battery": N_("battery")}
PROFILE_WORDS = {"heart_rate": N_("heart rate"), "pulse_oximeter": N_("pulse oximeter"),
                 "blood_pressure": N_("blood pressure"), "thermometer": N_("thermometer"),
                 "weight_scale": N_("weight scale"), "battery": N_("battery")}


class PairError(EdgeAgentError):
    """Pairing cannot go on; the message tells the technician what to do."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A device heard during the scan that advertises at least one health service."""

    address: str
    name: str | None
    rssi: int
    services: tuple[str, ...]  # advertised 16-bit service UUIDs
    profiles: tuple[str, ...]  # health profiles those services stand for


@dataclass(slots=True)
class ProbeResult:
    profiles: list[str]
    battery_pct: int | None = None
    measurement: Reading | None = None
    readings: list[Reading] = field(default_factory=list)


def _backend(name: str) -> Any:
    from edgeagent_drivers.ble.backends import (  # type: ignore[import-not-found, unused-ignore]  # noqa: PLC0415
        backend_names,
        ble_backend,
    )

    if name not in backend_names():
        raise PairError(_("unknown BLE backend {name!r} (known: {known})").format(
            name=name, known=", ".join(backend_names())))
    return ble_backend(name)


async def scan(backend_name: str = "bleak", timeout: float = 10.0,
               adapter: str = "hci0") -> list[Candidate]:
    """Nearby health monitors, strongest first."""
    from bleak import BleakScanner  # noqa: PLC0415
    from bleak.exc import BleakError  # noqa: PLC0415
    from edgeagent_drivers.ble.parsers import (  # type: ignore[import-not-found, unused-ignore]  # noqa: PLC0415
        UnknownCharacteristicError,
        short_uuid,
    )
    from edgeagent_drivers.ble.profiles import (  # type: ignore[import-not-found, unused-ignore]  # noqa: PLC0415
        HEALTH_SERVICES,
    )

    backend = _backend(backend_name)
    kwargs: dict[str, Any] = {"bluez": {"adapter": adapter}}
    if backend.scanner is not None:
        kwargs["backend"] = backend.scanner
    try:
        found = await BleakScanner.discover(timeout=timeout, return_adv=True, **kwargs)
    except (BleakError, OSError) as exc:  # no D-Bus socket, no bluetoothd, no adapter
        raise PairError(_("Bluetooth is not available here ({reason}); check: systemctl "
                          "status bluetooth; bluetoothctl show").format(
                              reason=str(exc) or type(exc).__name__)) from None
    out = []
    for device, adv in found.values():
        services = []
        for uuid in adv.service_uuids:
            with contextlib.suppress(UnknownCharacteristicError):
                services.append(short_uuid(uuid))
        profiles = tuple(HEALTH_SERVICES[s].name for s in services
                         if s in HEALTH_SERVICES and HEALTH_SERVICES[s].name != "battery")
        if profiles:
            out.append(Candidate(device.address.upper(), adv.local_name or device.name,
                                 adv.rssi, tuple(services), profiles))
    return sorted(out, key=lambda c: -c.rssi)


async def discover_profiles(address: str, backend_name: str = "bleak",
                            timeout: float = 20.0) -> list[str]:
    """Connect once and list the health profiles (battery included) the GATT table serves."""
    from bleak import BleakClient  # noqa: PLC0415
    from bleak.exc import BleakError  # noqa: PLC0415
    from edgeagent_drivers.ble.parsers import (  # type: ignore[import-not-found, unused-ignore]  # noqa: PLC0415
        short_uuid,
    )
    from edgeagent_drivers.ble.profiles import (  # type: ignore[import-not-found, unused-ignore]  # noqa: PLC0415
        HEALTH_SERVICES,
    )

    backend = _backend(backend_name)
    client = BleakClient(address, timeout=timeout, backend=backend.client)
    try:
        async with asyncio.timeout(timeout * 1.25):
            await client.connect()
        served: list[str] = []
        for service in client.services:
            with contextlib.suppress(BleakError, ValueError):
                short = short_uuid(service.uuid)
                if short in HEALTH_SERVICES:
                    served.append(HEALTH_SERVICES[short].name)
    except (BleakError, TimeoutError, OSError) as exc:
        raise PairError(_("cannot connect to {address}: {reason}").format(
            address=address, reason=str(exc) or type(exc).__name__)) from None
    finally:
        with contextlib.suppress(BleakError, TimeoutError, OSError):
            async with asyncio.timeout(5):
                await client.disconnect()
    if not any(p != "battery" for p in served):
        raise PairError(_("{address} serves no health profile this agent can read").format(
            address=address))
    return served


def device_entry(address: str, profiles: list[str], device_id: str, *,
                 room: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": device_id, "address": address, "profiles": profiles}
    if room:
        entry["room"] = room
    return entry


async def probe(entry: dict[str, Any], backend_name: str = "bleak",
                timeout: float = 60.0) -> ProbeResult:
    """Run the ble.vitals driver on `entry` until battery + one measurement (or timeout)."""
    from edgeagent_drivers.ble.vitals import (  # type: ignore[import-not-found, unused-ignore]  # noqa: PLC0415
        BleVitalsDriver,
        BleVitalsOptions,
    )

    result = ProbeResult(profiles=list(entry["profiles"]))
    want_battery = "battery" in entry["profiles"]
    done = asyncio.Event()

    def collect(reading: Reading) -> None:
        result.readings.append(reading)
        if reading.sensor == "battery":
            result.battery_pct = int(reading.value)
        elif reading.sensor != "device_status" and result.measurement is None:
            result.measurement = reading
        if result.measurement is not None and (result.battery_pct is not None
                                               or not want_battery):
            done.set()

    options = BleVitalsOptions.model_validate({
        "type": DRIVER_TYPE, "name": "pair", "devices": [entry], "backend": backend_name})
    context = DriverContext(emit=collect, clock=SystemClock(),
                            logger=logging.getLogger("edgeagent.pair"))
    driver = BleVitalsDriver(options, context, backend=_backend(backend_name))
    task = asyncio.create_task(driver.run(), name="pair-probe")
    try:
        waiter = asyncio.create_task(done.wait())
        await asyncio.wait({task, waiter}, timeout=timeout,
                           return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if task.done() and not done.is_set():
            exc = task.exception()
            raise PairError(_("the driver stopped: {reason}").format(reason=exc))
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        with contextlib.suppress(Exception):
            await driver.close()
    return result


def describe(reading: Reading) -> str:
    """'blood pressure 128/82 mmHg' for a person; the config and events keep the codes."""
    word = _(SENSOR_WORDS.get(reading.sensor, reading.sensor))
    unit = reading.data.get("unit", "")
    if reading.sensor == "blood_pressure" and reading.data.get("diastolic") is not None:
        return f"{word} {reading.value:g}/{reading.data['diastolic']:g} {unit}"
    value = f"{reading.value:g}" if isinstance(reading.value, float) else str(reading.value)
    return f"{word} {value} {unit}".rstrip()


# --- the config file ------------------------------------------------------------------------


def _ble_tables(doc: tomlkit.TOMLDocument) -> list[Any]:
    """The `[[drivers]]` tables of type ble.vitals (tomlkit tables: edits keep the layout)."""
    drivers = doc.get("drivers")
    if not isinstance(drivers, AoT | list):
        return []
    return [t for t in drivers if isinstance(t, Table | dict) and t.get("type") == DRIVER_TYPE]


def paired_addresses(text: str) -> dict[str, str]:
    """address -> device id of every monitor already in the config."""
    doc = tomlkit.parse(text)
    out = {}
    for table in _ble_tables(doc):
        for dev in table.get("devices", []):
            if dev.get("address"):
                out[str(dev["address"]).upper()] = str(dev.get("id"))
    return out


def next_device_id(text: str, profiles: list[str]) -> str:
    """'bp-1', 'bp-2'...: short, unique in the config, says what the device measures."""
    main = next((p for p in profiles if p != "battery"), "battery")
    prefix = ID_PREFIX.get(main, "ble")
    doc = tomlkit.parse(text)
    taken = {str(d.get("id")) for t in _ble_tables(doc) for d in t.get("devices", [])}
    n = 1
    while f"{prefix}-{n}" in taken:
        n += 1
    return f"{prefix}-{n}"


def add_device(text: str, entry: dict[str, Any], *, backend_name: str = "bleak") -> str:
    """The config text with `entry` added; comments, order and formatting kept."""
    doc = tomlkit.parse(text)
    already = paired_addresses(text)
    if entry["address"].upper() in already:
        raise PairError(_("{address} is already in the config as {id!r}").format(
            address=entry["address"], id=already[entry["address"].upper()]))
    device = tomlkit.table()
    for key, value in entry.items():
        device[key] = value
    tables = _ble_tables(doc)
    if tables:
        devices = tables[0].get("devices")
        if isinstance(devices, AoT):
            devices.append(device)
        else:
            tables[0]["devices"] = tomlkit.aot()
            tables[0]["devices"].append(device)
    else:
        table = tomlkit.table()
        table["type"] = DRIVER_TYPE
        table["name"] = DRIVER_NAME
        if backend_name != "bleak":
            table["backend"] = backend_name
        devices_aot = tomlkit.aot()
        devices_aot.append(device)
        table["devices"] = devices_aot
        drivers = doc.get("drivers")
        if isinstance(drivers, AoT):
            drivers.append(table)
        else:
            aot = tomlkit.aot()
            aot.append(table)
            doc.append("drivers", aot)
    return tomlkit.dumps(doc)


def write_config(path: Path, text: str) -> None:
    """Validate like `config check`, then replace the file atomically keeping mode and owner."""
    try:
        parse_config(tomllib.loads(text), str(path))
    except tomllib.TOMLDecodeError as exc:
        raise PairError(_("the new config is not valid TOML: {reason}").format(
            reason=exc)) from None
    except ConfigError as exc:
        raise PairError(_("the new config would be refused: {reason}").format(
            reason=exc)) from None
    st = path.stat()
    tmp = path.with_name(f".{path.name}.edgeagent-tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, st.st_mode & 0o7777)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    if os.geteuid() == 0:
        os.chown(tmp, st.st_uid, st.st_gid)
    tmp.replace(path)
